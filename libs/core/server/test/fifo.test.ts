import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import * as Fifo from "../src/internal/fifo.js"

describe("Fifo lock (SQLite transactions in arrival order)", () => {
  it.live("serves waiters in arrival order, one at a time, ahead of later arrivals", () =>
    Effect.gen(function*() {
      const lock = Fifo.make()
      const order: Array<string> = []
      let inside = 0
      let most = 0
      const work = (name: string) =>
        Effect.gen(function*() {
          inside++
          most = Math.max(most, inside)
          order.push(name)
          yield* Effect.sleep(1)
          inside--
        })
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(lock(Deferred.await(gate)))
      yield* Effect.yieldNow()
      const late: Array<Fiber.RuntimeFiber<void>> = []
      const waiters: Array<Fiber.RuntimeFiber<void>> = []
      for (let i = 0; i < 20; i++) {
        // Each waiter, once it runs, brings a newcomer: with Effect's Semaphore these can overtake earlier waiters.
        waiters.push(yield* Effect.fork(lock(Effect.zipRight(
          Effect.flatMap(Effect.forkDaemon(lock(work(`n${i}`))), (f) => Effect.sync(() => late.push(f))),
          work(`w${i}`)
        ))))
        yield* Effect.yieldNow()
      }
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.joinAll(waiters)
      yield* Fiber.joinAll(late)
      expect(order).toEqual([...Array.from({ length: 20 }, (_, i) => `w${i}`), ...Array.from({ length: 20 }, (_, i) => `n${i}`)])
      expect(most).toBe(1)
    }))

  it.live("fibers re-taking the lock in a loop take turns (Effect's Semaphore starves some of them)", () =>
    Effect.gen(function*() {
      const lock = Fifo.make()
      const order: Array<number> = []
      const rounds = 10
      const fibers = yield* Effect.forEach(Array.from({ length: 8 }, (_, i) => i), (i) =>
        Effect.fork(Effect.repeatN(lock(Effect.zipRight(Effect.sleep(1), Effect.sync(() => order.push(i)))), rounds - 1)))
      yield* Fiber.joinAll(fibers)
      // Round robin: within every window of 8 consecutive acquisitions, each fiber appears once.
      for (let w = 0; w + 8 <= order.length; w += 8) expect(new Set(order.slice(w, w + 8)).size).toBe(8)
    }))

  it.live("a waiter interrupted while waiting does not let the next one in before the holder finishes", () =>
    Effect.gen(function*() {
      const lock = Fifo.make()
      const events: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(lock(Effect.zipRight(Deferred.await(gate), Effect.sync(() => events.push("holder done")))))
      yield* Effect.yieldNow()
      const interrupted = yield* Effect.fork(lock(Effect.sync(() => events.push("interrupted one ran"))))
      yield* Effect.yieldNow()
      const next = yield* Effect.fork(lock(Effect.sync(() => events.push("next ran"))))
      yield* Effect.yieldNow()
      yield* Effect.fork(Fiber.interrupt(interrupted))
      yield* Effect.sleep(5)
      expect(events).toEqual([])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(next)
      expect(events).toEqual(["holder done", "next ran"])
    }))
})
