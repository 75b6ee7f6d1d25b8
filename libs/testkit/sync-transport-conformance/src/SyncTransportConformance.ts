/**
 * The conformance suite of the `SyncTransport` port. Every adapter runs it:
 * the memory adapter over the server's memory store, the HTTP adapter over
 * a real server on loopback.
 *
 * @since 0.1.0
 */
import { SyncTransport } from "@cipherlog/sync"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, FastCheck as fc, type Scope } from "effect"
import * as Records from "./Records.js"

/**
 * A user and the transport that acts as them.
 *
 * @since 0.1.0
 */
export interface Actor {
  readonly userId: string
  readonly transport: SyncTransport.SyncTransport
}

/**
 * A fresh store with two writers and one user who is not a member.
 *
 * @since 0.1.0
 */
export interface Setup {
  readonly storeId: string
  readonly alice: Actor
  readonly bob: Actor
  readonly outsider: Actor
}

/**
 * What the suite needs from an adapter's test file.
 *
 * @since 0.1.0
 */
export interface Harness {
  readonly name: string
  readonly setup: Effect.Effect<Setup, unknown, Scope.Scope>
  /** Property-test runs (default 10). */
  readonly propertyRuns?: number
}

/** Pulls every record of a store from 0, page by page. */
const pullAll = (t: SyncTransport.SyncTransport, storeId: string, limit = 1000) =>
  Effect.gen(function*() {
    const all: Array<SyncTransport.RemoteRecord> = []
    let after = 0
    for (;;) {
      const page = yield* t.pull(storeId, { after, limit })
      all.push(...page.records)
      if (page.records.length === 0 || !page.hasMore) return all
      after = page.records.at(-1)!.globalSequence
    }
  })

type Step = { readonly writer: 0 | 1; readonly aggregate: number; readonly count: number; readonly resend: boolean }

/**
 * The invariant checks as functions, so mutant tests can show each failing.
 *
 * @since 0.1.0
 */
export const checks = {
  /**
   * INV-003, INV-004, INV-005 through a transport: two writers push batches
   * (some re-sent, as after a lost answer) to a few aggregates, pulling
   * after a conflict. Then a full pull must show sequences 1..n without a
   * gap, every accepted text byte for byte, every acknowledgement's sequence
   * at its record, and re-sends acknowledged with their first sequence.
   * Returns what went wrong (empty when the transport is right).
   */
  convergence: (setup: Setup, steps: ReadonlyArray<Step>) =>
    Effect.gen(function*() {
      const problems: Array<string> = []
      const writers = [setup.alice, setup.bob]
      const acked = new Map<string, { readonly seq: number; readonly text: string }>()
      const views = [new Map<number, number>(), new Map<number, number>()]
      const lastBatch: Array<ReadonlyArray<string> | undefined> = [undefined, undefined]
      for (const step of steps) {
        const w = writers[step.writer]!
        const view = views[step.writer]!
        let texts: ReadonlyArray<string>
        if (step.resend && lastBatch[step.writer] !== undefined) texts = lastBatch[step.writer]!
        else {
          const at = view.get(step.aggregate) ?? 0
          texts = Array.from({ length: step.count }, (_, i) =>
            Records.text({ storeId: setup.storeId, userId: w.userId, aggregateId: `a${step.aggregate}`, version: at + 1 + i }))
        }
        const outcome = yield* Effect.either(w.transport.push(setup.storeId, texts))
        if (Either.isRight(outcome)) {
          lastBatch[step.writer] = texts
          const results = outcome.right.results
          if (results.length !== texts.length) problems.push(`push of ${texts.length} answered ${results.length} results`)
          results.forEach((r, i) => {
            const text = texts[i]!
            if (r.eventId !== Records.eventIdOf(text)) problems.push(`result ${i} names ${r.eventId}, not the record pushed there`)
            const before = acked.get(r.eventId)
            if (before !== undefined && before.seq !== r.globalSequence) {
              problems.push(`re-sent ${r.eventId} got sequence ${r.globalSequence}, first ${before.seq} (INV-005)`)
            }
            if (before !== undefined && !r.duplicate) problems.push(`re-sent ${r.eventId} not marked duplicate`)
            if (before === undefined) acked.set(r.eventId, { seq: r.globalSequence, text })
          })
          if (!step.resend) view.set(step.aggregate, (view.get(step.aggregate) ?? 0) + texts.length)
        } else if (outcome.left._tag === "PushConflict") {
          // Learn the aggregate's real version, as a client would by pulling.
          view.set(step.aggregate, outcome.left.actual)
        } else problems.push(`push failed: ${outcome.left._tag}`)
      }
      const all = yield* pullAll(setup.alice.transport, setup.storeId, 7)
      all.forEach((r, i) => {
        if (r.globalSequence !== i + 1) problems.push(`record ${i} has sequence ${r.globalSequence}, not ${i + 1} (INV-003)`)
      })
      const seen = new Set<string>()
      for (const r of all) {
        const id = Records.eventIdOf(r.recordJson)
        if (seen.has(id)) problems.push(`event ${id} pulled twice`)
        seen.add(id)
        const a = acked.get(id)
        if (a === undefined) problems.push(`event ${id} pulled but never acknowledged`)
        else {
          if (a.text !== r.recordJson) problems.push(`event ${id} came back with other bytes (INV-004)`)
          if (a.seq !== r.globalSequence) problems.push(`event ${id} acknowledged at ${a.seq}, pulled at ${r.globalSequence}`)
        }
      }
      for (const id of acked.keys()) if (!seen.has(id)) problems.push(`acknowledged event ${id} is missing from the pull`)
      return problems
    })
}

