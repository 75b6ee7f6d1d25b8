/**
 * The keyring: everything a device knows about keys, on top of an unlocked
 * vault. It answers the questions the encryption pipeline asks (seed 003's
 * resolver): *which key encrypts the next event of this aggregate?* and
 * *which key decrypts this record?* — and it keeps the rules:
 *
 * - Operational **KEK versions** per store (seed 001): exactly one `active`
 *   (the only one that wraps data keys), others `decrypt-only` or
 *   `deprecated`; creating a version makes every active one decrypt-only; a
 *   deprecated version is destroyed only after its grace period (seed 003)
 *   and only when no data key depends on it alone (INV-009).
 * - Per-aggregate **DEKs with epochs**: records name `(keyId, epoch)`; a new
 *   epoch starts when the usage limit would be passed (INV-008) or when the
 *   epoch was created under a KEK version that is no longer active — so
 *   after a rotation that removed a member, new events use key material that
 *   member never received (INV-015). Old epochs stay readable.
 * - **Grants**: a DEK's epochs, to be published as a key record sealed under
 *   the active KEK version, for the store's other devices and members.
 *   `pendingGrants` lists what must be re-wrapped under the active version.
 * - **`K_cache`**: device-local, for projections; never exported (INV-010).
 *
 * Key material stays in the vault (encrypted under the device key) and in
 * non-exportable handles; nothing here logs or returns it except the
 * explicit `grants`/`exportKek` paths whose callers seal it immediately.
 *
 * @since 0.1.0
 */
import { Crypto, type SymmetricKey, zeroize } from "@cipherlog/crypto"
import { Bytes, type KeyRef, keyRefLabel, KeysMissing } from "@cipherlog/domain"
import { Effect, Option, Schema } from "effect"
import * as Identity from "./Identity.js"
import { segment, unsegment } from "./internal/encoding.js"
import type { KeyStoreError } from "./KeyStoreError.js"
import type { Vault } from "./Vault.js"

const Key32 = Bytes.Base64UrlOfLength(32)

/**
 * The three statuses of a KEK version (seed 001), plus `destroyed`
 * (a tombstone: the key is gone, the version is remembered).
 *
 * @since 0.1.0
 * @category models
 */
export const KekStatus = Schema.Literal("active", "decrypt-only", "deprecated", "destroyed")
/** @since 0.1.0 */
export type KekStatus = typeof KekStatus.Type

/**
 * A KEK version as kept in the key store.
 *
 * @since 0.1.0
 * @category schemas
 */
export const KekRecord = Schema.Struct({
  v: Schema.Literal(1),
  storeId: Schema.String,
  versionId: Schema.String,
  key: Schema.optionalWith(Key32, { exact: true }),
  status: KekStatus,
  createdAt: Schema.Number,
  statusAt: Schema.Number
}).annotations({ identifier: "KekRecord" })
/** @since 0.1.0 */
export type KekRecord = typeof KekRecord.Type

/**
 * One epoch of a DEK.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DekEpoch = Schema.Struct({
  epoch: Schema.Number,
  key: Key32,
  createdAt: Schema.Number,
  /** The KEK version that was active when the epoch was created: only then may it encrypt. */
  createdUnder: Schema.String,
  /** Encryptions reserved so far (persisted ahead of use, so a crash can only over-count). */
  reserved: Schema.Number,
  /** KEK versions under which a grant of this epoch was published. */
  wrappedUnder: Schema.Array(Schema.String)
}).annotations({ identifier: "DekEpoch" })
/** @since 0.1.0 */
export type DekEpoch = typeof DekEpoch.Type

/**
 * A DEK (`K_aggregate`) with all its epochs.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DekRecord = Schema.Struct({
  v: Schema.Literal(1),
  storeId: Schema.String,
  keyId: Schema.String,
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  epochs: Schema.Array(DekEpoch)
}).annotations({ identifier: "DekRecord" })
/** @since 0.1.0 */
export type DekRecord = typeof DekRecord.Type

/**
 * Epochs of one DEK to publish (or received) as a key record sealed under a
 * KEK version. Holds raw key bytes: seal it at once and drop it.
 *
 * @since 0.1.0
 * @category models
 */
export interface DekGrant {
  readonly storeId: string
  readonly keyId: string
  readonly aggregateType: string
  readonly aggregateId: string
  readonly kekVersionId: string
  readonly epochs: ReadonlyArray<{ readonly epoch: number; readonly key: Uint8Array; readonly createdAt: number; readonly createdUnder: string }>
}

