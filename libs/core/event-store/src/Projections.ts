/**
 * Projections and snapshots: derived state, encrypted at rest.
 *
 * A **projection** folds events into keyed state (one value per key — an
 * aggregate, a list, a counter). Its values are stored encrypted under this
 * device's `K_cache` and are disposable (INV-010): `rebuild` recomputes them
 * from the log, deterministically, page by page — memory holds one page and
 * a bounded cache of states, whatever the log's size — reporting progress.
 * Projections keyed by aggregate are also identical across devices, since an
 * aggregate's events are in version order everywhere.
 *
 * A **snapshot** is an aggregate's folded state at a version, encrypted with
 * that aggregate's DEK (like its events), so loading it skips the events up
 * to that version.
 *
 * Formats: `docs/formats.md`, "Projections and snapshots".
 *
 * @since 0.1.0
 */
import { Crypto, type SymmetricKey } from "@cipherlog/crypto"
import { Bytes, Envelope, type KeyRef, KeysMissing } from "@cipherlog/domain"
import type { KeyStoreError } from "@cipherlog/keys"
import { Effect, Option, Stream } from "effect"
import type { StorageFailure } from "./EventStoreError.js"
import type { Event, LocalStore } from "./LocalStore.js"

/**
 * A projection: which key an event updates, and how.
 *
 * @since 0.1.0
 * @category models
 */
export interface Projection<S extends Envelope.Json> {
  /** Lowercase letters, digits and dashes. */
  readonly name: string
  /** Bump it when `apply` changes: stored state of another version is rebuilt. */
  readonly version: number
  readonly key: (event: Event) => string | undefined
  readonly apply: (state: S | undefined, event: Event) => S
}

/**
 * Progress of a rebuild.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly processed: number
  readonly total: number
}

const NAME = /^[a-z0-9][a-z0-9-]{0,63}$/
const META = "\u0000meta"

const canonical = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value as object).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(",")}}`
  }
  return JSON.stringify(value)
}

const aad = (store: string, projection: string, version: number, key: string) =>
  Bytes.concat(Bytes.utf8("cipherlog/projection"), Uint8Array.of(1), ...[store, projection, String(version), key].map((p) => {
    const b = Bytes.utf8(p)
    return Bytes.concat(Bytes.u32(b.length), b)
  }))

const namespace = (p: { readonly name: string }) => `projection:${p.name}`

const cacheKeyOf = (store: LocalStore) =>
  Option.match(store.keyring, {
    onNone: () => Effect.fail(new KeysMissing({ storeId: store.storeId, missing: ["cache key (the store is locked)"] })),
    onSome: (keyring) => keyring.cacheKey
  })

const seal = (key: SymmetricKey, plaintext: Uint8Array, associated: Uint8Array) =>
  Effect.flatMap(Crypto.Crypto, (c) => c.seal(key, plaintext, associated)).pipe(
    Effect.map((s) => Bytes.concat(s.nonce, s.ciphertext)),
    Effect.orDie
  )

const open = (key: SymmetricKey, bytes: Uint8Array, associated: Uint8Array) =>
  Effect.flatMap(Crypto.Crypto, (c) => c.open(key, { suite: "A256GCM", nonce: bytes.subarray(0, 12), ciphertext: bytes.subarray(12) }, associated)).pipe(
    Effect.option
  )

/**
 * Rebuilds a projection from the whole log, streaming: clears it, folds
 * every event page by page, writes each page's changed states, and records
 * the position reached. `stateCache` bounds how many states stay in memory.
 *
 * @since 0.1.0
 * @category projections
 */
export const rebuild = <S extends Envelope.Json>(
  store: LocalStore,
  projection: Projection<S>,
  options: { readonly pageSize?: number; readonly stateCache?: number; readonly onProgress?: (p: Progress) => Effect.Effect<void> } = {}
): Effect.Effect<Progress, StorageFailure | KeyStoreError | KeysMissing, Crypto.Crypto> =>
  Effect.gen(function*() {
    if (!NAME.test(projection.name)) return yield* Effect.die(new Error("a projection name is lowercase letters, digits and dashes"))
    const key = yield* cacheKeyOf(store)
    const es = store.eventStore
    const ns = namespace(projection)
    const total = (yield* es.counts(store.storeId)).records
    yield* es.cache.clear(ns)
    const states = new Map<string, S>()
    const limit = options.stateCache ?? 10_000
    let processed = 0
    let position = 0
    const load = (k: string) =>
      Effect.gen(function*() {
        const cached = states.get(k)
        if (cached !== undefined) return cached
        const stored = yield* es.cache.get(ns, k)
        if (Option.isNone(stored)) return undefined
        const plain = yield* open(key, stored.value, aad(store.storeId, projection.name, projection.version, k))
        return Option.isSome(plain) ? (JSON.parse(Bytes.fromUtf8(plain.value)) as S) : undefined
      })
    yield* store.readAll({ pageSize: options.pageSize ?? 1000, includeSystem: true }).pipe(
      Stream.grouped(options.pageSize ?? 1000),
      Stream.runForEach((chunk) =>
        Effect.gen(function*() {
          const dirty = new Set<string>()
          for (const item of chunk) {
            if (item._tag !== "Event") continue
            position = Math.max(position, item.event.position)
            const k = projection.key(item.event)
            if (k === undefined) continue
            const next = projection.apply(yield* load(k), item.event)
            states.delete(k)
            states.set(k, next)
            dirty.add(k)
          }
          const entries = yield* Effect.forEach([...dirty], (k) =>
            Effect.map(seal(key, Bytes.utf8(canonical(states.get(k))), aad(store.storeId, projection.name, projection.version, k)), (v) => [k, v] as const))
          const meta = yield* seal(key, Bytes.utf8(JSON.stringify({ version: projection.version, position })), aad(store.storeId, projection.name, projection.version, META))
          yield* es.cache.put(ns, [...entries, [META, meta] as const])
          // Keep only the most recently used states in memory.
          while (states.size > limit) states.delete(states.keys().next().value!)
          processed += chunk.length
          if (options.onProgress) yield* options.onProgress({ processed, total })
        })
      )
    )
    return { processed, total }
  })

