/**
 * The whole client stack against real server processes: devices with
 * keyrings (identity, KEK, DEKs), local stores on SQLite, the sync engine
 * and the HTTP transport logging in by challenge–response — on SQLite and
 * on PostgreSQL behind two server processes (devices split between them).
 *
 * - Random interleavings of appends (racing on shared aggregates) and syncs
 *   on three devices converge: every device shows the same history of every
 *   aggregate, nothing written is lost or doubled, the server's sequence is
 *   gapless (INV-003), and nothing is left pending.
 * - A plaintext canary written through the real client never reaches the
 *   server's storage or output (INV-006, through the real pipeline).
 * - Engines running in the background deliver a write to the other device.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import type { StoreId } from "@cipherlog/domain"
import { LocalStore } from "@cipherlog/event-store"
import { SqliteNodeEventStore } from "@cipherlog/event-store-sqlite-node"
import { Identity, Keyring, KeyStore, Vault } from "@cipherlog/keys"
import { SyncEngine, SyncTransport } from "@cipherlog/sync"
import { HttpTransport } from "@cipherlog/sync-transport-http"
import { FetchHttpClient } from "@effect/platform"
import { Duration, Effect, Exit, FastCheck as fc, Fiber, Layer, Option, Redacted, Schedule, Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { found, pgDump, sqliteBytes } from "./support/scan.js"
import * as Servers from "./support/server.js"

const vault = Effect.provide(
  Vault.create(Redacted.make("device passphrase"), { policy: Vault.insecureTestPolicy }),
  Layer.merge(KeyStore.layerMemory(), NodeCrypto.layer)
)

interface Device {
  readonly keyring: Keyring.Keyring
  readonly store: LocalStore.LocalStore
  readonly engine: SyncEngine.SyncEngine
}

/** A device on `baseUrl`: its own local store, the user's identity, an engine over HTTP. */
const device = (baseUrl: string, storeId: string, keyring: Keyring.Keyring) =>
  Effect.gen(function*() {
    const events = yield* SqliteNodeEventStore.make(":memory:")
    const store = yield* Effect.provide(LocalStore.make({ storeId, eventStore: events, keyring: Option.some(keyring) }), NodeCrypto.layer)
    const client = yield* HttpTransport.forKeyring(keyring, { baseUrl }).pipe(Effect.provide(Layer.merge(FetchHttpClient.layer, NodeCrypto.layer)))
    const engine = yield* SyncEngine.make(store, { retry: { baseMs: 10, maxMs: 200 }, longPollMs: 3_000, pushDelayMs: 5 }).pipe(
      Effect.provideService(SyncTransport.SyncTransport, client.transport)
    )
    return { keyring, store, engine, client }
  })

/** A user with three devices (split over the servers), a registered identity and a store. */
const family = (bases: ReadonlyArray<string>, tag: string) =>
  Effect.gen(function*() {
    const userId = `u-${tag}`
    const storeId = `s-${tag}`
    const first = yield* Effect.provide(Keyring.initialize(yield* vault, { userId, deviceId: "d0" }), NodeCrypto.layer)
    yield* first.createKek(storeId, "kv1")
    const secrets = Option.getOrThrow(yield* Keyring.readEntry(first.vault, Keyring.entries.identity, Identity.IdentitySecrets))
    const keyrings = [first]
    for (const deviceId of ["d1", "d2"]) {
      const k = yield* Effect.provide(Keyring.initialize(yield* vault, { userId, deviceId, identity: secrets }), NodeCrypto.layer)
      for (const v of yield* first.kekVersions(storeId)) {
        yield* k.importKek(storeId, { versionId: v.versionId, raw: yield* first.exportKek(storeId, v.versionId), status: v.status, createdAt: v.createdAt })
      }
      keyrings.push(k)
    }
    const devices = yield* Effect.forEach(keyrings, (k, i) => device(bases[i % bases.length]!, storeId, k))
    yield* devices[0]!.client.register
    yield* devices[0]!.client.authenticated((api) => api.stores.create({ payload: { storeId: storeId as StoreId } }))
    return { storeId, devices }
  })

const view = (d: Device) =>
  Effect.map(Stream.runCollect(d.store.readAll({ verify: true })), (items) =>
    Array.from(items).map((i) =>
      i._tag === "Event" ? `${i.event.aggregateId}@${String(i.event.version).padStart(4, "0")}:${JSON.stringify(i.event.payload)}` : `${i._tag}:${i.header.eventId}`
    ).sort())

const append = (d: Device, aggregateId: string, title: string) =>
  d.store.append({ aggregateType: "Goal", aggregateId, events: [{ eventType: "GoalSet", payload: { title } }] })

const scoped = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

type Step = { readonly op: "append"; readonly device: number; readonly aggregate: number } | { readonly op: "sync"; readonly device: number }
const stepsArb: fc.Arbitrary<ReadonlyArray<Step>> = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant("append" as const), device: fc.integer({ min: 0, max: 2 }), aggregate: fc.integer({ min: 0, max: 2 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("sync" as const), device: fc.integer({ min: 0, max: 2 }) }) }
  ),
  { minLength: 1, maxLength: 20 }
)

