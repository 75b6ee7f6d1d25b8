/**
 * The recovery phrase (seeds 000, 001): 24 BIP39 words, shown once, never
 * stored. With the store id it derives the master secret, and from it the
 * master KEK and the locator under which a sync server keeps this user's
 * recovery material — which the master KEK, and only it, opens.
 *
 *   phrase ──BIP39 seed──► HKDF(label master-secret, salt = storeId) ──► master secret
 *   master secret ──HKDF(master-kek)──► master KEK      (wraps the recovery root)
 *   master secret ──HKDF(recovery-locator)──► locator   (an address, not a key)
 *
 * Recovery material: the master KEK wraps a random **recovery root** R,
 * which the device also keeps; R seals the identity. So a device can
 * re-seal the identity after a rotation without the phrase, and the phrase
 * alone (plus the server) recovers the identity, whose KEK blobs and the
 * store's key records then recover everything else (INV-012).
 *
 * @since 0.1.0
 */
import { Crypto, labels, type SymmetricKey, zeroize } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { entropyToMnemonic, mnemonicToSeedSync, validateMnemonic } from "@scure/bip39"
import { wordlist } from "@scure/bip39/wordlists/english.js"
import { Effect, Either, Redacted, Schema } from "effect"
import { IdentitySecrets } from "./Identity.js"
import { context } from "./internal/encoding.js"

/**
 * The phrase is not 24 valid BIP39 English words with a valid checksum.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRecoveryPhrase extends Schema.TaggedError<InvalidRecoveryPhrase>("@cipherlog/keys/InvalidRecoveryPhrase")(
  "InvalidRecoveryPhrase",
  { detail: Schema.String }
) {
  override get message(): string {
    return `Invalid recovery phrase: ${this.detail}. Check each word against the list you wrote down.`
  }
}

/**
 * Recovery material that does not open (wrong phrase for this store, or altered).
 *
 * @since 0.1.0
 * @category errors
 */