/**
 * A projection's value for a key (none when absent or unreadable).
 *
 * @since 0.1.0
 * @category projections
 */
export const get = <S extends Envelope.Json>(store: LocalStore, projection: Projection<S>, key: string) =>
  Effect.gen(function*() {
    const cacheKey = yield* cacheKeyOf(store)
    const stored = yield* store.eventStore.cache.get(namespace(projection), key)
    if (Option.isNone(stored)) return Option.none<S>()
    const plain = yield* open(cacheKey, stored.value, aad(store.storeId, projection.name, projection.version, key))
    return Option.map(plain, (p) => JSON.parse(Bytes.fromUtf8(p)) as S)
  })

/**
 * A digest of a projection's whole plaintext state (keys and values in
 * canonical form): equal digests mean equal derived state.
 *
 * @since 0.1.0
 * @category projections
 */
export const digest = <S extends Envelope.Json>(store: LocalStore, projection: Projection<S>) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const parts: Array<Uint8Array> = []
    for (const k of yield* store.eventStore.cache.keys(namespace(projection))) {
      if (k === META) continue
      const value = yield* get(store, projection, k)
      parts.push(Bytes.utf8(`${JSON.stringify(k)}=${canonical(Option.getOrUndefined(value))}\n`))
    }
    return Bytes.toBase64Url(yield* crypto.sha256(Bytes.concat(...parts)))
  })

const snapshotAad = (store: string, type: string, id: string, version: number, ref: KeyRef) =>
  aad(store, `snapshot/${type}`, version, `${id}@${ref.id}@${ref.epoch}`)

/**
 * Saves an aggregate's state at a version, encrypted with the aggregate's DEK.
 *
 * @since 0.1.0
 * @category snapshots
 */
export const saveSnapshot = (store: LocalStore, aggregate: { readonly aggregateType: string; readonly aggregateId: string }, version: number, state: Envelope.Json) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const keyring = yield* Option.match(store.keyring, { onNone: () => Effect.fail(new KeysMissing({ storeId: store.storeId, missing: ["keyring"] })), onSome: Effect.succeed })
    const { ref, key } = yield* keyring.dekForWrite(store.storeId, aggregate.aggregateType, aggregate.aggregateId, 1)
    const sealed = yield* crypto.seal(key, Bytes.utf8(canonical(state)), snapshotAad(store.storeId, aggregate.aggregateType, aggregate.aggregateId, version, ref)).pipe(Effect.orDie)
    const record = JSON.stringify({ v: 1, version, key: ref, nonce: Bytes.toBase64Url(sealed.nonce), ciphertext: Bytes.toBase64Url(sealed.ciphertext) })
    yield* store.eventStore.cache.put("snapshot", [[`${aggregate.aggregateType}/${aggregate.aggregateId}`, Bytes.utf8(record)]])
  })

/**
 * Loads an aggregate's snapshot, if any that this device can open.
 *
 * @since 0.1.0
 * @category snapshots
 */
export const loadSnapshot = (store: LocalStore, aggregate: { readonly aggregateType: string; readonly aggregateId: string }) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const stored = yield* store.eventStore.cache.get("snapshot", `${aggregate.aggregateType}/${aggregate.aggregateId}`)
    if (Option.isNone(stored) || Option.isNone(store.keyring)) return Option.none<{ version: number; state: Envelope.Json }>()
    const s = JSON.parse(Bytes.fromUtf8(stored.value)) as { version: number; key: KeyRef; nonce: string; ciphertext: string }
    const key = yield* Effect.option(store.keyring.value.dek(store.storeId, s.key))
    if (Option.isNone(key)) return Option.none()
    const plain = yield* Effect.option(crypto.open(key.value, { suite: "A256GCM", nonce: Bytes.fromBase64Url(s.nonce)!, ciphertext: Bytes.fromBase64Url(s.ciphertext)! }, snapshotAad(store.storeId, aggregate.aggregateType, aggregate.aggregateId, s.version, s.key)))
    return Option.map(plain, (p) => ({ version: s.version, state: JSON.parse(Bytes.fromUtf8(p)) as Envelope.Json }))
  })
