import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { Aad, Bytes, type SyncRecord } from "../src/index.js"
import { header } from "./arbitraries.js"

/** A deliberately broken encoder: the fields joined without length prefixes. */
const naiveEncode = (h: SyncRecord.RecordHeader): Uint8Array =>
  Bytes.utf8([h.storeId, h.aggregateType, h.aggregateId, h.eventId, h.eventType, h.version, h.createdAt, h.key.id,
    h.key.epoch, h.suite, h.author.userId, h.author.deviceId, h.chain.seq].join(""))

/** Pairs of headers that differ only by moving characters across a field boundary. */
const boundaryShift = header.filter((h) => h.aggregateType.length > 1).map((h) => {
  const moved = h.aggregateType.slice(-1)
  const other = { ...h, aggregateType: h.aggregateType.slice(0, -1), aggregateId: (moved + h.aggregateId).slice(0, 64) }
  return [h, other as SyncRecord.RecordHeader] as const
}).filter(([a, b]) => /^[A-Za-z0-9_-]{1,64}$/.test(b.aggregateId) && a.aggregateId.length < 64)

describe("AAD v1", () => {
  // chain.prev is bound by the chain digest, not the AAD: compare headers without it.
  const withoutPrev = (h: SyncRecord.RecordHeader) => ({ ...h, chain: { seq: h.chain.seq } })

  it.prop("INV-013 decode(encode(h)) = h for every header, so the encoding is injective", [header], ([h]) => {
    const bytes = Aad.encode(h)
    expect(Either.getOrThrow(Aad.decode(bytes))).toEqual(withoutPrev(h))
  })

  it.prop("INV-013 two different headers never encode to the same bytes", [header, header], ([a, b]) => {
    const same = JSON.stringify(withoutPrev(a)) === JSON.stringify(withoutPrev(b))
    expect(Bytes.equalsPublic(Aad.encode(a), Aad.encode(b))).toBe(same)
  })

  it.prop("the chain digest input binds prev: two records differing only in prev never share it", [header, fc.uint8Array({ minLength: 32, maxLength: 32 })], ([h, other]) => {
    const aad = Aad.encode(h)
    const a = Aad.chainInput(aad, h.chain.prev, new Uint8Array(12), new Uint8Array(16))
    const b = Aad.chainInput(aad, other, new Uint8Array(12), new Uint8Array(16))
    fc.pre(h.chain.prev === undefined || !Bytes.equalsPublic(h.chain.prev, other))
    expect(Bytes.equalsPublic(a, b)).toBe(false)
  })

  it.prop("INV-013 moving characters across a field boundary changes the AAD", [boundaryShift], ([[a, b]]) => {
    expect(Bytes.equalsPublic(Aad.encode(a), Aad.encode(b))).toBe(false)
  })

  it("INV-013 mutant: without length prefixes the same property finds a collision", () => {
    const result = fc.check(
      fc.property(boundaryShift, ([a, b]) => !Bytes.equalsPublic(naiveEncode(a), naiveEncode(b))),
      { numRuns: 200, seed: 7 }
    )
    expect(result.failed).toBe(true)
  })

  it.prop("every field change changes the AAD", [header, fc.integer({ min: 0, max: 10 })], ([h, which]) => {
    const changed: SyncRecord.RecordHeader = [
      { ...h, storeId: (h.storeId + "x").slice(-64) },
      { ...h, aggregateType: (h.aggregateType + "x").slice(0, 64) },
      { ...h, aggregateId: (h.aggregateId + "x").slice(-64) },
      { ...h, eventType: (h.eventType + "x").slice(0, 64) },
      { ...h, version: h.version + 1 },
      { ...h, createdAt: h.createdAt + 1 },
      { ...h, key: { ...h.key, id: (h.key.id + "x").slice(-64) } },
      { ...h, key: { ...h.key, epoch: (h.key.epoch + 1) % 2 ** 32 } },
      { ...h, suite: h.suite === "A256GCM" ? "XC20P" : "A256GCM" },
      { ...h, author: { ...h.author, deviceId: (h.author.deviceId + "x").slice(-64) } },
      { ...h, author: { ...h.author, userId: (h.author.userId + "x").slice(-64) } }
    ][which] as SyncRecord.RecordHeader
    fc.pre(JSON.stringify(changed) !== JSON.stringify(h))
    expect(Bytes.equalsPublic(Aad.encode(h), Aad.encode(changed))).toBe(false)
  })

  it.prop("truncated or extended AAD bytes are refused", [header, fc.nat()], ([h, cut]) => {
    const bytes = Aad.encode(h)
    expect(Either.isLeft(Aad.decode(bytes.subarray(0, cut % bytes.length)))).toBe(true)
    expect(Either.isLeft(Aad.decode(Bytes.concat(bytes, Uint8Array.of(0))))).toBe(true)
  })

  it("a future AAD version is refused as unsupported, not misread", () => {
    const bytes = Aad.encode(fc.sample(header, { numRuns: 1, seed: 1 })[0]!)
    bytes[13] = 2
    const result = Aad.decode(bytes)
    expect(Either.isLeft(result) && result.left._tag).toBe("UnsupportedFormat")
  })

  it("chain and signature inputs are domain-separated from each other and from the AAD", () => {
    const aad = Aad.encode(fc.sample(header, { numRuns: 1, seed: 3 })[0]!)
    const chain = Aad.chainInput(aad, undefined, new Uint8Array(12), new Uint8Array(16))
    const sig = Aad.signatureInput(new Uint8Array(32))
    expect(Bytes.fromUtf8(chain.subarray(0, 15))).toBe("cipherlog/chain")
    expect(Bytes.fromUtf8(sig.subarray(0, 13))).toBe("cipherlog/sig")
    expect(Bytes.fromUtf8(aad.subarray(0, 13))).toBe("cipherlog/aad")
    expect(() => Aad.signatureInput(new Uint8Array(31))).toThrow(RangeError)
  })
})
