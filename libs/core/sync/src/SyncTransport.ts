/**
 * The `SyncTransport` port: how a client reaches the sync server's record
 * log. Two operations — push a batch of `record_json` texts, pull a page
 * after a cursor (optionally waiting for news) — and a small set of typed
 * failures that tell the sync engine what to do next:
 *
 * - {@link PushConflict}: another device wrote first; pull, rebase, push again.
 * - {@link PushRefused}: the server will never accept this batch as it is
 *   (invalid record, an event id already held with other bytes). Retrying
 *   cannot help; the records stay pending and the engine stops pushing.
 * - {@link AccessDenied}: not authenticated or not a member (401/403).
 * - {@link TransportUnavailable}: the network, the server or a rate limit
 *   (retry later; `retryAfterMs` when the server said how long).
 *
 * Errors carry ids, sequences and statuses, never record contents or
 * credentials (INV-016).
 *
 * @since 0.1.0
 */
import { Context, Schema } from "effect"
import type { Effect } from "effect"

/**
 * A record as the server holds it: its global sequence and its exact text.
 *
 * @since 0.1.0
 * @category models
 */
export interface RemoteRecord {
  readonly globalSequence: number
  readonly recordJson: string
}

/**
 * What the server answered to an accepted push: one result per record, in
 * order (a re-sent identical record comes back with its original sequence
 * and `duplicate: true`), and the store's head afterwards.
 *
 * @since 0.1.0
 * @category models
 */
export interface PushAccepted {
  readonly results: ReadonlyArray<{ readonly eventId: string; readonly globalSequence: number; readonly duplicate: boolean }>
  readonly head: number
}

/**
 * A page of records after a cursor, in global order.
 *
 * @since 0.1.0
 * @category models
 */
export interface PullPage {
  readonly records: ReadonlyArray<RemoteRecord>
  /** The store's head when the page was read. */
  readonly head: number
  /** Whether records after this page exist already. */
  readonly hasMore: boolean
}

/**
 * The options of a pull.
 *
 * @since 0.1.0
 * @category models
 */
export interface PullOptions {
  /** The cursor: the highest global sequence already held (0 for none). */
  readonly after: number
  /** Most records to return (the server may cap it). */
  readonly limit?: number
  /** Milliseconds to wait for records when there are none yet (a long poll); 0 answers at once. */
  readonly waitMs?: number
}

/**
 * Another writer reached an aggregate's version first: nothing of the
 * batch was stored. `missing` holds (some of) the records this client
 * lacks; the engine pulls anyway, rebases its pending records and pushes
 * again.
 *
 * @since 0.1.0
 * @category errors
 */
export class PushConflict extends Schema.TaggedError<PushConflict>("@cipherlog/sync/PushConflict")("PushConflict", {
  storeId: Schema.String,
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number,
  missing: Schema.Array(Schema.Struct({ globalSequence: Schema.Number, recordJson: Schema.String }))
}) {
  override get message(): string {
    return `Push to store ${this.storeId} conflicted on ${this.aggregateType}/${this.aggregateId}: the batch expected ` +
      `version ${this.expected}, the server holds ${this.actual}. Nothing was stored; pull, rebase and push again.`
  }
}

/**
 * The server refuses the batch for good (`reason` says why, `eventId` names
 * the record when known). Pushing it again unchanged cannot succeed.
 *
 * @since 0.1.0
 * @category errors
 */
export class PushRefused extends Schema.TaggedError<PushRefused>("@cipherlog/sync/PushRefused")("PushRefused", {
  storeId: Schema.String,
  reason: Schema.Literal("invalid-record", "duplicate-mismatch", "too-large", "read-only"),
  eventId: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    const which = this.eventId === undefined ? "a batch" : `event ${this.eventId}`
    return `The server refused ${which} for store ${this.storeId} (${this.reason}): ${this.detail}. The records stay ` +
      `pending locally; nothing was lost. Run diagnostics to see them.`
  }
}

/**
 * Not authenticated (401) or not allowed (403) — e.g. not a member of the
 * store, or removed from it.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccessDenied extends Schema.TaggedError<AccessDenied>("@cipherlog/sync/AccessDenied")("AccessDenied", {
  status: Schema.Literal(401, 403),
  storeId: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    const where = this.storeId === undefined ? "" : ` to store ${this.storeId}`
    return this.status === 401
      ? `The sync server did not accept this identity's credentials${where}: ${this.detail}. Check the user is registered ` +
        `and the device's identity is current.`
      : `Access${where} was refused: ${this.detail}. Ask a store admin to add this user.`
  }
}

/**
 * The server could not be reached or asked to retry later (network error,
 * timeout, 5xx, 429). Retrying later may succeed.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportUnavailable extends Schema.TaggedError<TransportUnavailable>("@cipherlog/sync/TransportUnavailable")(
  "TransportUnavailable",
  {
    reason: Schema.Literal("network", "timeout", "server-error", "rate-limited", "unavailable", "bad-response"),
    detail: Schema.String,
    retryAfterMs: Schema.optional(Schema.Number)
  }
) {
  override get message(): string {
    const after = this.retryAfterMs === undefined ? "" : ` (the server asked to wait ${this.retryAfterMs} ms)`
    return `The sync server is unavailable (${this.reason}): ${this.detail}. Retry later${after}; local work is kept.`
  }
}

/**
 * What a transport can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type TransportError = AccessDenied | TransportUnavailable

/**
 * The port.
 *
 * @since 0.1.0
 * @category models
 */
export interface SyncTransport {
  /** A short name of the adapter and where it points (no credentials), for diagnostics. */
  readonly describe: string
  /** Pushes a batch atomically: all accepted, or none (a failure). */
  readonly push: (
    storeId: string,
    recordJsons: ReadonlyArray<string>
  ) => Effect.Effect<PushAccepted, PushConflict | PushRefused | TransportError>
  /** Reads the records after a cursor. */
  readonly pull: (storeId: string, options: PullOptions) => Effect.Effect<PullPage, TransportError>
  /** The most records one push may carry. */
  readonly maxBatch: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export const SyncTransport: Context.Tag<SyncTransport, SyncTransport> = Context.GenericTag<SyncTransport>(
  "@cipherlog/sync/SyncTransport"
)

/**
 * Whether a failure is worth retrying as is.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: { readonly _tag: string }): error is TransportUnavailable =>
  error._tag === "TransportUnavailable"