/**
 * The grant's JSON body (for key records): keys base64url.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DekGrantBody = Schema.Struct({
  v: Schema.Literal(1),
  keyId: Schema.String,
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  epochs: Schema.Array(Schema.Struct({ epoch: Schema.Number, key: Key32, createdAt: Schema.Number, createdUnder: Schema.String }))
}).annotations({ identifier: "DekGrantBody" })

/**
 * Limits and periods of the key lifecycle.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyPolicy {
  /** Encryptions per DEK epoch before a new epoch is forced (INV-008). */
  readonly dekUsageLimit: number
  /** Encryptions reserved (persisted) at a time. */
  readonly reservationBlock: number
  /** Minimum time between deprecating a KEK version and destroying it (seed 003's TTL). */
  readonly kekGraceMs: number
}

/**
 * 2^31 encryptions per DEK epoch (half the AES-GCM random-nonce bound),
 * reservations of 1024, seven days of grace.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPolicy: KeyPolicy = { dekUsageLimit: 2 ** 31, reservationBlock: 1024, kekGraceMs: 7 * 24 * 3600 * 1000 }

/**
 * A refused KEK version operation: what rule and what to do.
 *
 * @since 0.1.0
 * @category errors
 */
export class KekOperationRefused extends Schema.TaggedError<KekOperationRefused>("@cipherlog/keys/KekOperationRefused")(
  "KekOperationRefused",
  { storeId: Schema.String, versionId: Schema.String, detail: Schema.String }
) {
  override get message(): string {
    return `KEK version ${this.versionId} of store ${this.storeId}: ${this.detail}.`
  }
}

/**
 * A grant whose epoch differs from the one already known under the same
 * key id and epoch: refused, the known one kept (a bug or an attack).
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyConflict extends Schema.TaggedError<KeyConflict>("@cipherlog/keys/KeyConflict")("KeyConflict", {
  storeId: Schema.String,
  key: Schema.String
}) {
  override get message(): string {
    return `Key ${this.key} of store ${this.storeId} arrived with material different from the copy already held; ` +
      `the held copy was kept. Investigate the author of the grant.`
  }
}

/**
 * What the keyring knows about a KEK version (no key bytes).
 *
 * @since 0.1.0
 * @category models
 */
export interface KekInfo {
  readonly storeId: string
  readonly versionId: string
  readonly status: KekStatus
  readonly createdAt: number
  readonly statusAt: number
}

/**
 * A store's key status, for `keys status` and diagnostics.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreKeyStatus {
  readonly storeId: string
  readonly kekVersions: ReadonlyArray<KekInfo>
  readonly deks: number
  readonly epochs: number
  /** Epochs not yet published under the active KEK version (to re-wrap). */
  readonly pending: number
  readonly highestUsage: number
}

const json = <A, I>(schema: Schema.Schema<A, I>) => Schema.parseJson(schema)
const ProfileSchema = Schema.Struct({ v: Schema.Literal(1), userId: Schema.String, deviceId: Schema.String, createdAt: Schema.Number })
const KeySchema = Schema.Struct({ v: Schema.Literal(1), key: Key32 })
const WriterSchema = Schema.Struct({ v: Schema.Literal(1), keyId: Schema.String })

/**
 * Entry names in the vault (`docs/formats.md`, "Key store v1").
 *
 * @since 0.1.0
 * @category constants
 */
export const entries = {
  profile: "profile",
  identity: "identity",
  device: "device",
  cache: "cache",
  recoveryRoot: (storeId: string) => `recovery-root/${segment(storeId)}`,
  keks: (storeId: string) => `stores/${segment(storeId)}/kek/`,
  kek: (storeId: string, versionId: string) => `stores/${segment(storeId)}/kek/${segment(versionId)}`,
  deks: (storeId: string) => `stores/${segment(storeId)}/dek/`,
  dek: (storeId: string, keyId: string) => `stores/${segment(storeId)}/dek/${segment(keyId)}`,
  writer: (storeId: string, aggregateType: string, aggregateId: string) =>
    `stores/${segment(storeId)}/writer/${segment(aggregateType)}/${segment(aggregateId)}`,
  stores: "stores/"
} as const

const corruptedEntry = (vault: Vault, name: string) =>
  import("./KeyStoreError.js").then((m) =>
    new m.KeyStoreError({ reason: "corrupted", location: vault.location, entry: name, detail: "its content does not match its format" })
  )

/**
 * Reads a JSON entry of the vault through a schema.
 *
 * @since 0.1.0
 * @category vault
 */
export const readEntry = <A, I>(vault: Vault, name: string, schema: Schema.Schema<A, I>): Effect.Effect<Option.Option<A>, KeyStoreError> =>
  Effect.flatMap(vault.get(name), Option.match({
    onNone: () => Effect.succeed(Option.none()),
    onSome: (bytes) => {
      const text = Bytes.fromUtf8(bytes)
      zeroize(bytes)
      return Schema.decodeUnknown(json(schema))(text).pipe(
        Effect.map(Option.some),
        Effect.catchAll(() => Effect.flatMap(Effect.promise(() => corruptedEntry(vault, name)), Effect.fail))
      )
    }
  }))

/**
 * Writes a JSON entry of the vault through a schema.
 *
 * @since 0.1.0
 * @category vault
 */
