/**
 * Identities and devices (seed 002). A user has an Ed25519 signing key and
 * an X25519 encryption key; each of the user's devices has its own Ed25519
 * key, certified by the identity, which signs the records the device writes
 * (INV-007). An identity rotates with a continuity proof — the statement is
 * signed by the old key and by the new one — and a migration window during
 * which both verify; an emergency rotation revokes the old key at once.
 *
 * Signed byte strings are `docs/formats.md`, "Identities and devices".
 *
 * @since 0.1.0
 */
import { type AgreementKey, Crypto, type InvalidKey, type SigningKey, zeroize } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { Effect, Schema } from "effect"
import { context } from "./internal/encoding.js"

const Key32 = Bytes.Base64UrlOfLength(32)
const Sig64 = Bytes.Base64UrlOfLength(64)

/**
 * A user's public identity: what others need to verify and to seal keys to it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PublicIdentity = Schema.Struct({
  userId: Schema.String,
  signingPublicKey: Key32,
  encryptionPublicKey: Key32
}).annotations({ identifier: "PublicIdentity" })
/** @since 0.1.0 */
export type PublicIdentity = typeof PublicIdentity.Type

/**
 * A statement that an identity moved to new keys, signed by the old signing
 * key (continuity) and the new one (possession).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RotationStatement = Schema.Struct({
  userId: Schema.String,
  kind: Schema.Literal("planned", "emergency"),
  oldSigningPublicKey: Key32,
  newSigningPublicKey: Key32,
  newEncryptionPublicKey: Key32,
  rotatedAt: Schema.Number,
  /** Until when the old key still verifies; equal to `rotatedAt` for an emergency rotation. */
  migrationUntil: Schema.Number,
  oldSignature: Sig64,
  newSignature: Sig64
}).annotations({ identifier: "RotationStatement" })
/** @since 0.1.0 */
export type RotationStatement = typeof RotationStatement.Type

/**
 * The secret half of an identity, as kept (encrypted) in the key store and
 * in backups. `previous` keeps retired keys so that material sealed to them
 * during a migration window can still be opened.
 *
 * @since 0.1.0
 * @category schemas
 */
export const IdentitySecrets = Schema.Struct({
  v: Schema.Literal(1),
  userId: Schema.String,
  signingSeed: Key32,
  encryptionSecret: Key32,
  createdAt: Schema.Number,
  genesis: PublicIdentity,
  chain: Schema.Array(RotationStatement),
  previous: Schema.Array(Schema.Struct({ signingSeed: Key32, encryptionSecret: Key32, retiredAt: Schema.Number }))
}).annotations({ identifier: "IdentitySecrets" })
/** @since 0.1.0 */
export type IdentitySecrets = typeof IdentitySecrets.Type

/**
 * A loaded identity: handles for its keys (material out of reach) and its public half.
 *
 * @since 0.1.0
 * @category models
 */
export interface Identity {
  readonly userId: string
  readonly signing: SigningKey
  readonly encryption: AgreementKey
  /** Retired encryption keys, newest first, to open what was sealed to them. */
  readonly previousEncryption: ReadonlyArray<AgreementKey>
  readonly public: PublicIdentity
  readonly genesis: PublicIdentity
  readonly chain: ReadonlyArray<RotationStatement>
}

/**
 * A device certificate: the identity vouches for a device's signing key.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeviceCertificate = Schema.Struct({
  userId: Schema.String,
  deviceId: Schema.String,
  devicePublicKey: Key32,
  issuedAt: Schema.Number,
  identityPublicKey: Key32,
  signature: Sig64
}).annotations({ identifier: "DeviceCertificate" })
/** @since 0.1.0 */
export type DeviceCertificate = typeof DeviceCertificate.Type

/**
 * A device revocation, signed by the identity.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeviceRevocation = Schema.Struct({
  userId: Schema.String,
  deviceId: Schema.String,
  revokedAt: Schema.Number,
  identityPublicKey: Key32,
  signature: Sig64
}).annotations({ identifier: "DeviceRevocation" })
/** @since 0.1.0 */
export type DeviceRevocation = typeof DeviceRevocation.Type

