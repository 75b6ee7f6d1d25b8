/**
 * Hybrid Public Key Encryption (RFC 9180) with DHKEM(X25519, HKDF-SHA256),
 * HKDF-SHA256 and AES-256-GCM (or ChaCha20-Poly1305), composed from the
 * Crypto port's primitives so that it runs identically on every adapter and
 * host. Validated against the RFC 9180 Appendix A vectors on every adapter.
 *
 * Cipherlog uses single-shot base mode to seal keys to a recipient's X25519
 * public key (KEK blobs, device transfers): {@link sealBase} / {@link openBase}.
 * The lower-level setup functions exist for the known-answer tests.
 *
 * @since 0.1.0
 */
import { Bytes } from "@cipherlog/domain"
import { Effect } from "effect"
import { type AeadAlgorithm, Crypto } from "./Crypto.js"
import { DecryptionFailed, InvalidKey, UnsupportedSuite } from "./CryptoError.js"
import type { AgreementKey } from "./Keys.js"
import { zeroize } from "./Secret.js"

/**
 * HPKE modes implemented: base (0) and psk (1).
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = 0 | 1

/**
 * AEAD identifiers (RFC 9180 §7.3) implemented here.
 *
 * @since 0.1.0
 * @category models
 */
export type AeadId = 2 | 3

const KEM_ID = 0x0020 // DHKEM(X25519, HKDF-SHA256)
const KDF_ID = 0x0001 // HKDF-SHA256
const N_SECRET = 32
const N_H = 32

const aeads: Record<AeadId, { readonly algorithm: AeadAlgorithm; readonly nk: number; readonly nn: number }> = {
  2: { algorithm: "AES-256-GCM", nk: 32, nn: 12 },
  3: { algorithm: "ChaCha20-Poly1305", nk: 32, nn: 12 }
}

const i2osp = (value: number, length: number): Uint8Array => {
  const out = new Uint8Array(length)
  for (let i = length - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v & 0xff
  return out
}

const HPKE_V1 = Bytes.utf8("HPKE-v1")
const kemSuiteId = Bytes.concat(Bytes.utf8("KEM"), i2osp(KEM_ID, 2))
const hpkeSuiteId = (aead: AeadId) => Bytes.concat(Bytes.utf8("HPKE"), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(aead, 2))

const labeledExtract = (suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) =>
  Effect.flatMap(Crypto, (c) => c.hazmat.hkdfExtract(salt, Bytes.concat(HPKE_V1, suiteId, Bytes.utf8(label), ikm)))

const labeledExpand = (suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number) =>
  Effect.flatMap(Crypto, (c) =>
    c.hazmat.hkdfExpand(prk, Bytes.concat(i2osp(length, 2), HPKE_V1, suiteId, Bytes.utf8(label), info), length)
  )

const empty = new Uint8Array(0)

/**
 * DeriveKeyPair for X25519 (RFC 9180 §7.1.3): a key pair from input keying
 * material. Returns the secret (zero it after use) and the public key.
 *
 * @since 0.1.0
 * @category kem
 */
export const deriveKeyPair = (ikm: Uint8Array) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto
    const dkpPrk = yield* labeledExtract(kemSuiteId, empty, "dkp_prk", ikm)
    const secret = yield* labeledExpand(kemSuiteId, dkpPrk, "sk", empty, 32)
    zeroize(dkpPrk)
    const key = yield* crypto.x25519.importSecret(secret)
    return { secret, key, publicKey: key.publicKey }
  })

const extractAndExpand = (dh: Uint8Array, kemContext: Uint8Array) =>
  Effect.gen(function*() {
    const eaePrk = yield* labeledExtract(kemSuiteId, empty, "eae_prk", dh)
    const shared = yield* labeledExpand(kemSuiteId, eaePrk, "shared_secret", kemContext, N_SECRET)
    zeroize(eaePrk)
    return shared
  })

/**
 * Encap with the ephemeral key pair derived from `ikmE` (RFC 9180 §4.1).
 *
 * @since 0.1.0
 * @category kem
 */
