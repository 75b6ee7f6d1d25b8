/**
 * KEK blobs (seed 001, "Provisioning"): how an admin hands a store's KEK
 * version to another member through the untrusted sync server.
 *
 * The KEK's 32 bytes are sealed with HPKE (RFC 9180 base mode, the Crypto
 * port's `Hpke.sealBase`) to the recipient's X25519 identity key, with an
 * `info` that binds the purpose label, the store, the version and the
 * recipient's user id. Base-mode HPKE does not authenticate the sender, and
 * the server (or anyone holding the recipient's public key) could seal a KEK
 * of its own choosing; a member that accepted it would then wrap its new
 * data keys under a key the attacker knows. So the blob is also signed with
 * the sender's Ed25519 identity key, over the same context and the
 * recipient's public key, and {@link open} takes the sender's public
 * identity, which the recipient has verified out of band (its safety
 * number, `Identity.fingerprint`).
 *
 * Byte layout: `docs/formats.md`, "KEK blob v1". The layout is 1 + 4 +
 * len(senderUserId) + 8 + 32 + 48 + 64 bytes.
 *
 * Version 2 ("KEK blob v2") seals to one of the recipient's prekeys
 * (`Prekeys.ts`) instead of its identity key: the header also names the
 * prekey (kind and id), and the HPKE `info` and the signature bind the
 * recipient's identity keys and the prekey's public key. Opening needs the
 * prekey's secret, which the recipient erases after use when it is a
 * one-time prekey. Version 1 blobs stay readable.
 *
 * Hazards: the opened KEK is raw bytes; {@link open} hands them to its
 * caller, who must zero them ({@link accept} does, after importing them).
 *
 * @since 0.1.0
 */
import { type AgreementKey, Crypto, Hpke, labels, zeroize } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { Effect, Option, Schema } from "effect"
import type * as Identity from "./Identity.js"
import { context, lp } from "./internal/encoding.js"
import type { KekStatus, Keyring } from "./Keyring.js"
import * as Prekeys from "./Prekeys.js"

/**
 * The format version byte of KEK blob v1.
 *
 * @since 0.1.0
 * @category constants
 */
export const VERSION = 1

/**
 * The format version byte of KEK blob v2 (sealed to a prekey).
 *
 * @since 0.1.0
 * @category constants
 */
export const VERSION_PREKEY = 2

const PREKEY_KINDS = { signed: 1, "one-time": 2 } as const

const KEK_LENGTH = 32
const ENC_LENGTH = 32
const SEALED_LENGTH = KEK_LENGTH + 16
const SIGNATURE_LENGTH = 64

/**
 * Why a blob was refused. `not-for-this-context` covers every reason that
 * cryptography cannot tell apart and that must not be told apart for an
 * attacker: another store, version or recipient, another sender, a forged
 * or altered blob. `prekey-not-held`: a v2 blob names a prekey whose secret
 * this device does not hold.
 *
 * @since 0.1.0
 * @category errors
 */
export const KekBlobRefusedReason = Schema.Literal("malformed", "unsupported-version", "not-for-this-context", "prekey-not-held")
/** @since 0.1.0 */
export type KekBlobRefusedReason = typeof KekBlobRefusedReason.Type

/**
 * A KEK blob that does not open here. Holds only public context (ids), never
 * key material.
 *
 * @since 0.1.0
 * @category errors
 */
export class KekBlobRefused extends Schema.TaggedError<KekBlobRefused>("@cipherlog/keys/KekBlobRefused")("KekBlobRefused", {
  reason: KekBlobRefusedReason,
  storeId: Schema.String,
  versionId: Schema.String,
  recipientUserId: Schema.String
}) {
  override get message(): string {
    const why = this.reason === "malformed"
      ? "it is not a KEK blob"
      : this.reason === "unsupported-version"
      ? "its format version is not supported by this client"
      : this.reason === "prekey-not-held"
      ? "it is sealed to a prekey this device does not hold (erased after an earlier use, or published by another device of this user)"
      : "it was not sealed to this user for this store and version by the expected sender, or it was altered"
    return `KEK blob for version ${this.versionId} of store ${this.storeId} refused for user ${this.recipientUserId}: ${why}. ` +
      `Nothing was imported; ask an admin of the store to provision the version again.`
  }
}

/**
 * Where a blob belongs: the store, the KEK version and the recipient.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly storeId: string
  readonly versionId: string
  readonly recipient: Identity.PublicIdentity
}

/**
 * The parts of a blob, before any check of its signature or ciphertext.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parsed {
  readonly senderUserId: string
  /** The KEK version's creation time (ms), which orders versions on import. */
  readonly createdAt: number
  /** v2: the recipient's prekey the blob is sealed to; none for v1 (sealed to the identity key). */
  readonly prekey: Option.Option<{ readonly kind: "signed" | "one-time"; readonly prekeyId: string }>
  readonly enc: Uint8Array
  readonly sealed: Uint8Array
  readonly signature: Uint8Array
  /** Every byte before the signature. */
  readonly signed: Uint8Array
}

