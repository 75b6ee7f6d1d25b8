/**
 * The canonical, versioned byte encodings that cryptography is computed
 * over: the AEAD associated data of a record (INV-013), the input of a
 * device's hash chain, and the message a device signs (INV-007).
 *
 * Every field has a fixed position and a length prefix, so the encoding is
 * injective: two different headers never produce the same bytes. Format:
 * `docs/formats.md`, "AAD v1".
 *
 * @since 0.1.0
 */
import { Either, Schema } from "effect"
import { concat, fromUtf8, readU32, readU64, utf8 } from "./Bytes.js"
import { InvalidInput, UnsupportedFormat } from "./Errors.js"
import { RecordHeader } from "./SyncRecord.js"

/**
 * Version byte of the AAD encoding.
 *
 * @since 0.1.0
 * @category constants
 */
export const AAD_VERSION = 1

const AAD_MAGIC = utf8("cipherlog/aad")
const CHAIN_MAGIC = utf8("cipherlog/chain")
const SIG_MAGIC = utf8("cipherlog/sig")


/**
 * The header fields the AAD binds: all of them but `chain.prev`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AadFields {
  readonly storeId: string
  readonly aggregateType: string
  readonly aggregateId: string
  readonly eventId: string
  readonly eventType: string
  readonly version: number
  readonly createdAt: number
  readonly key: { readonly id: string; readonly epoch: number }
  readonly suite: string
  readonly author: { readonly userId: string; readonly deviceId: string }
  readonly chain: { readonly seq: number }
}

/**
 * AAD v1 of a record header:
 * `"cipherlog/aad" ‖ 0x01 ‖ lp(storeId) ‖ lp(aggregateType) ‖ lp(aggregateId) ‖ lp(eventId) ‖
 * lp(eventType) ‖ u64(version) ‖ u64(createdAt) ‖ lp(key.id) ‖ u64(key.epoch) ‖ lp(suite) ‖
 * lp(author.userId) ‖ lp(author.deviceId) ‖ u64(chain.seq)`,
 * where `lp(x) = u32be(len x) ‖ x` and text is UTF-8.
 *
 * `chain.prev` is not in the AAD: it is bound by the device's chain digest
 * (see {@link chainInput}) and so by its signature. Keeping it out lets a
 * whole batch be encrypted at once, before the chain is computed.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (h: AadFields): Uint8Array => {
  // One allocation, one pass (this runs for every record sealed or opened).
  const texts = [h.storeId, h.aggregateType, h.aggregateId, h.eventId, h.eventType, h.key.id, h.suite, h.author.userId, h.author.deviceId]
  let size = AAD_MAGIC.length + 1 + 4 * 8
  for (const t of texts) size += 4 + t.length * 3
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out.set(AAD_MAGIC, 0)
  let pos = AAD_MAGIC.length
  out[pos++] = AAD_VERSION
  const text = (t: string) => {
    const { written } = textEncoder.encodeInto(t, out.subarray(pos + 4))
    view.setUint32(pos, written, false)
    pos += 4 + written
  }
  const int = (n: number) => {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError("u64 out of range")
    view.setUint32(pos, Math.floor(n / 0x1_0000_0000), false)
    view.setUint32(pos + 4, n >>> 0, false)
    pos += 8
  }
  text(h.storeId)
  text(h.aggregateType)
  text(h.aggregateId)
  text(h.eventId)
  text(h.eventType)
  int(h.version)
  int(h.createdAt)
  text(h.key.id)
  int(h.key.epoch)
  text(h.suite)
  text(h.author.userId)
  text(h.author.deviceId)
  int(h.chain.seq)
  return out.slice(0, pos)
}

const textEncoder = new TextEncoder()

class Reader {
  offset = 0
  constructor(readonly bytes: Uint8Array) {}
  take(n: number): Uint8Array {
    if (n < 0 || this.offset + n > this.bytes.length) throw new RangeError("truncated")
    const out = this.bytes.subarray(this.offset, this.offset + n)
    this.offset += n
    return out
  }
  lp(): Uint8Array {
    const length = readU32(this.take(4), 0)
    return this.take(length)
  }
  text(): string {
    return fromUtf8(this.lp())
  }
  u64(): number {
    return readU64(this.take(8), 0)
  }
}

const decodeHeader = Schema.decodeUnknownEither(
  Schema.Struct({ ...RecordHeader.fields, chain: Schema.Struct({ seq: RecordHeader.fields.chain.from.fields.seq }) }),
  { errors: "all" }
)

/**
 * Inverse of {@link encode}: reads AAD v1 bytes back into a header (without
 * `chain.prev`, which the AAD does not hold). Used by tests (injectivity) and
 * by tools that inspect records.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decode = (bytes: Uint8Array): Either.Either<Omit<RecordHeader, "chain"> & { readonly chain: { readonly seq: RecordHeader["chain"]["seq"] } }, InvalidInput | UnsupportedFormat> => {
  const r = new Reader(bytes)
  let raw: unknown
  try {
    const magic = r.take(AAD_MAGIC.length)
    if (!magic.every((b, i) => b === AAD_MAGIC[i])) {
      return Either.left(new InvalidInput({ what: "AAD", problem: "does not start with cipherlog/aad" }))
    }
    const version = r.take(1)[0]!
    if (version !== AAD_VERSION) {
      return Either.left(new UnsupportedFormat({ format: "AAD", found: String(version), supported: [AAD_VERSION] }))
    }
    const storeId = r.text()
    const aggregateType = r.text()
    const aggregateId = r.text()
    const eventId = r.text()
    const eventType = r.text()
    const version_ = r.u64()
    const createdAt = r.u64()
    const keyId = r.text()
    const epoch = r.u64()
    const suite = r.text()
    const userId = r.text()
    const deviceId = r.text()
    const seq = r.u64()
    if (r.offset !== bytes.length) {
      return Either.left(new InvalidInput({ what: "AAD", problem: "trailing bytes after the last field" }))
    }
    raw = {
      storeId, aggregateType, aggregateId, eventId, eventType, version: version_, createdAt,
      key: { id: keyId, epoch }, suite, author: { userId, deviceId },
      chain: { seq }
    }
  } catch (_) {
    return Either.left(new InvalidInput({ what: "AAD", problem: "truncated or malformed" }))
  }
  return Either.mapLeft(decodeHeader(raw), (e) => InvalidInput.fromParseError("AAD", e))
}


/**
 * The bytes a device's hash chain hashes (SHA-256) for one record:
 * `"cipherlog/chain" ‖ 0x01 ‖ lp(aad) ‖ lp(prev or empty) ‖ lp(nonce) ‖ lp(ciphertext)`,
 * where `prev` is the previous record's digest: each digest commits to the
 * device's whole chain, and a signature over one vouches for all before it.
 *
 * @since 0.1.0
 * @category encoding
 */
export const chainInput = (aad: Uint8Array, prev: Uint8Array | undefined, nonce: Uint8Array, ciphertext: Uint8Array): Uint8Array => {
  const parts = [aad, prev ?? new Uint8Array(0), nonce, ciphertext]
  const out = new Uint8Array(CHAIN_MAGIC.length + 1 + parts.reduce((n, p) => n + 4 + p.length, 0))
  const view = new DataView(out.buffer)
  out.set(CHAIN_MAGIC, 0)
  let pos = CHAIN_MAGIC.length
  out[pos++] = AAD_VERSION
  for (const p of parts) {
    view.setUint32(pos, p.length, false)
    out.set(p, pos + 4)
    pos += 4 + p.length
  }
  return out
}

/**
 * The message a device signs (Ed25519) to vouch for its chain up to a
 * record: `"cipherlog/sig" ‖ 0x01 ‖ digest` (32-byte chain digest).
 *
 * @since 0.1.0
 * @category encoding
 */
export const signatureInput = (digest: Uint8Array): Uint8Array => {
  if (digest.length !== 32) throw new RangeError("a chain digest is 32 bytes")
  return concat(SIG_MAGIC, Uint8Array.of(AAD_VERSION), digest)
}
