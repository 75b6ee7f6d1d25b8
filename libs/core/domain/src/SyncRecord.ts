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