type PrekeyRef = { readonly kind: "signed" | "one-time"; readonly prekeyId: string }

const header = (senderUserId: string, createdAt: number, prekey?: PrekeyRef) =>
  prekey === undefined
    ? Bytes.concat(Uint8Array.of(VERSION), lp(Bytes.utf8(senderUserId)), Bytes.u64(createdAt))
    : Bytes.concat(
      Uint8Array.of(VERSION_PREKEY), lp(Bytes.utf8(senderUserId)), Bytes.u64(createdAt),
      Uint8Array.of(PREKEY_KINDS[prekey.kind]), lp(Bytes.utf8(prekey.prekeyId))
    )

/** HPKE `info`: `"cipherlog/v1/kek-blob" ‖ 0x00 ‖ lp(storeId) ‖ lp(versionId) ‖ lp(recipientUserId)`. */
const info = (storeId: string, versionId: string, recipientUserId: string) =>
  Bytes.concat(Bytes.utf8(labels.kekBlob), Uint8Array.of(0), lp(Bytes.utf8(storeId)), lp(Bytes.utf8(versionId)), lp(Bytes.utf8(recipientUserId)))

/**
 * HPKE `info` of v2: `"cipherlog/v1/kek-blob-prekey" ‖ 0x00 ‖ lp(storeId) ‖ lp(versionId) ‖ lp(recipientUserId)
 * ‖ lp(recipientSigningPublicKey) ‖ lp(recipientEncryptionPublicKey) ‖ lp(kind) ‖ lp(prekeyId) ‖ lp(prekeyPublicKey)`.
 */
const prekeyInfo = (target: Target, prekey: PrekeyRef, prekeyPublicKey: Uint8Array) =>
  Bytes.concat(
    Bytes.utf8(labels.kekBlobPrekey), Uint8Array.of(0), lp(Bytes.utf8(target.storeId)), lp(Bytes.utf8(target.versionId)),
    lp(Bytes.utf8(target.recipient.userId)), lp(target.recipient.signingPublicKey), lp(target.recipient.encryptionPublicKey),
    lp(Bytes.utf8(prekey.kind)), lp(Bytes.utf8(prekey.prekeyId)), lp(prekeyPublicKey)
  )

/** What the sender signs (v1). */
const signatureMessage = (target: Target, unsigned: Uint8Array) =>
  context(
    "cipherlog/kek-blob-signature", target.storeId, target.versionId, target.recipient.userId,
    target.recipient.encryptionPublicKey, unsigned
  )

/** What the sender signs (v2): the recipient's identity keys and the prekey's public key. */
const prekeySignatureMessage = (target: Target, prekeyPublicKey: Uint8Array, unsigned: Uint8Array) =>
  context(
    "cipherlog/kek-blob-signature/v2", target.storeId, target.versionId, target.recipient.userId,
    target.recipient.signingPublicKey, target.recipient.encryptionPublicKey, prekeyPublicKey, unsigned
  )

const refused = (target: Target, reason: KekBlobRefusedReason) =>
  new KekBlobRefused({ reason, storeId: target.storeId, versionId: target.versionId, recipientUserId: target.recipient.userId })

/** Text of valid UTF-8 bytes; empty for invalid ones (an altered blob: refused as malformed, not a defect). */
const utf8OrEmpty = (bytes: Uint8Array): string => {
  try {
    return Bytes.fromUtf8(bytes)
  } catch {
    return ""
  }
}