/**
 * A device's secrets, as kept in its key store (never in a backup: a
 * restored device gets a new device key).
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeviceSecrets = Schema.Struct({
  v: Schema.Literal(1),
  deviceId: Schema.String,
  signingSeed: Key32,
  certificate: DeviceCertificate
}).annotations({ identifier: "DeviceSecrets" })
/** @since 0.1.0 */
export type DeviceSecrets = typeof DeviceSecrets.Type

/**
 * A loaded device.
 *
 * @since 0.1.0
 * @category models
 */
export interface Device {
  readonly deviceId: string
  readonly signing: SigningKey
  readonly certificate: DeviceCertificate
}

/**
 * Why an identity chain or certificate does not verify.
 *
 * @since 0.1.0
 * @category errors
 */
export class IdentityVerificationFailed extends Schema.TaggedError<IdentityVerificationFailed>(
  "@cipherlog/keys/IdentityVerificationFailed"
)("IdentityVerificationFailed", {
  userId: Schema.String,
  subject: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Identity check failed for user ${this.userId} (${this.subject}): ${this.detail}. ` +
      `Do not trust material signed under it; verify the user's safety number out of band.`
  }
}

const u64 = (n: number) => Bytes.u64(Math.max(0, Math.floor(n)))

/** @internal */
export const certificateMessage = (c: Pick<DeviceCertificate, "userId" | "deviceId" | "devicePublicKey" | "issuedAt">) =>
  context("cipherlog/device-cert", c.userId, c.deviceId, c.devicePublicKey, u64(c.issuedAt))

/** @internal */
export const revocationMessage = (r: Pick<DeviceRevocation, "userId" | "deviceId" | "revokedAt">) =>
  context("cipherlog/device-revocation", r.userId, r.deviceId, u64(r.revokedAt))

/** @internal */
export const rotationMessage = (s: Omit<RotationStatement, "oldSignature" | "newSignature">) =>
  context(
    "cipherlog/identity-rotation", s.userId, s.kind, s.oldSigningPublicKey, s.newSigningPublicKey,
    s.newEncryptionPublicKey, u64(s.rotatedAt), u64(s.migrationUntil)
  )

/**
 * The message a user signs to register its identity with a sync server:
 * `"cipherlog/register/v1" ‖ lp(userId) ‖ signingPublicKey ‖ encryptionPublicKey`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const registrationMessage = (identity: PublicIdentity): Uint8Array =>
  Bytes.concat(Bytes.utf8("cipherlog/register/v1"), Bytes.u32(Bytes.utf8(identity.userId).length), Bytes.utf8(identity.userId), identity.signingPublicKey, identity.encryptionPublicKey)

/**
 * A short, human-comparable fingerprint of a public identity ("safety
 * number"): 12 groups of 5 digits from SHA-256 over its keys.
 *
 * @since 0.1.0
 * @category getters
 */
export const fingerprint = (identity: PublicIdentity) =>
  Effect.map(
    Effect.flatMap(Crypto.Crypto, (c) =>
      c.sha256(context("cipherlog/fingerprint", identity.userId, identity.signingPublicKey, identity.encryptionPublicKey))),
    (digest) => {
      const groups: Array<string> = []
      for (let i = 0; i < 12; i++) {
        const v = (((digest[i * 2]! << 16) | (digest[i * 2 + 1]! << 8) | digest[24 + (i % 8)]!) >>> 0) % 100000
        groups.push(String(v).padStart(5, "0"))
      }
      return groups.join(" ")
    }
  )

