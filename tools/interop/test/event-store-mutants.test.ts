/**
 * The EventStore invariant checks, run against deliberately broken stores:
 * each check must report the breakage. (The suite requires the same checks
 * to pass on every real adapter.)
 */
import { DuplicateEventMismatch } from "@cipherlog/domain"
import { type EventStore, SqlEventStore } from "@cipherlog/event-store"
import { SqliteNodeEventStore } from "@cipherlog/event-store-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, FastCheck as fc } from "effect"
import { EventStoreConformance, Records } from "@cipherlog/event-store-conformance"

const open = () =>
  Effect.gen(function*() {
    const db = new Database(":memory:")
    yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
    const store = yield* SqlEventStore.make(SqliteNodeEventStore.executor(db), { adapter: "mutant", location: ":memory:" })
    return { db, store }
  })

const history = fc.sample(fc.array(fc.oneof(
  fc.record({ _tag: fc.constant("append" as const), writer: fc.integer({ min: 0, max: 2 }), aggregate: fc.integer({ min: 0, max: 3 }), count: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ _tag: fc.constant("tamper" as const), which: fc.nat() })
), { minLength: 20, maxLength: 40 }), { numRuns: 5, seed: 4 })

describe("EventStore checks catch broken stores", () => {
  it.scoped("INV-002 mutant: a store that silently moves a stale append to the next free versions (a silent merge)", () =>
    Effect.gen(function*() {
      let caught = 0
      for (const ops of history) {
        const { store } = yield* open()
        const merging: EventStore.EventStore = {
          ...store,
          append: (records, options) =>
            store.append(records, options).pipe(Effect.catchTag("VersionConflict", (e) =>
              store.append(records.map((r, i) =>
                Records.make({ storeId: r.header.storeId, aggregateId: r.header.aggregateId, version: e.actual + 1 + i, eventId: r.header.eventId })
              ))))
        }
        if ((yield* EventStoreConformance.checks.appendRules(merging, "s1", ops)).length > 0) caught++
        expect(yield* EventStoreConformance.checks.appendRules(store, "s2", ops)).toEqual([])
      }
      expect(caught).toBeGreaterThan(0)
    }))

  it.scoped("INV-005 mutant: a store that takes a same-id record with other bytes as a harmless duplicate", () =>
    Effect.gen(function*() {
      let caught = 0
      for (const ops of history) {
        const { store } = yield* open()
        const lenient: EventStore.EventStore = {
          ...store,
          append: (records, options) =>
            store.append(records, options).pipe(Effect.catchIf((e): e is DuplicateEventMismatch => e instanceof DuplicateEventMismatch, () => Effect.succeed({ appended: 0, duplicates: records.length, positions: [] as ReadonlyArray<number> })))
        }
        if ((yield* EventStoreConformance.checks.appendRules(lenient, "s1", ops)).some((p) => p.includes("not refused"))) caught++
      }
      expect(caught).toBeGreaterThan(0)
    }))

  it.scoped("INV-001 mutant: a store without its immutability triggers, whose acknowledge re-sequences synced records", () =>
    Effect.gen(function*() {
      const { db, store } = yield* open()
      db.exec("DROP TRIGGER records_immutable; DROP TRIGGER records_append_only")
      const resequencing: EventStore.EventStore = {
        ...store,
        acknowledge: (storeId, acks) =>
          Effect.sync(() => {
            for (const a of acks) db.prepare("UPDATE records SET global_seq = ? WHERE store_id = ? AND event_id = ?").run(a.globalSequence, storeId, a.eventId)
            return acks.length
          })
      }
      expect((yield* EventStoreConformance.checks.immutability(resequencing, "s1", [0, 1, 2])).length).toBeGreaterThan(0)
      const { store: sound } = yield* open()
      expect(yield* EventStoreConformance.checks.immutability(sound, "s1", [0, 1, 2])).toEqual([])
    }))
})
