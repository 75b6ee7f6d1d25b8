import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { checkRotation, type IncomingRecord, leavesAnAdmin, planAppend } from "../src/internal/rules.js"

const rec = (eventId: string, aggregateId: string, version: number, text = `t-${eventId}`): IncomingRecord => ({
  eventId, aggregateType: "T", aggregateId, version, recordJson: text
})

describe("append rules", () => {
  it("INV-002 INV-003 a batch continuing its aggregates gets the next sequences in order", () => {
    const plan = Either.getOrThrow(planAppend(10, [rec("a", "x", 3), rec("b", "y", 1), rec("c", "x", 4)], new Map(), new Map([["T\nx", 2]])))
    expect(plan.results.map((r) => [r.eventId, r.globalSequence, r.duplicate])).toEqual([["a", 11, false], ["b", 12, false], ["c", 13, false]])
    expect(plan.head).toBe(13)
  })

  it("INV-005 a stored or repeated event id with the same text is a duplicate with its sequence; other text is refused", () => {
    const existing = new Map([["a", { globalSequence: 4, recordJson: "t-a" }]])
    const plan = Either.getOrThrow(planAppend(9, [rec("a", "x", 1), rec("b", "y", 1), rec("b", "y", 1)], existing, new Map([["T\nx", 1]])))
    expect(plan.results.map((r) => [r.globalSequence, r.duplicate])).toEqual([[4, true], [10, false], [10, true]])
    expect(plan.inserts.length).toBe(1)
    expect(planAppend(9, [rec("a", "x", 1, "other")], existing, new Map())).toEqual(Either.left({ _tag: "Mismatch", eventId: "a" }))
  })

  it("INV-002 a record that breaks the batch's own order is the batch's fault (BatchOrder), one behind the stored version a conflict", () => {
    const stored = new Map([["T\nx", 2]])
    // x is at 2; the batch brings it to 3, then repeats 3: nothing stored is missing.
    expect(planAppend(5, [rec("a", "x", 3), rec("b", "y", 1), rec("c", "x", 3)], new Map(), stored)).toEqual(
      Either.left({ _tag: "BatchOrder", index: 2, aggregateType: "T", aggregateId: "x", version: 3, batchVersion: 3 })
    )
    // A gap after the batch's own record.
    expect(planAppend(5, [rec("a", "x", 3), rec("c", "x", 5)], new Map(), stored)).toMatchObject(Either.left({ _tag: "BatchOrder", index: 1, batchVersion: 3 }))
    // A record older than the stored version conflicts with stored records (the writer misses them), batch or not.
    expect(planAppend(5, [rec("a", "x", 3), rec("c", "x", 2)], new Map(), stored)).toEqual(
      Either.left({ _tag: "Conflict", aggregateType: "T", aggregateId: "x", expected: 1, actual: 2, fromVersion: 2 })
    )
    // The first record of an aggregate in the batch is compared with the stored version only.
    expect(planAppend(5, [rec("a", "x", 5)], new Map(), stored)).toMatchObject(Either.left({ _tag: "Conflict", expected: 4, actual: 2 }))
  })

  it.prop(
    "INV-002 a record accepted by the plan always continues its aggregate by exactly one",
    [fc.array(fc.record({ id: fc.integer({ min: 0, max: 30 }), agg: fc.constantFrom("x", "y"), version: fc.integer({ min: 1, max: 6 }) }), { maxLength: 12 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })],
    ([items, x, y]) => {
      const result = planAppend(0, items.map((i) => rec(`e${i.id}-${i.agg}-${i.version}`, i.agg, i.version)), new Map(), new Map([["T\nx", x], ["T\ny", y]]))
      if (Either.isLeft(result)) return
      const at = new Map([["x", x], ["y", y]])
      for (const { record } of result.right.inserts) {
        expect(record.version).toBe(at.get(record.aggregateId)! + 1)
        at.set(record.aggregateId, record.version)
      }
      expect(result.right.inserts.map((i) => i.globalSequence)).toEqual(result.right.inserts.map((_, k) => k + 1))
    }
  )

  it("members: an admin must remain; rotation blobs must cover exactly the remaining members", () => {
    const members = new Map([["a", "admin" as const], ["b", "member" as const]])
    expect(leavesAnAdmin(members, { userId: "a", role: undefined })).toBe(false)
    expect(leavesAnAdmin(members, { userId: "b", role: "admin" })).toBe(true)
    expect(checkRotation(members, ["b"], [{ userId: "a" as never, blob: "x" }])._tag).toBe("Right")
    expect(checkRotation(members, ["a"], [{ userId: "b" as never, blob: "x" }])).toEqual(Either.left({ _tag: "LastAdmin" }))
    expect(checkRotation(members, ["c"], [])).toEqual(Either.left({ _tag: "NotMembers", userIds: ["c"] }))
    expect(checkRotation(members, [], [{ userId: "a" as never, blob: "x" }])).toEqual(Either.left({ _tag: "Mismatch", missing: ["b"], unexpected: [] }))
  })
})