/**
 * A new identity for `userId`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (userId: string, now: number) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const signing = yield* crypto.ed25519.generate()
    const encryption = yield* crypto.x25519.generate()
    const genesis: PublicIdentity = { userId, signingPublicKey: signing.key.publicKey, encryptionPublicKey: encryption.key.publicKey }
    const secrets: IdentitySecrets = {
      v: 1, userId, signingSeed: signing.seed, encryptionSecret: encryption.secret, createdAt: now, genesis, chain: [], previous: []
    }
    yield* crypto.destroyKey(signing.key)
    yield* crypto.destroyKey(encryption.key)
    return secrets
  })

/**
 * Loads an identity's key handles from its secrets.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (secrets: IdentitySecrets): Effect.Effect<Identity, InvalidKey, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const signing = yield* crypto.ed25519.importSeed(secrets.signingSeed)
    const encryption = yield* crypto.x25519.importSecret(secrets.encryptionSecret)
    const previousEncryption = yield* Effect.forEach(
      [...secrets.previous].sort((a, b) => b.retiredAt - a.retiredAt),
      (p) => crypto.x25519.importSecret(p.encryptionSecret)
    )
    return {
      userId: secrets.userId,
      signing,
      encryption,
      previousEncryption,
      public: { userId: secrets.userId, signingPublicKey: signing.publicKey, encryptionPublicKey: encryption.publicKey },
      genesis: secrets.genesis,
      chain: secrets.chain
    }
  })

/**
 * A new device: its secrets, with a certificate issued by `identity`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const newDevice = (identity: Identity, deviceId: string, now: number) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { key, seed } = yield* crypto.ed25519.generate()
    const unsigned = { userId: identity.userId, deviceId, devicePublicKey: key.publicKey, issuedAt: now }
    const signature = yield* crypto.ed25519.sign(identity.signing, certificateMessage(unsigned))
    yield* crypto.destroyKey(key)
    const secrets: DeviceSecrets = {
      v: 1, deviceId, signingSeed: seed, certificate: { ...unsigned, identityPublicKey: identity.signing.publicKey, signature }
    }
    return secrets
  })

/**
 * Loads a device's key handle.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadDevice = (secrets: DeviceSecrets): Effect.Effect<Device, InvalidKey, Crypto.Crypto> =>
  Effect.map(Effect.flatMap(Crypto.Crypto, (c) => c.ed25519.importSeed(secrets.signingSeed)), (signing) => ({
    deviceId: secrets.deviceId, signing, certificate: secrets.certificate
  }))

/**
 * A signed revocation of one of the user's devices.
 *
 * @since 0.1.0
 * @category constructors
 */
export const revokeDevice = (identity: Identity, deviceId: string, now: number) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const unsigned = { userId: identity.userId, deviceId, revokedAt: now }
    const signature = yield* crypto.ed25519.sign(identity.signing, revocationMessage(unsigned))
    const revocation: DeviceRevocation = { ...unsigned, identityPublicKey: identity.signing.publicKey, signature }
    return revocation
  })

/**
 * Which signing keys of an identity verify at a given time, after following
 * its rotation chain from the genesis keys. Every link must be signed by the
 * key it replaces (continuity) and by the new key (possession), in time
 * order; a planned rotation leaves the old key valid until `migrationUntil`,
 * an emergency rotation revokes it at `rotatedAt`.
 *
 * @since 0.1.0
 * @category verification
 */
export interface ChainView {
  readonly current: PublicIdentity
  /** Signing keys with the interval during which they verify: [from, until). */
  readonly keys: ReadonlyArray<{ readonly signingPublicKey: Uint8Array; readonly from: number; readonly until: number }>
}

/**
 * Verifies a rotation chain; fails on the first broken link.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyChain = (
  genesis: PublicIdentity,
  chain: ReadonlyArray<RotationStatement>
): Effect.Effect<ChainView, IdentityVerificationFailed, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const fail = (detail: string, i: number) =>
      Effect.fail(new IdentityVerificationFailed({ userId: genesis.userId, subject: `rotation ${i + 1}`, detail }))
    let current = genesis
    let from = 0
    let lastAt = -Infinity
    const keys: Array<{ signingPublicKey: Uint8Array; from: number; until: number }> = []
    for (const [i, s] of chain.entries()) {
      if (s.userId !== genesis.userId) return yield* fail("it names another user", i)
      if (!Bytes.equalsPublic(s.oldSigningPublicKey, current.signingPublicKey)) return yield* fail("it does not start from the current key", i)
      if (s.rotatedAt < lastAt) return yield* fail("it is older than the previous rotation", i)
      if (s.kind === "emergency" ? s.migrationUntil !== s.rotatedAt : s.migrationUntil < s.rotatedAt) {
        return yield* fail("its migration window is inconsistent with its kind", i)
      }
      const { oldSignature, newSignature, ...unsigned } = s
      const message = rotationMessage(unsigned)
      if (!(yield* crypto.ed25519.verify(s.oldSigningPublicKey, message, oldSignature))) return yield* fail("the old key's continuity signature does not verify", i)
      if (!(yield* crypto.ed25519.verify(s.newSigningPublicKey, message, newSignature))) return yield* fail("the new key's signature does not verify", i)
      keys.push({ signingPublicKey: current.signingPublicKey, from, until: s.migrationUntil })
      current = { userId: genesis.userId, signingPublicKey: s.newSigningPublicKey, encryptionPublicKey: s.newEncryptionPublicKey }
      from = s.rotatedAt
      lastAt = s.rotatedAt
    }
    keys.push({ signingPublicKey: current.signingPublicKey, from, until: Number.POSITIVE_INFINITY })
    return { current, keys }
  })

/**
 * True when `signingPublicKey` verifies for the identity at time `at`.
 *
 * @since 0.1.0
 * @category verification
 */
