import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { EventId } from "../src/index.js"

const random10 = fc.uint8Array({ minLength: 10, maxLength: 10 })

describe("EventId", () => {
  it.prop(
    "a generator's ids strictly increase, as text, whatever the clock does",
    [fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), random10), { minLength: 2, maxLength: 300 })],
    ([steps]) => {
      const gen = EventId.makeGenerator()
      const ids = steps.map(([ms, rnd]) => gen.next(ms, rnd))
      for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
      for (const id of ids) expect(Either.isRight(Schema.decodeUnknownEither(EventId.EventId)(id))).toBe(true)
    }
  )

  it.prop("ids sort by their timestamp and carry it", [fc.integer({ min: 0, max: 2 ** 48 - 2 }), random10, random10], ([ms, a, b]) => {
    const early = EventId.makeGenerator().next(ms, a)
    const late = EventId.makeGenerator().next(ms + 1, b)
    expect(early < late).toBe(true)
    expect(EventId.timestampOf(early)).toBe(ms)
  })

  it("keeps 4096 ids in one millisecond strictly increasing (counter overflow moves the clock on)", () => {
    const gen = EventId.makeGenerator()
    const rnd = new Uint8Array(10).fill(0xff)
    let prev = gen.next(1000, rnd)
    for (let i = 0; i < 5000; i++) {
      const next = gen.next(1000, rnd)
      expect(next > prev).toBe(true)
      prev = next
    }
    expect(EventId.timestampOf(prev)).toBeGreaterThan(1000)
  })

  it("rejects anything but a lowercase UUIDv7, with a message that says what is expected", () => {
    for (const bad of ["0192f1c4-9a3b-4c2d-8e4f-0123456789ab", "0192F1C4-9A3B-7C2D-8E4F-0123456789AB", "", "x"]) {
      const result = Schema.decodeUnknownEither(EventId.EventId)(bad)
      expect(Either.isLeft(result)).toBe(true)
    }
    const err = Schema.decodeUnknownEither(EventId.EventId)("nope")
    expect(Either.isLeft(err) && String(err.left)).toContain("lowercase UUIDv7")
  })
})
