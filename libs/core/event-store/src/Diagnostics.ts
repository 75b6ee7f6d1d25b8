/**
 * Diagnostics without secrets (seed 004; INV-016): what a support request
 * or a `diagnose` command may show — ids, stages, capabilities, versions,
 * counts, which keys are missing — and never a payload, a key, a passphrase
 * or a record's text.
 *
 * @since 0.1.0
 */
import type { KeyStoreError } from "@cipherlog/keys"
import { Effect, Option } from "effect"
import type { Counts } from "./EventStore.js"
import type { StorageFailure } from "./EventStoreError.js"
import type { LocalStore } from "./LocalStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Diagnostics {
  readonly storeId: string
  /** `locked`: no keyring; `partially-locked`: some keys missing; `unlocked`: everything readable. */
  readonly stage: "locked" | "partially-locked" | "unlocked"
  readonly storage: {
    readonly adapter: string
    readonly location: string
    readonly schemaVersion: number
    readonly capabilities: Readonly<Record<string, string | boolean>>
    readonly integrity: string
  }
  readonly counts: Counts
  readonly keys: {
    readonly userId: string | null
    readonly deviceId: string | null
    readonly kekVersions: ReadonlyArray<{ readonly versionId: string; readonly status: string }>
    readonly missing: ReadonlyArray<{ readonly key: string; readonly records: number }>
  }
  readonly sync: { readonly cursor: number; readonly pending: number }
  /** Records that failed their checks, by reason (ids only). */
  readonly rejected: ReadonlyArray<{ readonly eventId: string; readonly reason: string | null }>
}

/**
 * Collects diagnostics for a local store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const collect = (store: LocalStore): Effect.Effect<Diagnostics, StorageFailure | KeyStoreError> =>
  Effect.gen(function*() {
    const es = store.eventStore
    const counts = yield* es.counts(store.storeId)
    const keyState = yield* store.keyState
    const versions = Option.isSome(store.keyring) ? yield* store.keyring.value.kekVersions(store.storeId) : []
    return {
      storeId: store.storeId,
      stage: Option.isNone(store.keyring) ? "locked" : keyState.locked ? "partially-locked" : "unlocked",
      storage: {
        adapter: es.adapter,
        location: es.location,
        schemaVersion: es.schemaVersion,
        capabilities: es.capabilities,
        integrity: yield* es.integrityCheck
      },
      counts,
      keys: {
        userId: Option.match(store.keyring, { onNone: () => null, onSome: (k) => k.userId }),
        deviceId: Option.match(store.keyring, { onNone: () => null, onSome: (k) => k.deviceId }),
        kekVersions: versions.map((v) => ({ versionId: v.versionId, status: v.status })),
        missing: keyState.missing
      },
      sync: { cursor: yield* es.cursor(store.storeId), pending: counts.pending },
      rejected: yield* es.withStatus(store.storeId, "rejected")
    }
  })
