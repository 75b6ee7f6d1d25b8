/**
 * The client sync engine: it moves a {@link LocalStore}'s records to and
 * from the sync server through a {@link SyncTransport}.
 *
 * - **Push**: pending records (own, not yet ordered by the server) go in
 *   batches, each as the exact text sealed locally; the server's sequences
 *   are written back (`acknowledge`). A re-sent batch is acknowledged again
 *   with the original sequences (INV-005), so a crash between the push and
 *   the acknowledgement loses nothing and duplicates nothing.
 * - **Conflict**: when another device reached an aggregate's version first,
 *   the engine pulls; ingesting the server's records displaces the losing
 *   pending records, which the local store re-seals at the next versions
 *   (rebase); then it pushes again.
 * - **Pull**: from the local cursor (the highest global sequence held
 *   contiguously, kept in the local database — so a restarted engine resumes
 *   where it stopped) until the server's head; records whose keys are
 *   missing are parked by the local store and released when keys arrive.
 * - **Retry**: transport failures (network, 5xx, 429) are retried with
 *   exponential backoff and full jitter, capped, honouring `Retry-After`.
 *   Refusals (an invalid record, a mismatched duplicate) and access denials
 *   stop the engine with a typed error and leave every record in place.
 *
 * @since 0.1.0
 */
import type { ImmutableRecord } from "@cipherlog/domain"
import type { LocalStore, StorageFailure } from "@cipherlog/event-store"
import type { KeyStoreError } from "@cipherlog/keys"
import { Clock, Duration, Effect, Fiber, PubSub, Schedule, Stream, SubscriptionRef } from "effect"
import * as Signals from "./Signals.js"
import {
  type AccessDenied,
  isRetryable,
  type PushConflict,
  type PullPage,
  type PushRefused,
  type RemoteRecord,
  SyncTransport,
  type TransportError,
  type TransportUnavailable
} from "./SyncTransport.js"

/**
 * Tuning. Every field has a default.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Records per push (capped by the transport's `maxBatch`). Default 500. */
  readonly pushBatch?: number
  /** Records per pull page. Default 1000. */
  readonly pullLimit?: number
  /**
   * Pages a pull asks for ahead of the page being ingested, while far from
   * the head. Default 1; 0 pulls one page at a time. See `pull`.
   */
  readonly pullAhead?: number
  /** How long `run` waits on the server for news (long poll). Default 25 000 ms. */
  readonly longPollMs?: number
  /** How long `run` lets local appends gather before pushing. Default 20 ms. */
  readonly pushDelayMs?: number
  /** Conflict rounds (pull, rebase, push) one push may take before giving up. Default 20. */
  readonly maxConflictRounds?: number
  /** Backoff of retried transport failures: first delay and cap. Defaults 250 ms and 30 000 ms. */
  readonly retry?: { readonly baseMs?: number; readonly maxMs?: number }
}

/**
 * What one sync round did.
 *
 * @since 0.1.0
 * @category models
 */
export interface SyncReport {
  /** Records pulled and new to this device. */
  readonly pulled: number
  /** Own records the server accepted (not counting re-acknowledged duplicates). */
  readonly pushed: number
  /** Own records the server already held (a re-send after a crash or a lost answer). */
  readonly duplicates: number
  /** Own pending records confirmed by a pull (same event id, same bytes: the answer to a push was lost). */
  readonly acknowledged: number
  /** Conflicts met while pushing. */
  readonly conflicts: number
  /** Own pending records re-sealed at new versions after losing a race. */
  readonly rebased: number
  /** Pulled records parked because their keys are missing here. */
  readonly parked: number
  /** Pulled records rejected (broken chain, bad signature, bad ciphertext). */
  readonly rejected: number
  /** Event ids the server holds with other bytes than this device (tampering or a bug; INV-005). */
  readonly mismatched: ReadonlyArray<string>
  /** Compromise signals met in this round (also published on {@link SyncEngine.signals}). */
  readonly signals: ReadonlyArray<Signals.SecuritySignal>
  /** The local cursor afterwards. */
  readonly cursor: number
  /** Own records still pending afterwards. */
  readonly pending: number
}

/**
 * Where the engine stands, for an app's status line.
 *
 * @since 0.1.0
 * @category models
 */