export const encap = (recipientPublicKey: Uint8Array, ikmE: Uint8Array) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto
    const ephemeral = yield* deriveKeyPair(ikmE)
    zeroize(ephemeral.secret)
    const dh = yield* crypto.x25519.agree(ephemeral.key, recipientPublicKey).pipe(
      Effect.ensuring(crypto.destroyKey(ephemeral.key))
    )
    const enc = ephemeral.publicKey
    const shared = yield* extractAndExpand(dh, Bytes.concat(enc, recipientPublicKey))
    zeroize(dh)
    return { shared, enc }
  })

/**
 * Decap (RFC 9180 §4.1).
 *
 * @since 0.1.0
 * @category kem
 */
export const decap = (enc: Uint8Array, recipient: AgreementKey) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto
    const dh = yield* crypto.x25519.agree(recipient, enc)
    const shared = yield* extractAndExpand(dh, Bytes.concat(enc, recipient.publicKey))
    zeroize(dh)
    return shared
  })

/**
 * An HPKE context (RFC 9180 §5.2): seals or opens a sequence of messages and
 * exports secrets.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly key: Uint8Array
  readonly baseNonce: Uint8Array
  readonly exporterSecret: Uint8Array
  readonly seal: (aad: Uint8Array, plaintext: Uint8Array) => Effect.Effect<Uint8Array, InvalidKey | UnsupportedSuite, Crypto>
  readonly open: (
    aad: Uint8Array,
    ciphertext: Uint8Array
  ) => Effect.Effect<Uint8Array, DecryptionFailed | InvalidKey | UnsupportedSuite, Crypto>
  readonly export: (exporterContext: Uint8Array, length: number) => Effect.Effect<Uint8Array, InvalidKey, Crypto>
  /** Zeroes the context's secrets. */
  readonly destroy: () => void
}

/**
 * KeySchedule (RFC 9180 §5.1).
 *
 * @since 0.1.0
 * @category key schedule
 */
export const keySchedule = (
  mode: Mode,
  aeadId: AeadId,
  sharedSecret: Uint8Array,
  info: Uint8Array,
  psk: Uint8Array = empty,
  pskId: Uint8Array = empty
) =>
  Effect.gen(function*() {
    if ((mode === 1) !== (psk.length > 0) || (psk.length > 0) !== (pskId.length > 0)) {
      return yield* Effect.fail(new InvalidKey({ reason: "parameters", detail: "HPKE psk mode needs both psk and psk_id; base mode neither" }))
    }
    const aead = aeads[aeadId]
    const suiteId = hpkeSuiteId(aeadId)
    const pskIdHash = yield* labeledExtract(suiteId, empty, "psk_id_hash", pskId)
    const infoHash = yield* labeledExtract(suiteId, empty, "info_hash", info)
    const context = Bytes.concat(Uint8Array.of(mode), pskIdHash, infoHash)
    const secret = yield* labeledExtract(suiteId, sharedSecret, "secret", psk)
    const key = yield* labeledExpand(suiteId, secret, "key", context, aead.nk)
    const baseNonce = yield* labeledExpand(suiteId, secret, "base_nonce", context, aead.nn)
    const exporterSecret = yield* labeledExpand(suiteId, secret, "exp", context, N_H)
    zeroize(secret)
    let seq = 0
    const nonceFor = (n: number) => {
      const nonce = baseNonce.slice()
      const s = i2osp(n, aead.nn)
      for (let i = 0; i < nonce.length; i++) nonce[i]! ^= s[i]!
      return nonce
    }
    const next = () => {
      if (seq >= Number.MAX_SAFE_INTEGER) throw new RangeError("HPKE message limit reached")
      return nonceFor(seq++)
    }
    const ctx: Context = {
      key,
      baseNonce,
      exporterSecret,
      seal: (aad, plaintext) => Effect.flatMap(Crypto, (c) => c.hazmat.aeadEncrypt(aead.algorithm, key, next(), plaintext, aad)),
      open: (aad, ciphertext) =>
        Effect.flatMap(Crypto, (c) =>
          Effect.suspend(() => {
            const nonce = nonceFor(seq)
            return Effect.tap(c.hazmat.aeadDecrypt(aead.algorithm, key, nonce, ciphertext, aad), () => {
              seq++ // only a successful open advances the sequence (RFC 9180 §5.2)
            })
          })
        ),
      export: (exporterContext, length) => labeledExpand(suiteId, exporterSecret, "sec", exporterContext, length),
      destroy: () => zeroize(key, baseNonce, exporterSecret)
    }
    return ctx
  })

