/**
 * The TurnScheduler bounds the work of an event-loop turn, first in, first
 * out, so the loop keeps turning (libuv accepts one connection per turn);
 * and requests reaching the server before its handler is installed are held,
 * not lost. Deterministic: a simulated event loop with a simulated clock,
 * and each property is shown failing on the behaviour it replaces.
 */
import { Effect, Fiber } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { describe, expect, it } from "vitest"
import { holdEarlyRequests } from "../src/HoldEarlyRequests.js"
import * as TurnScheduler from "../src/TurnScheduler.js"

/** An event loop: microtasks after each callback, then `nextTurn` callbacks; I/O (an accept) between turns. */
const simulatedLoop = () => {
  let clock = 0
  let microtasks: Array<() => void> = []
  let nextTurn: Array<() => void> = []
  const host: TurnScheduler.Host = {
    now: () => clock,
    soon: (f) => {
      microtasks.push(f)
    },
    nextTurn: (f) => {
      nextTurn.push(f)
    }
  }
  const runMicrotasks = () => {
    while (microtasks.length > 0) {
      const batch = microtasks
      microtasks = []
      for (const f of batch) f()
    }
  }
  /** Runs turns until nothing is left; returns what ran in each turn. */
  const run = (log: Array<string>): Array<Array<string>> => {
    const turns: Array<Array<string>> = []
    runMicrotasks()
    turns.push(log.splice(0))
    while (nextTurn.length > 0) {
      const callbacks = nextTurn
      nextTurn = []
      for (const f of callbacks) {
        f()
        runMicrotasks()
      }
      turns.push(log.splice(0))
    }
    return turns
  }
  return { host, run, advance: (ms: number) => (clock += ms) }
}

/** `n` tasks of `costMs` each, scheduled at once; which ran in which turn. */
const turnsOf = (budgetMs: number, n: number, costMs: number) => {
  const loop = simulatedLoop()
  const scheduler = TurnScheduler.make({ budgetMs, host: loop.host })
  const log: Array<string> = []
  for (let i = 0; i < n; i++) {
    scheduler.scheduleTask(() => {
      log.push(`t${i}`)
      loop.advance(costMs)
    }, 0)
  }
  return loop.run(log)
}

/** The property: no turn runs more than its budget allows (plus the task that overran it), and all run in order. */
const bounded = (turns: Array<Array<string>>, n: number, maxPerTurn: number) => {
  expect(turns.flat()).toEqual(Array.from({ length: n }, (_, i) => `t${i}`))
  for (const turn of turns) expect(turn.length).toBeLessThanOrEqual(maxPerTurn)
}

describe("TurnScheduler", () => {
  it("runs at most a budget of work per turn, first in, first out", () => {
    // 20 tasks of 3 ms, budget 5 ms: two tasks a turn (the second overruns), ten turns, then an empty one.
    const turns = turnsOf(5, 20, 3)
    bounded(turns, 20, 2)
    expect(turns.filter((t) => t.length > 0)).toHaveLength(10)
  })

  it("the unbounded scheduler (Effect's default: every ready task in the current turn) fails that property", () => {
    const turns = turnsOf(Number.POSITIVE_INFINITY, 20, 3)
    expect(turns[0]).toHaveLength(20)
    expect(() => bounded(turns, 20, 2)).toThrow()
  })

  it("a task scheduled while others wait runs after them", () => {
    const loop = simulatedLoop()
    const scheduler = TurnScheduler.make({ budgetMs: 5, host: loop.host })
    const log: Array<string> = []
    const task = (name: string, then?: () => void) => () => {
      log.push(name)
      loop.advance(3)
      then?.()
    }
    scheduler.scheduleTask(task("a", () => scheduler.scheduleTask(task("late"), 0)), 0)
    scheduler.scheduleTask(task("b"), 0)
    scheduler.scheduleTask(task("c"), 0)
    expect(loop.run(log).flat()).toEqual(["a", "b", "c", "late"])
  })

  it("runs Effect programs to their end on Node (fibers yielding, forking, sleeping)", async () => {
    const order: Array<string> = []
    const worker = (name: string) =>
      Effect.gen(function*() {
        for (let i = 0; i < 50; i++) {
          order.push(`${name}${i}`)
          yield* Effect.yieldNow()
        }
        yield* Effect.sleep(1)
        return name
      })
    const program = Effect.gen(function*() {
      const fibers = yield* Effect.forEach(["a", "b", "c"], (n) => Effect.fork(worker(n)))
      return yield* Fiber.joinAll(fibers)
    })
    const result = await Effect.runPromise(program.pipe(Effect.withScheduler(TurnScheduler.make({ budgetMs: 1 }))))
    expect(result).toEqual(["a", "b", "c"])
    expect(order).toHaveLength(150)
    // First in, first out: the three fibers take turns.
    expect(order.slice(0, 6)).toEqual(["a0", "b0", "c0", "a1", "b1", "c1"])
  })
})

describe("holdEarlyRequests", () => {
  const early = (server: Server) => {
    const request = {} as IncomingMessage
    const response = {} as ServerResponse
    server.emit("request", request, response)
    const seen: Array<IncomingMessage> = []
    server.on("request", (r: IncomingMessage) => seen.push(r))
    return { request, seen }
  }

  it("hands a request that arrived before the handler to the handler once it is installed", async () => {
    const { request, seen } = early(holdEarlyRequests(createServer()))
    await new Promise((r) => setImmediate(r))
    expect(seen).toEqual([request])
  })

  it("a bare server loses that request (what holding prevents)", async () => {
    const { seen } = early(createServer())
    await new Promise((r) => setImmediate(r))
    expect(seen).toEqual([])
  })
})