export const writeEntry = <A, I>(vault: Vault, name: string, schema: Schema.Schema<A, I>, value: NoInfer<A>): Effect.Effect<void, KeyStoreError> =>
  Effect.suspend(() => {
    const bytes = Bytes.utf8(Schema.encodeSync(json(schema))(value))
    return vault.put(name, bytes).pipe(Effect.ensuring(Effect.sync(() => zeroize(bytes))))
  })

/**
 * The keyring service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Keyring {
  readonly vault: Vault
  readonly policy: KeyPolicy
  readonly userId: string
  readonly deviceId: string
  readonly identity: Effect.Effect<Identity.Identity, KeyStoreError>
  readonly device: Effect.Effect<Identity.Device, KeyStoreError>
  /**
   * Rotates the user's identity here (`Identity.rotate`): new keys, the old
   * ones kept in `previous` (what was sealed to them still opens), the
   * statement appended to the chain, written to the vault before it is
   * returned. The handles of the old identity are destroyed: a client that
   * signed with them must be made again. Publish the statement (the sync
   * server's rotation endpoint) before anything is sealed to the new keys.
   */
  readonly rotateIdentity: (kind: "planned" | "emergency", migrationMs: number) => Effect.Effect<Identity.RotationStatement, KeyStoreError>
  /**
   * Adopts identity secrets of this user that continue this device's chain
   * (recovered after another device rotated the identity): refused unless
   * they have the same genesis, their chain verifies and extends this one's.
   */
  readonly adoptIdentity: (secrets: Identity.IdentitySecrets) => Effect.Effect<void, KeyStoreError | Identity.IdentityVerificationFailed>
  /** This device's `K_cache` (projections, indexes). Never exported, never synced (INV-010). */
  readonly cacheKey: Effect.Effect<SymmetricKey<"cache">, KeyStoreError>

  readonly kekVersions: (storeId: string) => Effect.Effect<ReadonlyArray<KekInfo>, KeyStoreError>
  readonly activeKek: (storeId: string) => Effect.Effect<Option.Option<KekInfo>, KeyStoreError>
  /** A new random KEK version, active; every active one becomes decrypt-only. */
  readonly createKek: (storeId: string, versionId: string) => Effect.Effect<KekInfo, KeyStoreError | KekOperationRefused>
  /** Adds a KEK version received from elsewhere (a KEK blob, a backup). `raw` is zeroed by the caller. */
  readonly importKek: (
    storeId: string,
    kek: { readonly versionId: string; readonly raw: Uint8Array; readonly status: KekStatus; readonly createdAt: number }
  ) => Effect.Effect<void, KeyStoreError | KeyConflict>
  readonly setKekStatus: (storeId: string, versionId: string, status: "decrypt-only" | "deprecated") => Effect.Effect<void, KeyStoreError | KekOperationRefused>
  /** Destroys a deprecated version: after its grace period, and only when no DEK epoch depends on it alone (INV-009). */
  readonly destroyKek: (storeId: string, versionId: string) => Effect.Effect<void, KeyStoreError | KekOperationRefused>
  /** The raw bytes of a KEK version, to seal to a member (HPKE). The caller zeroes them. */
  readonly exportKek: (storeId: string, versionId: string) => Effect.Effect<Uint8Array, KeyStoreError | KeysMissing>
  readonly kek: (storeId: string, versionId: string) => Effect.Effect<SymmetricKey<"kek">, KeyStoreError | KeysMissing>

  /**
   * The key for the next `count` encryptions of an aggregate's events: its
   * reference, the handle, and the grants to publish first (new epochs, or
   * epochs not yet wrapped under the active version).
   */
  readonly dekForWrite: (
    storeId: string,
    aggregateType: string,
    aggregateId: string,
    count?: number
  ) => Effect.Effect<{ readonly ref: KeyRef; readonly key: SymmetricKey<"dek">; readonly grants: ReadonlyArray<DekGrant> }, KeyStoreError | KeysMissing>
  /** The DEK epoch a record names; `KeysMissing` when this device does not hold it (the store is locked for that record). */
  readonly dek: (storeId: string, ref: KeyRef) => Effect.Effect<SymmetricKey<"dek">, KeyStoreError | KeysMissing>
  /** True when the reference names a KEK version of the store (a key record) rather than a DEK. */
  readonly isKekRef: (storeId: string, ref: KeyRef) => Effect.Effect<boolean, KeyStoreError>
  /** Records that grants were published (sealed and appended) under their KEK version. */
  readonly markPublished: (grants: ReadonlyArray<DekGrant>) => Effect.Effect<void, KeyStoreError>
  /** Adds the epochs of a grant received in a key record sealed under `grant.kekVersionId`. */
  readonly importGrant: (grant: DekGrant) => Effect.Effect<void, KeyStoreError | KeyConflict>
  /** Every epoch not yet published under the active version, as grants (to re-wrap after a rotation). */
  readonly pendingGrants: (storeId: string) => Effect.Effect<ReadonlyArray<DekGrant>, KeyStoreError | KeysMissing>
  readonly deks: (storeId: string) => Effect.Effect<ReadonlyArray<DekRecord>, KeyStoreError>
  readonly stores: Effect.Effect<ReadonlyArray<string>, KeyStoreError>
  readonly status: (storeId: string) => Effect.Effect<StoreKeyStatus, KeyStoreError>
  /** Drops every cached handle and closes the vault. */
  readonly close: Effect.Effect<void>
}

