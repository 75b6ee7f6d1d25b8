import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, FastCheck as fc, Schedule, Stream, SubscriptionRef, TestClock } from "effect"
import { SyncEngine, SyncTransport } from "../src/index.js"
import { append, copyKeks, engineFor, firstDevice, memoryTransport, secondDevice, serverLog, storeId, view } from "./fixtures.js"

describe("SyncEngine", () => {
  it.scopedLive("two devices writing the same aggregate converge; the loser is rebased, nothing is lost", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const b = yield* secondDevice(a, "d2")
      const ea = yield* engineFor(a, memoryTransport(log))
      const eb = yield* engineFor(b, memoryTransport(log))
      yield* append(a, "g1", "from a")
      yield* append(b, "g1", "from b")
      yield* append(b, "g2", "b only")
      const ra = yield* ea.syncOnce
      expect(ra).toMatchObject({ conflicts: 0, pending: 0 })
      expect(ra.pushed).toBeGreaterThanOrEqual(2) // the event, and system records (device, key grant)
      const rb = yield* eb.push // push before pulling: the server answers with a conflict
      expect(rb.conflicts).toBeGreaterThan(0)
      expect(rb.rebased).toBeGreaterThan(0)
      expect(rb.pending).toBe(0)
      yield* ea.syncOnce
      const va = yield* view(a)
      expect(va).toEqual(yield* view(b))
      expect(va).toEqual(['g1@0001:{"title":"from a"}', 'g1@0002:{"title":"from b"}', 'g2@0001:{"title":"b only"}'])
      const page = yield* memoryTransport(log).pull(storeId, { after: 0 })
      expect(page.records.map((r) => r.globalSequence)).toEqual(page.records.map((_, i) => i + 1))
    }))

  it.scopedLive("INV-003 INV-004 INV-005 property: random interleavings of appends and syncs on three devices converge, end to end", () =>
    Effect.gen(function*() {
      const ops = fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("append" as const), device: fc.integer({ min: 0, max: 2 }), aggregate: fc.integer({ min: 0, max: 2 }) }),
          fc.record({ op: fc.constant("sync" as const), device: fc.integer({ min: 0, max: 2 }) })
        ),
        { minLength: 1, maxLength: 25 }
      )
      for (const sample of fc.sample(ops, 8)) {
        const log = yield* serverLog
        const a = yield* firstDevice()
        const devices = [a, yield* secondDevice(a, "d2"), yield* secondDevice(a, "d3")]
        const engines = yield* Effect.forEach(devices, (d) => engineFor(d, memoryTransport(log)))
        let n = 0
        for (const step of sample) {
          if (step.op === "append") yield* append(devices[step.device]!, `g${step.aggregate}`, `t${n++}`)
          else yield* engines[step.device]!.syncOnce
        }
        // Settle: every device syncs twice (the second round brings the others' last pushes).
        for (let round = 0; round < 2; round++) for (const e of engines) yield* e.syncOnce
        const views = yield* Effect.forEach(devices, view)
        const titles = views[0]!.map((line) => line.split(":").slice(1).join(":"))
        expect({ sample, same: views.every((v) => JSON.stringify(v) === JSON.stringify(views[0])) }).toEqual({ sample, same: true })
        // Nothing lost or duplicated: every title written appears exactly once.
        expect(titles.sort()).toEqual(Array.from({ length: n }, (_, i) => JSON.stringify({ title: `t${i}` })).sort())
        const server = yield* memoryTransport(log).pull(storeId, { after: 0, limit: 1000 })
        expect(server.records.map((r) => r.globalSequence)).toEqual(server.records.map((_, i) => i + 1))
        for (const d of devices) expect((yield* d.events.counts(storeId)).pending).toBe(0)
      }
    }), 120_000)

  it.scopedLive("INV-005 a lost answer (pushed, then a failure before the acknowledgement) is retried and re-acknowledged, not duplicated", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const inner = memoryTransport(log)
      let failures = 1
      const lossy: SyncTransport.SyncTransport = {
        ...inner,
        push: (s, texts) =>
          Effect.flatMap(inner.push(s, texts), (accepted) =>
            failures-- > 0 ? Effect.fail(new SyncTransport.TransportUnavailable({ reason: "network", detail: "connection reset" })) : Effect.succeed(accepted))
      }
      const engine = yield* engineFor(a, lossy)
      yield* append(a, "g1", "once")
      const report = yield* engine.syncWithRetry
      expect(report.pending).toBe(0)
      // The retry's pull brought the records back: confirmed by their bytes, not stored twice.
      expect(report.acknowledged + report.duplicates).toBeGreaterThanOrEqual(1)
      const server = yield* inner.pull(storeId, { after: 0 })
      const local = yield* a.events.counts(storeId)
      expect(server.records.length).toBe(local.records)
      expect(local.synced).toBe(local.records)
      const offline = yield* SyncEngine.currentStatus(engine)
      expect(offline._tag).toBe("Offline") // syncWithRetry reports failures; `run` settles the status
    }))

  it.scopedLive("resumes from the cursor kept in the local database after a restart", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const b = yield* secondDevice(a, "d2")
      yield* append(a, "g1", "one")
      yield* append(a, "g2", "two")
      yield* (yield* engineFor(a, memoryTransport(log))).syncOnce
      yield* (yield* engineFor(b, memoryTransport(log))).syncOnce
      const cursor = yield* b.events.cursor(storeId)
      expect(cursor).toBeGreaterThan(0)
      yield* append(a, "g3", "three")
      yield* (yield* engineFor(a, memoryTransport(log))).syncOnce
      // A new engine (as after a crash) on the same database asks only for what it lacks.
      const afters: Array<number> = []
      const inner = memoryTransport(log)
      const recording: SyncTransport.SyncTransport = { ...inner, pull: (s, o) => Effect.suspend(() => (afters.push(o.after), inner.pull(s, o))) }
      const report = yield* (yield* engineFor(b, recording)).syncOnce
      expect(afters[0]).toBe(cursor)
      const head = (yield* inner.pull(storeId, { after: 0 })).head
      expect(report.pulled).toBe(head - cursor)
      expect(yield* view(b)).toEqual(yield* view(a))
    }))

  it.scopedLive("far from the head, a pull asks for the next pages while it ingests one, and uses them in order", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const b = yield* secondDevice(a, "d2")
      for (let i = 0; i < 12; i++) yield* append(a, `g${i % 3}`, `t${i}`)
      yield* (yield* engineFor(a, memoryTransport(log))).syncOnce
      const head = (yield* memoryTransport(log).pull(storeId, { after: 0 })).head
      expect(head).toBeGreaterThan(12)
      const inner = memoryTransport(log)
      // Each pull records its cursor, and is held until the next one starts or 20 ms pass: a pull asked
      // for ahead is in flight while the page before it is ingested.
      const afters: Array<number> = []
      let inFlight = 0
      let maxInFlight = 0
      const recording: SyncTransport.SyncTransport = {
        ...inner,
        pull: (s, o) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              afters.push(o.after)
              maxInFlight = Math.max(maxInFlight, ++inFlight)
            }),
            () => Effect.zipRight(Effect.sleep(Duration.millis(20)), inner.pull(s, o)),
            () => Effect.sync(() => void inFlight--)
          )
      }
      const report = yield* (yield* engineFor(b, recording, { pullLimit: 4, pullAhead: 2 })).pull
      expect(yield* view(b)).toEqual(yield* view(a))
      expect(report.cursor).toBe(head)
      // Every page once, by its exact cursor: 0, 4, 8, … below the head.
      const expected = Array.from({ length: Math.ceil(head / 4) }, (_, i) => i * 4)
      expect([...afters].sort((x, y) => x - y)).toEqual(expected)
      // The page being ingested is already fetched: at most `pullAhead` pulls are in flight.
      expect(maxInFlight).toBe(2)
      // One page at a time with pullAhead 0.
      const c = yield* secondDevice(a, "d3")
      afters.length = 0
      maxInFlight = 0
      yield* (yield* engineFor(c, recording, { pullLimit: 4, pullAhead: 0 })).pull
      expect(afters).toEqual(expected)
      expect(maxInFlight).toBe(1)
    }))

  it.scopedLive("a page asked for ahead is dropped when the cursor does not reach its start (short pages)", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const b = yield* secondDevice(a, "d2")
      for (let i = 0; i < 10; i++) yield* append(a, `g${i % 2}`, `t${i}`)
      yield* (yield* engineFor(a, memoryTransport(log))).syncOnce
      const inner = memoryTransport(log)
      // A server that answers its first page short (2 records, more to come): pages asked for ahead on the
      // strength of that page's length start at the wrong place and must not be used.
      const afters: Array<number> = []
      const short: SyncTransport.SyncTransport = {
        ...inner,
        pull: (s, o) =>
          Effect.map(
            Effect.suspend(() => (afters.push(o.after), inner.pull(s, o))),
            (page) => (o.after === 0 ? { ...page, records: page.records.slice(0, 2), hasMore: true } : page)
          )
      }
      const report = yield* (yield* engineFor(b, short, { pullLimit: 5, pullAhead: 3 })).pull
      expect(yield* view(b)).toEqual(yield* view(a))
      const head = (yield* inner.pull(storeId, { after: 0 })).head
      expect(report.cursor).toBe(head)
      expect(report.pulled).toBeGreaterThan(0)
      // Asked ahead after the short page: 2 (exact), then 4 and 6 (guesses from its length of 2); the
      // page after 2 holds 5 records, so the cursor goes to 7 and the guesses are dropped.
      expect(afters.slice(0, 4)).toEqual([0, 2, 4, 6])
      expect(afters).toContain(7)
    }))

  it.scopedLive("a refusal stops the engine with a typed error and keeps every record pending", () =>
    Effect.gen(function*() {
      const a = yield* firstDevice()
      const refusing: SyncTransport.SyncTransport = {
        ...memoryTransport(yield* serverLog),
        push: (s) => Effect.fail(new SyncTransport.PushRefused({ storeId: s, reason: "invalid-record", detail: "record 0 of the batch: test" }))
      }
      const engine = yield* engineFor(a, refusing)
      yield* append(a, "g1", "kept")
      const before = (yield* a.events.counts(storeId)).pending
      const error = yield* Effect.flip(engine.run)
      expect(error._tag).toBe("PushRefused")
      expect((yield* a.events.counts(storeId)).pending).toBe(before)
      expect((yield* SyncEngine.currentStatus(engine))._tag).toBe("Stopped")
    }))

  it.scopedLive("records whose keys are missing are parked, and open once the keys arrive", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const b = yield* secondDevice(a, "d2", false)
      yield* append(a, "g1", "secret")
      yield* (yield* engineFor(a, memoryTransport(log))).syncOnce
      const report = yield* (yield* engineFor(b, memoryTransport(log))).syncOnce
      expect(report.parked).toBeGreaterThan(0)
      expect((yield* b.store.keyState).locked).toBe(true)
      yield* copyKeks(a, b.keyring)
      yield* b.store.retryParked
      expect(yield* view(b)).toEqual(yield* view(a))
    }))

  it.scopedLive("run keeps devices in sync in the background (long poll and local appends)", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const b = yield* secondDevice(a, "d2")
      const ea = yield* engineFor(a, memoryTransport(log), { longPollMs: 2_000, pushDelayMs: 5 })
      const eb = yield* engineFor(b, memoryTransport(log), { longPollMs: 2_000, pushDelayMs: 5 })
      const fa = yield* Effect.fork(ea.run)
      const fb = yield* Effect.fork(eb.run)
      yield* append(a, "g1", "live")
      yield* view(b).pipe(
        Effect.repeat({ schedule: Schedule.spaced(Duration.millis(20)), until: (v) => v.length === 1 }),
        Effect.timeout(Duration.seconds(10))
      )
      expect(yield* view(b)).toEqual(['g1@0001:{"title":"live"}'])
      const idle = yield* eb.status.changes.pipe(Stream.filter((s) => s._tag === "Idle"), Stream.take(1), Stream.runHead, Effect.timeout(Duration.seconds(10)))
      expect(idle._tag).toBe("Some")
      yield* Fiber.interrupt(fa)
      yield* Fiber.interrupt(fb)
      expect(yield* SubscriptionRef.get(ea.status)).toBeDefined()
    }), 30_000)
})

