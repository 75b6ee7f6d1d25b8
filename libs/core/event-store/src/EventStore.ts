/**
 * The EventStore port: a device's local, append-only log of sync records.
 * It keeps each record's `record_json` exactly as written or received, the
 * header fields it needs for order and lookup, the server's global sequence
 * once known, and a little state around them (processing status, device
 * chain heads, the sync cursor, an encrypted cache for projections and
 * snapshots). It never sees a plaintext payload: sealing and opening happen
 * in the pipeline, before and after.
 *
 * Rules every adapter keeps (the conformance suite checks them):
 * - an aggregate's versions are 1..n with no gap or duplicate; an append
 *   states what it expects, and a stale expectation fails with
 *   `VersionConflict`, writing nothing (INV-002);
 * - an event id is stored once: the same bytes again are a no-op, other
 *   bytes are `DuplicateEventMismatch` (INV-005);
 * - a record with a global sequence never changes and is never removed;
 *   only pending (never synced) records can be displaced by a rebase, and the
 *   database itself refuses anything else (INV-001);
 * - one writer at a time (INV-011).
 *
 * @since 0.1.0
 */
import { type DuplicateEventMismatch, type ImmutableRecord, SyncRecord as SyncRecordModule, type SyncRecord, type VersionConflict } from "@cipherlog/domain"
import { Chunk, Context, Effect as EffectModule, type Effect, Option as OptionModule, type Option, type Scope, Stream as StreamModule, type Stream } from "effect"
import type { StorageFailure } from "./EventStoreError.js"

/**
 * A record's binary parts, beside its header.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordBody {
  readonly nonce: Uint8Array
  readonly ciphertext: Uint8Array
  readonly signature: Uint8Array | undefined
}

/**
 * A record as the store keeps it. `recordJson` is the record's text: the
 * exact text received for records that came from the server, the canonical
 * encoding of header and body for this device's own records (stored as
 * columns, rendered on demand).
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredRecord extends RecordBody {
  /** Local order: strictly increasing in insertion order. */
  readonly position: number
  /** The server's sequence, once the record is synced. */
  readonly globalSequence: number | null
  readonly header: SyncRecord.RecordHeader
  readonly recordJson: string
}

/**
 * A record to append: its header (already validated), its binary parts,
 * and, for a record received as text, that exact text (else the canonical
 * encoding is its text).
 *
 * @since 0.1.0
 * @category models
 */
export interface NewRecord extends RecordBody {
  readonly header: SyncRecord.RecordHeader
  readonly recordJson?: string
}

/**
 * The text of a record: the text it came as, or its canonical encoding.
 *
 * @since 0.1.0
 * @category getters
 */
export const textOf = (r: NewRecord): string =>
  r.recordJson ?? SyncRecordModule.encodeJsonTrusted({
    v: 1,
    ...r.header,
    nonce: r.nonce,
    ciphertext: r.ciphertext,
    ...(r.signature === undefined ? {} : { signature: r.signature })
  } as SyncRecord.SyncRecord)

/**
 * What an append did: how many records were new, how many were already
 * there (identical), and each record's local position (the existing one for
 * a duplicate).
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendResult {
  readonly appended: number
  readonly duplicates: number
  readonly positions: ReadonlyArray<number>
}

/**
 * A device's hash-chain head in a store: the last sequence and digest.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChainHead {
  readonly seq: number
  readonly digest: Uint8Array
}

/**
 * What an append expects of an aggregate before its first record in the
 * batch: `version` = the aggregate's current version (0: it must not exist).
 *
 * @since 0.1.0
 * @category models
 */
export interface Expectation {
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
}

/**
 * Processing status of a record, beside its immutable bytes:
 * `parked` (its key or its author's key is not here yet), `rejected`
 * (failed integrity checks), or `ok` (opened and verified).
 *
 * @since 0.1.0
 * @category models
 */
export type RecordStatus = "ok" | "parked" | "rejected"

/**
 * One record's status, for `setStatuses`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusEntry {
  readonly eventId: string
  readonly status: RecordStatus
  readonly reason?: string | undefined
}

/**
 * Counts for diagnostics.
 *
 * @since 0.1.0
 * @category models
 */
export interface Counts {
  readonly records: number
  readonly pending: number
  readonly synced: number
  readonly parked: number
  readonly rejected: number
  readonly aggregates: number
}

