/**
 * The encrypted local store: what an application uses. It turns commands
 * into sealed, signed records (through the pipeline), keeps them in the
 * EventStore, and turns records — its own and those pulled from the server —
 * back into events, verifying authorship and decrypting on the way.
 *
 * Keys, devices and identities are records like any other (seed 003):
 * - `cipherlog.device/<deviceId>` `DeviceEnrolled`: a device's certificate,
 *   written before the device's first event in the store;
 * - `cipherlog.device/<deviceId>` `DeviceRevoked`: the identity's signed
 *   revocation of a device and the last record of that device's hash chain
 *   still accepted; its later records are rejected (`author`);
 * - `cipherlog.dek/<keyId>` `DekGranted`: a DEK's epochs, sealed directly
 *   under a KEK version, so every holder of the KEK can read the data.
 * Both are sealed under the active KEK version (their key reference names it).
 *
 * A record whose key or author is not known yet is kept and **parked**, and
 * retried when the key arrives; a record that fails its checks is
 * **rejected** — named in a typed error, counted, and skipped, while the rest
 * of the log stays readable. Without keys the store opens **locked**: it
 * lists what it holds and which keys are missing, and decrypts nothing.
 *
 * @since 0.1.0
 */
import { Crypto, type SymmetricKey } from "@cipherlog/crypto"
import {
  Aad,
  AggregateVersion,
  Bytes,
  type Author,
  Dependency,
  AggregateId,
  AggregateType,
  type DuplicateEventMismatch,
  Envelope,
  EventId,
  EventType,
  InvalidInput,
  type KeyRef,
  keyRefLabel,
  KeysMissing,
  RecordIntegrityError,
  SyncRecord,
  VersionConflict
} from "@cipherlog/domain"
import { Identity, type Keyring, type KeyStoreError } from "@cipherlog/keys"
import { Keyring as KeyringModule } from "@cipherlog/keys"
import { Chunk, Effect, Either, Option, Schema, Stream } from "effect"
import type { ChainHead, EventStore, NewRecord as EventStoreNewRecord, StatusEntry, StoredRecord } from "./EventStore.js"
import type { StorageFailure } from "./EventStoreError.js"
import * as Pipeline from "./Pipeline.js"

/**
 * Aggregate types reserved for keys and devices.
 *
 * @since 0.1.0
 * @category constants
 */
export const system = { dek: "cipherlog.dek", device: "cipherlog.device" } as const

/**
 * An event to append.
 *
 * @since 0.1.0
 * @category models
 */
export interface NewEvent {
  readonly eventType: string
  readonly payload: Envelope.Json
  readonly meta?: Readonly<Record<string, string>>
}

/**
 * A command: events for one aggregate, and what it expects of it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Command {
  readonly aggregateType: string
  readonly aggregateId: string
  /** Default `AggregateVersion.any`: append at the end. */
  readonly expectedVersion?: AggregateVersion.ExpectedVersion
  readonly events: ReadonlyArray<NewEvent>
}

/**
 * A decrypted, verified event.
 *
 * @since 0.1.0
 * @category models
 */
export interface Event {
  readonly position: number
  readonly globalSequence: number | null
  readonly eventId: string
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
  readonly eventType: string
  readonly createdAt: number
  readonly author: Author
  /** The key the record was sealed with (a DEK epoch, or a KEK version for key and device records). */
  readonly key: KeyRef
  readonly payload: Envelope.Json
  readonly meta: Readonly<Record<string, string>>
}

/**
 * What reading a record gave: the event, or why it cannot be shown.
 *
 * @since 0.1.0
 * @category models
 */
export type Item =
  | { readonly _tag: "Event"; readonly event: Event }
  | { readonly _tag: "Locked"; readonly header: SyncRecord.RecordHeader; readonly missing: string }
  | { readonly _tag: "Rejected"; readonly header: SyncRecord.RecordHeader; readonly error: RecordIntegrityError }

/**
 * What ingesting records from the server did.
 *
 * @since 0.1.0
 * @category models
 */
export interface IngestReport {
  readonly inserted: number
  readonly acknowledged: number
  readonly rebased: number
  readonly parked: number
  readonly rejected: ReadonlyArray<RecordIntegrityError>
  readonly mismatched: ReadonlyArray<string>
  readonly invalid: number
  /** Identity rotations seen for the first time in the ingested device records (compromise signals, seed 002). */
  readonly rotations: ReadonlyArray<RotationSeen>
}

/**
 * An identity rotation this device had not seen before, found in an ingested
 * device record and verified from the user's genesis identity (the own
 * user's genesis, or the peer's as vouched by the host). `own` rotations are
 * the user's own identity rotated by another device: unless the user did it,
 * that is a sign of compromise — the rotated identity is not trusted here
 * until this device learns it (key backup or recovery), and that device's
 * records stay parked. A host decides what to do (seed 002 "Detection").
 *
 * @since 0.1.0
 * @category models
 */
export interface RotationSeen {
  readonly userId: string
  readonly own: boolean
  readonly kind: "planned" | "emergency"
  readonly rotatedAt: number
  /** The device whose enrollment record carried the chain. */
  readonly deviceId: string
}

