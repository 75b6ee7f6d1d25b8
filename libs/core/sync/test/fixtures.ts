/**
 * Devices for sync tests: a keyring (memory key store, test Argon2 policy),
 * a local store on SQLite in memory, and an engine over a transport.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import type { StoreId, UserId } from "@cipherlog/domain"
import { type EventStore, LocalStore } from "@cipherlog/event-store"
import { SqliteNodeEventStore } from "@cipherlog/event-store-sqlite-node"
import { Identity, Keyring, KeyStore, Vault } from "@cipherlog/keys"
import { ServerStore } from "@cipherlog/server"
import { Effect, Layer, Option, Redacted, type Scope, Stream } from "effect"
import { MemoryTransport, SyncEngine, SyncTransport } from "../src/index.js"

export const storeId = "s1"

export interface Device {
  readonly keyring: Keyring.Keyring
  readonly store: LocalStore.LocalStore
  readonly events: EventStore.EventStore
}

const vault = Effect.provide(
  Vault.create(Redacted.make("device passphrase"), { policy: Vault.insecureTestPolicy }),
  Layer.merge(KeyStore.layerMemory(), NodeCrypto.layer)
)

export const deviceOn = (keyring: Keyring.Keyring, events?: EventStore.EventStore) =>
  Effect.gen(function*() {
    const es = events ?? (yield* SqliteNodeEventStore.make(":memory:"))
    const store = yield* Effect.provide(LocalStore.make({ storeId, eventStore: es, keyring: Option.some(keyring) }), NodeCrypto.layer)
    return { keyring, store, events: es } satisfies Device
  })

/** The first device of a user: a new identity and the store's first KEK version. */
export const firstDevice = (userId = "u1", deviceId = "d1"): Effect.Effect<Device, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const keyring = yield* Effect.provide(Keyring.initialize(yield* vault, { userId, deviceId }), NodeCrypto.layer)
    yield* keyring.createKek(storeId, "kv1")
    return yield* deviceOn(keyring)
  })

/** Another device of the same user (with the store's KEK versions unless `withKeks` is false). */
export const secondDevice = (first: Device, deviceId: string, withKeks = true): Effect.Effect<Device, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const secrets = Option.getOrThrow(yield* Keyring.readEntry(first.keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets))
    const keyring = yield* Effect.provide(
      Keyring.initialize(yield* vault, { userId: first.keyring.userId, deviceId, identity: secrets }),
      NodeCrypto.layer
    )
    if (withKeks) yield* copyKeks(first, keyring)
    return yield* deviceOn(keyring)
  })

export const copyKeks = (from: Device, to: Keyring.Keyring) =>
  Effect.gen(function*() {
    for (const v of yield* from.keyring.kekVersions(storeId)) {
      if (v.status === "destroyed") continue
      yield* to.importKek(storeId, { versionId: v.versionId, raw: yield* from.keyring.exportKek(storeId, v.versionId), status: v.status, createdAt: v.createdAt })
    }
  })

/** The server's own memory store with the test store created. */
export const serverLog = Effect.gen(function*() {
  const log = yield* ServerStore.makeMemory
  yield* log.createStore({ storeId: storeId as StoreId, actor: "u1" as UserId, at: 0 })
  return log
})

export const engineFor = (device: Device, transport: SyncTransport.SyncTransport, options: SyncEngine.Options = {}) =>
  SyncEngine.make(device.store, { retry: { baseMs: 5, maxMs: 50 }, ...options }).pipe(
    Effect.provideService(SyncTransport.SyncTransport, transport)
  )

export const memoryTransport = (log: MemoryTransport.RecordLog, userId = "u1") => MemoryTransport.make({ log, userId })

export const append = (device: Device, aggregateId: string, title: string) =>
  device.store.append({ aggregateType: "Goal", aggregateId, events: [{ eventType: "GoalSet", payload: { title } }] })

/**
 * What a device shows: every event as `aggregate@version:payload`, sorted
 * (local order differs between devices; per-aggregate histories must not).
 * Records that do not open show as `Locked:` or `Rejected:`.
 */
export const view = (device: Device) =>
  Effect.map(Stream.runCollect(device.store.readAll({ verify: true })), (items) =>
    Array.from(items).map((i) =>
      i._tag === "Event"
        ? `${i.event.aggregateId}@${String(i.event.version).padStart(4, "0")}:${JSON.stringify(i.event.payload)}`
        : `${i._tag}:${i.header.eventId}`
    ).sort())
