/**
 * The KeyStore port: where a device keeps its keys at rest. Adapters store
 * opaque bytes — a header and named entries — and know nothing of keys;
 * `Vault` encrypts every entry under the device key before it reaches an
 * adapter (INV-014). Adapters: in-memory (here, for tests), the Node file
 * store (`@cipherlog/key-store-file`) and IndexedDB
 * (`@cipherlog/key-store-indexeddb`).
 *
 * Entry names are lowercase paths: `[a-z0-9][a-z0-9._/-]*`, at most 200
 * characters, no `..` segment.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, type Scope } from "effect"
import { KeyStoreError, KeyStoreLocked } from "./KeyStoreError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface KeyStore {
  /** Where the store is (a path, a database name): for messages and diagnostics. */
  readonly location: string
  /** The header (non-secret metadata and the wrapped device key), if the store exists. */
  readonly readHeader: Effect.Effect<Option.Option<Uint8Array>, KeyStoreError>
  /** Replaces the header atomically: a reader sees the old one or the new one, never a mix. */
  readonly writeHeader: (bytes: Uint8Array) => Effect.Effect<void, KeyStoreError>
  readonly read: (name: string) => Effect.Effect<Option.Option<Uint8Array>, KeyStoreError>
  /** Replaces an entry atomically. */
  readonly write: (name: string, bytes: Uint8Array) => Effect.Effect<void, KeyStoreError>
  readonly remove: (name: string) => Effect.Effect<void, KeyStoreError>
  /** Names of the entries under `prefix` (all when empty), sorted. */
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<string>, KeyStoreError>
  /** Holds the store exclusively for the scope's lifetime: one writer at a time (INV-011). */
  readonly lock: Effect.Effect<void, KeyStoreLocked | KeyStoreError, Scope.Scope>
  /** Removes the header and every entry. */
  readonly wipe: Effect.Effect<void, KeyStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const KeyStore: Context.Tag<KeyStore, KeyStore> = Context.GenericTag<KeyStore>("@cipherlog/keys/KeyStore")

const NAME = /^[a-z0-9][a-z0-9._/-]{0,199}$/

/**
 * Checks an entry name; adapters call it before touching storage.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateName = (location: string, name: string): Effect.Effect<string, KeyStoreError> =>
  NAME.test(name) && !name.split("/").some((segment) => segment === "" || segment === "." || segment === "..")
    ? Effect.succeed(name)
    : Effect.fail(new KeyStoreError({ reason: "invalid-name", location, detail: "entry names are lowercase paths of [a-z0-9._/-] without empty, . or .. segments" }))

/**
 * The contents of an in-memory key store; pass the same one to several
 * `makeMemory` calls to "reopen" a store.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryContents {
  header: Uint8Array | undefined
  readonly entries: Map<string, Uint8Array>
  locked: boolean
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const memoryContents = (): MemoryContents => ({ header: undefined, entries: new Map(), locked: false })

/**
 * An in-memory key store, for tests and ephemeral sessions.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (location = "memory", shared?: MemoryContents): Effect.Effect<KeyStore> =>
  Effect.sync(() => {
    // Fresh contents on every run unless the caller shares some: one layer, many independent stores.
    const state = shared ?? memoryContents()
    return {
      location,
      readHeader: Effect.sync(() => Option.fromNullable(state.header?.slice())),
      writeHeader: (bytes) => Effect.sync(() => {
        state.header = bytes.slice()
      }),
      read: (name) => Effect.map(validateName(location, name), (n) => Option.fromNullable(state.entries.get(n)?.slice())),
      write: (name, bytes) => Effect.map(validateName(location, name), (n) => void state.entries.set(n, bytes.slice())),
      remove: (name) => Effect.map(validateName(location, name), (n) => void state.entries.delete(n)),
      list: (prefix) => Effect.sync(() => [...state.entries.keys()].filter((n) => n.startsWith(prefix)).sort()),
      lock: Effect.acquireRelease(
        Effect.suspend(() => {
          if (state.locked) return Effect.fail(new KeyStoreLocked({ location }))
          state.locked = true
          return Effect.void
        }),
        () => Effect.sync(() => {
          state.locked = false
        })
      ),
      wipe: Effect.sync(() => {
        state.header = undefined
        state.entries.clear()
      })
    }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (location = "memory", state?: MemoryContents): Layer.Layer<KeyStore> =>
  Layer.effect(KeyStore, makeMemory(location, state))
