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
 * 2. one line per record, in order: the stored `record_json` itself when it
 *    starts with `{` and holds no line break and no surrogate code unit
 *    (so UTF-8 carries it exactly), otherwise the text as a JSON string
 *    (starting with `"`), which carries any text exactly.
 *
 * A reader takes a record line starting with `{` verbatim and JSON-parses one
 * starting with `"`. Nothing else is valid: a reader refuses a page whose
 * header is malformed or whose line count differs from `sequences`.
 *
 * @since 0.1.0
 */
import { Either } from "effect"
import type { PullResponse } from "./Models.js"

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

/** A record text that cannot travel verbatim on one line: a line break or any surrogate code unit. */
const UNSAFE = /[\n\r\uD800-\uDFFF]/

/**
 * Whether the `Accept` header asks for record lines.
 *
 * @since 0.1.0
 * @category predicates
 */
export const accepts = (accept: string | undefined): boolean =>
  accept !== undefined && accept.toLowerCase().includes(CONTENT_TYPE)

/**
 * The record-lines text of a page.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (page: PullResponse): string => {
  const n = page.records.length
  const sequences: Array<number> = new Array(n)
  const receivedAt: Array<number> = new Array(n)
  const lines: Array<string> = new Array(n + 2)
  for (let i = 0; i < n; i++) {
    const r = page.records[i]!
    sequences[i] = r.globalSequence
    receivedAt[i] = r.receivedAt
    const text = r.recordJson
    lines[i + 1] = text.charCodeAt(0) === 0x7b && !UNSAFE.test(text) ? text : JSON.stringify(text)
  }
  lines[0] = `{"v":${VERSION},"head":${JSON.stringify(page.head)},"hasMore":${page.hasMore ? "true" : "false"},"sequences":[${
    sequences.join(",")
  }],"receivedAt":[${receivedAt.join(",")}]}`
  lines[n + 1] = ""
  return lines.join("\n")
}

const isIntArray = (value: unknown, n?: number): value is Array<number> =>
  Array.isArray(value) && (n === undefined || value.length === n) && value.every((x) => Number.isSafeInteger(x))

/**
 * Reads a record-lines page; `Left` says what is wrong with it (never its contents).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (text: string): Either.Either<PullResponse, string> => {
  const end = text.indexOf("\n")
  if (end < 0) return Either.left("the page has no header line")
  let header: unknown
  try {
    header = JSON.parse(text.slice(0, end))
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
  const records: Array<PullResponse["records"][number]> = new Array(n)
  let at = end + 1
  for (let i = 0; i < n; i++) {
    const next = text.indexOf("\n", at)
    if (next < 0) return Either.left(`the page ends after ${i} of ${n} records`)
    let recordJson = text.slice(at, next)
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
    at = next + 1
  }
  if (at !== text.length) return Either.left(`the page holds more lines than its ${n} records`)
  return Either.right({ records, head: h["head"] as number, hasMore: h["hasMore"] })
}
