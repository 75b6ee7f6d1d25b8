import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { AggregateVersion } from "../src/index.js"

const agg = { storeId: "s1", aggregateType: "Goal", aggregateId: "g1" }

/** Several writers each append with the version they last saw; a model log applies the rules. */
const run = (
  ops: ReadonlyArray<{ writer: number; count: number; refresh: boolean }>,
  check: typeof AggregateVersion.checkAppend
) => {
  const log: Array<number> = []
  const seen = new Map<number, number>()
  let conflicts = 0
  for (const op of ops) {
    const expected = seen.get(op.writer) ?? 0
    const result = check(agg, log.length, AggregateVersion.exactly(expected), op.count)
    if (Either.isRight(result)) {
      log.push(...result.right)
      seen.set(op.writer, log.length)
    } else {
      conflicts++
      expect(result.left.actual).toBe(log.length)
      expect(result.left.expected).toBe(expected)
      seen.set(op.writer, result.left.actual) // the loser learns how far the aggregate is and rebases
    }
  }
  return { log, conflicts }
}

const ops = fc.array(
  fc.record({ writer: fc.integer({ min: 0, max: 3 }), count: fc.integer({ min: 1, max: 4 }), refresh: fc.boolean() }),
  { maxLength: 60 }
)

describe("AggregateVersion", () => {
  it.prop("INV-002 racing writers always leave versions 1..n, and every stale append is a conflict", [ops], ([o]) => {
    const { log } = run(o, AggregateVersion.checkAppend)
    expect(AggregateVersion.isContiguousFromOne(log)).toBe(true)
  })

  it("INV-002 mutant: a check that ignores the expected version lets a stale writer through", () => {
    const lenient: typeof AggregateVersion.checkAppend = (a, current, _expected, count) =>
      AggregateVersion.checkAppend(a, current, AggregateVersion.any, count)
    const result = fc.check(
      fc.property(ops, (o) => {
        const { conflicts } = run(o, lenient)
        const strict = run(o, AggregateVersion.checkAppend)
        return conflicts === strict.conflicts
      }),
      { seed: 11, numRuns: 200 }
    )
    expect(result.failed).toBe(true)
  })

  it("a conflict says what was expected and where the aggregate is, and what to do", () => {
    const result = AggregateVersion.checkAppend(agg, 5, AggregateVersion.exactly(3), 1)
    expect(Either.isLeft(result)).toBe(true)
    const e = Either.getLeft(result)
    expect(e._tag === "Some" && e.value.message).toMatch(/expected version 3, but it is at 5.*retry/)
  })

  it("Any appends at the end; versions come out contiguous", () => {
    expect(Either.getOrThrow(AggregateVersion.checkAppend(agg, 2, AggregateVersion.any, 3))).toEqual([3, 4, 5])
    expect(AggregateVersion.follows(3, 4)).toBe(true)
    expect(AggregateVersion.follows(3, 5)).toBe(false)
    expect(AggregateVersion.isContiguousFromOne([1, 2, 4])).toBe(false)
    expect(AggregateVersion.isContiguousFromOne([1, 1])).toBe(false)
  })

  it("refuses nonsense arguments loudly", () => {
    expect(() => AggregateVersion.checkAppend(agg, -1, AggregateVersion.any, 1)).toThrow(RangeError)
    expect(() => AggregateVersion.checkAppend(agg, 0, AggregateVersion.any, 0)).toThrow(RangeError)
  })
})