/**
 * Splits a blob into its parts. Checks the layout only.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (blob: Uint8Array, target: Target): Effect.Effect<Parsed, KekBlobRefused> =>
  Effect.suspend(() => {
    if (blob.length < 1) return Effect.fail(refused(target, "malformed"))
    if (blob[0] !== VERSION && blob[0] !== VERSION_PREKEY) return Effect.fail(refused(target, "unsupported-version"))
    if (blob.length < 5) return Effect.fail(refused(target, "malformed"))
    const senderLength = Bytes.readU32(blob, 1)
    if (senderLength === 0 || senderLength > 256 || blob.length < 5 + senderLength + 8) return Effect.fail(refused(target, "malformed"))
    let at = 5
    const senderUserId = utf8OrEmpty(blob.subarray(at, at + senderLength))
    if (senderUserId === "") return Effect.fail(refused(target, "malformed"))
    at += senderLength
    const createdAt = (() => {
      try {
        return Bytes.readU64(blob, at)
      } catch {
        return -1
      }
    })()
    if (createdAt < 0) return Effect.fail(refused(target, "malformed"))
    at += 8
    let prekey: Parsed["prekey"] = Option.none()
    if (blob[0] === VERSION_PREKEY) {
      if (blob.length < at + 5) return Effect.fail(refused(target, "malformed"))
      const kind = blob[at] === PREKEY_KINDS.signed ? "signed" : blob[at] === PREKEY_KINDS["one-time"] ? "one-time" : undefined
      const idLength = Bytes.readU32(blob, at + 1)
      if (kind === undefined || idLength === 0 || idLength > 64 || blob.length < at + 5 + idLength) return Effect.fail(refused(target, "malformed"))
      const prekeyId = utf8OrEmpty(blob.subarray(at + 5, at + 5 + idLength))
      if (!Prekeys.isPrekeyId(prekeyId)) return Effect.fail(refused(target, "malformed"))
      prekey = Option.some({ kind, prekeyId })
      at += 5 + idLength
    }
    if (blob.length !== at + ENC_LENGTH + SEALED_LENGTH + SIGNATURE_LENGTH) return Effect.fail(refused(target, "malformed"))
    const enc = blob.slice(at, at + ENC_LENGTH)
    at += ENC_LENGTH
    const sealed = blob.slice(at, at + SEALED_LENGTH)
    at += SEALED_LENGTH
    return Effect.succeed({
      senderUserId,
      createdAt,
      prekey,
      enc,
      sealed,
      signature: blob.slice(at),
      signed: blob.slice(0, at)
    })
  })

/**
 * Seals a KEK version's 32 raw bytes to `target.recipient`, signed by
 * `sender`: to its identity key (v1), or with `prekey` (a verified
 * `Prekeys.SealTarget` of the recipient) to that prekey (v2). `kek` is not
 * zeroed here (the caller owns it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const seal = (input: {
  readonly target: Target
  readonly sender: Identity.Identity
  readonly kek: Uint8Array
  readonly createdAt: number
  readonly prekey?: Prekeys.SealTarget
}) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { prekey, target } = input
    if (input.kek.length !== KEK_LENGTH) return yield* Effect.dieMessage(`a KEK is ${KEK_LENGTH} bytes`)
    const head = header(input.sender.userId, Math.max(0, Math.floor(input.createdAt)), prekey)
    const { enc, ciphertext } = yield* Hpke.sealBase({
      recipientPublicKey: prekey === undefined ? target.recipient.encryptionPublicKey : prekey.publicKey,
      info: prekey === undefined ? info(target.storeId, target.versionId, target.recipient.userId) : prekeyInfo(target, prekey, prekey.publicKey),
      aad: head,
      plaintext: input.kek
    })
    const unsigned = Bytes.concat(head, enc, ciphertext)
    const message = prekey === undefined ? signatureMessage(target, unsigned) : prekeySignatureMessage(target, prekey.publicKey, unsigned)
    const signature = yield* crypto.ed25519.sign(input.sender.signing, message)
    return Bytes.concat(unsigned, signature)
  })

/**
 * Opens a blob on the recipient's side: checks the layout, that it names
 * `sender`, the sender's signature over the store, version and recipient,
 * then opens the HPKE ciphertext with the recipient's current encryption
 * key (or a retired one, for blobs sealed during a migration window). A v2
 * blob opens only with `prekey`, the handle of the prekey it names (the
 * caller looks it up; `Prekeys.handle`). Returns the KEK's raw bytes (zero
 * them after use) and its creation time.
 *
 * @since 0.1.0
 * @category destructors
 */
