/**
 * Prekeys (seed 002): X25519 keys a user publishes on the sync server ahead
 * of time, so that an admin can seal a KEK version to them while the user is
 * offline, and so that what is sealed does not depend on the long-lived
 * identity encryption key alone.
 *
 * - The **signed prekey**: one at a time per user, signed by the identity's
 *   Ed25519 key, rotated every {@link PrekeyPolicy.signedRotationMs} (30
 *   days). The previous one's secret is kept for a grace window (blobs sealed
 *   to it while the new one propagated), then erased.
 * - **One-time prekeys**: each signed by the identity too (an unsigned one
 *   could be substituted by the server, which would then read what is sealed
 *   to it), handed out by the server at most once, and erased — zeroed and
 *   removed from the vault — as soon as a blob sealed to it was opened. That
 *   erasure is the forward-secrecy point: a later theft of the device's vault
 *   does not open blobs sealed to one-time prekeys already used.
 *
 * A bundle (what the server hands out) is verified by the sender against the
 * recipient's public identity, which the sender verified out of band (safety
 * number): {@link verifyBundle} refuses a forged or mismatched signature, a
 * bundle of another user, and a signed prekey older than
 * {@link PrekeyPolicy.maxSignedAgeMs}.
 *
 * Secret halves live in the vault (encrypted under the device key, like
 * every entry) under `prekeys/signed/…` and `prekeys/one-time/…`; they are
 * device-local and never in a backup. Signed messages: `docs/formats.md`,
 * "Prekeys v1".
 *
 * @since 0.1.0
 */
import { type AgreementKey, Crypto, type InvalidKey, zeroize } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { Effect, Option, Schema } from "effect"
import type * as Identity from "./Identity.js"
import { context, segment } from "./internal/encoding.js"
import { readEntry, writeEntry } from "./Keyring.js"
import type { KeyStoreError } from "./KeyStoreError.js"
import type { Vault } from "./Vault.js"

const Key32 = Bytes.Base64UrlOfLength(32)
const Sig64 = Bytes.Base64UrlOfLength(64)

/**
 * A prekey id: 1–64 characters of `[A-Za-z0-9_-]`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PrekeyId = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/))

/**
 * True for a valid prekey id (what {@link PrekeyId} accepts).
 *
 * @since 0.1.0
 * @category schemas
 */
export const isPrekeyId: (u: unknown) => u is string = Schema.is(PrekeyId)

/**
 * A published signed prekey.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SignedPrekey = Schema.Struct({
  userId: Schema.String,
  prekeyId: PrekeyId,
  publicKey: Key32,
  createdAt: Schema.Number,
  signature: Sig64
}).annotations({ identifier: "SignedPrekey" })
/** @since 0.1.0 */
export type SignedPrekey = typeof SignedPrekey.Type

/**
 * A published one-time prekey.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OneTimePrekey = Schema.Struct({
  userId: Schema.String,
  prekeyId: PrekeyId,
  publicKey: Key32,
  signature: Sig64
}).annotations({ identifier: "OneTimePrekey" })
/** @since 0.1.0 */
export type OneTimePrekey = typeof OneTimePrekey.Type

/**
 * What the server hands out for a user: the signed prekey and, while any
 * remain (and the claimer is within its rate), one one-time prekey.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bundle {
  readonly userId: string
  readonly signedPrekey: SignedPrekey
  readonly oneTimePrekey: Option.Option<OneTimePrekey>
}

/**
 * The prekey a blob is sealed to, once its bundle verified: the one-time
 * prekey when the bundle had one, else the signed prekey.
 *
 * @since 0.1.0
 * @category models
 */
export interface SealTarget {
  readonly kind: "signed" | "one-time"
  readonly prekeyId: string
  readonly publicKey: Uint8Array
}

/**
 * Periods and counts of the prekey lifecycle.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrekeyPolicy {
  /** A new signed prekey is published when the current one is this old. */
  readonly signedRotationMs: number
  /** How long a replaced signed prekey's secret is kept (blobs sealed to it in flight). */
  readonly signedGraceMs: number
  /** Senders refuse a signed prekey older than this (a server replaying an old one). */
  readonly maxSignedAgeMs: number
  /** Replenish when fewer one-time prekeys than this remain on the server. */
  readonly oneTimeThreshold: number
  /** Replenish up to this many. */
  readonly oneTimeTarget: number
}