/**
 * SetupBaseS / SetupPSKS with a given ephemeral `ikmE` (RFC 9180 §5.1.1-2).
 *
 * @since 0.1.0
 * @category setup
 */
export const setupSender = (input: {
  readonly mode: Mode
  readonly aeadId: AeadId
  readonly recipientPublicKey: Uint8Array
  readonly info: Uint8Array
  readonly ikmE: Uint8Array
  readonly psk?: Uint8Array
  readonly pskId?: Uint8Array
}) =>
  Effect.gen(function*() {
    const { enc, shared } = yield* encap(input.recipientPublicKey, input.ikmE)
    const context = yield* keySchedule(input.mode, input.aeadId, shared, input.info, input.psk, input.pskId)
    zeroize(shared)
    return { enc, context }
  })

/**
 * SetupBaseR / SetupPSKR (RFC 9180 §5.1.1-2).
 *
 * @since 0.1.0
 * @category setup
 */
export const setupRecipient = (input: {
  readonly mode: Mode
  readonly aeadId: AeadId
  readonly enc: Uint8Array
  readonly recipient: AgreementKey
  readonly info: Uint8Array
  readonly psk?: Uint8Array
  readonly pskId?: Uint8Array
}) =>
  Effect.gen(function*() {
    const shared = yield* decap(input.enc, input.recipient)
    const context = yield* keySchedule(input.mode, input.aeadId, shared, input.info, input.psk, input.pskId)
    zeroize(shared)
    return context
  })

/**
 * Single-shot base-mode sealing with AES-256-GCM (RFC 9180 §6.1): encrypts
 * `plaintext` so that only the holder of the X25519 secret key for
 * `recipientPublicKey` can open it. `info` binds the purpose (use a label
 * from `Labels`, plus context); `aad` is authenticated, not encrypted.
 *
 * @since 0.1.0
 * @category single-shot
 */
export const sealBase = (input: {
  readonly recipientPublicKey: Uint8Array
  readonly info: Uint8Array
  readonly aad: Uint8Array
  readonly plaintext: Uint8Array
}) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto
    const ikmE = yield* crypto.randomBytes(32)
    const { enc, context } = yield* setupSender({
      mode: 0, aeadId: 2, recipientPublicKey: input.recipientPublicKey, info: input.info, ikmE
    }).pipe(Effect.ensuring(Effect.sync(() => zeroize(ikmE))))
    const ciphertext = yield* context.seal(input.aad, input.plaintext).pipe(Effect.ensuring(Effect.sync(context.destroy)))
    return { enc, ciphertext }
  })

/**
 * Opens what {@link sealBase} sealed. Any alteration of `enc`, `ciphertext`,
 * `info` or `aad`, or the wrong recipient key, fails with `DecryptionFailed`.
 *
 * @since 0.1.0
 * @category single-shot
 */
export const openBase = (input: {
  readonly recipient: AgreementKey
  readonly enc: Uint8Array
  readonly info: Uint8Array
  readonly aad: Uint8Array
  readonly ciphertext: Uint8Array
}) =>
  Effect.gen(function*() {
    if (input.enc.length !== 32) return yield* Effect.fail(new DecryptionFailed({ algorithm: "HPKE" }))
    const context = yield* setupRecipient({ mode: 0, aeadId: 2, enc: input.enc, recipient: input.recipient, info: input.info }).pipe(
      // A low-order `enc` is an altered encapsulation: to the caller it is a failed decryption.
      Effect.catchTag("InvalidKey", () => Effect.fail(new DecryptionFailed({ algorithm: "HPKE" })))
    )
    return yield* context.open(input.aad, input.ciphertext).pipe(Effect.ensuring(Effect.sync(context.destroy)))
  })
