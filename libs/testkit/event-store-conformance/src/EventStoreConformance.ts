/**
 * The conformance suite of the EventStore port. Every adapter runs it — the
 * sqlite-wasm adapter also in Chromium on OPFS.
 *
 * @since 0.1.0
 */

import { EventStore } from "@cipherlog/event-store"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Either, Exit, FastCheck as fc, Layer, Option, Scope, Stream } from "effect"
import * as Records from "./Records.js"

/**
 * What the suite needs from an adapter's test file.
 *
 * @since 0.1.0
 */
export interface Harness {
  readonly name: string
  /** Opens the store with this id (the same id reaches the same database while it persists). */
  readonly open: (id: string) => Layer.Layer<EventStore.EventStore, unknown>
  /** True when reopening an id reaches the same data (false for in-memory databases). */
  readonly persistent: boolean
  /** True when a second open of an id while the first is held must fail or wait (single writer). */
  readonly exclusive: boolean
  /** Property-test runs (default 25); hosts where every call is expensive may run fewer. */
  readonly propertyRuns?: number
  /** Runs raw SQL against the id's database (a second connection or the same one), to try what the API does not offer. */
  readonly raw?: (id: string, sql: string) => Effect.Effect<void, unknown>
}

let counter = 0
const freshId = () => `es${Date.now().toString(36)}${(counter++).toString(36)}`

type Op =
  | { readonly _tag: "append"; readonly writer: number; readonly aggregate: number; readonly count: number }
  | { readonly _tag: "retry"; readonly which: number }
  | { readonly _tag: "tamper"; readonly which: number }

/**
 * The invariant checks as functions, so mutant tests can show each failing.
 *
 * @since 0.1.0
 */