const DAY = 24 * 3600 * 1000

/**
 * Rotation every 30 days, 7 days of grace, senders accept a signed prekey
 * up to 45 days old; replenish to 100 one-time prekeys below 10 (seed 002).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPolicy: PrekeyPolicy = {
  signedRotationMs: 30 * DAY,
  signedGraceMs: 7 * DAY,
  maxSignedAgeMs: 45 * DAY,
  oneTimeThreshold: 10,
  oneTimeTarget: 100
}

/**
 * The secret half of a prekey, as kept in the vault.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PrekeySecret = Schema.Struct({
  v: Schema.Literal(1),
  kind: Schema.Literal("signed", "one-time"),
  prekeyId: PrekeyId,
  secret: Key32,
  publicKey: Key32,
  createdAt: Schema.Number,
  /** When a signed prekey was replaced; its secret is erased a grace window later. */
  retiredAt: Schema.optionalWith(Schema.Number, { exact: true })
}).annotations({ identifier: "PrekeySecret" })
/** @since 0.1.0 */
export type PrekeySecret = typeof PrekeySecret.Type

/**
 * Vault entry names of prekey secrets (`docs/formats.md`, "Key store v1").
 *
 * @since 0.1.0
 * @category constants
 */
export const entries = {
  signed: "prekeys/signed/",
  oneTime: "prekeys/one-time/",
  of: (kind: "signed" | "one-time", prekeyId: string) => `prekeys/${kind}/${segment(prekeyId)}`
} as const

/**
 * Why a bundle was refused. Holds ids only.
 *
 * @since 0.1.0
 * @category errors
 */
export class PrekeyBundleRefused extends Schema.TaggedError<PrekeyBundleRefused>("@cipherlog/keys/PrekeyBundleRefused")("PrekeyBundleRefused", {
  userId: Schema.String,
  reason: Schema.Literal("wrong-user", "bad-signature", "stale"),
  detail: Schema.String
}) {
  override get message(): string {
    return `The prekey bundle the server gave for user ${this.userId} was refused (${this.reason}): ${this.detail}. ` +
      `Nothing was sealed to it; seal to the user's verified identity key instead, and suspect the server if this repeats.`
  }
}

const u64 = (n: number) => Bytes.u64(Math.max(0, Math.floor(n)))

/**
 * The message the identity signs for a signed prekey:
 * `"cipherlog/signed-prekey/v1" ‖ 0x01 ‖ lp(userId) ‖ lp(prekeyId) ‖ lp(publicKey) ‖ lp(u64be(createdAt))`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const signedPrekeyMessage = (p: Pick<SignedPrekey, "userId" | "prekeyId" | "publicKey" | "createdAt">) =>
  context("cipherlog/signed-prekey/v1", p.userId, p.prekeyId, p.publicKey, u64(p.createdAt))

/**
 * The message the identity signs for a one-time prekey:
 * `"cipherlog/one-time-prekey/v1" ‖ 0x01 ‖ lp(userId) ‖ lp(prekeyId) ‖ lp(publicKey)`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const oneTimePrekeyMessage = (p: Pick<OneTimePrekey, "userId" | "prekeyId" | "publicKey">) =>
  context("cipherlog/one-time-prekey/v1", p.userId, p.prekeyId, p.publicKey)

const newId = (crypto: Crypto.Crypto, prefix: string) => Effect.map(crypto.randomBytes(12), (b) => `${prefix}${Bytes.toBase64Url(b)}`)

const store = (vault: Vault, secret: PrekeySecret) => writeEntry(vault, entries.of(secret.kind, secret.prekeyId), PrekeySecret, secret)

/**
 * A new signed prekey: its secret written to the vault, its signed public
 * half returned (to publish). Any current signed prekey is marked retired at
 * `now` (erased by {@link prune} after the grace window).
 *
 * @since 0.1.0
 * @category constructors
 */
