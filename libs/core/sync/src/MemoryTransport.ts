/**
 * `SyncTransport` in memory: the transport calls a record log in the same
 * process — any object with the server store's record operations (`append`,
 * `readAfter`, `subscribe`), such as `ServerStore.makeMemory` of
 * `@cipherlog/server`. Tests pass the server's own store, so ordering,
 * idempotency and conflicts follow the server's real rules; the adapter adds
 * what the HTTP layer would check (record format, store, author, batch size)
 * and the long poll.
 *
 * @since 0.1.0
 */
import { type StoreId, SyncRecord } from "@cipherlog/domain"
import type { DuplicateEventMismatch, InvalidRecord, Models, ServiceUnavailable, VersionConflict } from "@cipherlog/sync-api"
import { Clock, Duration, Effect, Layer, Queue, type Scope } from "effect"
import * as SyncTransport from "./SyncTransport.js"

/**
 * The record operations of a server store (structurally those of
 * `@cipherlog/server`'s `ServerStore`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordLog {
  readonly append: (input: {
    readonly storeId: StoreId
    readonly records: ReadonlyArray<{
      readonly eventId: string
      readonly aggregateType: string
      readonly aggregateId: string
      readonly version: number
      readonly recordJson: string
    }>
    readonly receivedAt: number
  }) => Effect.Effect<Models.PushResponse, VersionConflict | DuplicateEventMismatch | InvalidRecord | ServiceUnavailable>
  readonly readAfter: (input: {
    readonly storeId: StoreId
    readonly after: number
    readonly limit: number
  }) => Effect.Effect<{ readonly records: ReadonlyArray<Models.StoredRecord>; readonly head: number }, ServiceUnavailable>
  readonly subscribe: Effect.Effect<Queue.Dequeue<{ readonly storeId: string; readonly head: number }>, never, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The log to talk to. */
  readonly log: RecordLog
  /** The user this transport pushes as: records authored by anyone else are refused, as the server does. */
  readonly userId: string
  /** Most records per push and per pull. Default 1000 (the server's limit). */
  readonly maxBatch?: number
  /** Stores this user may not read or write (to exercise access denials). */
  readonly forbidden?: ReadonlySet<string>
}

const unavailable = (detail: string) => new SyncTransport.TransportUnavailable({ reason: "unavailable", detail })

/**
 * A transport over `options.log`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): SyncTransport.SyncTransport => {
  const maxBatch = options.maxBatch ?? 1000
  const guard = (storeId: string) =>
    options.forbidden?.has(storeId) === true
      ? Effect.fail(new SyncTransport.AccessDenied({ status: 403, storeId, detail: "this user is not a member of the store" }))
      : Effect.void

  const push: SyncTransport.SyncTransport["push"] = (storeId, texts) =>
    Effect.gen(function*() {
      yield* guard(storeId)
      if (texts.length === 0 || texts.length > maxBatch) {
        return yield* new SyncTransport.PushRefused({ storeId, reason: "too-large", detail: `a push carries 1 to ${maxBatch} records, not ${texts.length}` })
      }
      const records = []
      for (const [index, text] of texts.entries()) {
        const decoded = SyncRecord.decodeJson(text)
        const problem = decoded._tag === "Left"
          ? (decoded.left._tag === "InvalidInput" ? decoded.left.problem : "unsupported record format version")
          : decoded.right.storeId !== storeId
          ? "its storeId is not the store pushed to"
          : decoded.right.author.userId !== options.userId
          ? "its author is not this user"
          : undefined
        if (problem !== undefined || decoded._tag === "Left") {
          return yield* new SyncTransport.PushRefused({ storeId, reason: "invalid-record", detail: `record ${index} of the batch: ${problem}` })
        }
        const r = decoded.right
        records.push({ eventId: r.eventId, aggregateType: r.aggregateType, aggregateId: r.aggregateId, version: r.version, recordJson: text })
      }
      const receivedAt = yield* Clock.currentTimeMillis
      return yield* options.log.append({ storeId: storeId as StoreId, records, receivedAt }).pipe(
        Effect.catchTags({
          VersionConflict: (e) =>
            Effect.fail(new SyncTransport.PushConflict({
              storeId, aggregateType: e.aggregateType, aggregateId: e.aggregateId, expected: e.expected, actual: e.actual,
              missing: e.missing.map((m) => ({ globalSequence: m.globalSequence, recordJson: m.recordJson }))
            })),
          DuplicateEventMismatch: (e) =>
            Effect.fail(new SyncTransport.PushRefused({ storeId, reason: "duplicate-mismatch", eventId: e.eventId, detail: "the event id is stored with other bytes" })),
          InvalidRecord: (e) => Effect.fail(new SyncTransport.PushRefused({ storeId, reason: "invalid-record", detail: `record ${e.index} of the batch: ${e.problem}` })),
          ServiceUnavailable: () => Effect.fail(unavailable("the record log is unavailable"))
        })
      )
    })

  const pull: SyncTransport.SyncTransport["pull"] = (storeId, { after, limit, waitMs }) =>
    Effect.gen(function*() {
      yield* guard(storeId)
      const size = Math.max(1, Math.min(limit ?? maxBatch, maxBatch))
      const read = options.log.readAfter({ storeId: storeId as StoreId, after, limit: size }).pipe(
        Effect.catchTag("ServiceUnavailable", () => Effect.fail(unavailable("the record log is unavailable")))
      )
      const wait = waitMs ?? 0
      const page = wait <= 0 ? yield* read : yield* Effect.scoped(Effect.gen(function*() {
        // Subscribe before reading, so an append in between still wakes the wait.
        const heads = yield* options.log.subscribe
        const first = yield* read
        if (first.records.length > 0) return first
        const moved = Queue.take(heads).pipe(Effect.repeat({ until: (h) => h.storeId === storeId && h.head > after }))
        yield* Effect.timeoutOption(moved, Duration.millis(wait))
        return yield* read
      }))
      const last = page.records.at(-1)?.globalSequence ?? after
      return {
        records: page.records.map((r) => ({ globalSequence: r.globalSequence, recordJson: r.recordJson })),
        head: page.head,
        hasMore: last < page.head
      }
    })

  return { describe: `memory (user ${options.userId})`, push, pull, maxBatch }
}

/**
 * The transport as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<SyncTransport.SyncTransport> =>
  Layer.succeed(SyncTransport.SyncTransport, make(options))
