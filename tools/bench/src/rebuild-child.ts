/**
 * Child process for the rebuild benchmark: fills a store with N events
 * (fast path, not measured), then rebuilds a projection and reports its time
 * and the process's peak RSS, as JSON on the last line.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import { LocalStore, Projections } from "@cipherlog/event-store"
import { SqliteNodeEventStore } from "@cipherlog/event-store-sqlite-node"
import { Keyring, KeyStore, Vault } from "@cipherlog/keys"
import { Effect, Option, Redacted } from "effect"

const [file, sizeText] = process.argv.slice(2)
const size = Number(sizeText)

const program = Effect.scoped(Effect.gen(function*() {
  const vault = yield* Vault.create(Redacted.make("benchmark passphrase"), { policy: Vault.insecureTestPolicy }).pipe(Effect.provide(KeyStore.layerMemory()))
  const keyring = yield* Keyring.initialize(vault, { userId: "u1", deviceId: "d1" })
  yield* keyring.createKek("s1", "kv1")
  const events = yield* SqliteNodeEventStore.make(file!)
  const store = yield* LocalStore.make({ storeId: "s1", eventStore: events, keyring: Option.some(keyring) })
  for (let i = 0; i < size; i += 1000) {
    yield* store.append(Array.from({ length: 100 }, (_, a) => ({
      aggregateType: "Goal", aggregateId: `g${(i / 10 + a) % 5000}`,
      events: Array.from({ length: 10 }, (_, k) => ({ eventType: "GoalUpdated", payload: { title: `goal ${i + a * 10 + k}`, notes: "x".repeat(200) } }))
    })))
  }
  global.gc?.()
  const rssBefore = process.memoryUsage().rss
  let peak = rssBefore
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 20)
  const start = performance.now()
  yield* Projections.rebuild(store, {
    name: "goals",
    version: 1,
    key: (e) => e.aggregateId,
    apply: (s: { count: number } | undefined, e) => ({ count: (s?.count ?? 0) + 1, last: (e.payload as { title: string }).title })
  } as Projections.Projection<{ count: number }>, { pageSize: 1000, stateCache: 2000 })
  const seconds = (performance.now() - start) / 1000
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage().rss)
  process.stdout.write(JSON.stringify({ size, seconds, rssBeforeMb: rssBefore / 2 ** 20, peakRssMb: peak / 2 ** 20 }) + "\n")
}))

Effect.runPromise(program.pipe(Effect.provide(NodeCrypto.layer))).catch((error) => {
  process.stderr.write(String(error) + "\n")
  process.exit(1)
})
