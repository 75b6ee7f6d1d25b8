import { Bytes } from "@cipherlog/domain"
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { Utf8Writer } from "../src/index.js"

const encoder = new TextEncoder()

describe("Utf8Writer", () => {
  it.prop("the chunks hold the UTF-8 of everything written, in order, no text split across chunks", [
    fc.array(fc.oneof(fc.string({ unit: "grapheme", maxLength: 3000 }), fc.string({ maxLength: 70_000 }), fc.integer({ min: 0, max: 255 })), { maxLength: 60 })
  ], ([parts]) => {
    const w = Utf8Writer.make()
    const expected: Array<Uint8Array> = []
    const sizes: Array<number> = []
    for (const part of parts) {
      if (typeof part === "number") {
        w.byte(part)
        expected.push(Uint8Array.of(part))
      } else {
        const bytes = encoder.encode(part)
        expect(w.text(part)).toBe(bytes.length)
        expected.push(bytes)
        if (bytes.length > 0) sizes.push(bytes.length)
      }
    }
    const chunks = w.chunks()
    expect(Bytes.concat(...chunks)).toEqual(Bytes.concat(...expected))
    expect(w.length).toBe(Bytes.concat(...expected).length)
    expect(chunks.every((c) => c.length > 0)).toBe(true)
  })

  it("a text larger than a chunk starts a chunk large enough for it", () => {
    const w = Utf8Writer.make()
    w.text("a")
    const big = "é".repeat(Utf8Writer.CHUNK_SIZE)
    w.text(big)
    w.text("z")
    const chunks = w.chunks()
    // The big chunk has room for 3 bytes per code unit, so "z" follows in it.
    expect(chunks.map((c) => c.length)).toEqual([1, 2 * Utf8Writer.CHUNK_SIZE + 1])
    expect(new TextDecoder().decode(Bytes.concat(...chunks))).toBe(`a${big}z`)
  })

  it("drop removes the end of the last text only", () => {
    const w = Utf8Writer.make()
    w.text("head,")
    const n = w.text("record")
    w.drop(n)
    w.text("\"other\"")
    expect(new TextDecoder().decode(Bytes.concat(...w.chunks()))).toBe("head,\"other\"")
    w.byte(0x0a)
    expect(() => w.drop(1)).toThrow(RangeError)
  })
})