const newKeyId = (crypto: Crypto.Crypto) => Effect.map(crypto.randomBytes(12), (b) => `dek_${Bytes.toBase64Url(b)}`)

/**
 * Opens the keyring of an unlocked vault that was initialised (has a profile).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (vault: Vault, policy: KeyPolicy = defaultPolicy): Effect.Effect<Keyring, KeyStoreError | KeysMissing, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const profile = yield* Effect.flatMap(readEntry(vault, entries.profile, ProfileSchema), Option.match({
      onNone: () => Effect.fail(new KeysMissing({ storeId: "*", missing: ["profile"] })),
      onSome: Effect.succeed
    }))
    const now = Effect.clockWith((c) => c.currentTimeMillis)
    const required = <A>(name: string, o: Option.Option<A>) =>
      Option.match(o, {
        onNone: () => Effect.flatMap(Effect.promise(() => corruptedEntry(vault, name)), Effect.fail),
        onSome: Effect.succeed
      })

    // Caches: handles are made once per session; records are re-read through the vault (source of truth).
    let identity: Identity.Identity | undefined
    let device: Identity.Device | undefined
    let cacheKey: SymmetricKey<"cache"> | undefined
    const kekHandles = new Map<string, SymmetricKey<"kek">>()
    const dekHandles = new Map<string, SymmetricKey<"dek">>()
    const dekRecords = new Map<string, DekRecord>()
    const handleId = (storeId: string, id: string, epoch?: number) => `${storeId}\u0000${id}\u0000${epoch ?? ""}`

    // This keyring is its vault's only writer (the key store is locked while open), so what it read or
    // wrote stays true: KEK records and writer choices are cached, and every write goes through here.
    const kekCache = new Map<string, ReadonlyArray<KekRecord>>()
    const writerCache = new Map<string, string>()
    const readKek = (storeId: string, versionId: string) =>
      Effect.map(kekRecords(storeId), (records) => Option.fromNullable(records.find((r) => r.versionId === versionId)))
    const writeKek = (record: KekRecord) =>
      Effect.tap(writeEntry(vault, entries.kek(record.storeId, record.versionId), KekRecord, record), () =>
        Effect.sync(() => kekCache.delete(record.storeId)))

    const kekRecords = (storeId: string): Effect.Effect<ReadonlyArray<KekRecord>, KeyStoreError> =>
      Effect.suspend(() => {
        const cached = kekCache.get(storeId)
        if (cached) return Effect.succeed(cached)
        return Effect.tap(
          Effect.flatMap(vault.list(entries.keks(storeId)), (names) =>
            Effect.forEach(names, (name) => Effect.flatMap(readEntry(vault, name, KekRecord), (o) => required(name, o)))),
          (records) => Effect.sync(() => kekCache.set(storeId, records))
        )
      })

    const writerOf = (storeId: string, aggregateType: string, aggregateId: string) =>
      Effect.suspend(() => {
        const name = entries.writer(storeId, aggregateType, aggregateId)
        const cached = writerCache.get(name)
        if (cached !== undefined) return Effect.succeed(Option.some(cached))
        return Effect.map(readEntry(vault, name, WriterSchema), Option.map((w) => {
          writerCache.set(name, w.keyId)
          return w.keyId
        }))
      })
    const setWriter = (storeId: string, aggregateType: string, aggregateId: string, keyId: string) => {
      const name = entries.writer(storeId, aggregateType, aggregateId)
      return Effect.tap(writeEntry(vault, name, WriterSchema, { v: 1 as const, keyId }), () => Effect.sync(() => writerCache.set(name, keyId)))
    }

    const info = (r: KekRecord): KekInfo => ({ storeId: r.storeId, versionId: r.versionId, status: r.status, createdAt: r.createdAt, statusAt: r.statusAt })

    const activeRecord = (storeId: string) =>
      Effect.map(kekRecords(storeId), (records) => Option.fromNullable(records.find((r) => r.status === "active")))

    const kekHandle = (storeId: string, versionId: string) =>
      Effect.gen(function*() {
        const id = handleId(storeId, versionId)
        const cached = kekHandles.get(id)
        if (cached) return cached
        const record = yield* readKek(storeId, versionId)
        if (Option.isNone(record) || record.value.key === undefined) {
          return yield* Effect.fail(new KeysMissing({ storeId, missing: [`kek:${versionId}`] }))
        }
        const handle = yield* crypto.importKey("kek", record.value.key).pipe(Effect.orDie)
        kekHandles.set(id, handle)
        return handle
      })

    const readDek = (storeId: string, keyId: string) =>
      Effect.gen(function*() {
        const id = handleId(storeId, keyId)
        const cached = dekRecords.get(id)
        if (cached) return Option.some(cached)
        const record = yield* readEntry(vault, entries.dek(storeId, keyId), DekRecord)
        if (Option.isSome(record)) dekRecords.set(id, record.value)
        return record
      })

    const writeDek = (record: DekRecord) =>
      Effect.tap(writeEntry(vault, entries.dek(record.storeId, record.keyId), DekRecord, record), () =>
        Effect.sync(() => dekRecords.set(handleId(record.storeId, record.keyId), record)))

    const dekHandle = (record: DekRecord, epoch: DekEpoch) =>
      Effect.gen(function*() {
        const id = handleId(record.storeId, record.keyId, epoch.epoch)
        const cached = dekHandles.get(id)
        if (cached) return cached
        const key = epoch.key.slice()
        // Start the handle's counter at what was reserved: after a crash usage can only be over-counted.
        const handle = yield* crypto.importKey("dek", key, { used: Math.min(epoch.reserved, policy.dekUsageLimit), limit: policy.dekUsageLimit }).pipe(Effect.orDie)
        zeroize(key)
        dekHandles.set(id, handle)
        return handle
      })

    const grantOf = (record: DekRecord, kekVersionId: string, epochs: ReadonlyArray<DekEpoch>): DekGrant => ({
      storeId: record.storeId,
      keyId: record.keyId,
      aggregateType: record.aggregateType,
      aggregateId: record.aggregateId,
      kekVersionId,
      epochs: epochs.map((e) => ({ epoch: e.epoch, key: e.key.slice(), createdAt: e.createdAt, createdUnder: e.createdUnder }))
    })

    const noActive = (storeId: string) => new KeysMissing({ storeId, missing: ["kek:active"] })

    /** Destroys the cached identity handles; the next read loads the vault's identity. */
    const forgetIdentity = Effect.suspend(() => {
      const held = identity
      identity = undefined
      return held === undefined
        ? Effect.void
        : Effect.forEach([held.signing, held.encryption, ...held.previousEncryption], crypto.destroyKey, { discard: true })
    })

    const keyring: Keyring = {
      vault,
      policy,
      userId: profile.userId,
      deviceId: profile.deviceId,
      identity: Effect.gen(function*() {
        if (identity) return identity
        const secrets = yield* Effect.flatMap(readEntry(vault, entries.identity, Identity.IdentitySecrets), (o) => required(entries.identity, o))
        identity = yield* Identity.load(secrets).pipe(Effect.orDie, Effect.provideService(Crypto.Crypto, crypto))
        Identity.zeroizeSecrets(secrets)
        return identity
      }),
      rotateIdentity: (kind, migrationMs) =>
        Effect.gen(function*() {
          const secrets = yield* Effect.flatMap(readEntry(vault, entries.identity, Identity.IdentitySecrets), (o) => required(entries.identity, o))
          const rotated = yield* Identity.rotate(secrets, kind, yield* now, migrationMs).pipe(Effect.orDie, Effect.provideService(Crypto.Crypto, crypto))
          yield* writeEntry(vault, entries.identity, Identity.IdentitySecrets, rotated.secrets).pipe(
            Effect.ensuring(Effect.sync(() => Identity.zeroizeSecrets(rotated.secrets)))
          )
          yield* forgetIdentity
          return rotated.statement
        }),
      adoptIdentity: (next) =>
        Effect.gen(function*() {
          const current = yield* keyring.identity
          const fail = (detail: string) =>
            Effect.fail(new Identity.IdentityVerificationFailed({ userId: next.userId, subject: "recovered identity", detail }))
          if (next.userId !== current.userId) return yield* fail("it is another user's identity")
          const sameGenesis = Bytes.equalsPublic(next.genesis.signingPublicKey, current.genesis.signingPublicKey) &&
            Bytes.equalsPublic(next.genesis.encryptionPublicKey, current.genesis.encryptionPublicKey)
          if (!sameGenesis) return yield* fail("it does not start from this device's genesis identity")
          const view = yield* Identity.verifyChain(next.genesis, next.chain).pipe(Effect.provideService(Crypto.Crypto, crypto))
          const extends_ = current.chain.length <= next.chain.length &&
            current.chain.every((s, i) => Bytes.equalsPublic(s.newSignature, next.chain[i]!.newSignature))
          if (!extends_) return yield* fail("its rotation chain does not extend this device's (a fork)")
          const loaded = yield* Identity.load(next).pipe(Effect.orDie, Effect.provideService(Crypto.Crypto, crypto))
          const matches = Bytes.equalsPublic(loaded.public.signingPublicKey, view.current.signingPublicKey) &&
            Bytes.equalsPublic(loaded.public.encryptionPublicKey, view.current.encryptionPublicKey)
          yield* Effect.forEach([loaded.signing, loaded.encryption, ...loaded.previousEncryption], crypto.destroyKey)
          if (!matches) return yield* fail("its secret keys are not the keys its chain ends at")
          yield* writeEntry(vault, entries.identity, Identity.IdentitySecrets, next)
          yield* forgetIdentity
        }),
      device: Effect.gen(function*() {
        if (device) return device
        const secrets = yield* Effect.flatMap(readEntry(vault, entries.device, Identity.DeviceSecrets), (o) => required(entries.device, o))
        device = yield* Identity.loadDevice(secrets).pipe(Effect.orDie, Effect.provideService(Crypto.Crypto, crypto))
        zeroize(secrets.signingSeed)
        return device
      }),
      cacheKey: Effect.gen(function*() {
        if (cacheKey) return cacheKey
        const entry = yield* Effect.flatMap(readEntry(vault, entries.cache, KeySchema), (o) => required(entries.cache, o))
        cacheKey = yield* crypto.importKey("cache", entry.key).pipe(Effect.orDie)
        zeroize(entry.key)
        return cacheKey
      }),

      kekVersions: (storeId) => Effect.map(kekRecords(storeId), (rs) => rs.map(info).sort((a, b) => a.createdAt - b.createdAt || (a.versionId < b.versionId ? -1 : 1))),
      activeKek: (storeId) => Effect.map(activeRecord(storeId), Option.map(info)),
      createKek: (storeId, versionId) =>
        Effect.gen(function*() {
          if (Option.isSome(yield* readKek(storeId, versionId))) {
            return yield* Effect.fail(new KekOperationRefused({ storeId, versionId, detail: "a version with this id already exists; choose a new id" }))
          }
          const t = yield* now
          for (const r of yield* kekRecords(storeId)) {
            if (r.status === "active") yield* writeKek({ ...r, status: "decrypt-only", statusAt: t })
          }
          const raw = yield* crypto.randomBytes(32)
          const record: KekRecord = { v: 1, storeId, versionId, key: raw, status: "active", createdAt: t, statusAt: t }
          yield* writeKek(record)
          zeroize(raw)
          return info(record)
        }),
      importKek: (storeId, kek) =>
        Effect.gen(function*() {
          const existing = yield* readKek(storeId, kek.versionId)
          if (Option.isSome(existing) && existing.value.key !== undefined) {
            const same = crypto.timingSafeEqual(existing.value.key, kek.raw)
            if (!same) return yield* Effect.fail(new KeyConflict({ storeId, key: `kek:${kek.versionId}` }))
            if (existing.value.status === kek.status) return
          }
          const t = yield* now
          if (kek.status === "active") {
            for (const r of yield* kekRecords(storeId)) {
              if (r.status === "active" && r.versionId !== kek.versionId && r.createdAt <= kek.createdAt) {
                yield* writeKek({ ...r, status: "decrypt-only", statusAt: t })
              }
            }
          }
          const newerActive = kek.status === "active" &&
            (yield* kekRecords(storeId)).some((r) => r.status === "active" && r.versionId !== kek.versionId && r.createdAt > kek.createdAt)
          yield* writeKek({
            v: 1, storeId, versionId: kek.versionId, key: kek.raw.slice(), status: newerActive ? "decrypt-only" : kek.status,
            createdAt: kek.createdAt, statusAt: t
          })
          kekHandles.delete(handleId(storeId, kek.versionId))
        }),
      setKekStatus: (storeId, versionId, status) =>
        Effect.gen(function*() {
          const record = yield* readKek(storeId, versionId)
          const refuse = (detail: string) => Effect.fail(new KekOperationRefused({ storeId, versionId, detail }))
          if (Option.isNone(record)) return yield* refuse("this device does not hold it")
          const r = record.value
          if (r.status === "destroyed") return yield* refuse("it was destroyed")
          if (r.status === "active") return yield* refuse("it is the active version; create a new version first, which makes this one decrypt-only")
          if (r.status === status) return
          yield* writeKek({ ...r, status, statusAt: yield* now })
        }),
      destroyKek: (storeId, versionId) =>
        Effect.gen(function*() {
          const refuse = (detail: string) => Effect.fail(new KekOperationRefused({ storeId, versionId, detail }))
          const record = yield* readKek(storeId, versionId)
          if (Option.isNone(record)) return yield* refuse("this device does not hold it")
          const r = record.value
          if (r.status === "destroyed") return
          if (r.status !== "deprecated") return yield* refuse(`it is ${r.status}; only a deprecated version can be destroyed`)
          const t = yield* now
          if (t < r.statusAt + policy.kekGraceMs) {
            return yield* refuse(`its grace period runs until ${new Date(r.statusAt + policy.kekGraceMs).toISOString()} (late records may still need it)`)
          }
          const usable = new Set((yield* kekRecords(storeId)).filter((k) => k.status !== "destroyed" && k.versionId !== versionId).map((k) => k.versionId))
          let stranded = 0
          for (const dek of yield* keyring.deks(storeId)) {
            for (const e of dek.epochs) if (!e.wrappedUnder.some((v) => usable.has(v))) stranded++
          }
          if (stranded > 0) {
            return yield* refuse(`${stranded} data key epoch(s) are wrapped under no other live version; re-wrap them (publish pendingGrants) first (INV-009)`)
          }
          if (r.key) zeroize(r.key)
          const handle = kekHandles.get(handleId(storeId, versionId))
          if (handle) yield* crypto.destroyKey(handle)
          kekHandles.delete(handleId(storeId, versionId))
          const { key: _gone, ...rest } = r
          yield* writeKek({ ...rest, status: "destroyed", statusAt: t })
        }),
      exportKek: (storeId, versionId) =>
        Effect.flatMap(readKek(storeId, versionId), (o) =>
          Option.isSome(o) && o.value.key !== undefined
            ? Effect.succeed(o.value.key.slice())
            : Effect.fail(new KeysMissing({ storeId, missing: [`kek:${versionId}`] }))),
      kek: kekHandle,

      dekForWrite: (storeId, aggregateType, aggregateId, count = 1) =>
        Effect.gen(function*() {
          const active = yield* Effect.flatMap(activeRecord(storeId), Option.match({ onNone: () => Effect.fail(noActive(storeId)), onSome: Effect.succeed }))
          const t = yield* now
          const writer = yield* writerOf(storeId, aggregateType, aggregateId)
          let record: DekRecord | undefined
          if (Option.isSome(writer)) record = Option.getOrUndefined(yield* readDek(storeId, writer.value))
          if (record === undefined) {
            record = { v: 1, storeId, keyId: yield* newKeyId(crypto), aggregateType, aggregateId, epochs: [] }
            yield* setWriter(storeId, aggregateType, aggregateId, record.keyId)
          }
          let current = record.epochs[record.epochs.length - 1]
          const handleUsed = current ? (yield* dekHandle(record, current)).used : 0
          if (
            current === undefined || current.createdUnder !== active.versionId ||
            handleUsed + count > policy.dekUsageLimit
          ) {
            // A new epoch: first write, the active KEK changed (INV-015), or the usage limit (INV-008).
            current = { epoch: current ? current.epoch + 1 : 0, key: yield* crypto.randomBytes(32), createdAt: t, createdUnder: active.versionId, reserved: 0, wrappedUnder: [] }
            record = { ...record, epochs: [...record.epochs, current] }
          }
          const key = yield* dekHandle(record, current)
          if (key.used + count > current.reserved) {
            const reserved = Math.min(policy.dekUsageLimit, key.used + count + policy.reservationBlock)
            current = { ...current, reserved }
            record = { ...record, epochs: [...record.epochs.slice(0, -1), current] }
          }
          if (record !== dekRecords.get(handleId(storeId, record.keyId))) yield* writeDek(record)
          const unwrapped = record.epochs.filter((e) => !e.wrappedUnder.includes(active.versionId))
          const grants = unwrapped.length > 0 ? [grantOf(record, active.versionId, unwrapped)] : []
          return { ref: { id: record.keyId, epoch: current.epoch } as KeyRef, key, grants }
        }),
      dek: (storeId, ref) =>
        Effect.gen(function*() {
          const record = yield* readDek(storeId, ref.id)
          const epoch = Option.isSome(record) ? record.value.epochs.find((e) => e.epoch === ref.epoch) : undefined
          if (Option.isNone(record) || epoch === undefined) return yield* Effect.fail(new KeysMissing({ storeId, missing: [keyRefLabel(ref)] }))
          return yield* dekHandle(record.value, epoch)
        }),
      isKekRef: (storeId, ref) => Effect.map(readKek(storeId, ref.id), (o) => Option.isSome(o) && ref.epoch === 0),
      markPublished: (grants) =>
        Effect.forEach(grants, (grant) =>
          Effect.gen(function*() {
            const record = yield* readDek(grant.storeId, grant.keyId)
            if (Option.isNone(record)) return
            const published = new Set(grant.epochs.map((e) => e.epoch))
            yield* writeDek({
              ...record.value,
              epochs: record.value.epochs.map((e) =>
                published.has(e.epoch) && !e.wrappedUnder.includes(grant.kekVersionId) ? { ...e, wrappedUnder: [...e.wrappedUnder, grant.kekVersionId] } : e
              )
            })
          }), { discard: true }),
      importGrant: (grant) =>
        Effect.gen(function*() {
          const existing = Option.getOrUndefined(yield* readDek(grant.storeId, grant.keyId))
          const epochs = new Map((existing?.epochs ?? []).map((e) => [e.epoch, e]))
          for (const g of grant.epochs) {
            const known = epochs.get(g.epoch)
            if (known === undefined) {
              epochs.set(g.epoch, { epoch: g.epoch, key: g.key.slice(), createdAt: g.createdAt, createdUnder: g.createdUnder, reserved: 0, wrappedUnder: [grant.kekVersionId] })
            } else if (!crypto.timingSafeEqual(known.key, g.key)) {
              return yield* Effect.fail(new KeyConflict({ storeId: grant.storeId, key: `${grant.keyId}@${g.epoch}` }))
            } else if (!known.wrappedUnder.includes(grant.kekVersionId)) {
              epochs.set(g.epoch, { ...known, wrappedUnder: [...known.wrappedUnder, grant.kekVersionId] })
            }
          }
          yield* writeDek({
            v: 1, storeId: grant.storeId, keyId: grant.keyId, aggregateType: grant.aggregateType, aggregateId: grant.aggregateId,
            epochs: [...epochs.values()].sort((a, b) => a.epoch - b.epoch)
          })
          // Adopt the key for our own writes to this aggregate if we have none yet.
          if (Option.isNone(yield* writerOf(grant.storeId, grant.aggregateType, grant.aggregateId))) {
            yield* setWriter(grant.storeId, grant.aggregateType, grant.aggregateId, grant.keyId)
          }
        }),
      pendingGrants: (storeId) =>
        Effect.gen(function*() {
          const active = yield* Effect.flatMap(activeRecord(storeId), Option.match({ onNone: () => Effect.fail(noActive(storeId)), onSome: Effect.succeed }))
          const grants: Array<DekGrant> = []
          for (const record of yield* keyring.deks(storeId)) {
            const unwrapped = record.epochs.filter((e) => !e.wrappedUnder.includes(active.versionId))
            if (unwrapped.length > 0) grants.push(grantOf(record, active.versionId, unwrapped))
          }
          return grants
        }),
      deks: (storeId) =>
        Effect.flatMap(vault.list(entries.deks(storeId)), (names) =>
          Effect.forEach(names, (name) => Effect.flatMap(readEntry(vault, name, DekRecord), (o) => required(name, o)))),
      stores: Effect.map(vault.list(entries.stores), (names) => [...new Set(names.map((name) => unsegment(name.split("/")[1]!)))].sort()),
      status: (storeId) =>
        Effect.gen(function*() {
          const versions = yield* keyring.kekVersions(storeId)
          const active = versions.find((v) => v.status === "active")
          const deks = yield* keyring.deks(storeId)
          const epochs = deks.flatMap((d) => d.epochs)
          return {
            storeId,
            kekVersions: versions,
            deks: deks.length,
            epochs: epochs.length,
            pending: active ? epochs.filter((e) => !e.wrappedUnder.includes(active.versionId)).length : epochs.length,
            highestUsage: epochs.reduce((m, e) => Math.max(m, e.reserved), 0)
          }
        }),
      close: Effect.gen(function*() {
        for (const h of [...kekHandles.values(), ...dekHandles.values()]) yield* crypto.destroyKey(h)
        if (cacheKey) yield* crypto.destroyKey(cacheKey)
        kekHandles.clear()
        dekHandles.clear()
        for (const r of dekRecords.values()) for (const e of r.epochs) zeroize(e.key)
        dekRecords.clear()
        for (const records of kekCache.values()) for (const r of records) if (r.key) zeroize(r.key)
        kekCache.clear()
        yield* vault.close
      })
    }
    return keyring
  })