export const validAt = (view: ChainView, signingPublicKey: Uint8Array, at: number): boolean =>
  view.keys.some((k) => Bytes.equalsPublic(k.signingPublicKey, signingPublicKey) && at >= k.from && at < k.until)

/**
 * Rotates an identity: new keys, a statement signed by old and new, the old
 * secrets kept in `previous`. `migrationMs` is the window during which the
 * old key still verifies (0 and `kind: "emergency"` revoke it at once).
 *
 * @since 0.1.0
 * @category constructors
 */
export const rotate = (secrets: IdentitySecrets, kind: "planned" | "emergency", now: number, migrationMs: number) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const old = yield* load(secrets)
    const signing = yield* crypto.ed25519.generate()
    const encryption = yield* crypto.x25519.generate()
    const unsigned = {
      userId: secrets.userId,
      kind,
      oldSigningPublicKey: old.signing.publicKey,
      newSigningPublicKey: signing.key.publicKey,
      newEncryptionPublicKey: encryption.key.publicKey,
      rotatedAt: now,
      migrationUntil: kind === "emergency" ? now : now + Math.max(0, migrationMs)
    }
    const message = rotationMessage(unsigned)
    const statement: RotationStatement = {
      ...unsigned,
      oldSignature: yield* crypto.ed25519.sign(old.signing, message),
      newSignature: yield* crypto.ed25519.sign(signing.key, message)
    }
    const next: IdentitySecrets = {
      ...secrets,
      signingSeed: signing.seed,
      encryptionSecret: encryption.secret,
      chain: [...secrets.chain, statement],
      previous: [...secrets.previous, { signingSeed: secrets.signingSeed, encryptionSecret: secrets.encryptionSecret, retiredAt: now }]
    }
    yield* Effect.forEach([old.signing, old.encryption, signing.key, encryption.key, ...old.previousEncryption], crypto.destroyKey)
    return { secrets: next, statement }
  })

/**
 * Verifies a device certificate against an identity's chain: signed by a
 * key of the identity that was valid when the certificate was issued.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyCertificate = (view: ChainView, certificate: DeviceCertificate) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const fail = (detail: string) =>
      Effect.fail(new IdentityVerificationFailed({ userId: certificate.userId, subject: `device ${certificate.deviceId}`, detail }))
    if (certificate.userId !== view.current.userId) return yield* fail("the certificate names another user")
    if (!validAt(view, certificate.identityPublicKey, certificate.issuedAt)) return yield* fail("it was issued by a key that was not valid then")
    const { signature, identityPublicKey: _, ...unsigned } = certificate
    if (!(yield* crypto.ed25519.verify(certificate.identityPublicKey, certificateMessage(unsigned), signature))) {
      return yield* fail("its signature does not verify")
    }
    return certificate
  })

/**
 * Verifies a device revocation: signed by a key of the identity valid at `revokedAt`.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyRevocation = (view: ChainView, revocation: DeviceRevocation) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { signature, identityPublicKey, ...unsigned } = revocation
    const ok = revocation.userId === view.current.userId && validAt(view, identityPublicKey, revocation.revokedAt) &&
      (yield* crypto.ed25519.verify(identityPublicKey, revocationMessage(unsigned), signature))
    return ok
      ? revocation
      : yield* Effect.fail(new IdentityVerificationFailed({ userId: revocation.userId, subject: `revocation of ${revocation.deviceId}`, detail: "its signature does not verify" }))
  })

/** @internal zero the secret fields of identity secrets */
export const zeroizeSecrets = (secrets: IdentitySecrets) => {
  zeroize(secrets.signingSeed, secrets.encryptionSecret, ...secrets.previous.flatMap((p) => [p.signingSeed, p.encryptionSecret]))
}