export const checks = {
  /**
   * INV-002 and INV-005: several writers append to a few aggregates with the
   * version they last saw, re-send earlier batches, and send same-id records
   * with other bytes. Returns what went wrong (empty when the store is right).
   */
  appendRules: (store: EventStore.EventStore, storeId: string, ops: ReadonlyArray<Op>) =>
    Effect.gen(function*() {
      const problems: Array<string> = []
      const seen = new Map<number, Map<number, number>>() // writer → aggregate → version it believes
      const sent: Array<EventStore.NewRecord> = []
      for (const op of ops) {
        if (op._tag === "append") {
          const view = seen.get(op.writer) ?? new Map<number, number>()
          seen.set(op.writer, view)
          const at = view.get(op.aggregate) ?? 0
          const batch = Array.from({ length: op.count }, (_, i) => Records.make({ storeId, aggregateId: `a${op.aggregate}`, version: at + 1 + i }))
          const result = yield* Effect.either(store.append(batch, { expected: [{ aggregateType: "Goal", aggregateId: `a${op.aggregate}`, version: at }] }))
          const actual = yield* store.aggregateVersion(storeId, "Goal", `a${op.aggregate}`)
          if (Either.isRight(result)) {
            sent.push(...batch)
            view.set(op.aggregate, at + op.count)
            if (actual !== at + op.count) problems.push(`after a successful append a${op.aggregate} is at ${actual}, not ${at + op.count}`)
          } else if (result.left._tag === "VersionConflict") {
            if (result.left.actual !== actual) problems.push(`a conflict reported ${result.left.actual} but a${op.aggregate} is at ${actual}`)
            if (at === actual) problems.push(`a conflict was reported for an up-to-date writer on a${op.aggregate}`)
            view.set(op.aggregate, result.left.actual) // the loser learns what it missed
          } else problems.push(`unexpected ${result.left._tag}`)
        } else if (op._tag === "retry" && sent.length > 0) {
          const again = sent[op.which % sent.length]!
          const result = yield* Effect.either(store.append([again]))
          if (Either.isLeft(result)) problems.push(`re-sending an identical record failed with ${result.left._tag}`)
        } else if (op._tag === "tamper" && sent.length > 0) {
          const original = sent[op.which % sent.length]!
          const forged = Records.make({ storeId, aggregateId: original.header.aggregateId, version: original.header.version, eventId: original.header.eventId })
          const result = yield* Effect.either(store.append([forged]))
          if (Either.isRight(result) || result.left._tag !== "DuplicateEventMismatch") problems.push("a same-id record with other bytes was not refused")
          const kept = yield* store.byEventId(storeId, original.header.eventId)
          if (Option.isNone(kept) || kept.value.recordJson !== EventStore.textOf(original)) problems.push("a same-id record with other bytes replaced the original")
        }
      }
      // Every aggregate is 1..n with no gap or duplicate; every event id appears once.
      for (let a = 0; a < 4; a++) {
        const versions = (yield* store.readAggregate(storeId, "Goal", `a${a}`)).map((r) => r.header.version)
        if (!versions.every((v, i) => v === i + 1)) problems.push(`a${a} versions are ${versions.join(",")}`)
      }
      const all = yield* store.readAfter(storeId, 0, 100_000)
      if (new Set(all.map((r) => r.header.eventId)).size !== all.length) problems.push("an event id is stored twice")
      return problems
    }),

  /** INV-001: syncs some records, then tries every way to change them; returns the records whose bytes changed. */
  immutability: (store: EventStore.EventStore, storeId: string, attempts: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const records = Array.from({ length: 6 }, (_, i) => Records.make({ storeId, aggregateId: "imm", version: i + 1 }))
      yield* store.append(records)
      yield* store.acknowledge(storeId, records.map((r, i) => ({ eventId: r.header.eventId, globalSequence: i + 1 })))
      const before = new Map((yield* store.readAfter(storeId, 0, 1000)).map((r) => [r.header.eventId, r] as const))
      for (const a of attempts) {
        const target = records[a % records.length]!
        yield* Effect.either(store.acknowledge(storeId, [{ eventId: target.header.eventId, globalSequence: 100 + a }]))
        yield* Effect.either(store.append([Records.make({ storeId, aggregateId: "imm", version: target.header.version, eventId: target.header.eventId })]))
        yield* Effect.either(store.applyRemote(storeId, [{ ...Records.make({ storeId, aggregateId: "imm", version: target.header.version, eventId: target.header.eventId }), globalSequence: a % 6 + 1 }]))
        yield* Effect.either(store.takePending(storeId))
      }
      const after = yield* store.readAfter(storeId, 0, 1000)
      return [...before.values()].filter((b) => {
        const a = after.find((r) => r.header.eventId === b.header.eventId)
        return a === undefined || a.recordJson !== b.recordJson || a.globalSequence !== b.globalSequence
      }).map((r) => r.header.eventId)
    })
}