const steps = fc.array(
  fc.record({
    writer: fc.constantFrom(0 as const, 1 as const),
    aggregate: fc.integer({ min: 0, max: 2 }),
    count: fc.integer({ min: 1, max: 4 }),
    resend: fc.boolean()
  }),
  { minLength: 1, maxLength: 14 }
)

/**
 * Registers the suite.
 *
 * @since 0.1.0
 */
export const suite = (harness: Harness): void => {
  describe(`SyncTransport conformance: ${harness.name}`, () => {
    it.scopedLive("INV-003 INV-004 a push is acknowledged with gapless sequences and pulled back byte for byte", () =>
      Effect.gen(function*() {
        const { alice, storeId } = yield* harness.setup
        const texts = [1, 2, 3].map((v) => Records.text({ storeId, userId: alice.userId, aggregateId: "n1", version: v }))
        const accepted = yield* alice.transport.push(storeId, texts)
        expect(accepted.results.map((r) => r.globalSequence)).toEqual([1, 2, 3])
        expect(accepted.results.map((r) => r.duplicate)).toEqual([false, false, false])
        expect(accepted.results.map((r) => r.eventId)).toEqual(texts.map(Records.eventIdOf))
        expect(accepted.head).toBe(3)
        const page = yield* alice.transport.pull(storeId, { after: 0 })
        expect(page.records).toEqual(texts.map((recordJson, i) => ({ globalSequence: i + 1, recordJson })))
        expect(page.head).toBe(3)
        expect(page.hasMore).toBe(false)
      }))

    it.scopedLive("INV-005 a re-sent batch is acknowledged with its first sequences; other bytes under an event id are refused", () =>
      Effect.gen(function*() {
        const { alice, storeId } = yield* harness.setup
        const id = Records.eventId()
        const texts = [Records.text({ storeId, userId: alice.userId, aggregateId: "n1", version: 1, eventId: id })]
        yield* alice.transport.push(storeId, texts)
        const again = yield* alice.transport.push(storeId, texts)
        expect(again.results).toEqual([{ eventId: id, globalSequence: 1, duplicate: true }])
        const forged = Records.text({ storeId, userId: alice.userId, aggregateId: "n1", version: 1, eventId: id })
        const refused = yield* Effect.flip(alice.transport.push(storeId, [forged]))
        expect(refused._tag).toBe("PushRefused")
        if (refused._tag === "PushRefused") {
          expect(refused.reason).toBe("duplicate-mismatch")
          expect(refused.eventId).toBe(id)
        }
        const page = yield* alice.transport.pull(storeId, { after: 0 })
        expect(page.records.map((r) => r.recordJson)).toEqual(texts)
      }))

    it.scopedLive("INV-002 a conflicting batch stores nothing and names what is missing", () =>
      Effect.gen(function*() {
        const { alice, bob, storeId } = yield* harness.setup
        const first = Records.text({ storeId, userId: alice.userId, aggregateId: "n1", version: 1 })
        yield* alice.transport.push(storeId, [first])
        const fine = Records.text({ storeId, userId: bob.userId, aggregateId: "other", version: 1 })
        const late = Records.text({ storeId, userId: bob.userId, aggregateId: "n1", version: 1 })
        const conflict = yield* Effect.flip(bob.transport.push(storeId, [fine, late]))
        expect(conflict._tag).toBe("PushConflict")
        if (conflict._tag === "PushConflict") {
          expect(conflict.aggregateId).toBe("n1")
          expect(conflict.actual).toBe(1)
          expect(conflict.missing.map((r) => r.recordJson)).toContain(first)
        }
        const page = yield* bob.transport.pull(storeId, { after: 0 })
        expect(page.records.map((r) => r.recordJson)).toEqual([first])
      }))

    it.scopedLive("malformed records, other authors and other stores are refused as invalid; nothing is stored", () =>
      Effect.gen(function*() {
        const { alice, bob, storeId } = yield* harness.setup
        const bad = [
          "{not json",
          Records.text({ storeId, userId: bob.userId, aggregateId: "n1", version: 1 }),
          Records.text({ storeId: `${storeId}x`, userId: alice.userId, aggregateId: "n1", version: 1 })
        ]
        for (const text of bad) {
          const good = Records.text({ storeId, userId: alice.userId, aggregateId: "g", version: 1 })
          const refused = yield* Effect.flip(alice.transport.push(storeId, [good, text]))
          expect(refused._tag).toBe("PushRefused")
          if (refused._tag === "PushRefused") {
            expect(refused.reason).toBe("invalid-record")
            expect(refused.message).not.toContain("ciphertext\":\"")
          }
        }
        expect((yield* alice.transport.pull(storeId, { after: 0 })).records).toEqual([])
      }))

    it.scopedLive("pulls page from a cursor with hasMore", () =>
      Effect.gen(function*() {
        const { alice, storeId } = yield* harness.setup
        const texts = Array.from({ length: 5 }, (_, i) => Records.text({ storeId, userId: alice.userId, aggregateId: "n", version: i + 1 }))
        yield* alice.transport.push(storeId, texts)
        const a = yield* alice.transport.pull(storeId, { after: 0, limit: 2 })
        expect(a.records.map((r) => r.globalSequence)).toEqual([1, 2])
        expect(a.hasMore).toBe(true)
        const b = yield* alice.transport.pull(storeId, { after: 2, limit: 2 })
        expect(b.records.map((r) => r.globalSequence)).toEqual([3, 4])
        const c = yield* alice.transport.pull(storeId, { after: 4, limit: 2 })
        expect(c.records.map((r) => r.recordJson)).toEqual([texts[4]])
        expect(c.hasMore).toBe(false)
        const d = yield* alice.transport.pull(storeId, { after: 5 })
        expect(d.records).toEqual([])
        expect(d.head).toBe(5)
      }))

    it.scopedLive("a long poll returns as soon as another writer pushes, and empty when the wait ends", () =>
      Effect.gen(function*() {
        const { alice, bob, storeId } = yield* harness.setup
        const started = Date.now()
        const empty = yield* alice.transport.pull(storeId, { after: 0, waitMs: 300 })
        expect(empty.records).toEqual([])
        expect(Date.now() - started).toBeGreaterThanOrEqual(250)
        const waiting = yield* Effect.fork(alice.transport.pull(storeId, { after: 0, waitMs: 20_000 }))
        yield* Effect.sleep(Duration.millis(150))
        const text = Records.text({ storeId, userId: bob.userId, aggregateId: "n", version: 1 })
        const pushedAt = Date.now()
        yield* bob.transport.push(storeId, [text])
        const page = yield* Fiber.join(waiting)
        expect(page.records.map((r) => r.recordJson)).toEqual([text])
        expect(Date.now() - pushedAt).toBeLessThan(5_000)
      }), 30_000)

    it.scopedLive("a user who is not a member is denied both ways", () =>
      Effect.gen(function*() {
        const { outsider, storeId } = yield* harness.setup
        const text = Records.text({ storeId, userId: outsider.userId, aggregateId: "n", version: 1 })
        const pushed = yield* Effect.flip(outsider.transport.push(storeId, [text]))
        expect(pushed).toMatchObject({ _tag: "AccessDenied", status: 403 })
        const pulled = yield* Effect.flip(outsider.transport.pull(storeId, { after: 0 }))
        expect(pulled).toMatchObject({ _tag: "AccessDenied", status: 403 })
      }))

    it.scopedLive("INV-003 INV-004 INV-005 two writers converge: gapless order, exact texts, stable acknowledgements (property)", () =>
      Effect.gen(function*() {
        const runs = harness.propertyRuns ?? 10
        const samples = fc.sample(steps, runs)
        for (const sample of samples) {
          const setup = yield* harness.setup
          const problems = yield* checks.convergence(setup, sample)
          // The sample is in the comparison so that a failure shows the steps that caused it.
          expect({ sample, problems }).toEqual({ sample, problems: [] })
        }
      }), 120_000)
  })
}