/**
 * Initialises a new vault: profile, a new identity (or a given one, when
 * recovering), a device certified by it, and a fresh `K_cache`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initialize = (
  vault: Vault,
  input: { readonly userId: string; readonly deviceId: string; readonly identity?: Identity.IdentitySecrets },
  policy: KeyPolicy = defaultPolicy
): Effect.Effect<Keyring, KeyStoreError | KeysMissing, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const t = yield* Effect.clockWith((c) => c.currentTimeMillis)
    const secrets = input.identity ?? (yield* Identity.generate(input.userId, t))
    const identity = yield* Identity.load(secrets).pipe(Effect.orDie)
    const device = yield* Identity.newDevice(identity, input.deviceId, t).pipe(Effect.orDie)
    yield* writeEntry(vault, entries.identity, Identity.IdentitySecrets, secrets)
    yield* writeEntry(vault, entries.device, Identity.DeviceSecrets, device)
    const cache = yield* crypto.randomBytes(32)
    yield* writeEntry(vault, entries.cache, KeySchema, { v: 1, key: cache })
    zeroize(cache, device.signingSeed)
    if (input.identity === undefined) Identity.zeroizeSecrets(secrets)
    yield* writeEntry(vault, entries.profile, ProfileSchema, { v: 1, userId: input.userId, deviceId: input.deviceId, createdAt: t })
    return yield* make(vault, policy)
  })