export type SyncStatus =
  | { readonly _tag: "Idle"; readonly lastSyncAt: number | undefined; readonly cursor: number; readonly pending: number }
  | { readonly _tag: "Syncing" }
  | { readonly _tag: "Offline"; readonly error: TransportUnavailable; readonly attempt: number }
  | { readonly _tag: "Stopped"; readonly error: SyncError }

/**
 * What a sync round can fail with (transport unavailability only once retries are exhausted, or from `syncOnce`).
 *
 * @since 0.1.0
 * @category errors
 */
export type SyncError =
  | PushConflict
  | PushRefused
  | AccessDenied
  | TransportUnavailable
  | StorageFailure
  | KeyStoreError
  | LocalStore.LocalStoreError
  | ImmutableRecord

/**
 * @since 0.1.0
 * @category models
 */
export interface SyncEngine {
  readonly storeId: string
  /**
   * Pulls until the server's head; ingests (verifies, parks, rebases) every
   * page, in order. Far from the head, the next `pullAhead` pages are
   * fetched while a page is ingested.
   */
  readonly pull: Effect.Effect<SyncReport, SyncError>
  /** Pushes every pending record, resolving conflicts by pulling and rebasing. */
  readonly push: Effect.Effect<SyncReport, SyncError>
  /** One round: pull, push, and pull what the push revealed. No retries. */
  readonly syncOnce: Effect.Effect<SyncReport, SyncError>
  /** {@link syncOnce}, retrying transport failures with backoff and jitter. */
  readonly syncWithRetry: Effect.Effect<SyncReport, SyncError>
  /**
   * Keeps the store in sync until interrupted: a round, then waits for news
   * from the server (long poll) or local appends, and again. Transport
   * failures are retried forever (the status says `Offline`); refusals and
   * access denials stop it with their error.
   */
  readonly run: Effect.Effect<never, SyncError>
  /** The current status and its changes. */
  readonly status: SubscriptionRef.SubscriptionRef<SyncStatus>
  /**
   * Compromise signals as they happen, in every round and in `run`'s long
   * polls (each subscriber gets those published after it subscribed; a slow
   * subscriber loses the oldest beyond 1 024). Each is also counted in
   * `Signals.counter`.
   */
  readonly signals: Stream.Stream<Signals.SecuritySignal>
}

const emptyReport: SyncReport = {
  pulled: 0, pushed: 0, duplicates: 0, acknowledged: 0, conflicts: 0, rebased: 0, parked: 0, rejected: 0, mismatched: [], signals: [], cursor: 0, pending: 0
}

const add = (a: SyncReport, b: Partial<SyncReport>): SyncReport => ({
  pulled: a.pulled + (b.pulled ?? 0),
  pushed: a.pushed + (b.pushed ?? 0),
  duplicates: a.duplicates + (b.duplicates ?? 0),
  acknowledged: a.acknowledged + (b.acknowledged ?? 0),
  conflicts: a.conflicts + (b.conflicts ?? 0),
  rebased: a.rebased + (b.rebased ?? 0),
  parked: a.parked + (b.parked ?? 0),
  rejected: a.rejected + (b.rejected ?? 0),
  mismatched: b.mismatched === undefined || b.mismatched.length === 0 ? a.mismatched : [...a.mismatched, ...b.mismatched],
  signals: b.signals === undefined || b.signals.length === 0 ? a.signals : [...a.signals, ...b.signals],
  cursor: b.cursor ?? a.cursor,
  pending: b.pending ?? a.pending
})

/**
 * The delay before retry number `attempt` (0 for the first) of a failure:
 * full jitter — a uniformly random delay below `baseMs · 2^attempt`, so
 * that many clients coming back at once spread out — capped at `maxMs`,
 * and never shorter than a server's `Retry-After` (itself capped).
 *
 * @since 0.1.0
 * @category schedules
 */
export const retryDelayMs = (
  attempt: number,
  error: SyncError,
  options: { readonly baseMs?: number; readonly maxMs?: number; readonly random?: () => number } = {}
): number => {
  const base = options.baseMs ?? 250
  const max = options.maxMs ?? 30_000
  const bound = Math.min(base * 2 ** Math.min(attempt, 52), max)
  const jittered = Math.floor((options.random ?? Math.random)() * bound)
  const floor = error._tag === "TransportUnavailable" ? Math.min(error.retryAfterMs ?? 0, max) : 0
  return Math.max(jittered, floor)
}

/**
 * The retry schedule of transport failures ({@link retryDelayMs} between
 * attempts, forever). Other failures are not retried.
 *
 * @since 0.1.0
 * @category schedules
 */