/**
 * The result of applying records pulled from the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface RemoteResult {
  /** Records new to this device, in order. */
  readonly inserted: ReadonlyArray<StoredRecord>
  /** Own pending records the server confirmed (same event id, same bytes). */
  readonly acknowledged: number
  /** Event ids the server holds with other bytes than ours (a sign of tampering or a bug; INV-005). */
  readonly mismatched: ReadonlyArray<string>
  /**
   * Own pending records removed because the server ordered other events at
   * their aggregate's versions: they must be rebased (re-sealed at new
   * versions) and appended again. All of this device's pending records after
   * the first displaced one are included, since their hash chain moves too.
   */
  readonly displaced: ReadonlyArray<StoredRecord>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface EventStore {
  readonly adapter: string
  readonly location: string
  /** The schema version of the database (after migrations). */
  readonly schemaVersion: number
  /**
   * Appends records atomically as pending (unsynced). Versions must continue
   * each aggregate contiguously; `expected` pins aggregates' current
   * versions; `chain` records the writing device's new chain head in the
   * same transaction. Re-appending an identical record is a no-op.
   */
  readonly append: (
    records: ReadonlyArray<NewRecord>,
    options?: { readonly expected?: ReadonlyArray<Expectation>; readonly chain?: { readonly storeId: string; readonly deviceId: string; readonly head: ChainHead } }
  ) => Effect.Effect<AppendResult, VersionConflict | DuplicateEventMismatch | StorageFailure>
  /** Applies records from the server, in global order, atomically. */
  readonly applyRemote: (
    storeId: string,
    records: ReadonlyArray<NewRecord & { readonly globalSequence: number }>
  ) => Effect.Effect<RemoteResult, StorageFailure>
  /** Sets the global sequence of own pending records the server accepted. */
  readonly acknowledge: (
    storeId: string,
    acks: ReadonlyArray<{ readonly eventId: string; readonly globalSequence: number }>
  ) => Effect.Effect<number, ImmutableRecord | StorageFailure>
  /** Removes every pending record of a store (for a full rebase) and returns them, in order. */
  readonly takePending: (storeId: string) => Effect.Effect<ReadonlyArray<StoredRecord>, StorageFailure>
  readonly readAggregate: (
    storeId: string,
    aggregateType: string,
    aggregateId: string,
    afterVersion?: number
  ) => Effect.Effect<ReadonlyArray<StoredRecord>, StorageFailure>
  /** Records after a local position, in local order (a page of at most `limit`). */
  readonly readAfter: (storeId: string, position: number, limit: number) => Effect.Effect<ReadonlyArray<StoredRecord>, StorageFailure>
  /** All records as a stream of pages, in local order: memory stays bounded whatever the log's size. */
  readonly stream: (storeId: string, pageSize?: number) => Stream.Stream<StoredRecord, StorageFailure>
  /** The store's newest local position (0 when empty). */
  readonly head: (storeId: string) => Effect.Effect<number, StorageFailure>
  readonly readPending: (storeId: string, limit: number) => Effect.Effect<ReadonlyArray<StoredRecord>, StorageFailure>
  /** One device's records after a chain position, in chain order (to finish verifying a chain). */
  readonly readByDevice: (storeId: string, deviceId: string, afterSeq: number) => Effect.Effect<ReadonlyArray<StoredRecord>, StorageFailure>
  /** The distinct key references the store's records name (to tell which keys are missing). */
  readonly keyRefs: (storeId: string) => Effect.Effect<ReadonlyArray<{ readonly id: string; readonly epoch: number; readonly records: number }>, StorageFailure>
  readonly byEventId: (storeId: string, eventId: string) => Effect.Effect<Option.Option<StoredRecord>, StorageFailure>
  readonly aggregateVersion: (storeId: string, aggregateType: string, aggregateId: string) => Effect.Effect<number, StorageFailure>
  /** The highest global sequence held contiguously from 1 (the pull cursor). */
  readonly cursor: (storeId: string) => Effect.Effect<number, StorageFailure>
  readonly chainHead: (storeId: string, deviceId: string) => Effect.Effect<Option.Option<ChainHead>, StorageFailure>
  readonly setChainHead: (storeId: string, deviceId: string, head: ChainHead) => Effect.Effect<void, StorageFailure>
  readonly setStatus: (storeId: string, eventId: string, status: RecordStatus, reason?: string) => Effect.Effect<void, StorageFailure>
  /** Sets many statuses at once, in one transaction (ingesting a page sets one per record). */
  readonly setStatuses: (storeId: string, entries: ReadonlyArray<StatusEntry>) => Effect.Effect<void, StorageFailure>
  /** Event ids with a status (e.g. the parked ones, to retry). */
  readonly withStatus: (storeId: string, status: RecordStatus) => Effect.Effect<ReadonlyArray<{ readonly eventId: string; readonly reason: string | null }>, StorageFailure>
  readonly counts: (storeId: string) => Effect.Effect<Counts, StorageFailure>
  readonly stores: Effect.Effect<ReadonlyArray<string>, StorageFailure>
  /** An encrypted key-value cache for projections and snapshots (values are ciphertext under `K_cache` or a DEK). */
  readonly cache: {
    readonly get: (namespace: string, key: string) => Effect.Effect<Option.Option<Uint8Array>, StorageFailure>
    readonly put: (namespace: string, entries: ReadonlyArray<readonly [key: string, value: Uint8Array]>) => Effect.Effect<void, StorageFailure>
    readonly clear: (namespace: string) => Effect.Effect<void, StorageFailure>
    readonly keys: (namespace: string) => Effect.Effect<ReadonlyArray<string>, StorageFailure>
  }
  /**
   * Subscribes, for the scope's lifetime, to the store's newest local
   * position after every change (the subscription exists as soon as this
   * returns, so no change between subscribing and reading is missed).
   */
  readonly subscribe: (storeId: string) => Effect.Effect<Stream.Stream<number>, never, Scope.Scope>
  /** What the host offers and what was chosen (OPFS, SAH pool, persistence, WAL, locking…), for diagnostics. */
  readonly capabilities: Readonly<Record<string, string | boolean>>
  /** SQLite's `PRAGMA integrity_check` (or the adapter's equivalent): "ok" when sound. */
  readonly integrityCheck: Effect.Effect<string, StorageFailure>
}

/**
 * A store's records as a stream of pages read with `readAfter`, in local
 * order: what adapters use to implement `stream`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const paged = (
  readAfter: EventStore["readAfter"],
  storeId: string,
  pageSize: number
): Stream.Stream<StoredRecord, StorageFailure> =>
  StreamModule.paginateChunkEffect(0, (after) =>
    EffectModule.map(readAfter(storeId, after, pageSize), (page) => [
      Chunk.unsafeFromArray(page as Array<StoredRecord>),
      page.length < pageSize ? OptionModule.none() : OptionModule.some(page[page.length - 1]!.position)
    ]))

/**
 * @since 0.1.0
 * @category tags
 */
export const EventStore: Context.Tag<EventStore, EventStore> = Context.GenericTag<EventStore>("@cipherlog/event-store/EventStore")