export const newSignedPrekey = (vault: Vault, identity: Identity.Identity, now: number): Effect.Effect<SignedPrekey, KeyStoreError | InvalidKey, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { key, secret } = yield* crypto.x25519.generate()
    const unsigned = { userId: identity.userId, prekeyId: yield* newId(crypto, "spk_"), publicKey: key.publicKey, createdAt: now }
    const signature = yield* crypto.ed25519.sign(identity.signing, signedPrekeyMessage(unsigned))
    yield* crypto.destroyKey(key)
    for (const current of yield* secrets(vault, "signed")) {
      if (current.retiredAt === undefined) yield* store(vault, { ...current, retiredAt: now })
      zeroize(current.secret)
    }
    yield* store(vault, { v: 1, kind: "signed", prekeyId: unsigned.prekeyId, secret, publicKey: key.publicKey, createdAt: now }).pipe(
      Effect.ensuring(Effect.sync(() => zeroize(secret)))
    )
    return { ...unsigned, signature }
  })

/**
 * `count` new one-time prekeys: secrets written to the vault, the signed
 * public halves returned (to upload).
 *
 * @since 0.1.0
 * @category constructors
 */
export const newOneTimePrekeys = (
  vault: Vault,
  identity: Identity.Identity,
  count: number,
  now: number
): Effect.Effect<ReadonlyArray<OneTimePrekey>, KeyStoreError | InvalidKey, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const out: Array<OneTimePrekey> = []
    for (let i = 0; i < count; i++) {
      const { key, secret } = yield* crypto.x25519.generate()
      const unsigned = { userId: identity.userId, prekeyId: yield* newId(crypto, "otk_"), publicKey: key.publicKey }
      const signature = yield* crypto.ed25519.sign(identity.signing, oneTimePrekeyMessage(unsigned))
      yield* crypto.destroyKey(key)
      yield* store(vault, { v: 1, kind: "one-time", prekeyId: unsigned.prekeyId, secret, publicKey: key.publicKey, createdAt: now }).pipe(
        Effect.ensuring(Effect.sync(() => zeroize(secret)))
      )
      out.push({ ...unsigned, signature })
    }
    return out
  })

/**
 * Every prekey secret of a kind held in the vault. The caller zeroes the
 * `secret` fields.
 *
 * @since 0.1.0
 * @category getters
 */
export const secrets = (vault: Vault, kind: "signed" | "one-time"): Effect.Effect<ReadonlyArray<PrekeySecret>, KeyStoreError> =>
  Effect.flatMap(vault.list(kind === "signed" ? entries.signed : entries.oneTime), (names) =>
    Effect.map(Effect.forEach(names, (name) => readEntry(vault, name, PrekeySecret)), (found) => found.flatMap(Option.toArray)))

/**
 * The newest signed prekey this device holds (not retired): its id and
 * creation time, no secret.
 *
 * @since 0.1.0
 * @category getters
 */
export const currentSigned = (vault: Vault): Effect.Effect<Option.Option<{ readonly prekeyId: string; readonly createdAt: number }>, KeyStoreError> =>
  Effect.map(secrets(vault, "signed"), (all) => {
    for (const s of all) zeroize(s.secret)
    const live = all.filter((s) => s.retiredAt === undefined).sort((a, b) => b.createdAt - a.createdAt)[0]
    return live === undefined ? Option.none() : Option.some({ prekeyId: live.prekeyId, createdAt: live.createdAt })
  })

/**
 * Erases retired signed prekeys whose grace window has passed: the entry
 * is removed from the vault. Returns the erased ids.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const prune = (vault: Vault, now: number, policy: PrekeyPolicy = defaultPolicy): Effect.Effect<ReadonlyArray<string>, KeyStoreError> =>
  Effect.gen(function*() {
    const erased: Array<string> = []
    for (const s of yield* secrets(vault, "signed")) {
      zeroize(s.secret)
      if (s.retiredAt !== undefined && now >= s.retiredAt + policy.signedGraceMs) {
        yield* vault.remove(entries.of("signed", s.prekeyId))
        erased.push(s.prekeyId)
      }
    }
    return erased
  })

/**
 * The key handle of a prekey this device holds, or none (never held, or
 * erased after use). The caller destroys the handle.
 *
 * @since 0.1.0
 * @category getters
 */
export const handle = (
  vault: Vault,
  kind: "signed" | "one-time",
  prekeyId: string
): Effect.Effect<Option.Option<AgreementKey>, KeyStoreError | InvalidKey, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const found = yield* readEntry(vault, entries.of(kind, prekeyId), PrekeySecret)
    if (Option.isNone(found)) return Option.none()
    const key = yield* crypto.x25519.importSecret(found.value.secret).pipe(Effect.ensuring(Effect.sync(() => zeroize(found.value.secret))))
    return Option.some(key)
  })

