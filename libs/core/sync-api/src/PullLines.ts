/**
 * The "record lines" answer of a pull (docs/http-api.md, "Pull as record
 * lines"): the same page as `PullResponse`, in a form where each stored
 * record text travels as it is, without being escaped into a JSON string
 * and unescaped again. A client asks for it with
 * `Accept: application/x-ndjson`; any other client gets `PullResponse` JSON.
 *
 * Version 1, UTF-8, every line ends with `\n`, every line is a JSON text:
 *
 * 1. a header object: `{"v":1,"head":H,"hasMore":B,"sequences":[…],"receivedAt":[…]}`,
 *    where `sequences` and `receivedAt` hold one number per record, in order;
 * 2. one line per record, in order: either the stored `record_json` itself,
 *    allowed only when it starts with `{` and holds no line break and no lone
 *    surrogate (so UTF-8 carries it exactly), or the text as a JSON string
 *    (starting with `"`), which carries any text exactly. A writer may use
 *    the JSON string for any record: this one (`recordLines`) does for a
 *    record holding any surrogate; a database writing the lines itself
 *    (the SQLite server store) sends astral characters verbatim.
 *
 * A reader takes a record line starting with `{` verbatim and JSON-parses one
 * starting with `"`. Nothing else is valid: a reader refuses a page whose
 * header is malformed or whose line count differs from `sequences`.
 *
 * @since 0.1.0
 */
import { Bytes } from "@cipherlog/domain"
import { Either } from "effect"
import type { StoredRecord } from "./ApiError.js"
import type { PullResponse } from "./Models.js"
import * as Utf8Writer from "./Utf8Writer.js"

/**
 * The media type a client sends in `Accept` to get record lines.
 *
 * @since 0.1.0
 * @category constants
 */
export const CONTENT_TYPE = "application/x-ndjson"

/**
 * The format's version, in the header's `v`.
 *
 * @since 0.1.0
 * @category constants
 */
export const VERSION = 1

/** A surrogate code unit: a record holding one travels as a JSON string (UTF-8 cannot carry a lone one). */
const SURROGATE = /[\uD800-\uDFFF]/

const NEWLINE = 0x0a

const textEncoder = new TextEncoder()

/** Refuses bytes that are not UTF-8 rather than replacing them; keeps a leading BOM as text. */
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * Whether the `Accept` header asks for record lines.
 *
 * @since 0.1.0
 * @category predicates
 */
export const accepts = (accept: string | undefined): boolean =>
  accept !== undefined && accept.toLowerCase().includes(CONTENT_TYPE)

/**
 * The records of a page as record lines, without the header: what a server
 * store reads for a pull (`ServerStore.readLinesAfter`), which a database can
 * build in one piece without a string per record.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordLines {
  /** The records' global sequences, in order. */
  readonly sequences: ReadonlyArray<number>
  /** When the server received each record, in the same order. */
  readonly receivedAt: ReadonlyArray<number>
  /** The record lines, as UTF-8: one per record, in order, each ending with `\n`, cut anywhere into chunks. */
  readonly lines: ReadonlyArray<Uint8Array>
}

/**
 * The record lines of records, as UTF-8 chunks of about 64 KiB. Each record
 * is encoded once, straight into a chunk (see `Utf8Writer` for why no
 * page-sized string or buffer is built).
 *
 * @since 0.1.0
 * @category encoding
 */
export const recordLines = (records: ReadonlyArray<StoredRecord>): RecordLines => {
  const n = records.length
  const sequences: Array<number> = new Array(n)
  const receivedAt: Array<number> = new Array(n)
  const out = Utf8Writer.make()
  for (let i = 0; i < n; i++) {
    const record = records[i]!
    sequences[i] = record.globalSequence
    receivedAt[i] = record.receivedAt
    const text = record.recordJson
    if (text.charCodeAt(0) === 0x7b && text.indexOf("\n") < 0 && text.indexOf("\r") < 0) {
      // As many bytes as code units: all ASCII, so no surrogate. Otherwise look for one.
      const written = out.text(text)
      if (written === text.length || !SURROGATE.test(text)) {
        out.byte(NEWLINE)
        continue
      }
      out.drop(written)
    }
    out.text(JSON.stringify(text))
    out.byte(NEWLINE)
  }
  return { sequences, receivedAt, lines: out.chunks() }
}