export class RecoveryFailed extends Schema.TaggedError<RecoveryFailed>("@cipherlog/keys/RecoveryFailed")("RecoveryFailed", {
  storeId: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Recovery for store ${this.storeId} failed: ${this.detail}.`
  }
}

/**
 * Words in a phrase.
 *
 * @since 0.1.0
 * @category constants
 */
export const WORDS = 24

/**
 * A new 24-word phrase (256 bits of CSPRNG entropy).
 *
 * @since 0.1.0
 * @category constructors
 */
export const generatePhrase: Effect.Effect<Redacted.Redacted<string>, never, Crypto.Crypto> = Effect.gen(function*() {
  const crypto = yield* Crypto.Crypto
  const entropy = yield* crypto.randomBytes(32)
  const phrase = entropyToMnemonic(entropy, wordlist)
  zeroize(entropy)
  return Redacted.make(phrase)
})

/**
 * Normalises (NFKD, single spaces, lowercase) and checks a phrase.
 *
 * @since 0.1.0
 * @category validation
 */
export const normalize = (phrase: Redacted.Redacted<string>): Either.Either<Redacted.Redacted<string>, InvalidRecoveryPhrase> => {
  const words = Redacted.value(phrase).normalize("NFKD").trim().toLowerCase().split(/\s+/)
  if (words.length !== WORDS) return Either.left(new InvalidRecoveryPhrase({ detail: `it has ${words.length} words; a recovery phrase has ${WORDS}` }))
  const unknown = words.findIndex((w) => !wordlist.includes(w))
  if (unknown >= 0) return Either.left(new InvalidRecoveryPhrase({ detail: `word ${unknown + 1} is not in the BIP39 English list` }))
  const text = words.join(" ")
  return validateMnemonic(text, wordlist)
    ? Either.right(Redacted.make(text))
    : Either.left(new InvalidRecoveryPhrase({ detail: "its checksum does not match (a word is wrong or out of order)" }))
}

/**
 * What a phrase derives for one store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Master {
  readonly masterKek: SymmetricKey<"master-kek">
  /** base64url of 32 bytes: where the server keeps the recovery material. */
  readonly locator: string
}

/**
 * Derives the master KEK and the locator for a store from a phrase.
 *
 * @since 0.1.0
 * @category derivation
 */
export const derive = (phrase: Redacted.Redacted<string>, storeId: string): Effect.Effect<Master, InvalidRecoveryPhrase, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const normalized = yield* normalize(phrase)
    const seed = mnemonicToSeedSync(Redacted.value(normalized), "")
    const masterSecret = yield* crypto.hkdf({ ikm: seed, salt: Bytes.utf8(storeId), label: labels.masterSecret, length: 32 }).pipe(Effect.orDie)
    zeroize(seed)
    const kekBytes = yield* crypto.hkdf({ ikm: masterSecret, label: labels.masterKek, length: 32 }).pipe(Effect.orDie)
    const locator = yield* crypto.hkdf({ ikm: masterSecret, label: labels.recoveryLocator, length: 32 }).pipe(Effect.orDie)
    zeroize(masterSecret)
    const masterKek = yield* crypto.importKey("master-kek", kekBytes).pipe(Effect.orDie)
    zeroize(kekBytes)
    return { masterKek, locator: Bytes.toBase64Url(locator) }
  })

const Sealed = Schema.Struct({ nonce: Bytes.Base64Url, ciphertext: Bytes.Base64Url })

/**
 * The recovery material v1 as stored on a server (JSON): the recovery root
 * wrapped under the master KEK, and the identity sealed under the root.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RecoveryMaterial = Schema.Struct({
  format: Schema.Literal("cipherlog-recovery"),
  v: Schema.Literal(1),
  storeId: Schema.String,
  root: Sealed,
  identity: Sealed
}).annotations({ identifier: "RecoveryMaterial" })
/** @since 0.1.0 */
export type RecoveryMaterial = typeof RecoveryMaterial.Type

const rootAad = (storeId: string, locator: string) => context("cipherlog/recovery-root", storeId, locator)
const identityAad = (storeId: string) => context("cipherlog/recovery-identity", storeId)
const IdentityJson = Schema.parseJson(IdentitySecrets)

/**
 * Seals identity secrets under a recovery root (which the device keeps).
 *
 * @since 0.1.0
 * @category sealing
 */
export const sealIdentity = (root: SymmetricKey<"master-kek">, storeId: string, identity: IdentitySecrets) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const plaintext = Bytes.utf8(Schema.encodeSync(IdentityJson)(identity))
    const sealed = yield* crypto.seal(root, plaintext, identityAad(storeId)).pipe(Effect.orDie)
    zeroize(plaintext)
    return { nonce: sealed.nonce, ciphertext: sealed.ciphertext }
  })

/**
 * New recovery material: a fresh root R wrapped under the master KEK and the
 * identity sealed under R. Returns R's raw bytes for the device to keep
 * (encrypted in its key store).
 *
 * @since 0.1.0
 * @category sealing
 */
export const seal = (master: Master, storeId: string, identity: IdentitySecrets) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { key: root, raw } = yield* crypto.generateKey("master-kek").pipe(Effect.orDie)
    const wrapped = yield* crypto.seal(master.masterKek, raw, rootAad(storeId, master.locator)).pipe(Effect.orDie)
    const material: RecoveryMaterial = {
      format: "cipherlog-recovery", v: 1, storeId,
      root: { nonce: wrapped.nonce, ciphertext: wrapped.ciphertext },
      identity: yield* sealIdentity(root, storeId, identity)
    }
    yield* crypto.destroyKey(root)
    return { material, root: raw }
  })

/**
 * Opens recovery material with the phrase-derived master: the identity and
 * the recovery root (to keep, so later rotations can re-seal).
 *
 * @since 0.1.0
 * @category sealing
 */
export const open = (master: Master, material: RecoveryMaterial) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const failed = (detail: string) => new RecoveryFailed({ storeId: material.storeId, detail })
    const raw = yield* crypto.open(master.masterKek, { suite: "A256GCM", ...material.root }, rootAad(material.storeId, master.locator)).pipe(
      Effect.mapError(() => failed("the phrase does not open this store's recovery material"))
    )
    const root = yield* crypto.importKey("master-kek", raw).pipe(Effect.orDie)
    const plaintext = yield* crypto.open(root, { suite: "A256GCM", ...material.identity }, identityAad(material.storeId)).pipe(
      Effect.mapError(() => failed("the identity part of the recovery material was altered"))
    )
    const identity = yield* Schema.decodeUnknown(IdentityJson)(Bytes.fromUtf8(plaintext)).pipe(
      Effect.mapError(() => failed("the identity part does not parse"))
    )
    zeroize(plaintext)
    yield* crypto.destroyKey(root)
    return { identity, root: raw }
  })