/**
 * Erases a one-time prekey once used: removes its entry from the vault (the
 * copies read from it were zeroed where they were read). Signed prekeys are
 * not erased on use; {@link prune} retires them.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const eraseOneTime = (vault: Vault, prekeyId: string): Effect.Effect<void, KeyStoreError> => vault.remove(entries.of("one-time", prekeyId))

/**
 * Verifies a bundle against the recipient's public identity (verified out of
 * band by the caller) at time `now`: the bundle names that user, the signed
 * prekey's signature verifies under the identity's signing key and it is no
 * older than `policy.maxSignedAgeMs` (nor from the future beyond a day of
 * clock skew), and the one-time prekey (if any) is signed by the same key.
 * Returns what to seal to.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyBundle = (
  recipient: Identity.PublicIdentity,
  bundle: Bundle,
  now: number,
  policy: PrekeyPolicy = defaultPolicy
): Effect.Effect<SealTarget, PrekeyBundleRefused, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const refuse = (reason: PrekeyBundleRefused["reason"], detail: string) =>
      Effect.fail(new PrekeyBundleRefused({ userId: recipient.userId, reason, detail }))
    const { signedPrekey: spk } = bundle
    if (bundle.userId !== recipient.userId || spk.userId !== recipient.userId) return yield* refuse("wrong-user", "it names another user")
    const { signature, ...unsigned } = spk
    if (!(yield* crypto.ed25519.verify(recipient.signingPublicKey, signedPrekeyMessage(unsigned), signature))) {
      return yield* refuse("bad-signature", "the signed prekey's signature does not verify with the user's identity key")
    }
    if (now - spk.createdAt > policy.maxSignedAgeMs) return yield* refuse("stale", "the signed prekey is older than the accepted age (the user has not rotated it, or the server replays an old one)")
    if (spk.createdAt - now > DAY) return yield* refuse("stale", "the signed prekey claims to be created in the future")
    if (Option.isNone(bundle.oneTimePrekey)) return { kind: "signed", prekeyId: spk.prekeyId, publicKey: spk.publicKey }
    const otk = bundle.oneTimePrekey.value
    if (otk.userId !== recipient.userId) return yield* refuse("wrong-user", "its one-time prekey names another user")
    if (!(yield* crypto.ed25519.verify(recipient.signingPublicKey, oneTimePrekeyMessage(otk), otk.signature))) {
      return yield* refuse("bad-signature", "the one-time prekey's signature does not verify with the user's identity key")
    }
    return { kind: "one-time", prekeyId: otk.prekeyId, publicKey: otk.publicKey }
  })

/**
 * What the server reports of a user's prekeys (`GET …/prekeys/status`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerStatus {
  readonly signedPrekeyId: Option.Option<string>
  readonly signedCreatedAt: Option.Option<number>
  readonly oneTimeCount: number
}

/**
 * What maintenance must do now.
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  /** Publish a new signed prekey: none on the server, or it is due for rotation, or it is not one this device holds. */
  readonly publishSigned: boolean
  /** One-time prekeys to upload (0 when at or above the threshold). */
  readonly oneTime: number
}

/**
 * The maintenance decision (pure): a new signed prekey when the server has
 * none, when this device does not hold the published one, or when it is
 * `signedRotationMs` old; one-time prekeys up to `oneTimeTarget` when fewer
 * than `oneTimeThreshold` remain on the server.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const plan = (
  server: ServerStatus,
  local: Option.Option<{ readonly prekeyId: string; readonly createdAt: number }>,
  now: number,
  policy: PrekeyPolicy = defaultPolicy
): Plan => {
  const held = Option.isSome(local) && Option.isSome(server.signedPrekeyId) && local.value.prekeyId === server.signedPrekeyId.value
  const due = Option.isNone(server.signedCreatedAt) || now - server.signedCreatedAt.value >= policy.signedRotationMs
  return {
    publishSigned: !held || due,
    oneTime: server.oneTimeCount < policy.oneTimeThreshold ? policy.oneTimeTarget - server.oneTimeCount : 0
  }
}
