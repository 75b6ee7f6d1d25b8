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

  describe("checkJson (the server's path) accepts and refuses exactly what decodeJson does", () => {
    /** Values a field may be replaced with: near misses of every rule. */
    const nearMisses: ReadonlyArray<unknown> = [
        null, true, 0, -0, 1, 2, 1.5, -1, 2 ** 32, 2 ** 32 - 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 1e300, "", "A256GCM",
        "XC20P", "a256gcm", "a", "A".repeat(64), "A".repeat(65), "a b", "é", "0192f1c4-9a3b-7c2d-8e4f-0123456789ab",
        "0192F1C4-9A3B-7C2D-8E4F-0123456789AB", "0192f1c4-9a3b-6c2d-8e4f-0123456789ab", "AA", "AB", "AAA", "AAE", "AAAA", "AAAAA",
        "A".repeat(16), "A".repeat(22), "A".repeat(43), "A".repeat(42) + "E", "A".repeat(86), "A".repeat(85) + "B", "A+/A", "AA==",
        "Note", "1Note", "No te", "a.b-c_d", { seq: 1 }, { seq: 2 }, { seq: 1, prev: "A".repeat(43) }, { seq: 2, prev: "A".repeat(43) },
        { seq: 2, prev: "A".repeat(43), x: 1 }, { id: "k", epoch: 0 }, { id: "k", epoch: -1 }, { id: "k" },
      { userId: "u", deviceId: "d" }, { userId: "u", deviceId: "d", extra: 1 }, [], {}
    ]
    const odd = fc.oneof(
      fc.constantFrom(...nearMisses),
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.base64String().map((b) => b.replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_"))
    )
    const paths = [
      ["v"], ["storeId"], ["aggregateType"], ["aggregateId"], ["eventId"], ["eventType"], ["version"], ["createdAt"], ["key"], ["key", "id"],
      ["key", "epoch"], ["suite"], ["author"], ["author", "userId"], ["author", "deviceId"], ["chain"], ["chain", "seq"], ["chain", "prev"],
      ["nonce"], ["ciphertext"], ["signature"], ["extra"], ["key", "extra"], ["__proto__"]
    ]
    const mutation = fc.record({
      path: fc.constantFrom(...paths),
      action: fc.constantFrom("set", "delete"),
      value: odd
    })
    const mutate = (json: Record<string, unknown>, m: { path: ReadonlyArray<string>; action: string; value: unknown }) => {
      let target: Record<string, unknown> = json
      for (const key of m.path.slice(0, -1)) {
        const next = target[key]
        if (typeof next !== "object" || next === null) return
        target = next as Record<string, unknown>
      }
      const last = m.path[m.path.length - 1]!
      if (m.action === "delete") delete target[last]
      else Object.defineProperty(target, last, { value: m.value, enumerable: true, writable: true, configurable: true })
    }
    /** The quick check never accepts what the schema refuses; checkJson answers as decodeJson. */
    const same = (text: string) => {
      const quick = SyncRecord.quickCheckJson(text)
      const checked = SyncRecord.checkJson(text)
      const decoded = SyncRecord.decodeJson(text)
      expect(Either.isRight(checked)).toBe(Either.isRight(decoded))
      if (Either.isRight(decoded)) {
        const { chain: _, ...header } = SyncRecord.header(decoded.right)
        expect(Either.getOrThrow(checked)).toEqual(header)
        if (quick !== undefined) expect(quick).toEqual(header)
      } else {
        expect(quick).toBeUndefined()
        expect(Either.isLeft(checked) ? checked.left : undefined).toEqual(decoded.left)
      }
      return quick
    }

    it.prop("on valid records, in any spelling", [record, fc.integer({ min: 2, max: 50 })], ([r, seed]) => {
      // Valid records take the quick path (otherwise the checks below would hold trivially).
      expect(same(SyncRecord.encodeJson(r))).toBeDefined()
      expect(same(JSON.stringify(shuffleKeys(JSON.parse(SyncRecord.encodeJson(r)), seed), null, 1))).toBeDefined()
    })

    it.prop("on records with random fields changed, removed or added", [record, fc.array(mutation, { minLength: 1, maxLength: 3 })], ([r, ms]) => {
      const json = JSON.parse(SyncRecord.encodeJson(r)) as Record<string, unknown>
      for (const m of ms) mutate(json, m)
      same(JSON.stringify(json))
    }, { fastCheck: { numRuns: 3000 } })

    it("on every near miss in every field", () => {
      const r = fc.sample(record, { numRuns: 2, seed: 11 })
      for (const base of r) {
        for (const path of paths) {
          for (const action of ["set", "delete"]) {
            for (const value of action === "set" ? nearMisses : [undefined]) {
              const json = JSON.parse(SyncRecord.encodeJson(base)) as Record<string, unknown>
              mutate(json, { path, action, value })
              same(JSON.stringify(json))
            }
          }
        }
      }
    })

    it.prop("on arbitrary text", [fc.oneof(fc.string(), fc.json())], ([text]) => same(text))

    it("refuses a ciphertext outside the base64url alphabet, and non-zero bits past the last byte", () => {
      const r = JSON.parse(SyncRecord.encodeJson(fc.sample(record, { numRuns: 1, seed: 7 })[0]!)) as Record<string, unknown>
      const c = String(r["ciphertext"]).slice(0, 20)
      for (const ciphertext of [`${c}A+/A`, `${c}AB`, `${c}AAB`, `${c}A`]) {
        expect(same(JSON.stringify({ ...r, ciphertext }))).toBeUndefined()
        expect(Either.isLeft(SyncRecord.checkJson(JSON.stringify({ ...r, ciphertext })))).toBe(true)
      }
    })
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