const CARRIAGE_RETURN = 0x0d
const OPEN_BRACE = 0x7b

/**
 * Whether `texts` — `count` record texts as UTF-8, each followed by `\n`,
 * as a database can concatenate them — are valid record lines as they
 * stand: exactly `count` line breaks, every line starting with `{`, no
 * carriage return. (UTF-8 that a database holds has no lone surrogate.)
 * When not, the page must be written with {@link recordLines}.
 *
 * @since 0.1.0
 * @category encoding
 */
export const isVerbatim = (texts: Uint8Array, count: number): boolean => {
  if (texts.indexOf(CARRIAGE_RETURN) >= 0) return false
  let at = 0
  for (let i = 0; i < count; i++) {
    if (texts[at] !== OPEN_BRACE) return false
    const end = texts.indexOf(NEWLINE, at)
    if (end < 0) return false
    at = end + 1
  }
  return at === texts.length
}

/**
 * The record-lines answer of a page whose records are already record lines:
 * the header line, then the lines as they are (no copy).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeLines = (
  page: { readonly head: number; readonly hasMore: boolean; readonly records: RecordLines }
): ReadonlyArray<Uint8Array> => {
  const { lines, receivedAt, sequences } = page.records
  const header = `{"v":${VERSION},"head":${JSON.stringify(page.head)},"hasMore":${page.hasMore ? "true" : "false"},"sequences":[${
    sequences.join(",")
  }],"receivedAt":[${receivedAt.join(",")}]}\n`
  return [textEncoder.encode(header), ...lines]
}

/**
 * The record-lines answer of a page, as UTF-8 chunks: what the server sends.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeChunks = (page: PullResponse): ReadonlyArray<Uint8Array> =>
  encodeLines({ head: page.head, hasMore: page.hasMore, records: recordLines(page.records) })

/**
 * The record-lines text of a page (the text of `encodeChunks`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (page: PullResponse): string => strictDecoder.decode(Bytes.concat(...encodeChunks(page)))

const isIntArray = (value: unknown, n?: number): value is Array<number> =>
  Array.isArray(value) && (n === undefined || value.length === n) && value.every((x) => Number.isSafeInteger(x))

/**
 * Reads a record-lines answer chunk by chunk, as it arrives: each complete
 * line is decoded on its own (no page-sized string or buffer is built, see
 * `Utf8Writer`), and `end` checks the page. Bytes that are not UTF-8 are
 * refused, not replaced; so is an answer larger than `maxBytes`, if set.
 *
 * @since 0.1.0
 * @category decoding
 */
export interface Reader {
  /** Takes the next chunk of the answer; `Left` as soon as the answer is known to be bad. */
  readonly push: (chunk: Uint8Array) => Either.Either<void, string>
  /** The page, once the whole answer has been pushed; `Left` says what is wrong with it (never its contents). */
  readonly end: () => Either.Either<PullResponse, string>
}

/**
 * A reader for one answer. No size limit unless `maxBytes` is given: the
 * server bounds a page by its number of records, and records may be up to
 * `SyncRecord.MAX_RECORD_JSON_LENGTH` characters each, so a limit a client
 * sets must leave room for what its stores hold.
 *
 * @since 0.1.0
 * @category decoding
 */