/**
 * The store's key state: `locked` when some records cannot be decrypted here.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyState {
  readonly locked: boolean
  readonly missing: ReadonlyArray<{ readonly key: string; readonly records: number }>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LocalStore {
  readonly storeId: string
  readonly eventStore: EventStore
  /** The keyring this store decrypts with (none: locked). */
  readonly keyring: Option.Option<Keyring.Keyring>
  /** Appends commands atomically (all or nothing); returns the new events. */
  readonly append: (commands: Command | ReadonlyArray<Command>) => Effect.Effect<ReadonlyArray<Event>, InvalidInput | VersionConflict | DuplicateEventMismatch | KeysMissing | StorageFailure | KeyStoreError | LocalStoreError>
  readonly readAggregate: (aggregateType: string, aggregateId: string, afterVersion?: number) => Effect.Effect<ReadonlyArray<Item>, StorageFailure | KeyStoreError>
  /** Every record in local order, decrypted page by page (memory stays bounded); `verify` re-checks every chain and signature. */
  readonly readAll: (options?: { readonly verify?: boolean; readonly pageSize?: number; readonly includeSystem?: boolean }) => Stream.Stream<Item, StorageFailure | KeyStoreError>
  /**
   * Applies records pulled from the server, verifies and processes them, rebases displaced own records.
   * Give records in global order, continuing from the cursor (a page of a pull): a device's chain is
   * verified in local order, so records that skip ahead (e.g. only those a conflict named) would be
   * taken out of chain order.
   */
  readonly ingest: (records: ReadonlyArray<{ readonly recordJson: string; readonly globalSequence: number }>) => Effect.Effect<IngestReport, StorageFailure | KeyStoreError | LocalStoreError>
  /** Retries parked records (after keys arrived). */
  readonly retryParked: Effect.Effect<{ readonly released: number; readonly stillParked: number }, StorageFailure | KeyStoreError>
  readonly keyState: Effect.Effect<KeyState, StorageFailure | KeyStoreError>
  /**
   * Revokes one of the user's other devices: writes the identity's signed
   * revocation with the last record of that device accepted here; every
   * later record of it is rejected (`author`) by every device that syncs the
   * revocation — including records it wrote before but that arrive after.
   * It does not take keys away from the device: the KEK versions and the
   * identity it holds still open what they opened (see docs/architecture.md,
   * "Revoking a device").
   */
  readonly revokeDevice: (deviceId: string) => Effect.Effect<{ readonly lastSeq: number }, InvalidInput | VersionConflict | DuplicateEventMismatch | KeysMissing | StorageFailure | KeyStoreError | LocalStoreError>
  /**
   * Re-wraps under the active KEK version every data key epoch this device
   * holds that is not wrapped under it yet (`Keyring.pendingGrants`: its own
   * and those it received), one key record per data key, and re-issues
   * under it the device records it verified (enrollments, and revocations
   * with the cut it applies) that are sealed under other versions only —
   * the same signed statements, so that a reader holding live versions only
   * learns every device's key. Appended like any record (it reads the whole
   * log once), synced on the next push. Run it before a deprecated version
   * is destroyed: `Keyring.destroyKek` refuses while an epoch would be
   * wrapped under no other live version, and members or devices added after
   * the destruction receive only live versions (INV-009). Returns how many
   * data keys, epochs and device records it re-issued.
   */
  readonly rewrap: Effect.Effect<{ readonly keys: number; readonly epochs: number; readonly devices: number }, InvalidInput | VersionConflict | DuplicateEventMismatch | KeysMissing | StorageFailure | KeyStoreError | LocalStoreError>
}

/**
 * A failure of the local store's own logic (not storage, not keys).
 *
 * @since 0.1.0
 * @category errors
 */
