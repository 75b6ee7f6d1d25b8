/**
 * The EventStore port on SQLite in the browser's origin-private file system,
 * from the page's side: the database lives in a worker (see `worker.ts`),
 * and every call crosses to it through Comlink. The store persists across
 * page reloads and browser restarts; one tab at a time holds it (Web Locks).
 *
 * Measured choice: the `opfs-sahpool` VFS, not `opfs` — it needs no COOP/COEP
 * headers and was the faster of the two in Chromium here (see tools/bench).
 *
 * @since 0.1.0
 */
import { EventStore, type SchemaTooNew, StorageFailure, type StoreLocked } from "@cipherlog/event-store"
import * as Comlink from "comlink"
import { Effect, Layer, Option, PubSub, type Scope, Stream } from "effect"
import { decodeError, type Reply } from "./protocol.js"
import type { Api } from "./worker.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The database's name (one file in OPFS). */
  readonly name: string
  /** Starts the database worker, e.g. `() => new Worker(new URL("@cipherlog/event-store-sqlite-wasm/worker", import.meta.url), { type: "module" })`. */
  readonly worker: () => Worker
}

const unwrap = <A>(reply: Reply<A>): Effect.Effect<A, unknown> =>
  "ok" in reply ? Effect.succeed(reply.ok) : "error" in reply ? Effect.fail(decodeError(reply.error)) : Effect.dieMessage(reply.defect)

/**
 * Opens the store (starting its worker) for the scope's lifetime.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<EventStore.EventStore, StoreLocked | SchemaTooNew | StorageFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const worker = yield* Effect.acquireRelease(Effect.sync(options.worker), (w) => Effect.sync(() => w.terminate()))
    const remote = Comlink.wrap<Api>(worker)
    yield* Effect.addFinalizer(() => Effect.promise(() => remote.close()).pipe(Effect.ignore))
    type Opened = { readonly location: string; readonly capabilities: Record<string, string | boolean> }
    const opened = yield* Effect.flatMap(
      Effect.tryPromise({
        try: () => remote.open(options.name) as Promise<Reply<Opened>>,
        catch: (cause) => new StorageFailure({ location: `opfs:${options.name}`, operation: "start the database worker", code: "WORKER", cause })
      }),
      (r) => unwrap(r) as Effect.Effect<Opened, StoreLocked | SchemaTooNew | StorageFailure>
    )
    const changes = yield* PubSub.unbounded<{ storeId: string; position: number }>()
    const call = <A>(method: string, ...args: ReadonlyArray<unknown>) =>
      Effect.flatMap(
        Effect.tryPromise({ try: () => remote.call(method, args) as Promise<Reply<A>>, catch: (cause) => new StorageFailure({ location: opened.location, operation: method, code: "WORKER", cause }) }),
        unwrap
      ) as Effect.Effect<A, never>
    const notify = (storeId: string) => Effect.flatMap(call<number>("head", storeId), (position) => PubSub.publish(changes, { storeId, position }))
    // Options lose their prototype crossing postMessage: rebuild them.
    const option = <A>(effect: Effect.Effect<{ readonly __option: "some" | "none"; readonly value?: A }, never>) =>
      Effect.map(effect, (o) => (o.__option === "some" ? Option.some(o.value as A) : Option.none<A>()))
    const written = <A>(storeId: string, effect: Effect.Effect<A, never>) => Effect.tap(effect, () => notify(storeId))
    const store: EventStore.EventStore = {
      adapter: "sqlite-wasm-opfs",
      location: opened.location,
      schemaVersion: 1,
      capabilities: opened.capabilities,
      append: (records, o) => written(records[0]?.header.storeId ?? "", call("append", records, o)),
      applyRemote: (storeId, records) => written(storeId, call("applyRemote", storeId, records)),
      acknowledge: (storeId, acks) => written(storeId, call("acknowledge", storeId, acks)),
      takePending: (storeId) => written(storeId, call("takePending", storeId)),
      readAggregate: (storeId, type, id, after) => call("readAggregate", storeId, type, id, after),
      readAfter: (storeId, position, limit) => call("readAfter", storeId, position, limit),
      stream: (storeId, pageSize = 1000) => EventStore.paged(store.readAfter, storeId, pageSize),
      head: (storeId) => call("head", storeId),
      readPending: (storeId, limit) => call("readPending", storeId, limit),
      readByDevice: (storeId, deviceId, afterSeq) => call("readByDevice", storeId, deviceId, afterSeq),
      keyRefs: (storeId) => call("keyRefs", storeId),
      byEventId: (storeId, eventId) => option(call("byEventId", storeId, eventId)),
      aggregateVersion: (storeId, type, id) => call("aggregateVersion", storeId, type, id),
      cursor: (storeId) => call("cursor", storeId),
      chainHead: (storeId, deviceId) => option(call("chainHead", storeId, deviceId)),
      setChainHead: (storeId, deviceId, head) => call("setChainHead", storeId, deviceId, head),
      setStatus: (storeId, eventId, status, reason) => call("setStatus", storeId, eventId, status, reason),
      setStatuses: (storeId, entries) => call("setStatuses", storeId, entries),
      withStatus: (storeId, status) => call("withStatus", storeId, status),
      counts: (storeId) => call("counts", storeId),
      stores: call("stores"),
      cache: {
        get: (ns, key) => option(call("cache.get", ns, key)),
        put: (ns, entries) => call("cache.put", ns, entries),
        clear: (ns) => call("cache.clear", ns),
        keys: (ns) => call("cache.keys", ns)
      },
      subscribe: (storeId) =>
        Effect.map(PubSub.subscribe(changes), (queue) =>
          Stream.fromQueue(queue).pipe(Stream.filter((c) => c.storeId === storeId), Stream.map((c) => c.position))),
      integrityCheck: call("integrityCheck")
    }
    return store
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<EventStore.EventStore, StoreLocked | SchemaTooNew | StorageFailure> =>
  Layer.scoped(EventStore.EventStore, make(options))