export const retrySchedule = (
  options: { readonly baseMs?: number; readonly maxMs?: number; readonly random?: () => number } = {}
): Schedule.Schedule<[SyncError, number], SyncError> =>
  Schedule.identity<SyncError>().pipe(
    Schedule.whileInput((error: SyncError) => isRetryable(error)),
    Schedule.intersect(Schedule.count),
    Schedule.addDelay(([error, attempt]) => Duration.millis(retryDelayMs(attempt, error, options)))
  )

/**
 * An engine for one local store, over the transport in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (local: LocalStore.LocalStore, options: Options = {}): Effect.Effect<SyncEngine, never, SyncTransport> =>
  Effect.gen(function*() {
    const transport = yield* SyncTransport
    const es = local.eventStore
    const storeId = local.storeId
    const pushBatch = Math.max(1, Math.min(options.pushBatch ?? 500, transport.maxBatch))
    const pullLimit = Math.max(1, options.pullLimit ?? 1000)
    const pullAhead = Math.max(0, Math.floor(options.pullAhead ?? 1))
    const longPollMs = options.longPollMs ?? 25_000
    const pushDelayMs = options.pushDelayMs ?? 20
    const maxConflictRounds = options.maxConflictRounds ?? 20
    const status = yield* SubscriptionRef.make<SyncStatus>({ _tag: "Idle", lastSyncAt: undefined, cursor: 0, pending: 0 })
    // One round at a time: pulls and pushes of one store never interleave.
    const lock = yield* Effect.makeSemaphore(1)

    const finish = (report: SyncReport) =>
      Effect.map(es.counts(storeId), (c) => add(report, { pending: c.pending }))

    const signalHub = yield* PubSub.sliding<Signals.SecuritySignal>(1024)
    const signal = (signals: ReadonlyArray<Signals.SecuritySignal>) =>
      Effect.zipRight(Effect.forEach(signals, Signals.count, { discard: true }), PubSub.publishAll(signalHub, signals))

    const ingest = (records: ReadonlyArray<RemoteRecord>) =>
      Effect.gen(function*() {
        const r = yield* local.ingest(records)
        const signals = Signals.fromIngest(storeId, r)
        if (signals.length > 0) yield* signal(signals)
        return {
          pulled: r.inserted, acknowledged: r.acknowledged, rebased: r.rebased, parked: r.parked, rejected: r.rejected.length,
          mismatched: r.mismatched, signals
        } satisfies Partial<SyncReport>
      })

    const fetchPage = (after: number) => transport.pull(storeId, { after, limit: pullLimit })

    const pullLoop: Effect.Effect<SyncReport, SyncError> = Effect.scoped(Effect.gen(function*() {
      let report = emptyReport
      // Pages asked for ahead, by the cursor they start after, in order. Sequences up to a page's `head`
      // exist without gaps (INV-003), so while a page says more follow, the next pages are full pages
      // (as long as it) and their cursors are known: they are fetched while this one is ingested. A page
      // asked for ahead is used only if the cursor reaches exactly its start; otherwise it is dropped.
      const ahead: Array<{ readonly after: number; readonly fiber: Fiber.RuntimeFiber<PullPage, TransportError> }> = []
      for (;;) {
        const after = yield* es.cursor(storeId)
        while (ahead.length > 0 && ahead[0]!.after !== after) yield* Fiber.interrupt(ahead.shift()!.fiber)
        const page = ahead.length > 0 ? yield* Fiber.join(ahead.shift()!.fiber) : yield* fetchPage(after)
        const n = page.records.length
        if (page.hasMore && n > 0) {
          let next = ahead.length > 0 ? ahead[ahead.length - 1]!.after + n : page.records[n - 1]!.globalSequence
          while (ahead.length < pullAhead && next < page.head) {
            ahead.push({ after: next, fiber: yield* Effect.forkScoped(fetchPage(next)) })
            next += n
          }
        }
        if (n > 0) report = add(report, yield* ingest(page.records))
        const cursor = yield* es.cursor(storeId)
        report = add(report, { cursor })
        // Stop at the head, or when a page did not move the cursor (a gap the server will fill on a later pull).
        if (!page.hasMore || n === 0 || cursor === after) return report
      }
    }))

    const pushLoop: Effect.Effect<SyncReport, SyncError> = Effect.gen(function*() {
      let report = emptyReport
      let rounds = 0
      for (;;) {
        const pending = yield* es.readPending(storeId, pushBatch)
        if (pending.length === 0) return report
        const texts = pending.map((r) => r.recordJson)
        const outcome = yield* Effect.either(transport.push(storeId, texts))
        if (outcome._tag === "Left") {
          const error = outcome.left
          if (error._tag === "PushRefused" && error.reason === "duplicate-mismatch" && error.eventId !== undefined) {
            yield* signal([Signals.SecuritySignal.DuplicateMismatch({ storeId, eventId: error.eventId, seenOn: "push" })])
          }
          if (error._tag !== "PushConflict") return yield* Effect.fail(error)
          rounds++
          report = add(report, { conflicts: 1 })
          if (rounds > maxConflictRounds) return yield* Effect.fail(error)
          // Pull from the cursor, in global order (not just the records the conflict named: a device's
          // records must arrive in chain order, after the record that introduces the device). Ingesting
          // the winners displaces our pending records, which the local store rebases.
          report = add(report, yield* pullLoop)
          continue
        }
        const results = outcome.right.results
        yield* es.acknowledge(storeId, results.map((r) => ({ eventId: r.eventId, globalSequence: r.globalSequence })))
        const duplicates = results.filter((r) => r.duplicate).length
        report = add(report, { pushed: results.length - duplicates, duplicates })
      }
    })

    const round = (effect: Effect.Effect<SyncReport, SyncError>) =>
      lock.withPermits(1)(Effect.flatMap(effect, finish))

    const pull = round(pullLoop)
    const push = round(pushLoop)
    const syncOnce = round(Effect.gen(function*() {
      const first = yield* pullLoop
      const pushed = yield* pushLoop
      // What others pushed meanwhile, and the sequences of ours, come back on this pull.
      const last = pushed.pushed > 0 ? yield* pullLoop : emptyReport
      return add(add(first, pushed), last)
    }))

    const schedule = retrySchedule(options.retry)
    const syncWithRetry = syncOnce.pipe(
      Effect.tapError((error) =>
        isRetryable(error)
          ? SubscriptionRef.update(status, (s): SyncStatus => ({ _tag: "Offline", error, attempt: s._tag === "Offline" ? s.attempt + 1 : 1 }))
          : Effect.void
      ),
      Effect.retry(schedule)
    )

    const settle = (report: SyncReport) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        SubscriptionRef.set(status, { _tag: "Idle", lastSyncAt: now, cursor: report.cursor, pending: report.pending }))

    /** Waits until the server has records past the cursor (long poll) and ingests them. */
    const serverNews = Effect.gen(function*() {
      const after = yield* es.cursor(storeId)
      const page = yield* transport.pull(storeId, { after, limit: pullLimit, waitMs: longPollMs })
      if (page.records.length > 0) yield* lock.withPermits(1)(ingest(page.records))
    }).pipe(Effect.retry(schedule))

    /** Waits until local appends leave records pending. */
    const localNews = Effect.scoped(Effect.gen(function*() {
      const changes = yield* es.subscribe(storeId)
      const pendingNow = Effect.map(es.counts(storeId), (c) => c.pending > 0)
      if (yield* pendingNow) return
      yield* changes.pipe(
        Stream.mapEffect(() => pendingNow),
        Stream.filter((has) => has),
        Stream.take(1),
        Stream.runDrain
      )
      if (pushDelayMs > 0) yield* Effect.sleep(Duration.millis(pushDelayMs))
    }))

    const run: Effect.Effect<never, SyncError> = Effect.gen(function*() {
      for (;;) {
        yield* SubscriptionRef.set(status, { _tag: "Syncing" })
        yield* settle(yield* syncWithRetry)
        yield* Effect.raceFirst(serverNews, localNews)
      }
    }).pipe(Effect.tapError((error) => SubscriptionRef.set(status, { _tag: "Stopped", error })))

    const signals = Stream.fromPubSub(signalHub)

    return { storeId, pull, push, syncOnce, syncWithRetry, run, status, signals } satisfies SyncEngine
  })

/**
 * Reads the status once (for a status line).
 *
 * @since 0.1.0
 * @category getters
 */
export const currentStatus = (engine: SyncEngine): Effect.Effect<SyncStatus> => SubscriptionRef.get(engine.status)

/**
 * Whether a report shows everything this device wrote is on the server.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSettled = (report: SyncReport): boolean => report.pending === 0