export class LocalStoreError extends Schema.TaggedError<LocalStoreError>("@cipherlog/event-store/LocalStoreError")("LocalStoreError", {
  storeId: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Local store ${this.storeId}: ${this.detail}.`
  }
}

const DeviceEnrolled = Schema.Struct({
  certificate: Identity.DeviceCertificate,
  genesis: Identity.PublicIdentity,
  chain: Schema.Array(Identity.RotationStatement)
})
const DeviceEnrolledJson = Schema.encodeSync(DeviceEnrolled)
const decodeDeviceEnrolled = Schema.decodeUnknownEither(DeviceEnrolled)
const DeviceRevoked = Schema.Struct({
  revocation: Identity.DeviceRevocation,
  /** The last chain sequence of the revoked device still accepted (0: none). */
  lastSeq: Schema.NonNegativeInt
})
const DeviceRevokedJson = Schema.encodeSync(DeviceRevoked)
const decodeDeviceRevoked = Schema.decodeUnknownEither(DeviceRevoked)
const GrantJson = Schema.encodeSync(KeyringModule.DekGrantBody)
const decodeGrant = Schema.decodeUnknownEither(KeyringModule.DekGrantBody)
/** The plaintext of the key record that publishes a grant. */
const grantBody = (g: KeyringModule.DekGrant) =>
  GrantJson({ v: 1, keyId: g.keyId, aggregateType: g.aggregateType, aggregateId: g.aggregateId, epochs: g.epochs }) as Envelope.Json

/**
 * A string check that remembers the strings it accepted (a few thousand at most): names repeat from
 * command to command, and the schema check is a pure function of the string.
 */
const remembering = (is: (u: unknown) => boolean) => {
  const accepted = new Set<string>()
  return (s: string): boolean => {
    if (accepted.has(s)) return true
    if (!is(s)) return false
    if (accepted.size >= 4096) accepted.clear()
    accepted.add(s)
    return true
  }
}
const isAggregateType = remembering(Schema.is(AggregateType))
const isAggregateId = remembering(Schema.is(AggregateId))
const isEventType = remembering(Schema.is(EventType))
const isEventMeta = Schema.is(Envelope.EventMeta)

const isSystemType = (aggregateType: string) => aggregateType === system.dek || aggregateType === system.device

const integrity = (h: SyncRecord.RecordHeader, reason: RecordIntegrityError["reason"]) =>
  new RecordIntegrityError({ reason, storeId: h.storeId, aggregateType: h.aggregateType, aggregateId: h.aggregateId, version: h.version, eventId: h.eventId })

interface Binary {
  readonly stored: StoredRecord
  readonly header: SyncRecord.RecordHeader
  readonly nonce: Uint8Array
  readonly ciphertext: Uint8Array
  readonly signature: Uint8Array | undefined
  readonly aad: Uint8Array
}

/** A record's binary parts and AAD, computed once for verification and decryption alike. */
const binary = (stored: StoredRecord): Binary | RecordIntegrityError => {
  try {
    return { stored, header: stored.header, nonce: stored.nonce, ciphertext: stored.ciphertext, signature: stored.signature, aad: Aad.encode(stored.header) }
  } catch (_) {
    return integrity(stored.header, "format")
  }
}

/**
 * Opens the local store of `storeId` on an EventStore, with a keyring (or
 * without one: locked, reading headers only).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: {
  readonly storeId: string
  readonly eventStore: EventStore
  readonly keyring: Option.Option<Keyring.Keyring>
  /**
   * Other members' identities this device trusts: the genesis public
   * identity of `userId`, as verified out of band (its safety number,
   * `Identity.fingerprint`), or none. Their devices are accepted when a
   * device record's certificate verifies along a rotation chain that starts
   * from exactly this genesis. Without it, only the device's own user is
   * trusted and other members' records stay parked.
   */
  readonly peers?: (userId: string) => Effect.Effect<Option.Option<Identity.PublicIdentity>>
}): Effect.Effect<LocalStore, never, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { storeId, eventStore: es } = input
    const provide = <A, E>(effect: Effect.Effect<A, E, Crypto.Crypto>) => Effect.provideService(effect, Crypto.Crypto, crypto)
    const writer = yield* Effect.makeSemaphore(1)
    const ids = EventId.makeGenerator()
    const noKeyring = (what: string) => new KeysMissing({ storeId, missing: [what] })

    // Who is who: signing keys of devices, learned from device records (and our own device).
    const devices = new Map<string, { readonly userId: string; readonly publicKey: Uint8Array }>()
    const registerOwn = Effect.gen(function*() {
      if (Option.isNone(input.keyring)) return
      const keyring = input.keyring.value
      const device = yield* keyring.device
      devices.set(device.deviceId, { userId: keyring.userId, publicKey: device.signing.publicKey })
    })
    yield* Effect.orDie(registerOwn)

    /** Revoked devices: the last chain sequence of each still accepted. */
    const revokedAfter = new Map<string, number>()
    const isRevoked = (deviceId: string, seq: number) => seq > (revokedAfter.get(deviceId) ?? Number.POSITIVE_INFINITY)
    /** Verified identity chains of other users, learned from their device records. */
    const views = new Map<string, Identity.ChainView>()
    /** The chain of `userId` as trusted here: the own keyring's, or a peer's learned from a verified device record. */
    const viewOf = (userId: string) =>
      Effect.gen(function*() {
        if (Option.isNone(input.keyring)) return Option.none<Identity.ChainView>()
        if (userId !== input.keyring.value.userId) return Option.fromNullable(views.get(userId))
        const identity = yield* input.keyring.value.identity
        return Option.getRight(yield* Effect.either(provide(Identity.verifyChain(identity.genesis, identity.chain))))
      })

    const sameIdentity = (a: Identity.PublicIdentity, b: Identity.PublicIdentity) =>
      a.userId === b.userId && Bytes.equalsPublic(a.signingPublicKey, b.signingPublicKey) &&
      Bytes.equalsPublic(a.encryptionPublicKey, b.encryptionPublicKey)

    /**
     * Which identities this device trusts: its own, and the peers the host
     * vouches for (`input.peers`), whose chain as claimed by a device record
     * must start at the vouched genesis and verify.
     */
    const trustedIdentity = (enrolled: typeof DeviceEnrolled.Type) =>
      Effect.gen(function*() {
        if (Option.isNone(input.keyring)) return Option.none<Identity.ChainView>()
        const keyring = input.keyring.value
        const userId = enrolled.certificate.userId
        if (userId === keyring.userId) {
          const identity = yield* keyring.identity
          return Option.some(yield* provide(Identity.verifyChain(identity.genesis, identity.chain)).pipe(Effect.orDie))
        }
        const vouched = input.peers ? yield* input.peers(userId) : Option.none<Identity.PublicIdentity>()
        if (Option.isNone(vouched) || vouched.value.userId !== userId || !sameIdentity(vouched.value, enrolled.genesis)) {
          return Option.none<Identity.ChainView>()
        }
        return Option.getRight(yield* Effect.either(provide(Identity.verifyChain(enrolled.genesis, enrolled.chain))))
      })

    /** KEK version ids of the store, cached (refreshed when a name is not found). */
    let kekIds: ReadonlySet<string> | undefined
    const isKek = (ref: KeyRef) =>
      Effect.gen(function*() {
        if (Option.isNone(input.keyring)) return false
        if (kekIds === undefined || (!kekIds.has(ref.id) && !ref.id.startsWith("dek_"))) {
          kekIds = new Set((yield* input.keyring.value.kekVersions(storeId)).map((v) => v.versionId))
        }
        return kekIds.has(ref.id) && ref.epoch === 0
      })

    /**
     * Key handles found, by key label. The keyring keeps one handle per key for its session anyway; this
     * only spares the lookup (a chain of effects per key group of every page). A handle destroyed since
     * (the keyring closed, a KEK destroyed) is looked up again; a key not found is never remembered.
     */
    const handles = new Map<string, SymmetricKey>()

    /** The key a record names: a KEK version (system records) or a DEK epoch. */
    const resolveKey = (ref: KeyRef): Effect.Effect<Option.Option<SymmetricKey>, KeyStoreError> =>
      Effect.suspend(() => {
        const label = keyRefLabel(ref)
        const cached = handles.get(label)
        if (cached !== undefined && !cached.destroyed) return Effect.succeed(Option.some(cached))
        return Effect.tap(lookUpKey(ref), (found) =>
          Effect.sync(() => {
            if (Option.isSome(found)) handles.set(label, found.value)
            else handles.delete(label)
          }))
      })

    const lookUpKey = (ref: KeyRef): Effect.Effect<Option.Option<SymmetricKey>, KeyStoreError> =>
      Effect.gen(function*() {
        if (Option.isNone(input.keyring)) return Option.none()
        const keyring = input.keyring.value
        if (yield* isKek(ref)) {
          return yield* keyring.kek(storeId, ref.id).pipe(Effect.map((k): Option.Option<SymmetricKey> => Option.some(k)), Effect.catchTag("KeysMissing", () => Effect.succeed(Option.none())))
        }
        return yield* keyring.dek(storeId, ref).pipe(Effect.map((k): Option.Option<SymmetricKey> => Option.some(k)), Effect.catchTag("KeysMissing", () => Effect.succeed(Option.none())))
      })

    /** Decrypts records grouped by key; missing keys → Locked, failures → Rejected (and marked). */
    const decrypt = (records: ReadonlyArray<StoredRecord>, prepared?: ReadonlyArray<Binary | RecordIntegrityError>) =>
      Effect.gen(function*() {
        const items = new Array<Item>(records.length)
        const groups = new Map<string, { ref: KeyRef; indices: Array<number>; parts: Array<Binary> }>()
        for (const [i, r] of records.entries()) {
          const b = prepared?.[i] ?? binary(r)
          if (b instanceof RecordIntegrityError) {
            items[i] = { _tag: "Rejected", header: r.header, error: b }
            continue
          }
          const label = keyRefLabel(r.header.key)
          const g = groups.get(label) ?? { ref: r.header.key, indices: [], parts: [] }
          g.indices.push(i)
          g.parts.push(b)
          groups.set(label, g)
        }
        for (const [label, g] of groups) {
          const key = yield* resolveKey(g.ref)
          if (Option.isNone(key)) {
            for (const i of g.indices) items[i] = { _tag: "Locked", header: records[i]!.header, missing: label }
            continue
          }
          const opened = yield* provide(Pipeline.open(key.value, g.parts)).pipe(
            Effect.catchAll(() => Effect.succeed(g.parts.map((p) => integrity(p.stored.header, "tag"))))
          )
          opened.forEach((body, j) => {
            const i = g.indices[j]!
            const r = records[i]!
            const h = r.header
            items[i] = body instanceof RecordIntegrityError
              ? { _tag: "Rejected", header: h, error: body }
              : {
                _tag: "Event",
                event: {
                  position: r.position, globalSequence: r.globalSequence, eventId: h.eventId, aggregateType: h.aggregateType,
                  aggregateId: h.aggregateId, version: h.version, eventType: h.eventType, createdAt: h.createdAt, author: h.author,
                  key: h.key, payload: body.payload, meta: body.meta
                }
              }
          })
        }
        for (const item of items) {
          if (item._tag === "Rejected") yield* es.setStatus(storeId, item.header.eventId, "rejected", item.error.reason)
        }
        return items
      })

    const systemPayload = (item: Item) => (item._tag === "Event" ? item.event.payload : undefined)

    /** Per user, the time of the latest identity rotation reported (or known from the own keyring). */
    const rotationMarks = new Map<string, number>()
    /**
     * Collects the rotations of an enrolled device's chain newer than any seen before. Only chains
     * that verify from the user's trusted genesis count: the statements sign themselves, so an
     * unverified device record cannot fake one.
     */
    const noteRotations = (enrolled: typeof DeviceEnrolled.Type, out: Array<RotationSeen>) =>
      Effect.gen(function*() {
        if (Option.isNone(input.keyring) || enrolled.chain.length === 0) return
        const keyring = input.keyring.value
        const userId = enrolled.certificate.userId
        const own = userId === keyring.userId
        const genesis = own
          ? Option.some((yield* keyring.identity).genesis)
          : input.peers ? yield* input.peers(userId) : Option.none<Identity.PublicIdentity>()
        if (Option.isNone(genesis) || !sameIdentity(genesis.value, enrolled.genesis)) return
        if (Either.isLeft(yield* Effect.either(provide(Identity.verifyChain(enrolled.genesis, enrolled.chain))))) return
        const known = own ? ((yield* keyring.identity).chain.at(-1)?.rotatedAt ?? -1) : -1
        const mark = Math.max(rotationMarks.get(userId) ?? -1, known)
        for (const s of enrolled.chain) {
          if (s.rotatedAt > mark) out.push({ userId, own, kind: s.kind, rotatedAt: s.rotatedAt, deviceId: enrolled.certificate.deviceId })
        }
        rotationMarks.set(userId, Math.max(mark, enrolled.chain.at(-1)!.rotatedAt))
      })

    /**
     * Learns devices and imports grants from verified system records; returns how many keys arrived.
     * With `rotations`, also collects identity rotations not seen before (ingest only).
     */
    const processSystem = (items: ReadonlyArray<Item>, rotations?: Array<RotationSeen>) =>
      Effect.gen(function*() {
        let grants = 0
        for (const item of items) {
          if (item._tag !== "Event") continue
          const e = item.event
          if (e.aggregateType === system.device && e.eventType === "DeviceRevoked") {
            yield* applyRevocation(e.aggregateId, systemPayload(item))
          } else if (e.aggregateType === system.device) {
            const enrolled = decodeDeviceEnrolled(systemPayload(item))
            if (Either.isLeft(enrolled)) continue
            if (rotations !== undefined) yield* noteRotations(enrolled.right, rotations)
            const trusted = yield* trustedIdentity(enrolled.right)
            if (Option.isSome(trusted)) {
              const ok = yield* Effect.either(provide(Identity.verifyCertificate(trusted.value, enrolled.right.certificate)))
              if (Option.isSome(input.keyring) && enrolled.right.certificate.userId !== input.keyring.value.userId) views.set(enrolled.right.certificate.userId, trusted.value)
              if (Either.isRight(ok)) devices.set(enrolled.right.certificate.deviceId, { userId: enrolled.right.certificate.userId, publicKey: enrolled.right.certificate.devicePublicKey })
            }
          } else if (e.aggregateType === system.dek && Option.isSome(input.keyring)) {
            const grant = decodeGrant(systemPayload(item))
            if (Either.isLeft(grant)) continue
            const imported = yield* Effect.either(input.keyring.value.importGrant({ storeId, ...grant.right, kekVersionId: e.key.id }))
            if (Either.isRight(imported)) grants++
          }
        }
        return grants
      })

    /**
     * A verified revocation (signed by a key of the user's identity valid at the time) cuts the
     * device's chain; records beyond the cut already held are marked rejected.
     */
    const applyRevocation = (deviceId: string, payload: unknown) =>
      Effect.gen(function*() {
        const decoded = decodeDeviceRevoked(payload)
        if (Either.isLeft(decoded) || decoded.right.revocation.deviceId !== deviceId) return
        const view = yield* viewOf(decoded.right.revocation.userId)
        if (Option.isNone(view)) return
        if (Either.isLeft(yield* Effect.either(provide(Identity.verifyRevocation(view.value, decoded.right.revocation))))) return
        const cut = Math.min(revokedAfter.get(deviceId) ?? Number.POSITIVE_INFINITY, decoded.right.lastSeq)
        if (cut === revokedAfter.get(deviceId)) return
        revokedAfter.set(deviceId, cut)
        for (const r of yield* es.readByDevice(storeId, deviceId, cut)) yield* es.setStatus(storeId, r.header.eventId, "rejected", "author")
      })

    /**
     * A device's signing key: known in this session, or learned in an earlier one — its enrollment
     * record is in the log, and its certificate is verified against the identity again.
     */
    const knownDevice = (deviceId: string) =>
      Effect.gen(function*() {
        const known = devices.get(deviceId)
        if (known !== undefined) return known
        const records = yield* es.readAggregate(storeId, system.device, deviceId)
        if (records.length > 0) yield* processSystem(yield* decrypt(records))
        return devices.get(deviceId)
      })

    /** Verifies, decrypts and processes records of other devices (or ours, after a restore); sets statuses. */
    const process = (records: ReadonlyArray<StoredRecord>) =>
      Effect.gen(function*() {
        const rejected: Array<RecordIntegrityError> = []
        const rotations: Array<RotationSeen> = []
        let parked = 0
        // System records first (devices, then keys), so the data records after them can be read.
        const ordered = [...records].sort((a, b) => rank(a) - rank(b) || a.position - b.position)
        const byDevice = new Map<string, Array<StoredRecord>>()
        for (const r of ordered) {
          const group = byDevice.get(r.header.author.deviceId)
          if (group === undefined) byDevice.set(r.header.author.deviceId, [r])
          else group.push(r)
        }
        // Statuses are written together, in one transaction, before the verified records are opened.
        const statuses: Array<StatusEntry> = []
        // A device's own enrollment record tells its key: open device records before verifying chains.
        const deviceRecords = ordered.filter((r) => r.header.aggregateType === system.device)
        yield* processSystem(yield* decrypt(deviceRecords), rotations)
        const verified: Array<StoredRecord> = []
        for (const [deviceId, group] of byDevice) {
          const known = yield* knownDevice(deviceId)
          if (known === undefined) {
            for (const r of group) statuses.push({ eventId: r.header.eventId, status: "parked", reason: `author device ${deviceId} unknown` })
            parked += group.length
            continue
          }
          const from = yield* es.chainHead(storeId, deviceId)
          const afterSeq = Option.match(from, { onNone: () => 0, onSome: (h) => h.seq })
          const chain = (yield* es.readByDevice(storeId, deviceId, afterSeq)).map(binary)
          const parts = chain.filter((b): b is Binary => !(b instanceof RecordIntegrityError))
          const verdict = yield* provide(Pipeline.verifyChain({
            records: parts.map((p) => ({ header: p.stored.header, nonce: p.nonce, ciphertext: p.ciphertext, signature: p.signature })),
            from,
            publicKey: known.publicKey
          }))
          if (Option.isSome(verdict.head)) yield* es.setChainHead(storeId, deviceId, verdict.head.value)
          for (const [i, p] of parts.entries()) {
            if (i < verdict.verified && isRevoked(deviceId, p.stored.header.chain.seq)) {
              const error = integrity(p.stored.header, "author")
              rejected.push(error)
              statuses.push({ eventId: p.stored.header.eventId, status: "rejected", reason: "author" })
              continue
            }
            if (i < verdict.verified) {
              verified.push(p.stored)
              continue
            }
            const broken = Option.getOrUndefined(verdict.broken)
            if (broken !== undefined && i >= broken.index) {
              const error = integrity(p.stored.header, broken.reason)
              rejected.push(error)
              statuses.push({ eventId: p.stored.header.eventId, status: "rejected", reason: broken.reason })
            } else {
              statuses.push({ eventId: p.stored.header.eventId, status: "parked", reason: "awaiting its author's signature" })
              parked++
            }
          }
        }
        yield* es.setStatuses(storeId, statuses)
        const opened = yield* openVerified(verified)
        return { rejected: [...rejected, ...opened.rejected], parked: parked + opened.parked, keysArrived: opened.keysArrived, rotations }
      })

    /**
     * Opens records whose author and hash chain are verified: key and device records first (they
     * bring the keys), then the data; a missing key parks the record (`key <ref>`), a failure rejects it.
     */
    const openVerified = (records: ReadonlyArray<StoredRecord>) =>
      Effect.gen(function*() {
        const verified = [...records].sort((a, b) => rank(a) - rank(b) || a.position - b.position)
        const rejected: Array<RecordIntegrityError> = []
        let parked = 0
        const systemCount = verified.filter((r) => rank(r) < 2).length
        const systemItems = yield* decrypt(verified.slice(0, systemCount))
        const keysArrived = yield* processSystem(systemItems)
        const items = [...systemItems, ...(yield* decrypt(verified.slice(systemCount)))]
        const statuses: Array<StatusEntry> = []
        for (const [i, item] of items.entries()) {
          const eventId = verified[i]!.header.eventId
          if (item._tag === "Locked") {
            statuses.push({ eventId, status: "parked", reason: `key ${item.missing}` })
            parked++
          } else if (item._tag === "Rejected") rejected.push(item.error)
          else statuses.push({ eventId, status: "ok" })
        }
        yield* es.setStatuses(storeId, statuses)
        return { rejected, parked, keysArrived }
      })

    const rank = (r: StoredRecord) => (r.header.aggregateType === system.device ? 0 : r.header.aggregateType === system.dek ? 1 : 2)

    const load = (ids: ReadonlyArray<{ readonly eventId: string }>) =>
      Effect.map(Effect.forEach(ids, ({ eventId }) => es.byEventId(storeId, eventId)), (found) => found.flatMap(Option.toArray))

    /**
     * Retries parked records. Those parked for a key (`key <ref>`) had their author and hash chain
     * verified when they arrived (the chain head has moved past them), so they are opened directly
     * — unless their device was revoked since; the others (author unknown, signature awaited) go
     * through verification again. Keys brought by released key records may open more: another
     * round then, as long as keys arrive.
     */
    const retryParked = Effect.gen(function*() {
      const before = (yield* es.withStatus(storeId, "parked")).length
      let keysArrived = 0
      for (let round = 0; round < before; round++) {
        const parkedNow = yield* es.withStatus(storeId, "parked")
        if (parkedNow.length === 0) break
        const isForKey = (p: { readonly reason: string | null }) => p.reason !== null && p.reason.startsWith("key ")
        const forKey = yield* load(parkedNow.filter(isForKey))
        const cut: Array<StoredRecord> = []
        for (const r of forKey) {
          yield* knownDevice(r.header.author.deviceId) // learns the device's revocation, if any, in a new session
          if (isRevoked(r.header.author.deviceId, r.header.chain.seq)) cut.push(r)
        }
        for (const r of cut) yield* es.setStatus(storeId, r.header.eventId, "rejected", "author")
        const opened = yield* openVerified(forKey.filter((r) => !cut.includes(r)))
        const processed = yield* process(yield* load(parkedNow.filter((p) => !isForKey(p))))
        const arrived = opened.keysArrived + processed.keysArrived
        keysArrived += arrived
        if (arrived === 0) break
      }
      const still = (yield* es.withStatus(storeId, "parked")).length
      return { released: before - still, stillParked: still, keysArrived }
    })

    /** Seals and appends envelopes of this device (must hold the writer semaphore). */
    const sealAndAppend = (
      keyring: Keyring.Keyring,
      envelopes: ReadonlyArray<Envelope.EventEnvelope>,
      keys: ReadonlyMap<string, Pipeline.ResolvedKey>,
      expected: ReadonlyArray<{ aggregateType: string; aggregateId: string; version: number }>
    ) =>
      Effect.gen(function*() {
        const device = yield* keyring.device
        const chain = yield* es.chainHead(storeId, device.deviceId)
        const { records, head } = yield* provide(Pipeline.seal({
          envelopes,
          deps: { keys, signer: { author: { userId: keyring.userId, deviceId: device.deviceId } as Author, key: device.signing } },
          chain
        })).pipe(Effect.catchTags({
          InvalidKey: (e) => Effect.fail(new LocalStoreError({ storeId, detail: e.message })),
          KeyUsageExhausted: (e) => Effect.fail(new LocalStoreError({ storeId, detail: e.message }))
        }))
        const { positions } = yield* es.append(records.map((r) => ({
          header: SyncRecord.header(r.record), nonce: r.record.nonce, ciphertext: r.record.ciphertext, signature: r.record.signature
        })), {
          expected,
          chain: { storeId, deviceId: device.deviceId, head }
        })
        return { records, positions }
      })

    const toEvent = (r: Pipeline.SealedRecord, e: Envelope.EventEnvelope, position: number): Event => ({
      position, globalSequence: null, eventId: e.eventId, aggregateType: e.aggregateType, aggregateId: e.aggregateId, version: e.version,
      eventType: e.eventType, createdAt: e.createdAt, author: r.record.author, key: r.record.key, payload: e.payload, meta: e.meta
    })

    /** Builds and appends the envelopes of commands (holding the writer semaphore); `again` re-issues displaced system records. */
    const appendCommands = (
      commands: ReadonlyArray<Command>,
      again: ReadonlyArray<{ readonly aggregateType: string; readonly aggregateId: string; readonly eventType: string; readonly payload: Envelope.Json }> = []
    ) =>
      Effect.gen(function*() {
        if (Option.isNone(input.keyring)) return yield* Effect.fail(noKeyring("keyring (the store is locked)"))
        const keyring = input.keyring.value
        // Checks what the application gave before anything is sealed.
        for (const command of commands) {
          const invalid = validateCommand(command)
          if (invalid !== undefined) return yield* Effect.fail(invalid)
        }
        const device = yield* keyring.device
        const activeKek = yield* Effect.flatMap(keyring.activeKek(storeId), Option.match({ onNone: () => Effect.fail(noKeyring("kek:active")), onSome: Effect.succeed }))
        const kekRef = { id: activeKek.versionId, epoch: 0 } as unknown as KeyRef
        const keys = new Map<string, Pipeline.ResolvedKey>([[activeKek.versionId, { ref: kekRef, key: yield* keyring.kek(storeId, activeKek.versionId) }]])
        // One clock reading and one draw of randomness for the whole batch (its events are appended together).
        const createdAt = yield* Effect.clockWith((c) => c.currentTimeMillis)
        const eventRandom = yield* crypto.randomBytes(10 * commands.reduce((n, c) => n + c.events.length, 0))
        let drawn = 0
        const author = { userId: keyring.userId, deviceId: device.deviceId }
        const identityDep = Dependency.make("identity", keyring.userId)
        const kekDep = Dependency.make("key", activeKek.versionId)
        /** An envelope; its event id takes 10 random bytes (`random`, else the next ones drawn for the batch's events). */
        const envelope = (
          aggregateType: string, aggregateId: string, eventType: string, version: number, keyDep: Dependency.Dependency, payload: Envelope.Json,
          meta: Readonly<Record<string, string>> | undefined, random?: Uint8Array
        ): Envelope.EventEnvelope => {
          const eventId = ids.next(createdAt, random ?? eventRandom.subarray(10 * drawn, 10 * ++drawn))
          return {
            storeId, createdAt, eventId, author, meta: meta ?? {}, aggregateType, aggregateId, eventType, version, deps: [keyDep, identityDep], payload
          } as unknown as Envelope.EventEnvelope
        }
        const envelopes: Array<Envelope.EventEnvelope> = []
        const expected: Array<{ aggregateType: string; aggregateId: string; version: number }> = []
        const expecting = new Set<string>()
        const expect = (k: string, aggregateType: string, aggregateId: string, version: number) => {
          if (expecting.has(k)) return
          expecting.add(k)
          expected.push({ aggregateType, aggregateId, version })
        }
        const versions = new Map<string, number>()
        const versionOf = (type: string, id: string) =>
          Effect.suspend(() => {
            const k = `${type}\u0000${id}`
            const known = versions.get(k)
            return known !== undefined ? Effect.succeed({ k, v: known }) : Effect.map(es.aggregateVersion(storeId, type, id), (v) => ({ k, v }))
          })
        const systemEnvelope = (aggregateType: string, aggregateId: string, eventType: string, payload: unknown) =>
          Effect.gen(function*() {
            const { k, v } = yield* versionOf(aggregateType, aggregateId)
            const random = yield* crypto.randomBytes(10)
            versions.set(k, v + 1)
            expect(k, aggregateType, aggregateId, v)
            envelopes.push(envelope(aggregateType, aggregateId, eventType, v + 1, kekDep, payload as Envelope.Json, undefined, random))
          })
        // A device's first record in a store is its enrollment, so readers learn its key.
        if (Option.isNone(yield* es.chainHead(storeId, device.deviceId))) {
          const identity = yield* keyring.identity
          yield* systemEnvelope(system.device, device.deviceId, "DeviceEnrolled", DeviceEnrolledJson({ certificate: device.certificate, genesis: identity.genesis, chain: identity.chain }))
        }
        const published: Array<KeyringModule.DekGrant> = []
        for (const s of again) {
          yield* systemEnvelope(s.aggregateType, s.aggregateId, s.eventType, s.payload)
          const grant = s.aggregateType === system.dek ? decodeGrant(s.payload) : undefined
          if (grant && Either.isRight(grant)) published.push({ storeId, ...grant.right, kekVersionId: activeKek.versionId })
        }
        const eventEnvelopes: Array<Envelope.EventEnvelope> = []
        for (const command of commands) {
          if (command.events.length === 0) continue
          const { k, v } = yield* versionOf(command.aggregateType, command.aggregateId)
          const check = AggregateVersion.checkAppend({ storeId, aggregateType: command.aggregateType, aggregateId: command.aggregateId }, v, command.expectedVersion ?? AggregateVersion.any, command.events.length)
          if (Either.isLeft(check)) return yield* Effect.fail(check.left)
          const { ref, key, grants } = yield* keyring.dekForWrite(storeId, command.aggregateType, command.aggregateId, command.events.length)
          keys.set(ref.id, { ref, key })
          for (const g of grants) {
            if (published.some((p) => p.keyId === g.keyId)) continue
            published.push(g)
            yield* systemEnvelope(system.dek, g.keyId, "DekGranted", grantBody(g))
          }
          expect(k, command.aggregateType, command.aggregateId, v)
          const keyDep = Dependency.make("key", ref.id)
          for (let i = 0; i < command.events.length; i++) {
            const e = command.events[i]!
            eventEnvelopes.push(envelope(command.aggregateType, command.aggregateId, e.eventType, check.right[i]!, keyDep, e.payload, e.meta))
          }
          versions.set(k, v + command.events.length)
        }
        const all = [...envelopes, ...eventEnvelopes]
        const { records, positions } = yield* sealAndAppend(keyring, all, keys, expected)
        yield* keyring.markPublished(published)
        const out = new Array<Event>(eventEnvelopes.length)
        for (let i = 0; i < eventEnvelopes.length; i++) {
          out[i] = toEvent(records[envelopes.length + i]!, all[envelopes.length + i]!, positions[envelopes.length + i] ?? 0)
        }
        return out
      })

    /** What is wrong with what the application gave (ids, names, JSON payloads), if anything. */
    const validateCommand = (command: Command): InvalidInput | undefined => {
      const invalid = (detail: string) => new InvalidInput({ what: "command", problem: detail })
      if (!isAggregateType(command.aggregateType) || command.aggregateType.startsWith("cipherlog.")) {
        return invalid("aggregateType must start with a letter, have at most 64 characters of A-Z a-z 0-9 _ . - and not start with cipherlog.")
      }
      if (!isAggregateId(command.aggregateId)) return invalid("aggregateId must be 1 to 64 characters of A-Z a-z 0-9 _ -")
      for (let i = 0; i < command.events.length; i++) {
        const e = command.events[i]!
        if (!isEventType(e.eventType)) return invalid(`events.${i}.eventType must start with a letter and have at most 64 characters of A-Z a-z 0-9 _ . -`)
        if (!Envelope.isJson(e.payload)) return invalid(`events.${i}.payload must be JSON (finite numbers, no __proto__ keys, at most 64 levels)`)
        if (e.meta !== undefined && !isEventMeta(e.meta)) return invalid(`events.${i}.meta must be an object of strings`)
      }
      return undefined
    }

    const rebase = (displaced: ReadonlyArray<StoredRecord>) =>
      Effect.gen(function*() {
        if (displaced.length === 0 || Option.isNone(input.keyring)) return 0
        const keyring = input.keyring.value
        const device = yield* keyring.device
        // Our chain now ends at our last record that stayed; recompute its digest from the stored bytes.
        const remaining = yield* es.readByDevice(storeId, device.deviceId, 0)
        const last = remaining[remaining.length - 1]
        const lastBinary = last === undefined ? undefined : binary(last)
        if (lastBinary === undefined || lastBinary instanceof RecordIntegrityError) {
          yield* es.setChainHead(storeId, device.deviceId, { seq: 0, digest: new Uint8Array(32) })
        } else {
          const digest = yield* provide(Pipeline.digestOf({ header: lastBinary.stored.header, nonce: lastBinary.nonce, ciphertext: lastBinary.ciphertext }))
          yield* es.setChainHead(storeId, device.deviceId, { seq: lastBinary.stored.header.chain.seq, digest })
        }
        // Re-append everything displaced, in order: key and device records first, then the events at new versions.
        const items = yield* decrypt(displaced)
        const isSystem = (t: string) => t === system.dek || t === system.device
        const again = items.flatMap((item) =>
          item._tag === "Event" && isSystem(item.event.aggregateType)
            ? [{ aggregateType: item.event.aggregateType, aggregateId: item.event.aggregateId, eventType: item.event.eventType, payload: item.event.payload }]
            : []
        )
        const commands: Array<Command> = items.flatMap((item) =>
          item._tag === "Event" && !isSystem(item.event.aggregateType)
            ? [{ aggregateType: item.event.aggregateType, aggregateId: item.event.aggregateId, events: [{ eventType: item.event.eventType, payload: item.event.payload, meta: item.event.meta }] }]
            : []
        )
        if (commands.length + again.length > 0) yield* appendCommands(commands, again)
        return commands.length
      })

    const store: LocalStore = {
      storeId,
      eventStore: es,
      keyring: input.keyring,
      append: (commands) => writer.withPermits(1)(appendCommands(Array.isArray(commands) ? commands : [commands as Command])),
      readAggregate: (aggregateType, aggregateId, afterVersion) => Effect.flatMap(es.readAggregate(storeId, aggregateType, aggregateId, afterVersion), decrypt),
      readAll: (options = {}) => {
        const pageSize = options.pageSize ?? 1000
        type State = { readonly after: number; readonly heads: ReadonlyMap<string, ChainHead> }
        // Page by page straight from the store: each page is verified (carrying every device's chain head to the
        // next page — system records included), decrypted, and only then filtered.
        return Stream.paginateChunkEffect<State, Item, StorageFailure | KeyStoreError, never>({ after: 0, heads: new Map() }, (state) =>
          Effect.gen(function*() {
            const page = yield* es.readAfter(storeId, state.after, pageSize)
            const prepared = page.map(binary)
            const { failures, heads } = options.verify ? yield* verifyPage(page, prepared, state.heads) : { failures: [] as Array<Item | undefined>, heads: state.heads }
            const items = yield* decrypt(page, prepared)
            const out: Array<Item> = []
            for (const [i, item] of items.entries()) {
              const shown = failures[i] ?? item
              if (options.includeSystem === true || !isSystemType(shown._tag === "Event" ? shown.event.aggregateType : shown.header.aggregateType)) out.push(shown)
            }
            const next = page.length < pageSize ? Option.none<State>() : Option.some({ after: page[page.length - 1]!.position, heads })
            return [Chunk.unsafeFromArray(out), next] as const
          }))
      },
      ingest: (incoming) =>
        writer.withPermits(1)(Effect.gen(function*() {
          let invalid = 0
          const valid: Array<EventStoreNewRecord & { readonly globalSequence: number }> = []
          for (const r of incoming) {
            const decoded = SyncRecord.decodeJson(r.recordJson)
            if (Either.isLeft(decoded) || decoded.right.storeId !== storeId) {
              invalid++
              continue
            }
            const d = decoded.right
            valid.push({ header: SyncRecord.header(d), nonce: d.nonce, ciphertext: d.ciphertext, signature: d.signature, recordJson: r.recordJson, globalSequence: r.globalSequence })
          }
          const applied = yield* es.applyRemote(storeId, valid)
          const processed = yield* process(applied.inserted)
          const rebased = yield* rebase(applied.displaced).pipe(
            Effect.catchTags({
              VersionConflict: (e) => Effect.fail(new LocalStoreError({ storeId, detail: `rebasing displaced events failed: ${e.message}` })),
              DuplicateEventMismatch: (e) => Effect.fail(new LocalStoreError({ storeId, detail: `rebasing displaced events failed: ${e.message}` })),
              KeysMissing: (e) => Effect.fail(new LocalStoreError({ storeId, detail: `rebasing displaced events failed: ${e.message}` })),
              InvalidInput: (e) => Effect.fail(new LocalStoreError({ storeId, detail: `rebasing displaced events failed: ${e.message}` }))
            })
          )
          if (processed.keysArrived > 0) yield* retryParked
          return {
            inserted: applied.inserted.length, acknowledged: applied.acknowledged, rebased, parked: processed.parked,
            rejected: processed.rejected, mismatched: applied.mismatched, invalid, rotations: processed.rotations
          }
        })),
      retryParked: writer.withPermits(1)(Effect.map(retryParked, ({ released, stillParked }) => ({ released, stillParked }))),
      revokeDevice: (deviceId) =>
        writer.withPermits(1)(Effect.gen(function*() {
          if (Option.isNone(input.keyring)) return yield* Effect.fail(noKeyring("keyring (the store is locked)"))
          const keyring = input.keyring.value
          const known = yield* knownDevice(deviceId)
          if (deviceId === keyring.deviceId || known === undefined || known.userId !== keyring.userId) {
            return yield* Effect.fail(new InvalidInput({
              what: "deviceId",
              problem: deviceId === keyring.deviceId
                ? "this is the device itself; revoke it from another device of the user"
                : `no device ${deviceId} of user ${keyring.userId} is known in store ${storeId}; sync first, or check the id (devices are listed by their enrollment records)`
            }))
          }
          const lastSeq = Option.match(yield* es.chainHead(storeId, deviceId), { onNone: () => 0, onSome: (h) => h.seq })
          const identity = yield* keyring.identity
          const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
          const revocation = yield* provide(Identity.revokeDevice(identity, deviceId, now)).pipe(
            Effect.catchTag("InvalidKey", (e) => Effect.fail(new LocalStoreError({ storeId, detail: `signing the revocation failed: ${e.message}` })))
          )
          const payload = DeviceRevokedJson({ revocation, lastSeq }) as Envelope.Json
          yield* appendCommands([], [{ aggregateType: system.device, aggregateId: deviceId, eventType: "DeviceRevoked", payload }])
          yield* applyRevocation(deviceId, payload)
          return { lastSeq }
        })),
      rewrap: writer.withPermits(1)(Effect.gen(function*() {
        if (Option.isNone(input.keyring)) return yield* Effect.fail(noKeyring("keyring (the store is locked)"))
        const keyring = input.keyring.value
        const active = yield* Effect.flatMap(keyring.activeKek(storeId), Option.match({ onNone: () => Effect.fail(noKeyring("kek:active")), onSome: Effect.succeed }))
        const grants = yield* keyring.pendingGrants(storeId)
        const again: Array<{ readonly aggregateType: string; readonly aggregateId: string; readonly eventType: string; readonly payload: Envelope.Json }> = grants.map((g) => ({
          aggregateType: system.dek, aggregateId: g.keyId, eventType: "DekGranted", payload: grantBody(g)
        }))
        // Device records (enrollments, revocations) readable only under other versions: without them, a reader
        // holding live versions only could not learn those devices' keys, nor verify anything they wrote.
        const deviceItems = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll({ includeSystem: true }))).flatMap((i) =>
          i._tag === "Event" && i.event.aggregateType === system.device ? [i.event] : []
        )
        const statement = (e: Event) => `${e.aggregateId}\u0000${e.eventType}\u0000${JSON.stringify(e.payload)}`
        const underActive = new Set(deviceItems.filter((e) => e.key.id === active.versionId).map(statement))
        let devicesAgain = 0
        for (const e of deviceItems) {
          if (underActive.has(statement(e))) continue
          // Only what this device verified: the certificate of a device it knows, the revocation that set its cut.
          const known = yield* knownDevice(e.aggregateId)
          const enrolled = e.eventType === "DeviceEnrolled" ? decodeDeviceEnrolled(e.payload) : undefined
          const revoked = e.eventType === "DeviceRevoked" ? decodeDeviceRevoked(e.payload) : undefined
          const verified = enrolled !== undefined
            ? Either.isRight(enrolled) && known !== undefined && enrolled.right.certificate.deviceId === e.aggregateId &&
              Bytes.equalsPublic(known.publicKey, enrolled.right.certificate.devicePublicKey)
            : revoked !== undefined && Either.isRight(revoked) && revokedAfter.get(e.aggregateId) === revoked.right.lastSeq
          if (!verified) continue
          underActive.add(statement(e))
          again.push({ aggregateType: system.device, aggregateId: e.aggregateId, eventType: e.eventType, payload: e.payload })
          devicesAgain++
        }
        if (again.length > 0) yield* appendCommands([], again)
        return { keys: grants.length, epochs: grants.reduce((n, g) => n + g.epochs.length, 0), devices: devicesAgain }
      })),
      keyState: Effect.gen(function*() {
        const missing: Array<{ key: string; records: number }> = []
        for (const ref of yield* es.keyRefs(storeId)) {
          const key = yield* resolveKey(ref as unknown as KeyRef)
          if (Option.isNone(key)) missing.push({ key: `${ref.id}@${ref.epoch}`, records: ref.records })
        }
        return { locked: missing.length > 0, missing }
      })
    }

    const verifyPage = (page: ReadonlyArray<StoredRecord>, prepared: ReadonlyArray<Binary | RecordIntegrityError>, heads: ReadonlyMap<string, ChainHead>) =>
      Effect.gen(function*() {
        const failures = new Array<Item | undefined>(page.length)
        const next = new Map(heads)
        const byDevice = new Map<string, Array<number>>()
        page.forEach((r, i) => {
          const list = byDevice.get(r.header.author.deviceId)
          if (list) list.push(i)
          else byDevice.set(r.header.author.deviceId, [i])
        })
        for (const [deviceId, indices] of byDevice) {
          const known = yield* knownDevice(deviceId)
          if (known === undefined) {
            for (const i of indices) failures[i] = { _tag: "Locked", header: page[i]!.header, missing: `device ${deviceId}` }
            continue
          }
          const good = indices.filter((i) => !(prepared[i] instanceof RecordIntegrityError))
          const parts = good.map((i) => prepared[i] as Binary)
          const verdict = yield* provide(Pipeline.verifyChain({ records: parts, from: Option.fromNullable(heads.get(deviceId)), publicKey: known.publicKey }))
          const broken = Option.getOrUndefined(verdict.broken)
          for (const [j, i] of good.entries()) {
            if (broken !== undefined && j >= broken.index) failures[i] = { _tag: "Rejected", header: page[i]!.header, error: integrity(page[i]!.header, broken.reason) }
            else if (isRevoked(deviceId, page[i]!.header.chain.seq)) failures[i] = { _tag: "Rejected", header: page[i]!.header, error: integrity(page[i]!.header, "author") }
          }
          // Carry the running head (signed or not) so the next page continues the chain where this one stopped.
          const last = verdict.digests.length - 1
          if (last >= 0) next.set(deviceId, { seq: parts[last]!.header.chain.seq, digest: verdict.digests[last]! })
        }
        return { failures, heads: next as ReadonlyMap<string, ChainHead> }
      })

    return store
  })