describe("retrySchedule", () => {
  const unavailable = (retryAfterMs?: number) =>
    new SyncTransport.TransportUnavailable(retryAfterMs === undefined ? { reason: "network", detail: "x" } : { reason: "rate-limited", detail: "x", retryAfterMs })

  it("grows exponentially under full jitter, is capped and honours Retry-After", () => {
    const options = { baseMs: 100, maxMs: 1_000 }
    const top = [0, 1, 2, 3, 4, 5].map((n) => SyncEngine.retryDelayMs(n, unavailable(), { ...options, random: () => 0.999 }))
    expect(top).toEqual([99, 199, 399, 799, 999, 999])
    expect(SyncEngine.retryDelayMs(3, unavailable(), { ...options, random: () => 0 })).toBe(0)
    expect(SyncEngine.retryDelayMs(0, unavailable(700), { ...options, random: () => 0 })).toBe(700)
    expect(SyncEngine.retryDelayMs(0, unavailable(60_000), { ...options, random: () => 0 })).toBe(1_000)
    // Jitter spreads clients out: many draws at one attempt are not all equal.
    const draws = new Set(Array.from({ length: 50 }, () => SyncEngine.retryDelayMs(4, unavailable(), options)))
    expect(draws.size).toBeGreaterThan(10)
  })

  it.effect("retries transport failures only", () =>
    Effect.gen(function*() {
      let calls = 0
      const failing = (error: SyncEngine.SyncError) => Effect.suspend(() => (calls++, Effect.fail(error)))
      const schedule = SyncEngine.retrySchedule({ baseMs: 1, maxMs: 1 }).pipe(Schedule.intersect(Schedule.recurs(3)))
      calls = 0
      yield* Effect.flip(Effect.retry(failing(unavailable()), schedule)).pipe(Effect.fork, Effect.flatMap((f) => Effect.zipRight(TestClock.adjust(Duration.seconds(1)), Fiber.join(f))))
      expect(calls).toBe(4)
      calls = 0
      yield* Effect.flip(Effect.retry(failing(new SyncTransport.PushRefused({ storeId: "s", reason: "invalid-record", detail: "x" })), schedule))
      expect(calls).toBe(1)
    }))
})
