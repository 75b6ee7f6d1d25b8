/**
 * The sync record: what leaves a device. Its JSON text (`record_json`) is
 * what the server stores and returns byte for byte (INV-004). Everything in
 * the header is plaintext metadata the server may observe (seed 004: store,
 * aggregate type/id, event type, version, timestamps; plus key reference,
 * suite, author and hash-chain position); the payload travels only as
 * ciphertext (INV-006). The header is bound to the ciphertext as AES-GCM AAD
 * (INV-013, see `Aad`), and the record is signed through its author's
 * device hash chain (INV-007).
 *
 * Format: `docs/formats.md`, "Sync record (record_json) v1".
 *
 * @since 0.1.0
 */
import { Either, Schema } from "effect"
import { Base64Url, Base64UrlOfLength, fromBase64Url, toBase64Url } from "./Bytes.js"
import { UUID_V7 } from "./EventId.js"
import { InvalidInput, UnsupportedFormat } from "./Errors.js"
import { EventId } from "./EventId.js"
import { AggregateId, AggregateType, EventType, StoreId, Timestamp, Version } from "./Identifiers.js"
import { Author, ChainLink, KeyRef, nonceLength, SuiteId, tagLength } from "./Record.js"

/**
 * The record format this code writes and reads.
 *
 * @since 0.1.0
 * @category constants
 */
export const FORMAT_VERSION = 1 as const

/**
 * Upper bound of a record's JSON text, in UTF-16 code units (the server
 * refuses larger ones): 1 MiB of ciphertext plus headroom.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_RECORD_JSON_LENGTH = 1_500_000

/**
 * The plaintext header of a record: exactly the metadata the server learns.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RecordHeader = Schema.Struct({
  storeId: StoreId,
  aggregateType: AggregateType,
  aggregateId: AggregateId,
  eventId: EventId,
  eventType: EventType,
  version: Version,
  createdAt: Timestamp,
  key: KeyRef,
  suite: SuiteId,
  author: Author,
  chain: ChainLink
}).annotations({ identifier: "RecordHeader" })
/** @since 0.1.0 */
export type RecordHeader = typeof RecordHeader.Type

const RecordFields = Schema.Struct({
  v: Schema.Literal(FORMAT_VERSION),
  ...RecordHeader.fields,
  nonce: Base64Url,
  ciphertext: Base64Url,
  signature: Schema.optionalWith(Base64UrlOfLength(64), { exact: true })
})

/**
 * A whole sync record. `ciphertext` includes the AEAD tag; `signature` is
 * present on the last record of each signed batch and covers, through the
 * chain, every earlier record of the same device (docs/formats.md).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SyncRecord = RecordFields.pipe(
  Schema.filter((r) => [
    ...(r.nonce.length === nonceLength[r.suite] ? [] : [{
      path: ["nonce"],
      message: `a ${r.suite} nonce is ${nonceLength[r.suite]} bytes, got ${r.nonce.length}`
    }]),
    ...(r.ciphertext.length >= tagLength[r.suite] ? [] : [{
      path: ["ciphertext"],
      message: `a ${r.suite} ciphertext holds at least its ${tagLength[r.suite]}-byte tag`
    }])
  ])
).annotations({ identifier: "SyncRecord" })
/** @since 0.1.0 */
export type SyncRecord = typeof SyncRecord.Type

/**
 * Just the header of a record.
 *
 * @since 0.1.0
 * @category getters
 */
export const header = (record: SyncRecord): RecordHeader => ({
  storeId: record.storeId,
  aggregateType: record.aggregateType,
  aggregateId: record.aggregateId,
  eventId: record.eventId,
  eventType: record.eventType,
  version: record.version,
  createdAt: record.createdAt,
  key: record.key,
  suite: record.suite,
  author: record.author,
  chain: record.chain
})

/**
 * The words that name a record in errors and logs — never its contents.
 *
 * @since 0.1.0
 * @category getters
 */
export const describe = (h: Pick<RecordHeader, "storeId" | "aggregateType" | "aggregateId" | "version" | "eventId">): string =>
  `store ${h.storeId}, ${h.aggregateType}/${h.aggregateId} v${h.version}, event ${h.eventId}`

const encodeFields = Schema.encodeSync(RecordFields)

