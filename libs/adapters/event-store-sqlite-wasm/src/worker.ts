/**
 * The database worker: owns the OPFS-backed SQLite connection (SAH pool
 * VFS, which needs no COOP/COEP headers) and runs the event store; the page
 * talks to it through `OpfsEventStore` (Comlink). It takes an exclusive Web
 * Lock per database first, so a second tab gets `StoreLocked` instead of a
 * second writer (INV-011).
 *
 * Start it as a module worker:
 * `new Worker(new URL("@cipherlog/event-store-sqlite-wasm/worker", import.meta.url), { type: "module" })`.
 *
 * @since 0.1.0
 */
import { type EventStore, SqlEventStore } from "@cipherlog/event-store"
import sqlite3InitModule from "@sqlite.org/sqlite-wasm"
import * as Comlink from "comlink"
import { Cause, Effect, Exit, Option } from "effect"
import { executor } from "./executor.js"
import { encodeError, type Reply } from "./protocol.js"

let store: EventStore.EventStore | undefined
let release: (() => void) | undefined
let close: (() => void) | undefined

/** Options keep their tag on a prototype, which postMessage drops: send them as plain data. */
const plain = (value: unknown): unknown =>
  Option.isOption(value) ? { __option: Option.isSome(value) ? "some" : "none", value: Option.getOrUndefined(value) } : value

const reply = async <A>(effect: Effect.Effect<A, unknown>): Promise<Reply<A>> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return { ok: plain(exit.value) as A }
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) ? { error: encodeError(failure.value) } : { defect: Cause.pretty(exit.cause).split("\n")[0] ?? "defect" }
}

const holdLock = (name: string) =>
  new Promise<boolean>((resolve, reject) => {
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks
    if (!locks) return resolve(true)
    locks.request(`cipherlog-db:${name}`, { mode: "exclusive", ifAvailable: true }, (lock) => {
      if (lock === null) {
        resolve(false)
        return undefined
      }
      resolve(true)
      return new Promise<void>((r) => {
        release = r
      })
    }).catch(reject)
  })

const api = {
  async open(name: string): Promise<Reply<{ readonly location: string; readonly capabilities: Record<string, string | boolean> }>> {
    if (!(await holdLock(name))) return { error: { _tag: "StoreLocked", fields: { location: `opfs:${name}` } } }
    const sqlite3 = await sqlite3InitModule()
    let pool
    try {
      pool = await sqlite3.installOpfsSAHPoolVfs({ name: "cipherlog", directory: ".cipherlog" })
    } catch (error) {
      release?.()
      return { error: { _tag: "StorageFailure", fields: { location: `opfs:${name}`, operation: "open OPFS (SAH pool)", code: error instanceof Error ? error.name : "OPFS" } } }
    }
    // Each database needs pool slots (the file and its journal): make room before opening.
    await pool.reserveMinimumCapacity(pool.getFileCount() + 4)
    const db = new pool.OpfsSAHPoolDb(`/${name}.sqlite3`)
    // The SAH pool has no shared memory for WAL; a truncated rollback journal and NORMAL sync keep commits cheap.
    db.exec("PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = NORMAL")
    const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage
    const capabilities = {
      vfs: "opfs-sahpool",
      opfs: typeof storage?.getDirectory === "function",
      sahPool: true,
      persisted: storage?.persisted ? await storage.persisted() : false,
      webLocks: Boolean((globalThis as { navigator?: { locks?: unknown } }).navigator?.locks),
      sqlite: sqlite3.version.libVersion
    }
    const exec = executor(sqlite3, db)
    close = () => {
      exec.close()
      release?.()
    }
    return reply(Effect.map(
      SqlEventStore.make(exec, { adapter: "sqlite-wasm-opfs", location: `opfs:${name}`, capabilities }),
      (s) => {
        store = s
        return { location: s.location, capabilities }
      }
    ))
  },
  async call(method: string, args: ReadonlyArray<unknown>): Promise<Reply<unknown>> {
    if (!store) return { defect: "the database worker was not opened" }
    const target = method.startsWith("cache.")
      ? (store.cache as unknown as Record<string, (...a: Array<unknown>) => Effect.Effect<unknown, unknown>>)[method.slice(6)]
      : (store as unknown as Record<string, unknown>)[method]
    if (typeof target === "function") return reply((target as (...a: Array<unknown>) => Effect.Effect<unknown, unknown>)(...args))
    return reply(target as Effect.Effect<unknown, unknown>)
  },
  close(): void {
    close?.()
    store = undefined
  }
}

/**
 * The worker's API, as the page sees it through Comlink.
 *
 * @since 0.1.0
 * @category models
 */
export type Api = typeof api

Comlink.expose(api)
