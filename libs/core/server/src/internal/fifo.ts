/**
 * A first-come, first-served lock. Effect's `Semaphore` (3.x) is not fair:
 * on release it wakes every waiter, the first to run wins and the others
 * queue again behind newcomers, so under steady contention some waiters
 * starve. `@effect/sql-sqlite-node` serialises transactions with it; a
 * server with hundreds of concurrent writers saw pushes wait over 30 s while
 * the median waited 0.2 s (tools/bench, `server` suite). Running SQLite's
 * transactions through this lock first keeps them in arrival order.
 */
import { Deferred, Effect } from "effect"

/** Runs effects one at a time, in the order they asked. */
export const make = () => {
  let tail: Deferred.Deferred<void> | undefined
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Deferred.make<void>(), (mine) =>
        Effect.suspend(() => {
          const prev = tail
          tail = mine
          const waitPrev = prev === undefined ? Effect.void : Deferred.await(prev)
          // Even when interrupted while waiting, hand over only after the one before has finished.
          return restore(Effect.zipRight(waitPrev, effect)).pipe(
            Effect.ensuring(Effect.zipRight(waitPrev, Deferred.succeed(mine, undefined)))
          )
        }))
    )
}
