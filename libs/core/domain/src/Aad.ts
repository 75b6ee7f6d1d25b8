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
  // One allocation, one pass, no closures (this runs for every record sealed or opened).
  let size = AAD_MAGIC.length + 1 + 4 * 8 + 9 * 4
  size += h.storeId.length + h.aggregateType.length + h.aggregateId.length + h.eventId.length + h.eventType.length + h.key.id.length +
    h.suite.length + h.author.userId.length + h.author.deviceId.length
  // UTF-16 length × 3 bounds the UTF-8 length; identifiers are ASCII, so this is usually exact.
  const out = new Uint8Array(size * 3)
  out.set(AAD_MAGIC, 0)
  let pos = AAD_MAGIC.length
  out[pos++] = AAD_VERSION
  pos = putText(out, pos, h.storeId)
  pos = putText(out, pos, h.aggregateType)
  pos = putText(out, pos, h.aggregateId)
  pos = putText(out, pos, h.eventId)
  pos = putText(out, pos, h.eventType)
  pos = putU64(out, pos, h.version)
  pos = putU64(out, pos, h.createdAt)
  pos = putText(out, pos, h.key.id)
  pos = putU64(out, pos, h.key.epoch)
  pos = putText(out, pos, h.suite)
  pos = putText(out, pos, h.author.userId)
  pos = putText(out, pos, h.author.deviceId)
  pos = putU64(out, pos, h.chain.seq)
  return out.subarray(0, pos)
}

const putU32 = (out: Uint8Array, pos: number, n: number) => {
  out[pos] = n >>> 24
  out[pos + 1] = (n >>> 16) & 0xff
  out[pos + 2] = (n >>> 8) & 0xff
  out[pos + 3] = n & 0xff
}

/** `lp(utf8(t))` at `pos` (room for 4 + 3 × t.length bytes); the position after it. */
const putText = (out: Uint8Array, pos: number, t: string): number => {
  const start = pos + 4
  let i = 0
  // ASCII inline (identifiers are ASCII); anything else through the encoder.
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i)
    if (c > 0x7f) break
    out[start + i] = c
  }
  let written = i
  if (i < t.length) written = textEncoder.encodeInto(t, out.subarray(start)).written
  putU32(out, pos, written)
  return start + written
}

const putU64 = (out: Uint8Array, pos: number, n: number): number => {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError("u64 out of range")
  putU32(out, pos, Math.floor(n / 0x1_0000_0000))
  putU32(out, pos + 4, n >>> 0)
  return pos + 8
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
export const chainInput = (
  aad: Uint8Array,
  prev: Uint8Array | undefined,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  scratch?: ChainScratch
): Uint8Array => {
  const length = CHAIN_MAGIC.length + 1 + 16 + aad.length + (prev?.length ?? 0) + nonce.length + ciphertext.length
  let out: Uint8Array
  if (scratch === undefined) out = new Uint8Array(length)
  else {
    if (scratch.buffer.length < length) scratch.buffer = new Uint8Array(Math.max(length, 2 * scratch.buffer.length))
    out = scratch.buffer
  }
  out.set(CHAIN_MAGIC, 0)
  let pos = CHAIN_MAGIC.length
  out[pos++] = AAD_VERSION
  pos = putPart(out, pos, aad)
  pos = putPart(out, pos, prev ?? EMPTY)
  pos = putPart(out, pos, nonce)
  pos = putPart(out, pos, ciphertext)
  return scratch === undefined ? out : out.subarray(0, pos)
}

/**
 * A buffer {@link chainInput} may write into instead of allocating: the
 * input it returns is then a view of it, valid until the next call with the
 * same scratch (hash it before building the next one).
 *
 * @since 0.1.0
 * @category encoding
 */
export interface ChainScratch {
  buffer: Uint8Array
}

/**
 * @since 0.1.0
 * @category encoding
 */
export const chainScratch = (): ChainScratch => ({ buffer: new Uint8Array(2048) })

const EMPTY = new Uint8Array(0)

const putPart = (out: Uint8Array, pos: number, part: Uint8Array): number => {
  putU32(out, pos, part.length)
  out.set(part, pos + 4)
  return pos + 4 + part.length
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