/**
 * The canonical `record_json` text of a record: fixed key order (as listed
 * in docs/formats.md), no insignificant white space, optional fields
 * omitted when absent, binary fields in unpadded base64url.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeJson = (record: SyncRecord): string => {
  const e = encodeFields(record)
  const ordered = {
    v: e.v,
    storeId: e.storeId,
    aggregateType: e.aggregateType,
    aggregateId: e.aggregateId,
    eventId: e.eventId,
    eventType: e.eventType,
    version: e.version,
    createdAt: e.createdAt,
    key: { id: e.key.id, epoch: e.key.epoch },
    suite: e.suite,
    author: { userId: e.author.userId, deviceId: e.author.deviceId },
    chain: e.chain.prev === undefined ? { seq: e.chain.seq } : { seq: e.chain.seq, prev: e.chain.prev },
    nonce: e.nonce,
    ciphertext: e.ciphertext,
    ...(e.signature === undefined ? {} : { signature: e.signature })
  }
  return JSON.stringify(ordered)
}

/**
 * The canonical text of a record whose fields are already known to be valid
 * (built by the pipeline): the same bytes as {@link encodeJson}, without
 * re-validating — the hot path of appending.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeJsonTrusted = (r: SyncRecord): string => {
  const b64 = toBase64Url
  const chain = r.chain.prev === undefined ? `{"seq":${r.chain.seq}}` : `{"seq":${r.chain.seq},"prev":"${b64(r.chain.prev)}"}`
  return `{"v":1,"storeId":${JSON.stringify(r.storeId)},"aggregateType":${JSON.stringify(r.aggregateType)},` +
    `"aggregateId":${JSON.stringify(r.aggregateId)},"eventId":${JSON.stringify(r.eventId)},"eventType":${JSON.stringify(r.eventType)},` +
    `"version":${r.version},"createdAt":${r.createdAt},"key":{"id":${JSON.stringify(r.key.id)},"epoch":${r.key.epoch}},` +
    `"suite":${JSON.stringify(r.suite)},"author":{"userId":${JSON.stringify(r.author.userId)},"deviceId":${JSON.stringify(r.author.deviceId)}},` +
    `"chain":${chain},"nonce":"${b64(r.nonce)}","ciphertext":"${b64(r.ciphertext)}"` +
    (r.signature === undefined ? "}" : `,"signature":"${b64(r.signature)}"}`)
}

/**
 * The binary parts of a record text this device wrote or already validated
 * (its local log): nonce, ciphertext and signature, without a full schema
 * validation. Anything malformed throws; callers treat that as a format
 * failure of the record. Untrusted text goes through {@link decodeJson}.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decodeBinaryTrusted = (text: string): { readonly nonce: Uint8Array; readonly ciphertext: Uint8Array; readonly signature: Uint8Array | undefined } => {
  const json = JSON.parse(text) as { nonce?: unknown; ciphertext?: unknown; signature?: unknown }
  const bytes = (v: unknown) => {
    const b = typeof v === "string" ? fromBase64Url(v) : undefined
    if (b === undefined) throw new Error("malformed record")
    return b
  }
  return { nonce: bytes(json.nonce), ciphertext: bytes(json.ciphertext), signature: json.signature === undefined ? undefined : bytes(json.signature) }
}

const decodeFields = Schema.decodeUnknownEither(SyncRecord, { errors: "all", onExcessProperty: "error" })

/**
 * Parses and validates `record_json`. Accepts any JSON spelling of a valid
 * record (key order, white space, escapes), rejects unknown fields, other
 * format versions and malformed values with an error that says which field
 * is wrong and how.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decodeJson = (text: string): Either.Either<SyncRecord, InvalidInput | UnsupportedFormat> => {
  if (text.length > MAX_RECORD_JSON_LENGTH) {
    return Either.left(new InvalidInput({ what: "record_json", problem: `longer than ${MAX_RECORD_JSON_LENGTH} characters` }))
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (_) {
    return Either.left(new InvalidInput({ what: "record_json", problem: "not valid JSON" }))
  }
  if (typeof json === "object" && json !== null && !Array.isArray(json) && "v" in json && json.v !== FORMAT_VERSION) {
    return Either.left(new UnsupportedFormat({ format: "record_json", found: String(json.v), supported: [FORMAT_VERSION] }))
  }
  return Either.mapLeft(decodeFields(json), (error) => InvalidInput.fromParseError("record_json", error))
}

/**
 * Like {@link decodeJson} but also requires `text` to be the canonical
 * encoding. Devices write canonical records; a server stores whatever valid
 * text it is given (INV-004).
 *
 * @since 0.1.0
 * @category encoding
 */
export const decodeCanonicalJson = (text: string): Either.Either<SyncRecord, InvalidInput | UnsupportedFormat> =>
  Either.flatMap(decodeJson(text), (record) =>
    encodeJson(record) === text
      ? Either.right(record)
      : Either.left(new InvalidInput({ what: "record_json", problem: "valid but not in canonical form (docs/formats.md)" }))
  )

/**
 * What the server reads of a record: its header without `chain` (whose
 * `prev` would have to be decoded).
 *
 * @since 0.1.0
 * @category models
 */
export type CheckedHeader = Omit<RecordHeader, "chain">

const ID = /^[A-Za-z0-9_-]{1,64}$/
const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/
const BASE64URL = /^[A-Za-z0-9_-]*$/
const BASE64URL_VALUES = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/**
 * The byte length of canonical unpadded base64url text, or -1: the same
 * acceptance as `Bytes.fromBase64Url` (alphabet, length not 1 mod 4, zero
 * bits past the last byte) without decoding.
 */
