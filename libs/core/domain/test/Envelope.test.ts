import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc, Schema } from "effect"
import { Dependency, Envelope } from "../src/index.js"

describe("Dependency", () => {
  it.prop("make and parse are inverse", [fc.constantFrom(...(["key", "peer", "identity"] as const)), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)], ([kind, id]) => {
    const dep = Dependency.make(kind, id)
    expect(dep).toBe(`${kind}:${id}`)
    expect(Dependency.parse(dep)).toEqual({ kind, id })
  })

  it("rejects unknown kinds and bad ids", () => {
    for (const bad of ["secret:x", "key:", "key:a:b", "key", "peer:has space"]) {
      expect(Either.isLeft(Schema.decodeUnknownEither(Dependency.Dependency)(bad))).toBe(true)
    }
  })
})

describe("Envelope", () => {
  const envelopes = Arbitrary.make(Envelope.EventEnvelope)

  it.prop("envelopes round-trip through their schema; the body holds only payload and meta", [envelopes], ([e]) => {
    const encoded = Schema.encodeSync(Envelope.EventEnvelope)(e)
    expect(Schema.decodeUnknownSync(Envelope.EventEnvelope)(JSON.parse(JSON.stringify(encoded)))).toEqual(e)
    expect(Object.keys(Envelope.body(e)).sort()).toEqual(["meta", "payload", "v"])
  })

  it("a dependency declared twice is refused", () => {
    const e = fc.sample(envelopes, { numRuns: 1, seed: 5 })[0]!
    const encoded = Schema.encodeSync(Envelope.EventEnvelope)(e)
    const result = Schema.decodeUnknownEither(Envelope.EventEnvelope)({ ...encoded, deps: ["key:k1", "key:k1"] })
    expect(Either.isLeft(result) && String(result.left)).toContain("at most once")
  })

  it("a __proto__ key is refused clearly instead of silently becoming a prototype", () => {
    const parsed = JSON.parse(`{"a":1,"__proto__":{"polluted":true}}`)
    const result = Schema.decodeUnknownEither(Envelope.Json)(parsed)
    expect(Either.isLeft(result) && String(result.left)).toContain("__proto__")
    expect(Either.isLeft(Schema.decodeUnknownEither(Envelope.EventMeta)(JSON.parse(`{"__proto__":"x"}`)))).toBe(true)
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
  })

  it("payloads must be JSON: no NaN, no functions", () => {
    expect(Either.isLeft(Schema.decodeUnknownEither(Envelope.Json)({ a: Number.NaN }))).toBe(true)
    expect(Either.isLeft(Schema.decodeUnknownEither(Envelope.Json)({ a: () => 1 }))).toBe(true)
  })
})
