import { Bytes } from "@cipherlog/domain"
import { describe, expect, it } from "@effect/vitest"
import { Models } from "@cipherlog/sync-api"
import { FastCheck as fc, Schema } from "effect"
import { pullBody } from "../src/internal/pullBody.js"

const encode = Schema.encodeSync(Models.PullResponse)

const page = fc.record({
  records: fc.array(
    fc.record({
      globalSequence: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      receivedAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      // Any text, lone surrogates, quotes, control characters and escapes included: stored as received (INV-004).
      recordJson: fc.oneof(fc.string({ unit: "binary" }), fc.json(), fc.constantFrom("", "\"", "\\", "\u2028\u2029", "\ud800", "\u0000"))
    }),
    { maxLength: 20 }
  ),
  head: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  hasMore: fc.boolean()
})

describe("pullBody", () => {
  it.prop("writes the same bytes as the schema's JSON; every record text comes back exactly (INV-004)", [page], ([p]) => {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(Bytes.concat(...pullBody(p)))
    expect(text).toBe(JSON.stringify(encode(p)))
    const back = JSON.parse(text) as Models.PullResponse
    expect(back.records.map((r) => r.recordJson)).toEqual(p.records.map((r) => r.recordJson))
  })

  it("an empty page", () => {
    const bytes = pullBody({ records: [], head: 7, hasMore: false })
    expect(new TextDecoder().decode(Bytes.concat(...bytes))).toBe(`{"records":[],"head":7,"hasMore":false}`)
  })
})
