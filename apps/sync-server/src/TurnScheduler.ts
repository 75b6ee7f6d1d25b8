/**
 * An Effect scheduler that lets the event loop turn: fibers run for at most
 * a budget of time per event-loop turn; the rest waits, first in, first
 * out, for the next turn.
 *
 * Why: Node 20's libuv (≥ 1.45) accepts ONE connection per event-loop turn,
 * and Effect's default scheduler runs every ready fiber in microtasks of the
 * current turn, so one turn ran all the work that became ready in it (record
 * checks, SQL, group commits with their fsync, pages of records to encode).
 * Under load (200 clients, tools/bench `server`) a turn took 100–1000 ms,
 * the server accepted a few connections a second, and a client that opened
 * a connection while others were busy waited in the kernel's accept queue
 * for most of the run (CIPHERLOG_BENCH_SERVER_TRACE: the slowest 1% were
 * all first requests of new connections, accepted ~13 s after the client
 * connected, then served in ~25 ms; strace: one accept4 per turn, never
 * EAGAIN) — starved, while clients on established connections were served
 * every turn. Bounding a turn's work keeps turns short, so connections are
 * accepted and sockets read at a steady rate whatever the load. Work is
 * delayed, never reordered; task priorities are not used by the server and
 * are ignored.
 *
 * @since 0.1.0
 */
import { Scheduler } from "effect"

/**
 * What the scheduler needs from the host (Node's by default; tests pass
 * their own).
 *
 * @since 0.1.0
 * @category models
 */
export interface Host {
  /** Milliseconds, monotonic. */
  readonly now: () => number
  /** Runs `f` after the current task, before any I/O (a microtask). */
  readonly soon: (f: () => void) => void
  /** Runs `f` in the next event-loop turn, after I/O has been polled (Node: `setImmediate`). */
  readonly nextTurn: (f: () => void) => void
}

const nodeHost: Host = {
  now: () => performance.now(),
  soon: (f) => queueMicrotask(f),
  nextTurn: (f) => {
    setImmediate(f)
  }
}

/**
 * A scheduler running tasks first in, first out, for at most `budgetMs` of
 * each turn (checked between tasks: a task always runs to its end, and
 * fibers yield to the scheduler every `maxOpsBeforeYield` operations as
 * usual). `budgetMs: Infinity` is Effect's default behaviour: everything
 * ready runs in the current turn.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: { readonly budgetMs?: number; readonly host?: Host } = {}): Scheduler.Scheduler => {
  const budgetMs = options.budgetMs ?? 5
  const host = options.host ?? nodeHost
  let queue: Array<Scheduler.Task> = []
  let head = 0
  /** When the work of the current turn began, or undefined between turns (then no endTurn is pending). */
  let turnStart: number | undefined
  let drainPending = false

  const spent = () => turnStart !== undefined && host.now() - turnStart >= budgetMs

  const drain = () => {
    drainPending = false
    while (head < queue.length) {
      if (turnStart === undefined) {
        turnStart = host.now()
        host.nextTurn(endTurn)
      } else if (spent()) {
        return // endTurn, pending, carries on in the next turn
      }
      const task = queue[head]!
      queue[head] = noop
      head++
      task()
    }
    queue = []
    head = 0
  }

  const endTurn = () => {
    turnStart = undefined
    drain()
  }

  return {
    shouldYield: Scheduler.defaultShouldYield,
    scheduleTask: (task) => {
      if (head >= 4096 && head * 2 >= queue.length) {
        queue = queue.slice(head)
        head = 0
      }
      queue.push(task)
      if (drainPending || spent()) return
      drainPending = true
      host.soon(drain)
    }
  }
}

const noop = () => {}
