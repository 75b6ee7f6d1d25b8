// A page that opens the OPFS event store, for the reload test: it writes,
// the test reloads the page, and a fresh JavaScript context reads back.
import { EventStore } from "@cipherlog/event-store"
import { Records } from "@cipherlog/event-store-conformance"
import { Effect, Exit, Scope } from "effect"
import { OpfsEventStore } from "../../src/index.js"

const worker = () => new Worker(new URL("../../src/worker.ts", import.meta.url), { type: "module" })

const api = {
  /** Opens the store and keeps it open (this tab becomes the writer). */
  async open(name: string) {
    const scope = Effect.runSync(Scope.make())
    const exit = await Effect.runPromiseExit(Scope.extend(OpfsEventStore.make({ name, worker }), scope))
    if (Exit.isFailure(exit)) return { error: String((exit.cause as { error?: { _tag?: string } }).error?._tag ?? exit.cause) }
    ;(globalThis as Record<string, unknown>)["store"] = exit.value
    return { ok: true }
  },
  async write(count: number) {
    const store = (globalThis as Record<string, unknown>)["store"] as EventStore.EventStore
    const base = await Effect.runPromise(store.aggregateVersion("s1", "Goal", "reload"))
    const records = Array.from({ length: count }, (_, i) => Records.make({ storeId: "s1", aggregateId: "reload", version: base + i + 1 }))
    await Effect.runPromise(store.append(records))
    return records.map(EventStore.textOf)
  },
  async read() {
    const store = (globalThis as Record<string, unknown>)["store"] as EventStore.EventStore
    return (await Effect.runPromise(store.readAfter("s1", 0, 1000))).map((r) => r.recordJson)
  }
}
;(globalThis as Record<string, unknown>)["cipherlog"] = api
document.title = "ready"