export const open = (input: {
  readonly blob: Uint8Array
  readonly storeId: string
  readonly versionId: string
  readonly recipient: Identity.Identity
  readonly sender: Identity.PublicIdentity
  readonly prekey?: AgreementKey
}): Effect.Effect<{ readonly kek: Uint8Array; readonly createdAt: number }, KekBlobRefused, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const target: Target = { storeId: input.storeId, versionId: input.versionId, recipient: input.recipient.public }
    const parsed = yield* parse(input.blob, target)
    if (parsed.senderUserId !== input.sender.userId) return yield* Effect.fail(refused(target, "not-for-this-context"))
    if (Option.isSome(parsed.prekey)) {
      const key = input.prekey
      if (key === undefined) return yield* Effect.fail(refused(target, "not-for-this-context"))
      const ref = parsed.prekey.value
      const verified = yield* crypto.ed25519.verify(input.sender.signingPublicKey, prekeySignatureMessage(target, key.publicKey, parsed.signed), parsed.signature)
      if (!verified) return yield* Effect.fail(refused(target, "not-for-this-context"))
      const opened = yield* Effect.either(Hpke.openBase({
        recipient: key, enc: parsed.enc, info: prekeyInfo(target, ref, key.publicKey), aad: header(parsed.senderUserId, parsed.createdAt, ref), ciphertext: parsed.sealed
      }))
      if (opened._tag === "Right" && opened.right.length === KEK_LENGTH) return { kek: opened.right, createdAt: parsed.createdAt }
      if (opened._tag === "Right") zeroize(opened.right)
      return yield* Effect.fail(refused(target, "not-for-this-context"))
    }
    const aad = header(parsed.senderUserId, parsed.createdAt)
    const hpkeInfo = info(input.storeId, input.versionId, input.recipient.userId)
    // The current key first, then retired ones: the signature names the key the blob was sealed to.
    for (const key of [input.recipient.encryption, ...input.recipient.previousEncryption]) {
      const sealedTo: Target = { ...target, recipient: { ...target.recipient, encryptionPublicKey: key.publicKey } }
      const verified = yield* crypto.ed25519.verify(input.sender.signingPublicKey, signatureMessage(sealedTo, parsed.signed), parsed.signature)
      if (!verified) continue
      const opened = yield* Effect.either(Hpke.openBase({ recipient: key, enc: parsed.enc, info: hpkeInfo, aad, ciphertext: parsed.sealed }))
      if (opened._tag === "Right") {
        if (opened.right.length === KEK_LENGTH) return { kek: opened.right, createdAt: parsed.createdAt }
        zeroize(opened.right)
      }
    }
    return yield* Effect.fail(refused(target, "not-for-this-context"))
  })

/**
 * The admin's side of provisioning: exports a KEK version from `keyring`,
 * seals it to `recipient` and zeroes the exported bytes.
 *
 * @since 0.1.0
 * @category provisioning
 */
export const provision = (keyring: Keyring, input: {
  readonly storeId: string
  readonly versionId: string
  readonly recipient: Identity.PublicIdentity
  /** A verified prekey of the recipient (`Prekeys.verifyBundle`): seal to it (v2) instead of the identity key (v1). */
  readonly prekey?: Prekeys.SealTarget
}) =>
  Effect.gen(function*() {
    const version = (yield* keyring.kekVersions(input.storeId)).find((v) => v.versionId === input.versionId)
    const raw = yield* keyring.exportKek(input.storeId, input.versionId)
    return yield* seal({
      target: { storeId: input.storeId, versionId: input.versionId, recipient: input.recipient },
      sender: yield* keyring.identity,
      kek: raw,
      createdAt: version?.createdAt ?? 0,
      ...(input.prekey === undefined ? {} : { prekey: input.prekey })
    }).pipe(Effect.ensuring(Effect.sync(() => zeroize(raw))))
  })

/**
 * The recipient's side: opens a blob addressed to `keyring`'s identity,
 * imports the KEK version with `status` (as the store lists it) and zeroes
 * the opened bytes. Nothing is imported when the blob is refused. A v2 blob
 * opens with the named prekey's secret from the keyring's vault (refused
 * when this device does not hold it); a one-time prekey is erased from the
 * vault once the version is imported (forward secrecy).
 *
 * @since 0.1.0
 * @category provisioning
 */
export const accept = (keyring: Keyring, input: {
  readonly storeId: string
  readonly versionId: string
  readonly blob: Uint8Array
  readonly sender: Identity.PublicIdentity
  readonly status: KekStatus
}) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const recipient = yield* keyring.identity
    const target: Target = { storeId: input.storeId, versionId: input.versionId, recipient: recipient.public }
    const { prekey } = yield* parse(input.blob, target)
    const key = Option.isNone(prekey)
      ? undefined
      : Option.getOrUndefined(
        yield* Prekeys.handle(keyring.vault, prekey.value.kind, prekey.value.prekeyId).pipe(
          Effect.catchTag("InvalidKey", () => Effect.fail(refused(target, "malformed")))
        )
      )
    if (Option.isSome(prekey) && key === undefined) return yield* Effect.fail(refused(target, "prekey-not-held"))
    yield* Effect.gen(function*() {
      const { kek, createdAt } = yield* open({
        blob: input.blob, storeId: input.storeId, versionId: input.versionId, recipient, sender: input.sender, ...(key === undefined ? {} : { prekey: key })
      })
      yield* keyring.importKek(input.storeId, { versionId: input.versionId, raw: kek, status: input.status, createdAt }).pipe(
        Effect.ensuring(Effect.sync(() => zeroize(kek)))
      )
    }).pipe(Effect.ensuring(key === undefined ? Effect.void : crypto.destroyKey(key)))
    if (Option.isSome(prekey) && prekey.value.kind === "one-time") yield* Prekeys.eraseOneTime(keyring.vault, prekey.value.prekeyId)
  })
