import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { Bytes } from "../src/index.js"

describe("Bytes", () => {
  it.prop("base64url round-trips every byte string", [fc.uint8Array({ maxLength: 300 })], ([bytes]) => {
    const text = Bytes.toBase64Url(bytes)
    expect(text).toMatch(/^[A-Za-z0-9_-]*$/)
    expect(Bytes.fromBase64Url(text)).toEqual(bytes)
  })

  it("refuses non-canonical base64url: padding, foreign alphabet, non-zero trailing bits", () => {
    expect(Bytes.fromBase64Url("AAE")).toEqual(Uint8Array.of(0, 1))
    for (const bad of ["AAE=", "AAF", "AA+/", "A", "AA$"]) expect(Bytes.fromBase64Url(bad)).toBeUndefined()
    const decoded = Schema.decodeUnknownEither(Bytes.Base64Url)("AAE=")
    expect(Either.isLeft(decoded)).toBe(true)
  })

  it.prop("u64 round-trips every safe integer", [fc.maxSafeNat()], ([n]) => {
    expect(Bytes.readU64(Bytes.u64(n), 0)).toBe(n)
  })

  it("u32/u64 refuse values they cannot represent", () => {
    expect(() => Bytes.u32(-1)).toThrow(RangeError)
    expect(() => Bytes.u32(2 ** 32)).toThrow(RangeError)
    expect(() => Bytes.u64(2 ** 53)).toThrow(RangeError)
    expect(() => Bytes.u64(1.5)).toThrow(RangeError)
  })

  it("strict UTF-8: malformed bytes throw instead of decoding to U+FFFD", () => {
    expect(() => Bytes.fromUtf8(Uint8Array.of(0xc3, 0x28))).toThrow()
    expect(Bytes.fromUtf8(Bytes.utf8("é✓𝄞"))).toBe("é✓𝄞")
  })
})
