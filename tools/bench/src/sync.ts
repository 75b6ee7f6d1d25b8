/**
 * Catching up: a new device of a user pulls a store's whole log through the
 * sync engine (HttpTransport, a real server process on SQLite, loopback) and
 * ingests it (verify signatures and chains, decrypt, store). Measured with
 * SyncEngine's `pullAhead` 0 (one page at a time: the baseline) and 1 (the
 * default: the next page is fetched while one is ingested), in the same run,
 * alternating which goes first. Each pull starts from an empty device.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import { LocalStore } from "@cipherlog/event-store"
import { SqliteNodeEventStore } from "@cipherlog/event-store-sqlite-node"
import { Identity, Keyring, KeyStore, Vault } from "@cipherlog/keys"
import { SyncEngine, SyncTransport } from "@cipherlog/sync"
import { HttpTransport } from "@cipherlog/sync-transport-http"
import { FetchHttpClient } from "@effect/platform"
import { Effect, Layer, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Row } from "./harness.ts"
import { startServer } from "./server-support.ts"

const STORE = "bench-sync"
const payload = (i: number) => ({ title: `goal ${i}`, notes: "x".repeat(1024 - 40), n: i })

const vault = Effect.provide(
  Vault.create(Redacted.make("benchmark passphrase"), { policy: Vault.insecureTestPolicy }),
  Layer.merge(KeyStore.layerMemory(), NodeCrypto.layer)
)

const deviceOn = (keyring: Keyring.Keyring, file: string) =>
  Effect.gen(function*() {
    const events = yield* SqliteNodeEventStore.make(file)
    const store = yield* LocalStore.make({ storeId: STORE, eventStore: events, keyring: Option.some(keyring) })
    return { keyring, store, events }
  })

type Device = Effect.Effect.Success<ReturnType<typeof deviceOn>>

const client = (device: Device, url: string) =>
  HttpTransport.forKeyring(device.keyring, { baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer))

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

export const run = async (options: { quick: boolean }): Promise<ReadonlyArray<Row>> => {
  const n = options.quick ? 5_000 : 20_000
  const rounds = options.quick ? 2 : 4
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cipherlog-bench-sync-"))
  const server = await startServer({ DATA_DIR: path.join(dir, "server"), RATE_LIMIT_IP_PER_SECOND: "1000000", RATE_LIMIT_IP_BURST: "1000000" })
  const seconds: Record<0 | 1, Array<number>> = { 0: [], 1: [] }
  try {
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      // The first device writes the log and pushes it.
      const keyring = yield* Keyring.initialize(yield* vault, { userId: "bench-user", deviceId: "d1" })
      yield* keyring.createKek(STORE, "kv1")
      const first = yield* deviceOn(keyring, path.join(dir, "d1.db"))
      const c1 = yield* client(first, server.url)
      yield* c1.register
      yield* c1.authenticated((api) => api.stores.create({ payload: { storeId: STORE as never } }))
      for (let i = 0; i < n; i += 1000) {
        yield* first.store.append(Array.from({ length: 100 }, (_, a) => ({
          aggregateType: "Goal",
          aggregateId: `g${a}`,
          events: Array.from({ length: 10 }, (_, k) => ({ eventType: "GoalUpdated", payload: payload(i + a * 10 + k) }))
        })))
      }
      const pusher = yield* SyncEngine.make(first.store, { pushBatch: 1000 }).pipe(Effect.provideService(SyncTransport.SyncTransport, c1.transport))
      const pushed = yield* pusher.syncOnce
      if (pushed.pending !== 0) throw new Error(`the first device kept ${pushed.pending} records pending`)
      const head = pushed.cursor
      // A new device of the same user (its identity, the store's KEK) pulls everything.
      const secrets = Option.getOrThrow(yield* Keyring.readEntry(keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets))
      let made = 0
      const catchUp = (pullAhead: 0 | 1) =>
        Effect.gen(function*() {
          const id = `d${2 + made++}`
          const k = yield* Keyring.initialize(yield* vault, { userId: "bench-user", deviceId: id, identity: secrets })
          yield* k.importKek(STORE, { versionId: "kv1", raw: yield* keyring.exportKek(STORE, "kv1"), status: "active", createdAt: 0 })
          const device = yield* deviceOn(k, path.join(dir, `${id}.db`))
          const c = yield* client(device, server.url)
          yield* c.register
          const engine = yield* SyncEngine.make(device.store, { pullAhead }).pipe(Effect.provideService(SyncTransport.SyncTransport, c.transport))
          const start = performance.now()
          const report = yield* engine.pull
          const took = (performance.now() - start) / 1000
          // Records wait (parked) for the signature closing their author's batch when a page ends inside it;
          // once the pull is done, none may be left waiting.
          const stillParked = (yield* device.events.withStatus(STORE, "parked")).length
          if (report.cursor !== head || report.pulled < n || report.rejected > 0 || stillParked > 0) {
            throw new Error(`catch-up with pullAhead ${pullAhead}: ${JSON.stringify({ ...report, signals: report.signals.length, head, stillParked })}`)
          }
          return took
        })
      for (let round = 0; round < rounds; round++) {
        for (const ahead of round % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const)) {
          seconds[ahead].push(yield* Effect.scoped(catchUp(ahead)))
        }
      }
    })).pipe(Effect.provide(NodeCrypto.layer)))
  } finally {
    await server.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const title = `Catch up: a new device pulls and ingests ${n.toLocaleString("en")} records through SyncEngine + HttpTransport (SQLite server, loopback; median of ${rounds})`
  const base = median(seconds[0])
  const ahead = median(seconds[1])
  return [
    { title, name: "pullAhead 0 (one page at a time)", opsPerSec: n / base, msPerOp: (base * 1000) / n, ratio: 1, note: "baseline" },
    { title, name: "pullAhead 1 (default: next page fetched while one is ingested)", opsPerSec: n / ahead, msPerOp: (ahead * 1000) / n, ratio: base / ahead }
  ]
}