const base64UrlLength = (v: unknown): number => {
  if (typeof v !== "string") return -1
  const rem = v.length % 4
  if (rem === 1 || !BASE64URL.test(v)) return -1
  if (rem > 1) {
    const last = BASE64URL_VALUES.indexOf(v[v.length - 1]!)
    if ((last & (rem === 2 ? 0x0f : 0x03)) !== 0) return -1
  }
  return Math.floor((v.length * 3) / 4)
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** Whether `o` has exactly the keys `required` plus any of `optional`. */
const hasKeys = (o: Record<string, unknown>, required: ReadonlyArray<string>, optional: ReadonlyArray<string> = []): boolean => {
  let n = 0
  for (const k in o) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) return false
    if (!required.includes(k) && !optional.includes(k)) return false
    n++
  }
  for (const k of required) if (!Object.prototype.hasOwnProperty.call(o, k)) return false
  return n === required.length + optional.filter((k) => Object.prototype.hasOwnProperty.call(o, k)).length
}

const RECORD_KEYS = [
  "v", "storeId", "aggregateType", "aggregateId", "eventId", "eventType", "version", "createdAt", "key", "suite", "author", "chain",
  "nonce", "ciphertext"
]

/**
 * Whether parsed JSON is a valid v1 record, by hand: the same rules as the
 * `SyncRecord` schema (a test holds them together), without decoding the
 * binary fields.
 */
const isValidRecord = (j: unknown): j is Record<string, unknown> & CheckedHeader => {
  if (!isObject(j) || !hasKeys(j, RECORD_KEYS, ["signature"]) || j["v"] !== FORMAT_VERSION) return false
  const { aggregateId, aggregateType, author, chain, ciphertext, createdAt, eventId, eventType, key, nonce, signature, storeId, suite, version } = j
  if (typeof storeId !== "string" || !ID.test(storeId)) return false
  if (typeof aggregateType !== "string" || !NAME.test(aggregateType)) return false
  if (typeof aggregateId !== "string" || !ID.test(aggregateId)) return false
  if (typeof eventId !== "string" || !UUID_V7.test(eventId)) return false
  if (typeof eventType !== "string" || !NAME.test(eventType)) return false
  if (!isInt(version, 1, Number.MAX_SAFE_INTEGER) || !isInt(createdAt, 0, Number.MAX_SAFE_INTEGER)) return false
  if (!isObject(key) || !hasKeys(key, ["id", "epoch"]) || typeof key["id"] !== "string" || !ID.test(key["id"])) return false
  if (!isInt(key["epoch"], 0, 0xffff_ffff)) return false
  if (suite !== "A256GCM" && suite !== "XC20P") return false
  if (!isObject(author) || !hasKeys(author, ["userId", "deviceId"])) return false
  if (typeof author["userId"] !== "string" || !ID.test(author["userId"])) return false
  if (typeof author["deviceId"] !== "string" || !ID.test(author["deviceId"])) return false
  if (!isObject(chain) || !hasKeys(chain, ["seq"], ["prev"]) || !isInt(chain["seq"], 1, Number.MAX_SAFE_INTEGER)) return false
  if ((chain["seq"] === 1) !== (chain["prev"] === undefined)) return false
  if (chain["prev"] !== undefined && base64UrlLength(chain["prev"]) !== 32) return false
  if (base64UrlLength(nonce) !== nonceLength[suite]) return false
  if (base64UrlLength(ciphertext) < tagLength[suite]) return false
  return signature === undefined || base64UrlLength(signature) === 64
}

/**
 * The hand check of {@link checkJson} alone: the header of a valid record,
 * or `undefined` for anything else (never a header {@link decodeJson} would
 * refuse; a test holds the two together).
 *
 * @since 0.1.0
 * @category encoding
 */
export const quickCheckJson = (text: string): CheckedHeader | undefined => {
  if (text.length > MAX_RECORD_JSON_LENGTH) return undefined
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (_) {
    return undefined
  }
  if (!isValidRecord(json)) return undefined
  const { aggregateId, aggregateType, author, createdAt, eventId, eventType, key, storeId, suite, version } = json
  return { storeId, aggregateType, aggregateId, eventId, eventType, version, createdAt, key, suite, author }
}

/**
 * Validates `record_json` exactly as {@link decodeJson} does (same
 * acceptance, same errors) and returns its header without `chain` — the
 * server's path: valid records are checked by hand without decoding their
 * base64url fields (the ciphertext is only checked to be canonical
 * base64url of at least the tag's length); anything the hand check does not
 * accept goes through {@link decodeJson} for its precise error.
 *
 * @since 0.1.0
 * @category encoding
 */
export const checkJson = (text: string): Either.Either<CheckedHeader, InvalidInput | UnsupportedFormat> => {
  const quick = quickCheckJson(text)
  if (quick !== undefined) return Either.right(quick)
  return Either.map(decodeJson(text), (record) => {
    const { chain: _, ...rest } = header(record)
    return rest
  })
}
