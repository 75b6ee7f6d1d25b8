import type { Crypto } from "@cipherlog/crypto"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { AggregateVersion } from "@cipherlog/domain"
import { Identity, Keyring, KeyStore, Vault } from "@cipherlog/keys"
import { Clock, Effect, Layer, Option, Redacted, type Scope } from "effect"
import { type EventStore, LocalStore } from "../src/index.js"
import { memoryEventStore } from "./sqlite.js"

export const cryptoLayer = NodeCrypto.layer
export const storeId = "s1"

/** A device: its keyring (in memory) and its local store (SQLite in memory). */
export interface Device {
  readonly keyring: Keyring.Keyring
  readonly store: LocalStore.LocalStore
  readonly events: EventStore.EventStore
}

const vault = Effect.provide(Vault.create(Redacted.make("device passphrase"), { policy: Vault.insecureTestPolicy }), Layer.merge(KeyStore.layerMemory(), NodeCrypto.layer))

/** The first device of a user: a new identity and the store's first KEK version. */
export const firstDevice = (userId = "u1", deviceId = "d1"): Effect.Effect<Device, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const keyring = yield* Effect.provide(Keyring.initialize(yield* vault, { userId, deviceId }), NodeCrypto.layer)
    yield* keyring.createKek(storeId, "kv1")
    return yield* deviceOn(keyring)
  })

/** Another device of the same user, holding the identity and (optionally) the store's KEK versions. */
export const secondDevice = (first: Device, deviceId = "d2", withKeks = true): Effect.Effect<Device, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const secrets = Option.getOrThrow(yield* Keyring.readEntry(first.keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets))
    const keyring = yield* Effect.provide(Keyring.initialize(yield* vault, { userId: first.keyring.userId, deviceId, identity: secrets }), NodeCrypto.layer)
    if (withKeks) yield* copyKeks(first, keyring)
    return yield* deviceOn(keyring)
  })

/** Another device of the same user whose identity was rotated (`kind`) on it; with the store's KEK versions. */
export const rotatedDevice = (first: Device, deviceId: string, kind: "planned" | "emergency") =>
  Effect.gen(function*() {
    const secrets = Option.getOrThrow(yield* Keyring.readEntry(first.keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets))
    const rotated = yield* Effect.provide(Identity.rotate(secrets, kind, yield* Clock.currentTimeMillis, 60_000), NodeCrypto.layer)
    const keyring = yield* Effect.provide(Keyring.initialize(yield* vault, { userId: first.keyring.userId, deviceId, identity: rotated.secrets }), NodeCrypto.layer)
    yield* copyKeks(first, keyring)
    return { device: yield* deviceOn(keyring), statement: rotated.statement }
  })

export const copyKeks = (from: Device, to: Keyring.Keyring) =>
  Effect.gen(function*() {
    for (const v of yield* from.keyring.kekVersions(storeId)) {
      if (v.status === "destroyed") continue
      yield* to.importKek(storeId, { versionId: v.versionId, raw: yield* from.keyring.exportKek(storeId, v.versionId), status: v.status, createdAt: v.createdAt })
    }
  })

/** `peers`: the other users' identities this device trusts (see `LocalStore.make`). */
export const deviceOn = (keyring: Keyring.Keyring, peers?: ReadonlyMap<string, Identity.PublicIdentity>) =>
  Effect.gen(function*() {
    const events = yield* memoryEventStore()
    const store = yield* Effect.provide(
      LocalStore.make({
        storeId, eventStore: events, keyring: Option.some(keyring),
        ...(peers ? { peers: (userId: string) => Effect.succeed(Option.fromNullable(peers.get(userId))) } : {})
      }),
      NodeCrypto.layer
    )
    return { keyring, store, events }
  })

/** The first device of another user, without any KEK version, trusting `peers`. */
export const otherUser = (userId: string, deviceId: string, peers?: ReadonlyMap<string, Identity.PublicIdentity>): Effect.Effect<Device, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const keyring = yield* Effect.provide(Keyring.initialize(yield* vault, { userId, deviceId }), NodeCrypto.layer)
    return yield* deviceOn(keyring, peers)
  })

/** A toy server: a global, gapless order of record texts with per-aggregate version checks. */
export const server = () => {
  const log: Array<{ recordJson: string; globalSequence: number; aggregate: string; version: number; eventId: string }> = []
  return {
    log,
    /** Pushes a device's pending records; all or nothing, like the real server. */
    push: (device: Device) =>
      Effect.gen(function*() {
        const pending = yield* device.events.readPending(storeId, 100_000)
        const versions = new Map<string, number>()
        for (const r of pending) {
          const key = `${r.header.aggregateType}/${r.header.aggregateId}`
          const current = versions.get(key) ?? log.filter((x) => x.aggregate === key).length
          if (log.some((x) => x.eventId === r.header.eventId)) continue
          if (r.header.version !== current + 1) return "conflict" as const
          versions.set(key, current + 1)
        }
        const acks = pending.filter((r) => !log.some((x) => x.eventId === r.header.eventId)).map((r) => {
          const globalSequence = log.length + 1
          log.push({ recordJson: r.recordJson, globalSequence, aggregate: `${r.header.aggregateType}/${r.header.aggregateId}`, version: r.header.version, eventId: r.header.eventId })
          return { eventId: r.header.eventId, globalSequence }
        })
        yield* device.events.acknowledge(storeId, acks)
        return "ok" as const
      }),
    pull: (device: Device) =>
      Effect.gen(function*() {
        const cursor = yield* device.events.cursor(storeId)
        return yield* device.store.ingest(log.filter((x) => x.globalSequence > cursor))
      })
  }
}

export const appendGoal = (device: Device, id: string, title: string, expected?: number) =>
  device.store.append({
    aggregateType: "Goal",
    aggregateId: id,
    ...(expected === undefined ? {} : { expectedVersion: AggregateVersion.exactly(expected) }),
    events: [{ eventType: "GoalSet", payload: { title } }]
  })

export const events = (items: ReadonlyArray<LocalStore.Item>) =>
  items.flatMap((i) => (i._tag === "Event" ? [i.event] : []))

export const withLayers = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | Crypto.Crypto>) => Effect.scoped(effect).pipe(Effect.provide(NodeCrypto.layer))
