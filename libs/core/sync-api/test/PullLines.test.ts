import { Bytes } from "@cipherlog/domain"
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { PullLines, Utf8Writer } from "../src/index.js"

const recordText = fc.oneof(
  // Any text, lone surrogates, line breaks, quotes and escapes included: stored as received (INV-004).
  fc.string({ unit: "binary" }),
  fc.json(),
  fc.json().map((j) => `{"x":${j}}`),
  fc.constantFrom("", "{", "{\n}", "{\"a\":\"\r\"}", "\"", "\\", "\u2028\u2029", "\ud800", "{\"e\":\"\ud83d\ude00\"}", "{\"e\":\"\udc00\"}", "\u0000")
)

const page = fc.record({
  records: fc.array(
    fc.record({
      globalSequence: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      receivedAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      recordJson: recordText
    }),
    { maxLength: 20 }
  ),
  head: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  hasMore: fc.boolean()
})

/** What goes over the wire: UTF-8 bytes, decoded again by the client. */
const overTheWire = (text: string) => new TextDecoder().decode(new TextEncoder().encode(text))

describe("PullLines (pull as record lines)", () => {
  it.prop("every record text comes back exactly, through UTF-8 (INV-004)", [page], ([p]) => {
    const back = PullLines.decode(overTheWire(PullLines.encode(p)))
    expect(back).toEqual(Either.right(p))
  })

  it("a record JSON travels verbatim, one per line; one with a line break or a surrogate travels as a JSON string", () => {
    const plain = "{\"eventId\":\"e1\",\"body\":\"a\\\"b\"}"
    const broken = "{\"a\":1,\n\"b\":2}"
    const emoji = "{\"e\":\"\ud83d\ude00\"}"
    const text = PullLines.encode({
      records: [plain, broken, emoji].map((recordJson, i) => ({ globalSequence: i + 1, receivedAt: 5, recordJson })),
      head: 3,
      hasMore: false
    })
    expect(text.split("\n")).toEqual([
      `{"v":1,"head":3,"hasMore":false,"sequences":[1,2,3],"receivedAt":[5,5,5]}`,
      plain,
      JSON.stringify(broken),
      JSON.stringify(emoji),
      ""
    ])
  })

  it("an empty page", () => {
    const text = PullLines.encode({ records: [], head: 7, hasMore: false })
    expect(text).toBe(`{"v":1,"head":7,"hasMore":false,"sequences":[],"receivedAt":[]}\n`)
    expect(PullLines.decode(text)).toEqual(Either.right({ records: [], head: 7, hasMore: false }))
  })

  it.prop("a truncated or extended page is refused, never read short", [page.filter((p) => p.records.length > 0), fc.nat()], ([p, cut]) => {
    const text = PullLines.encode(p)
    const lastLine = text.lastIndexOf("\n", text.length - 2)
    // Cut somewhere inside the last record line (or its newline): that record is missing.
    const at = lastLine + 1 + (cut % (text.length - lastLine - 1))
    expect(Either.isLeft(PullLines.decode(text.slice(0, at)))).toBe(true)
    expect(Either.isLeft(PullLines.decode(`${text}{}\n`))).toBe(true)
  })

  it("malformed headers and lines are refused with a reason", () => {
    const bad = [
      "",
      "not json\n",
      "[]\n",
      `{"v":2,"head":0,"hasMore":false,"sequences":[],"receivedAt":[]}\n`,
      `{"v":1,"head":0,"hasMore":false,"sequences":[1],"receivedAt":[]}\n{}\n`,
      `{"v":1,"head":1,"hasMore":false,"sequences":[1],"receivedAt":[1]}\n[1]\n`,
      `{"v":1,"head":1,"hasMore":false,"sequences":[1],"receivedAt":[1]}\n"unterminated\n`,
      `{"v":1,"head":1,"hasMore":"no","sequences":[1],"receivedAt":[1]}\n{}\n`
    ]
    for (const text of bad) {
      const result = PullLines.decode(text)
      expect(Either.isLeft(result) && result.left.length > 0).toBe(true)
    }
  })

  it.prop("the answer read in chunks cut anywhere, even inside a UTF-8 sequence, gives the same page", [
    page,
    fc.array(fc.nat(), { maxLength: 12 })
  ], ([p, cuts]) => {
    const bytes = Bytes.concat(...PullLines.encodeChunks(p))
    const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
    const r = PullLines.reader()
    let from = 0
    for (const to of [...at, bytes.length]) {
      expect(r.push(bytes.slice(from, to))).toEqual(Either.void)
      from = to
    }
    expect(r.end()).toEqual(Either.right(p))
  })

  it("a page of many records spans several 64 KiB chunks and reads back exactly", () => {
    const records = Array.from({ length: 300 }, (_, i) => ({
      globalSequence: i + 1,
      receivedAt: 1_700_000_000_000 + i,
      // ASCII, non-ASCII and astral records, some larger than a chunk.
      recordJson: i % 50 === 7
        ? `{"big":"${"x".repeat(Utf8Writer.CHUNK_SIZE + 11)}"}`
        : `{"i":${i},"t":"${i % 3 === 0 ? "é€" : i % 3 === 1 ? "\ud83d\ude00" : "a"}${"b".repeat(900)}"}`
    }))
    const p = { records, head: 300, hasMore: false }
    const chunks = PullLines.encodeChunks(p)
    expect(chunks.length).toBeGreaterThan(5)
    // Chunks are at most 64 KiB, except one holding a single text larger than that.
    for (const c of chunks) expect(c.length <= Utf8Writer.CHUNK_SIZE || c.length >= Utf8Writer.CHUNK_SIZE + 11).toBe(true)
    const r = PullLines.reader()
    for (const c of chunks) expect(r.push(c)).toEqual(Either.void)
    expect(r.end()).toEqual(Either.right(p))
    expect(PullLines.decode(PullLines.encode(p))).toEqual(Either.right(p))
  })

  it("bytes that are not UTF-8 are refused, not replaced; so is an answer over the size limit", () => {
    const header = new TextEncoder().encode(`{"v":1,"head":1,"hasMore":false,"sequences":[1],"receivedAt":[1]}\n`)
    const badLine = Uint8Array.from([0x7b, 0xff, 0x7d, 0x0a])
    const bad = PullLines.decodeBytes(Bytes.concat(header, badLine))
    expect(bad).toEqual(Either.left("the answer is not UTF-8 (after 0 complete lines)"))
    // A line whose UTF-8 sequence is cut across chunks reads back; one cut short is refused.
    const split = PullLines.reader()
    for (const c of [header.subarray(0, 5), header.subarray(5), Uint8Array.from([0x7b, 0xc3]), Uint8Array.from([0xa9, 0x7d, 0x0a])]) split.push(c)
    expect(Either.map(split.end(), (p) => p.records[0]!.recordJson)).toEqual(Either.right("{\u00e9}"))
    const short = PullLines.reader()
    short.push(header)
    expect(short.push(Uint8Array.from([0x7b, 0xc3, 0x0a]))).toEqual(Either.left("the answer is not UTF-8 (after 1 complete lines)"))
    const small = PullLines.reader({ maxBytes: 10 })
    expect(Either.isLeft(small.push(header))).toBe(true)
    expect(Either.isLeft(small.end())).toBe(true)
    // An unfinished last line is not a record.
    const cut = PullLines.reader()
    cut.push(header)
    cut.push(Uint8Array.from([0x7b, 0x7d]))
    expect(Either.isLeft(cut.end())).toBe(true)
  })

  it("Accept negotiation", () => {
    expect(PullLines.accepts("application/x-ndjson")).toBe(true)
    expect(PullLines.accepts("application/x-ndjson, application/json;q=0.5")).toBe(true)
    expect(PullLines.accepts("application/json")).toBe(false)
    expect(PullLines.accepts(undefined)).toBe(false)
  })
})
