import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { Bytes } from "../src/index.js"

describe("Bytes", () => {
  it.prop("base64url round-trips every byte string", [fc.uint8Array({ maxLength: 300 })], ([bytes]) => {
    const text = Bytes.toBase64Url(bytes)
    expect(text).toMatch(/^[A-Za-z0-9_-]*$/)
    expect(Bytes.fromBase64Url(text)).toEqual(bytes)
  })

  it.prop("the fast codec agrees with Effect's reference encoder on every byte string", [fc.uint8Array({ maxLength: 600 })], ([bytes]) => {
    expect(Bytes.toBase64Url(bytes)).toBe(Bytes.toBase64UrlReference(bytes))
  })

  it.prop("any text other than a canonical encoding is refused", [fc.string({ maxLength: 40 })], ([text]) => {
    const decoded = Bytes.fromBase64Url(text)
    if (decoded !== undefined) expect(Bytes.toBase64Url(decoded)).toBe(text)
  })

  it("RFC 4648 §10 test vectors (base64url alphabet, no padding)", () => {
    const cases: Array<[string, string]> = [["", ""], ["f", "Zg"], ["fo", "Zm8"], ["foo", "Zm9v"], ["foob", "Zm9vYg"], ["fooba", "Zm9vYmE"], ["foobar", "Zm9vYmFy"]]
    for (const [plain, encoded] of cases) {
      expect(Bytes.toBase64Url(Bytes.utf8(plain))).toBe(encoded)
      expect(Bytes.fromBase64Url(encoded)).toEqual(Bytes.utf8(plain))
    }
    expect(Bytes.toBase64Url(Uint8Array.of(0xfb, 0xff))).toBe("-_8")
    expect(Bytes.fromBase64Url("Zm9vYmF\u0100".slice(0, 8))).toBeUndefined()
    expect(Bytes.fromBase64Url("Zm9\u0100")).toBeUndefined()
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