const ops: fc.Arbitrary<ReadonlyArray<Op>> = fc.array(fc.oneof(
  { weight: 6, arbitrary: fc.record({ _tag: fc.constant("append" as const), writer: fc.integer({ min: 0, max: 2 }), aggregate: fc.integer({ min: 0, max: 3 }), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("retry" as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("tamper" as const), which: fc.nat() }) }
), { maxLength: 40 })

/**
 * Defines the conformance tests for one EventStore adapter.
 *
 * @since 0.1.0
 */
export const suite = (harness: Harness): void => {
  describe(`EventStore conformance: ${harness.name}`, () => {
    const use = <A, E>(id: string, f: (store: EventStore.EventStore) => Effect.Effect<A, E, Scope.Scope>) =>
      Effect.scoped(Effect.flatMap(EventStore.EventStore, f).pipe(Effect.provide(harness.open(id))))

    it.effect("appends, reads by aggregate, by position, as a stream, and counts", () =>
      use(freshId(), (store) =>
        Effect.gen(function*() {
          const s = "s1"
          const batch = [1, 2, 3].map((v) => Records.make({ storeId: s, aggregateId: "g1", version: v }))
          expect(yield* store.append(batch)).toMatchObject({ appended: 3, duplicates: 0 })
          yield* store.append([Records.make({ storeId: s, aggregateType: "Project", aggregateId: "p1", version: 1 })])
          expect((yield* store.readAggregate(s, "Goal", "g1")).map((r) => r.header.version)).toEqual([1, 2, 3])
          expect((yield* store.readAggregate(s, "Goal", "g1", 2)).map((r) => r.header.version)).toEqual([3])
          const all = yield* store.readAfter(s, 0, 10)
          expect(all.map((r) => r.recordJson)).toEqual([...batch.map(EventStore.textOf), all[3]!.recordJson])
          expect(all[0]!.ciphertext).toEqual(batch[0]!.ciphertext)
          expect(all.every((r, i) => i === 0 || r.position > all[i - 1]!.position)).toBe(true)
          const streamed = yield* Stream.runCollect(store.stream(s, 2))
          expect(Chunk.toReadonlyArray(streamed).map((r) => r.position)).toEqual(all.map((r) => r.position))
          expect(yield* store.counts(s)).toEqual({ records: 4, pending: 4, synced: 0, parked: 0, rejected: 0, aggregates: 2 })
          expect(yield* store.aggregateVersion(s, "Goal", "g1")).toBe(3)
          expect(yield* store.stores).toEqual([s])
          expect(yield* store.integrityCheck).toBe("ok")
        })))

    it.effect.prop("INV-002 INV-005 racing writers, retries and forged duplicates: 1..n per aggregate, one copy per event id", [ops], ([o]) =>
      use(freshId(), (store) => Effect.map(checks.appendRules(store, "s1", o), (problems) => expect(problems).toEqual([]))).pipe(Effect.asVoid),
      { fastCheck: { numRuns: harness.propertyRuns ?? 25 } }
    )

    it.effect("INV-002 a batch with a stale record writes nothing", () =>
      use(freshId(), (store) =>
        Effect.gen(function*() {
          yield* store.append([Records.make({ storeId: "s1", aggregateId: "g", version: 1 })])
          const batch = [Records.make({ storeId: "s1", aggregateId: "h", version: 1 }), Records.make({ storeId: "s1", aggregateId: "g", version: 1 })]
          const result = yield* Effect.either(store.append(batch))
          expect(Either.isLeft(result) && result.left._tag).toBe("VersionConflict")
          expect(Either.isLeft(result) && result.left.message).toMatch(/expected version 0, but it is at 1/)
          expect(yield* store.aggregateVersion("s1", "Goal", "h")).toBe(0)
          const gap = yield* Effect.either(store.append([Records.make({ storeId: "s1", aggregateId: "g", version: 3 })]))
          expect(Either.isLeft(gap) && gap.left._tag).toBe("VersionConflict")
        })))

    it.effect.prop("INV-001 no API path changes or removes a synced record", [fc.array(fc.nat(), { minLength: 1, maxLength: 12 })], ([attempts]) =>
      use(freshId(), (store) => Effect.map(checks.immutability(store, "s1", attempts), (changed) => expect(changed).toEqual([]))).pipe(Effect.asVoid),
      { fastCheck: { numRuns: Math.min(10, harness.propertyRuns ?? 10) } }
    )

    if (harness.raw) {
      const raw = harness.raw
      it.effect("INV-001 the database itself refuses to update or delete a synced record", () =>
        Effect.gen(function*() {
          const id = freshId()
          const r = Records.make({ storeId: "s1", aggregateId: "g", version: 1 })
          yield* use(id, (store) => Effect.zipRight(store.append([r]), store.acknowledge("s1", [{ eventId: r.header.eventId, globalSequence: 1 }])))
          for (const sql of [
            `UPDATE records SET record_json = '{}' WHERE event_id = '${r.header.eventId}'`,
            `UPDATE records SET global_seq = 7 WHERE event_id = '${r.header.eventId}'`,
            `DELETE FROM records WHERE event_id = '${r.header.eventId}'`
          ]) {
            const result = yield* Effect.either(raw(id, sql))
            expect(Either.isLeft(result), sql).toBe(true)
            expect(String(Either.isLeft(result) ? (result.left as Error).message : "")).toMatch(/cipherlog: /)
          }
          if (harness.persistent) {
            yield* use(id, (store) => Effect.map(store.byEventId("s1", r.header.eventId), (o) => expect(Option.getOrThrow(o).recordJson).toBe(EventStore.textOf(r))))
          }
        }))
    }

    it.effect("remote records: inserted in server order, own pending ones acknowledged, the cursor follows contiguous sequences", () =>
      use(freshId(), (store) =>
        Effect.gen(function*() {
          const mine = Records.make({ storeId: "s1", aggregateId: "m", version: 1 })
          yield* store.append([mine])
          const theirs = [1, 2].map((v) => Records.make({ storeId: "s1", aggregateId: "t", version: v, device: "d2" }))
          const result = yield* store.applyRemote("s1", [
            { ...theirs[0]!, globalSequence: 1 },
            { ...mine, globalSequence: 2 },
            { ...theirs[1]!, globalSequence: 4 }
          ])
          expect(result.inserted.map((r) => r.globalSequence)).toEqual([1, 4])
          expect(result.acknowledged).toBe(1)
          expect(yield* store.cursor("s1")).toBe(2) // 3 is missing: the cursor waits for it
          expect((yield* store.readPending("s1", 10)).length).toBe(0)
          const again = yield* store.applyRemote("s1", [{ ...theirs[0]!, globalSequence: 1 }])
          expect(again.inserted.length + again.acknowledged).toBe(0)
          const forged = Records.make({ storeId: "s1", aggregateId: "t", version: 1, eventId: theirs[0]!.header.eventId, device: "d2" })
          expect((yield* store.applyRemote("s1", [{ ...forged, globalSequence: 1 }])).mismatched).toEqual([theirs[0]!.header.eventId])
          expect(Option.getOrThrow(yield* store.byEventId("s1", theirs[0]!.header.eventId)).recordJson).toBe(EventStore.textOf(theirs[0]!))
        })))

    it.effect("a remote record at a pending record's version displaces it and every later pending record, for rebase", () =>
      use(freshId(), (store) =>
        Effect.gen(function*() {
          const a1 = Records.make({ storeId: "s1", aggregateId: "a", version: 1 })
          const b1 = Records.make({ storeId: "s1", aggregateId: "b", version: 1 })
          const a2 = Records.make({ storeId: "s1", aggregateId: "a", version: 2 })
          yield* store.append([a1])
          yield* store.acknowledge("s1", [{ eventId: a1.header.eventId, globalSequence: 1 }])
          yield* store.append([a2, b1])
          const winner = Records.make({ storeId: "s1", aggregateId: "a", version: 2, device: "d2" })
          const result = yield* store.applyRemote("s1", [{ ...winner, globalSequence: 2 }])
          expect(result.displaced.map((r) => r.header.eventId)).toEqual([a2.header.eventId, b1.header.eventId])
          expect((yield* store.readAggregate("s1", "Goal", "a")).map((r) => r.header.eventId)).toEqual([a1.header.eventId, winner.header.eventId])
          expect(yield* store.aggregateVersion("s1", "Goal", "b")).toBe(0)
          yield* store.append([Records.make({ storeId: "s1", aggregateId: "a", version: 3 })])
          expect(yield* store.counts("s1")).toMatchObject({ records: 3, pending: 1, synced: 2 })
        })))

    it.scoped("chain heads, statuses, the encrypted cache and change notifications", () =>
      use(freshId(), (store) =>
        Effect.gen(function*() {
          expect(Option.isNone(yield* store.chainHead("s1", "d1"))).toBe(true)
          const r = Records.make({ storeId: "s1", aggregateId: "g", version: 1 })
          const updates = yield* store.subscribe("s1")
          yield* store.append([r], { chain: { storeId: "s1", deviceId: "d1", head: { seq: 1, digest: new Uint8Array(32).fill(1) } } })
          expect(Option.getOrThrow(yield* store.chainHead("s1", "d1"))).toEqual({ seq: 1, digest: new Uint8Array(32).fill(1) })
          yield* store.setChainHead("s1", "d2", { seq: 4, digest: new Uint8Array(32).fill(2) })
          expect(Option.getOrThrow(yield* store.chainHead("s1", "d2")).seq).toBe(4)
          yield* store.setStatus("s1", r.header.eventId, "parked", "key k1@0 missing")
          expect(yield* store.withStatus("s1", "parked")).toEqual([{ eventId: r.header.eventId, reason: "key k1@0 missing" }])
          expect((yield* store.counts("s1")).parked).toBe(1)
          yield* store.setStatus("s1", r.header.eventId, "ok")
          expect(yield* store.withStatus("s1", "parked")).toEqual([])
          // Many at once: set, replaced, cleared by "ok"; an empty batch changes nothing.
          yield* store.setStatuses("s1", [
            { eventId: "e-a", status: "parked", reason: "awaiting its author's signature" },
            { eventId: "e-b", status: "rejected", reason: "tag" },
            { eventId: "e-c", status: "parked", reason: "key k1@0" }
          ])
          yield* store.setStatuses("s1", [{ eventId: "e-a", status: "ok" }, { eventId: "e-c", status: "parked", reason: "key k2@0" }])
          yield* store.setStatuses("s1", [])
          expect(yield* store.withStatus("s1", "parked")).toEqual([{ eventId: "e-c", reason: "key k2@0" }])
          expect(yield* store.withStatus("s1", "rejected")).toEqual([{ eventId: "e-b", reason: "tag" }])
          yield* store.setStatuses("s1", [{ eventId: "e-b", status: "ok" }, { eventId: "e-c", status: "ok" }])
          expect(yield* store.withStatus("s1", "parked")).toEqual([])
          expect(yield* store.withStatus("s1", "rejected")).toEqual([])
          yield* store.cache.put("projection:goals", [["g", Uint8Array.of(1, 2)], ["h", Uint8Array.of(3)]])
          expect(Option.getOrThrow(yield* store.cache.get("projection:goals", "g"))).toEqual(Uint8Array.of(1, 2))
          expect(yield* store.cache.keys("projection:goals")).toEqual(["g", "h"])
          yield* store.cache.clear("projection:goals")
          expect(Option.isNone(yield* store.cache.get("projection:goals", "g"))).toBe(true)
          expect(Option.getOrThrow(yield* Stream.runHead(updates))).toBeGreaterThanOrEqual(1)
        })))

    if (harness.persistent) {
      it.effect("data survives closing and reopening the store", () =>
        Effect.gen(function*() {
          const id = freshId()
          const r = Records.make({ storeId: "s1", aggregateId: "g", version: 1 })
          yield* use(id, (store) => store.append([r]))
          yield* use(id, (store) => Effect.map(store.readAfter("s1", 0, 10), (rs) => expect(rs.map((x) => x.recordJson)).toEqual([EventStore.textOf(r)])))
        }))
    }

    if (harness.exclusive) {
      it.effect("INV-011 while one writer holds the store, a second open fails clearly; the store stays sound", () =>
        Effect.gen(function*() {
          const id = freshId()
          const scope = yield* Scope.make()
          const first = Context.get(yield* Layer.buildWithScope(harness.open(id), scope), EventStore.EventStore)
          yield* first.append([Records.make({ storeId: "s1", aggregateId: "g", version: 1 })])
          const second = yield* Effect.either(use(id, (store) => store.append([Records.make({ storeId: "s1", aggregateId: "g", version: 2 })])))
          expect(Either.isLeft(second) && (second.left as { _tag: string })._tag).toBe("StoreLocked")
          yield* first.append([Records.make({ storeId: "s1", aggregateId: "g", version: 2 })])
          expect(yield* first.integrityCheck).toBe("ok")
          yield* Scope.close(scope, Exit.void)
          yield* use(id, (store) => Effect.map(store.aggregateVersion("s1", "Goal", "g"), (v) => expect(v).toBe(2)))
        }), 30_000)
    }
  })
}

