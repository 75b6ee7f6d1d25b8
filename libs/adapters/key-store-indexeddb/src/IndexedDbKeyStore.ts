/**
 * The KeyStore port on IndexedDB, for browsers and workers. One database per
 * key store (`cipherlog-keystore:<name>`), one object store `kv` holding the
 * header (key `header`) and the entries (keys `entry:<name>`); each write is
 * its own transaction, so it lands whole or not at all. `lock` takes an
 * exclusive Web Lock named after the database, so two tabs never write the
 * same key store at once (INV-011); hosts without Web Locks (Node with
 * fake-indexeddb in tests) get an in-process lock, and say so in
 * `lockScope`.
 *
 * `DOMException`s become typed `KeyStoreError`s naming the entry.
 *
 * @since 0.1.0
 */
import { KeyStore, KeyStoreError, KeyStoreLocked } from "@cipherlog/keys"
import { Effect, Layer, Option } from "effect"

const STORE = "kv"
const HEADER = "header"
const ENTRY = "entry:"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The IndexedDB factory (default `globalThis.indexedDB`). */
  readonly indexedDB?: IDBFactory
  /** The Web Locks manager (default `navigator.locks` when present). */
  readonly locks?: LockManager
}

const request = <A>(req: IDBRequest<A>): Promise<A> =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })

const done = (tx: IDBTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error)
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"))
  })

/** In-process locks for hosts without Web Locks. */
const localLocks = new Set<string>()

/**
 * Which lock `lock` takes on this host.
 *
 * @since 0.1.0
 * @category getters
 */
export const lockScope = (options: Options = {}): "web-locks (all tabs and workers of the origin)" | "in-process only" =>
  (options.locks ?? (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks)
    ? "web-locks (all tabs and workers of the origin)"
    : "in-process only"

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (name: string, options: Options = {}): KeyStore.KeyStore => {
  const dbName = `cipherlog-keystore:${name}`
  const location = `indexeddb:${dbName}`
  const factory = () => options.indexedDB ?? globalThis.indexedDB
  const locks = options.locks ?? (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks
  const io = (what: string, entry?: string) => (error: unknown) =>
    new KeyStoreError({
      reason: "io",
      location,
      ...(entry === undefined ? {} : { entry }),
      detail: `${what} failed (${error instanceof Error ? error.name : "unknown error"}); storage may be full or blocked by the browser`,
      cause: error
    })

  let db: Promise<IDBDatabase> | undefined
  const open = () => {
    if (!db) {
      db = new Promise<IDBDatabase>((resolve, reject) => {
        const req = factory().open(dbName, 1)
        req.onupgradeneeded = () => {
          if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE)
        }
        req.onsuccess = () => resolve(req.result)
        req.onerror = () => reject(req.error)
        req.onblocked = () => reject(new Error("blocked"))
      }).catch((error) => {
        db = undefined
        throw error
      })
    }
    return db
  }

  const get = (key: string, entry: string) =>
    Effect.tryPromise({
      try: async () => {
        const tx = (await open()).transaction(STORE, "readonly")
        const value = await request(tx.objectStore(STORE).get(key))
        return value instanceof Uint8Array ? Option.some(value.slice()) : value instanceof ArrayBuffer ? Option.some(new Uint8Array(value)) : Option.none<Uint8Array>()
      },
      catch: io("reading", entry)
    })

  const put = (key: string, bytes: Uint8Array, entry: string) =>
    Effect.tryPromise({
      try: async () => {
        const tx = (await open()).transaction(STORE, "readwrite", { durability: "strict" })
        tx.objectStore(STORE).put(bytes.slice(), key)
        await done(tx)
      },
      catch: io("writing", entry)
    })

  return {
    location,
    readHeader: get(HEADER, "header"),
    writeHeader: (bytes) => put(HEADER, bytes, "header"),
    read: (n) => Effect.flatMap(KeyStore.validateName(location, n), (valid) => get(ENTRY + valid, valid)),
    write: (n, bytes) => Effect.flatMap(KeyStore.validateName(location, n), (valid) => put(ENTRY + valid, bytes, valid)),
    remove: (n) =>
      Effect.flatMap(KeyStore.validateName(location, n), (valid) =>
        Effect.tryPromise({
          try: async () => {
            const tx = (await open()).transaction(STORE, "readwrite", { durability: "strict" })
            tx.objectStore(STORE).delete(ENTRY + valid)
            await done(tx)
          },
          catch: io("removing", valid)
        })),
    list: (prefix) =>
      Effect.tryPromise({
        try: async () => {
          const tx = (await open()).transaction(STORE, "readonly")
          const range = IDBKeyRange.bound(ENTRY + prefix, ENTRY + prefix + "\uffff")
          const keys = await request(tx.objectStore(STORE).getAllKeys(range))
          return keys.map((k) => String(k).slice(ENTRY.length)).sort()
        },
        catch: io("listing")
      }),
    lock: Effect.acquireRelease(
      Effect.async<() => Promise<void>, KeyStoreLocked | KeyStoreError>((resume) => {
        if (!locks) {
          if (localLocks.has(dbName)) return resume(Effect.fail(new KeyStoreLocked({ location })))
          localLocks.add(dbName)
          return resume(Effect.succeed(async () => {
            localLocks.delete(dbName)
          }))
        }
        let letGo: () => void = () => undefined
        const held = new Promise<void>((r) => {
          letGo = r
        })
        // The request settles only once the lock is really free again: release waits for it.
        const requested = locks.request(dbName, { mode: "exclusive", ifAvailable: true }, (lock) => {
          if (lock === null) {
            resume(Effect.fail(new KeyStoreLocked({ location })))
            return undefined
          }
          resume(Effect.succeed(async () => {
            letGo()
            await requested
          }))
          return held
        })
        requested.catch((error) => resume(Effect.fail(io("locking")(error))))
      }),
      (release) => Effect.promise(release)
    ),
    wipe: Effect.tryPromise({
      try: async () => {
        const tx = (await open()).transaction(STORE, "readwrite", { durability: "strict" })
        tx.objectStore(STORE).clear()
        await done(tx)
      },
      catch: io("wiping")
    })
  }
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (name: string, options?: Options): Layer.Layer<KeyStore.KeyStore> => Layer.succeed(KeyStore.KeyStore, make(name, options))
