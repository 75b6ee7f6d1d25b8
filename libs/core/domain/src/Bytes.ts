/**
 * Byte helpers shared by every encoding: UTF-8, canonical base64url,
 * big-endian integers and concatenation. Pure; no host APIs.
 *
 * @since 0.1.0
 */
import { Either, Encoding, ParseResult, Schema } from "effect"

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * UTF-8 bytes of a string.
 *
 * @since 0.1.0
 * @category utf8
 */
export const utf8 = (text: string): Uint8Array => encoder.encode(text)

/**
 * Strict UTF-8 decoding: malformed input throws rather than producing U+FFFD.
 *
 * @since 0.1.0
 * @category utf8
 */
export const fromUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes)

/**
 * Concatenates byte arrays into a new array.
 *
 * @since 0.1.0
 * @category bytes
 */
export const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * 4-byte big-endian encoding of an unsigned 32-bit integer.
 *
 * @since 0.1.0
 * @category bytes
 */
export const u32 = (value: number): Uint8Array => {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError("u32 out of range")
  }
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, value, false)
  return out
}

/**
 * 8-byte big-endian encoding of a non-negative safe integer (0 .. 2^53-1).
 *
 * @since 0.1.0
 * @category bytes
 */
export const u64 = (value: number): Uint8Array => {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError("u64 out of range")
  }
  const out = new Uint8Array(8)
  const view = new DataView(out.buffer)
  view.setUint32(0, Math.floor(value / 0x1_0000_0000), false)
  view.setUint32(4, value >>> 0, false)
  return out
}

/**
 * Reads an 8-byte big-endian integer written by {@link u64}.
 *
 * @since 0.1.0
 * @category bytes
 */
export const readU64 = (bytes: Uint8Array, offset: number): number => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const value = view.getUint32(offset, false) * 0x1_0000_0000 + view.getUint32(offset + 4, false)
  if (!Number.isSafeInteger(value)) throw new RangeError("u64 beyond 2^53-1")
  return value
}

/**
 * Reads a 4-byte big-endian integer written by {@link u32}.
 *
 * @since 0.1.0
 * @category bytes
 */
export const readU32 = (bytes: Uint8Array, offset: number): number =>
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset, false)

/**
 * Unpadded base64url (RFC 4648 §5) of some bytes.
 *
 * @since 0.1.0
 * @category base64url
 */
export const toBase64Url = (bytes: Uint8Array): string => Encoding.encodeBase64Url(bytes)

/**
 * Decodes canonical, unpadded base64url; `undefined` for anything else
 * (padding, foreign characters, non-zero trailing bits), so that one byte
 * string has exactly one text form.
 *
 * @since 0.1.0
 * @category base64url
 */
export const fromBase64Url = (text: string): Uint8Array | undefined => {
  const decoded = Encoding.decodeBase64Url(text)
  if (Either.isLeft(decoded)) return undefined
  return Encoding.encodeBase64Url(decoded.right) === text ? decoded.right : undefined
}

/**
 * Schema: canonical unpadded base64url text ⇄ bytes.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Base64Url: Schema.Schema<Uint8Array, string> = Schema.transformOrFail(
  Schema.String.annotations({ description: "unpadded base64url (RFC 4648 §5)" }),
  Schema.Uint8ArrayFromSelf,
  {
    strict: true,
    decode: (text, _, ast) => {
      const bytes = fromBase64Url(text)
      return bytes === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, text, "expected canonical unpadded base64url"))
        : ParseResult.succeed(bytes)
    },
    encode: (bytes) => ParseResult.succeed(toBase64Url(bytes))
  }
).annotations({ identifier: "Base64Url" })

/**
 * Schema: base64url of exactly `length` bytes.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Base64UrlOfLength = (length: number) =>
  Base64Url.pipe(
    Schema.filter((bytes) => bytes.length === length || `expected ${length} bytes, got ${bytes.length}`, {
      arbitrary: () => (fc) => fc.uint8Array({ minLength: length, maxLength: length })
    })
  )

/**
 * Byte-wise equality. Not constant time: for public data only; secrets are
 * compared with the Crypto port's `timingSafeEqual`.
 *
 * @since 0.1.0
 * @category bytes
 */
export const equalsPublic = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
