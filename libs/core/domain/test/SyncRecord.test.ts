import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { SyncRecord } from "../src/index.js"
import { record } from "./arbitraries.js"

const shuffleKeys = (value: unknown, seed: number): unknown => {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, seed))
  if (typeof value !== "object" || value === null) return value
  const entries = Object.entries(value)
  entries.sort((a, b) => ((a[0].charCodeAt(0) * seed) % 7) - ((b[0].charCodeAt(0) * seed) % 7))
  return Object.fromEntries(entries.map(([k, v]) => [k, shuffleKeys(v, seed)]))
}

describe("SyncRecord", () => {
  it.prop("canonical JSON round-trips every record", [record], ([r]) => {
    const text = SyncRecord.encodeJson(r)
    const back = SyncRecord.decodeCanonicalJson(text)
    expect(Either.isRight(back)).toBe(true)
    expect(Either.getOrThrow(back)).toEqual(r)
    expect(SyncRecord.encodeJson(Either.getOrThrow(back))).toBe(text)
  })

  it.prop(
    "any JSON spelling of a record decodes to the same record; only the canonical one passes the canonical check",
    [record, fc.integer({ min: 2, max: 50 }), fc.constantFrom(0, 1, 2)],
    ([r, seed, indent]) => {
      const text = SyncRecord.encodeJson(r)
      const respelled = JSON.stringify(shuffleKeys(JSON.parse(text), seed), null, indent)
      expect(Either.getOrThrow(SyncRecord.decodeJson(respelled))).toEqual(r)
      expect(Either.isLeft(SyncRecord.decodeCanonicalJson(respelled))).toBe(respelled !== text)
    }
  )

  it.prop("the trusted encoder writes exactly the canonical text; the trusted binary decoder reads it back", [record], ([r]) => {
    const text = SyncRecord.encodeJsonTrusted(r)
    expect(text).toBe(SyncRecord.encodeJson(r))
    const binary = SyncRecord.decodeBinaryTrusted(text)
    expect(binary.nonce).toEqual(r.nonce)
    expect(binary.ciphertext).toEqual(r.ciphertext)
    expect(binary.signature).toEqual(r.signature)
  })

  it("the trusted decoder refuses malformed binary fields", () => {
    expect(() => SyncRecord.decodeBinaryTrusted(`{"nonce":"AA=","ciphertext":"AAAA"}`)).toThrow()
    expect(() => SyncRecord.decodeBinaryTrusted(`{"ciphertext":"AAAA"}`)).toThrow()
  })

  it.prop("the header is exactly the plaintext fields: no nonce, ciphertext or signature", [record], ([r]) => {
    const h = SyncRecord.header(r)
    expect(Object.keys(h).sort()).toEqual(
      ["aggregateId", "aggregateType", "author", "chain", "createdAt", "eventId", "eventType", "key", "storeId", "suite", "version"]
    )
  })

  describe("rejects malformed input with a clear error and without echoing values", () => {
    const base = () => JSON.parse(SyncRecord.encodeJson(fc.sample(record, { numRuns: 1, seed: 42 })[0]!)) as Record<string, unknown>
    const problem = (json: unknown) => {
      const result = SyncRecord.decodeJson(typeof json === "string" ? json : JSON.stringify(json))
      expect(Either.isLeft(result)).toBe(true)
      return Either.isLeft(result) ? result.left : undefined
    }

    it("not JSON", () => {
      expect(problem("{not json")?.message).toContain("not valid JSON")
    })
    it("an unknown field", () => {
      expect(problem({ ...base(), plaintext: "SECRET-CANARY" })?.message).toMatch(/plaintext/)
      expect(problem({ ...base(), plaintext: "SECRET-CANARY" })?.message).not.toContain("SECRET-CANARY")
    })
    it("another format version", () => {
      const e = problem({ ...base(), v: 2 })
      expect(e?._tag).toBe("UnsupportedFormat")
      expect(e?.message).toContain("Upgrade")
    })
    it("a nonce of the wrong length for the suite", () => {
      const r = base()
      expect(problem({ ...r, suite: r["suite"] === "A256GCM" ? "XC20P" : "A256GCM" })?.message).toMatch(/nonce/)
    })
    it("non-canonical base64url", () => {
      expect(problem({ ...base(), ciphertext: "AAAAAAAAAAAAAAAAAAAAAA==" })?.message).toMatch(/ciphertext/)
    })
    it("a bad identifier, without repeating it", () => {
      const e = problem({ ...base(), aggregateId: "has space SECRET-CANARY" })
      expect(e?.message).toMatch(/aggregateId/)
      expect(e?.message).not.toContain("SECRET-CANARY")
    })
    it("a version of 0", () => {
      expect(problem({ ...base(), version: 0 })?.message).toMatch(/version/)
    })
    it("a chain link with seq 1 and a prev, or seq > 1 without one", () => {
      expect(problem({ ...base(), chain: { seq: 1, prev: "A".repeat(42) + "A" } })?.message).toMatch(/chain/)
      expect(problem({ ...base(), chain: { seq: 2 } })?.message).toMatch(/chain/)
    })
    it("an oversized record", () => {
      expect(problem("x".repeat(SyncRecord.MAX_RECORD_JSON_LENGTH + 1))?.message).toMatch(/longer than/)
    })
  })
})