export const reader = (options: { readonly maxBytes?: number } = {}): Reader => {
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY
  const lines: Array<string> = []
  /** The bytes of a line cut by the end of the chunks so far. */
  let carry: Array<Uint8Array> = []
  let size = 0
  let failure: string | undefined
  /**
   * Decodes whole lines (`bytes` ends where a line ends) and splits them.
   * One decode for all the lines a chunk holds, not one per line, and never
   * a decode in stream mode: both are several times slower (measured in
   * docs/http-api.md, "Why pages travel as chunks"). A line is a slice of
   * the decoded text.
   */
  const take = (bytes: Uint8Array): boolean => {
    let text: string
    try {
      text = strictDecoder.decode(bytes)
    } catch (_) {
      failure = `the answer is not UTF-8 (after ${lines.length} complete lines)`
      return false
    }
    let at = 0
    for (;;) {
      const next = text.indexOf("\n", at)
      if (next < 0) break
      lines.push(text.slice(at, next))
      at = next + 1
    }
    return true
  }
  return {
    push: (chunk) => {
      if (failure !== undefined) return Either.left(failure)
      size += chunk.length
      if (size > maxBytes) {
        failure = `the answer is larger than ${maxBytes} bytes`
        return Either.left(failure)
      }
      if (chunk.length === 0) return Either.void
      const last = chunk.lastIndexOf(NEWLINE)
      if (last < 0) {
        // No line ends here: keep a copy (the caller may reuse the chunk).
        carry.push(chunk.slice())
        return Either.void
      }
      let from = 0
      if (carry.length > 0) {
        // The line cut by the previous chunks' end ends in this one.
        const first = chunk.indexOf(NEWLINE)
        const ok = take(Bytes.concat(...carry, chunk.subarray(0, first + 1)))
        carry = []
        if (!ok) return Either.left(failure!)
        from = first + 1
      }
      if (from <= last && !take(chunk.subarray(from, last + 1))) return Either.left(failure!)
      if (last + 1 < chunk.length) carry.push(chunk.slice(last + 1))
      return Either.void
    },
    end: () => {
      if (failure !== undefined) return Either.left(failure)
      if (lines.length === 0) return Either.left("the page has no header line")
      return fromLines(lines, carry.length > 0)
    }
  }
}

/** The page from its complete lines (`unterminated`: bytes followed the last line break). */
const fromLines = (lines: ReadonlyArray<string>, unterminated: boolean): Either.Either<PullResponse, string> => {
  let header: unknown
  try {
    header = JSON.parse(lines[0]!)
  } catch (_) {
    return Either.left("the header line is not JSON")
  }
  if (typeof header !== "object" || header === null) return Either.left("the header line is not an object")
  const h = header as Record<string, unknown>
  if (h["v"] !== VERSION) return Either.left(`unsupported record-lines version ${JSON.stringify(h["v"])}`)
  if (!Number.isSafeInteger(h["head"]) || typeof h["hasMore"] !== "boolean" || !isIntArray(h["sequences"])) {
    return Either.left("the header line lacks head, hasMore or sequences")
  }
  const sequences = h["sequences"]
  const n = sequences.length
  if (!isIntArray(h["receivedAt"], n)) return Either.left("the header's receivedAt does not match its sequences")
  const receivedAt = h["receivedAt"]
  if (lines.length - 1 < n) return Either.left(`the page ends after ${lines.length - 1} of ${n} records`)
  if (lines.length - 1 > n || unterminated) return Either.left(`the page holds more lines than its ${n} records`)
  const records: Array<PullResponse["records"][number]> = new Array(n)
  for (let i = 0; i < n; i++) {
    let recordJson = lines[i + 1]!
    const first = recordJson.charCodeAt(0)
    if (first === 0x22) {
      let parsed: unknown
      try {
        parsed = JSON.parse(recordJson)
      } catch (_) {
        return Either.left(`record line ${i + 1} is not a JSON string`)
      }
      if (typeof parsed !== "string") return Either.left(`record line ${i + 1} is not a JSON string`)
      recordJson = parsed
    } else if (first !== 0x7b) {
      return Either.left(`record line ${i + 1} starts with neither { nor "`)
    }
    records[i] = { globalSequence: sequences[i]!, receivedAt: receivedAt[i]!, recordJson }
  }
  return Either.right({ records, head: h["head"] as number, hasMore: h["hasMore"] })
}

/**
 * Reads a record-lines answer from all its bytes at once.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeBytes = (bytes: Uint8Array): Either.Either<PullResponse, string> => {
  const r = reader()
  return Either.flatMap(r.push(bytes), r.end)
}

/**
 * Reads a record-lines page from its text (as `decodeBytes` reads the text's UTF-8).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (text: string): Either.Either<PullResponse, string> => decodeBytes(textEncoder.encode(text))
