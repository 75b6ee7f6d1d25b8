/**
 * The EventStore port on sqlite-wasm (`@sqlite.org/sqlite-wasm`), in memory:
 * the same SQL store as everywhere, on any JavaScript host that runs
 * WebAssembly (Node.js, browsers, workers). For a persistent store in a
 * browser, see `OpfsEventStore` (a worker with the OPFS SAH pool).
 *
 * @since 0.1.0
 */
import { EventStore, SchemaTooNew, SqlEventStore, StorageFailure } from "@cipherlog/event-store"
import sqlite3InitModule, { type Sqlite3Static } from "@sqlite.org/sqlite-wasm"
import { Effect, Layer, type Scope } from "effect"
import { executor } from "./executor.js"

let module: Promise<Sqlite3Static> | undefined

/**
 * The sqlite-wasm module, initialised once per JavaScript context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqlite3: Effect.Effect<Sqlite3Static, StorageFailure> = Effect.tryPromise({
  try: () => (module ??= sqlite3InitModule()),
  catch: (error) => new StorageFailure({ location: "sqlite-wasm", operation: "load sqlite-wasm", code: "INIT", cause: error })
})

/**
 * A new in-memory store (gone when the scope closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<EventStore.EventStore, SchemaTooNew | StorageFailure, Scope.Scope> = Effect.gen(function*() {
  const s = yield* sqlite3
  const db = yield* Effect.acquireRelease(Effect.sync(() => new s.oo1.DB(":memory:")), (db) => Effect.sync(() => db.close()))
  return yield* SqlEventStore.make(executor(s, db), {
    adapter: "sqlite-wasm",
    location: ":memory:",
    capabilities: { vfs: "memory", sqlite: s.version.libVersion }
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<EventStore.EventStore, SchemaTooNew | StorageFailure> = Layer.scoped(EventStore.EventStore, makeMemory)
