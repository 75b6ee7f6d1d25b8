/**
 * Group commit for a single-writer database (SQLite).
 *
 * Every write transaction of the server is submitted here as a job. One
 * writer fiber takes the jobs in arrival order, as many as are waiting (up
 * to `maxJobs`), and runs them in ONE database transaction, each job inside
 * its own savepoint: a job that fails (a version conflict, a refused
 * duplicate, a defect) is rolled back to its savepoint alone, the others
 * stand. Every job's answer is delivered only after the shared COMMIT has
 * returned, so nothing is acknowledged before it is durable; if the COMMIT
 * (or anything outside the savepoints) fails, every job of the group fails
 * with a `SqlError` and nothing of it is acknowledged.
 *
 * Why: with `synchronous = FULL`, every commit waits for an fsync of the
 * WAL, and better-sqlite3 waits on the event loop's thread. Under load (200
 * clients, tools/bench `server`) a push per commit meant ten or more fsyncs
 * in one event-loop turn (Effect runs ready fibers in microtasks, so the
 * loop does not poll I/O between them); Node accepted one new connection
 * per turn, so new clients waited tens of seconds in the accept queue (seen
 * with strace). One fsync per group, and a timer between groups, keep
 * turns short. Arrival order also keeps the writer fair (Effect's
 * `Semaphore` is not: see the tests).
 *
 * @since 0.1.0
 */
import { SqlClient, SqlError } from "@effect/sql"
import { Cause, Deferred, Duration, Effect, Exit, Queue } from "effect"

interface Job {
  readonly effect: Effect.Effect<unknown, unknown>
  readonly done: Deferred.Deferred<unknown, unknown>
}

/**
 * How a group commit is doing: how many groups it committed (or failed) and
 * how many jobs they held.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly groups: number
  readonly jobs: number
  readonly largest: number
}

/**
 * Submits a write transaction's body; it runs inside the current group's
 * transaction, in its own savepoint.
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupCommit {
  readonly submit: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E | SqlError.SqlError>
  readonly stats: () => Stats
}

/**
 * Starts the writer fiber in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly maxJobs?: number
  /** @internal deliberately broken variants, for the tests that must catch them */
  readonly mutant?: "no-savepoints" | "answer-before-commit"
} = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const maxJobs = Math.max(1, options.maxJobs ?? 64)
    const queue = yield* Queue.unbounded<Job>()
    let groups = 0
    let jobs = 0
    let largest = 0

    const runGroup = (group: ReadonlyArray<Job>) =>
      Effect.gen(function*() {
        groups++
        jobs += group.length
        largest = Math.max(largest, group.length)
        // The inner withTransaction of each job becomes a savepoint; its failure rolls back to it.
        const inner = (job: Job) =>
          options.mutant === "no-savepoints"
            ? Effect.exit(job.effect)
            : options.mutant === "answer-before-commit"
            ? Effect.tap(Effect.exit(sql.withTransaction(job.effect)), (exit) => Deferred.done(job.done, exit))
            : Effect.exit(sql.withTransaction(job.effect))
        const outer = yield* Effect.exit(sql.withTransaction(Effect.forEach(group, inner)))
        if (Exit.isSuccess(outer)) {
          for (let i = 0; i < group.length; i++) yield* Deferred.done(group[i]!.done, outer.value[i]!)
        } else {
          const failure = new SqlError.SqlError({
            cause: Cause.squash(outer.cause),
            message: `the group commit of ${group.length} write(s) failed; none of them was stored`
          })
          for (const job of group) yield* Deferred.fail(job.done, failure)
          // A failed COMMIT can leave the transaction open (SQLite keeps it after a deferred constraint
          // fails): end it, or every later BEGIN would fail. Without an open transaction this errs; ignored.
          yield* Effect.ignore(sql.unsafe("ROLLBACK"))
        }
      })

    yield* Effect.forkScoped(Effect.forever(
      Effect.gen(function*() {
        const first = yield* Queue.take(queue)
        const rest = yield* Queue.takeUpTo(queue, maxJobs - 1)
        yield* runGroup([first, ...rest])
        // Wait for a real timer, not Effect's yield (a microtask): the event loop then polls I/O — accepts
        // connections, reads requests — between two groups, and readers waiting for the connection run.
        // Writes arriving meanwhile join the next group.
        yield* Effect.sleep(Duration.zero)
      })
    ))

    const submit = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | SqlError.SqlError> =>
      Effect.flatMap(Deferred.make<A, E | SqlError.SqlError>(), (done) =>
        Effect.zipRight(
          Queue.offer(queue, { effect, done: done as Deferred.Deferred<unknown, unknown> }),
          Deferred.await(done)
        ))

    const group: GroupCommit = { submit, stats: () => ({ groups, jobs, largest }) }
    return group
  })