const scenario = (name: string, bases: () => ReadonlyArray<string>, runs: number) =>
  it(`INV-003 ${name}: devices appending and syncing in any interleaving converge through the real stack`, async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(stepsArb, (steps) =>
        scoped(Effect.gen(function*() {
          const { devices, storeId } = yield* family(bases(), `${name.replace(/\W/g, "")}${Date.now().toString(36)}${run++}`)
          let n = 0
          for (const step of steps) {
            if (step.op === "append") yield* append(devices[step.device]!, `g${step.aggregate}`, `t${n++}`)
            else yield* devices[step.device]!.engine.syncOnce
          }
          for (let round = 0; round < 2; round++) for (const d of devices) yield* d.engine.syncOnce
          const views = yield* Effect.forEach(devices, view)
          expect(views[1]).toEqual(views[0])
          expect(views[2]).toEqual(views[0])
          expect(views[0]!.map((l) => l.slice(l.indexOf(":") + 1)).sort()).toEqual(
            Array.from({ length: n }, (_, i) => JSON.stringify({ title: `t${i}` })).sort()
          )
          const page = yield* devices[0]!.client.transport.pull(storeId, { after: 0, limit: 1000 })
          expect(page.records.map((r) => r.globalSequence)).toEqual(page.records.map((_, i) => i + 1))
          for (const d of devices) expect((yield* d.store.eventStore.counts(storeId)).pending).toBe(0)
        }))
      ),
      { numRuns: runs }
    )
  }, 180_000)

describe("client engine on a SQLite server process", () => {
  let server: Awaited<ReturnType<typeof Servers.startSqlite>>
  beforeAll(async () => {
    server = await Servers.startSqlite()
  }, 60_000)
  afterAll(() => server?.stop())

  scenario("SQLite", () => [server.url], 6)

  it("INV-006: a plaintext canary written through the real client never reaches the server's storage or output", async () => {
    const canary = `PLAINTEXT-CANARY-${Math.random().toString(36).slice(2, 10)}`
    await scoped(Effect.gen(function*() {
      const { devices, storeId } = yield* family([server.url], `canary${Date.now().toString(36)}`)
      yield* append(devices[0]!, "secret-goal", canary)
      yield* devices[0]!.engine.syncOnce
      yield* devices[1]!.engine.syncOnce
      expect((yield* view(devices[1]!)).join("\n")).toContain(canary) // the other device reads it
      expect(storeId.length).toBeGreaterThan(0)
    }))
    expect(found(sqliteBytes(server.dataDir), [canary])).toEqual([])
    expect(found(server.output(), [canary])).toEqual([])
  }, 60_000)

  it("engines running in the background deliver a write to the other device", async () => {
    await scoped(Effect.gen(function*() {
      const { devices } = yield* family([server.url], `live${Date.now().toString(36)}`)
      const fibers = yield* Effect.forEach(devices.slice(0, 2), (d) => Effect.fork(d.engine.run))
      yield* append(devices[0]!, "g", "delivered")
      yield* view(devices[1]!).pipe(
        Effect.repeat({ schedule: Schedule.spaced(Duration.millis(25)), until: (v) => v.length === 1 }),
        Effect.timeoutFail({ duration: Duration.seconds(15), onTimeout: () => new Error("not delivered within 15 s") })
      )
      expect(yield* view(devices[1]!)).toEqual(['g@0001:{"title":"delivered"}'])
      for (const f of fibers) {
        const exit = yield* Fiber.interrupt(f)
        expect(Exit.isInterrupted(exit)).toBe(true)
      }
    }))
  }, 60_000)
})

describe("client engine on PostgreSQL behind two server processes", () => {
  let db: Awaited<ReturnType<typeof Servers.freshDatabase>>
  let servers: Array<Awaited<ReturnType<typeof Servers.start>>> = []
  beforeAll(async () => {
    db = await Servers.freshDatabase()
    servers = [await Servers.start({ DATABASE_URL: db.url })]
    servers.push(await Servers.start({ DATABASE_URL: db.url }))
  }, 60_000)
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()))
    await db?.drop()
  })

  scenario("PostgreSQL x2", () => servers.map((s) => s.url), 4)

  it("INV-006: the canary never reaches the database", async () => {
    const canary = `PLAINTEXT-CANARY-${Math.random().toString(36).slice(2, 10)}`
    await scoped(Effect.gen(function*() {
      const { devices } = yield* family(servers.map((s) => s.url), `pgcanary${Date.now().toString(36)}`)
      yield* append(devices[0]!, "secret-goal", canary)
      yield* devices[0]!.engine.syncOnce
      yield* devices[1]!.engine.syncOnce
      expect((yield* view(devices[1]!)).join("\n")).toContain(canary)
    }))
    expect(found(pgDump(db.url), [canary])).toEqual([])
    for (const s of servers) expect(found(s.output(), [canary])).toEqual([])
  }, 60_000)
})
