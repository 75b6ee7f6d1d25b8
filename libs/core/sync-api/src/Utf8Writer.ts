/**
 * Writes a large answer body as UTF-8 into chunks of 64 KiB, never as one
 * page-sized string or buffer.
 *
 * Why: a pull page is about 1.8 MB. Building it as one string (by
 * `Array.prototype.join`, by flattening a concatenation, or on the client by
 * `response.text()`) or as one buffer puts it in freshly mapped memory, and
 * every 4 KiB page of that memory is faulted in on first touch. On this
 * project's 2-core VM that made a 1.8 MB join cost 5–6 ms and its encoding
 * another 5–6 ms, while the whole raw SELECT of the page costs about 4 ms.
 * Chunks of 64 KiB come from the allocator's reused memory instead. The
 * measurements are in docs/http-api.md ("Why pages travel as chunks").
 *
 * A text is never split across chunks, so the last text written can be
 * dropped again (`drop`), which the record-lines encoder uses to rewrite a
 * record as a JSON string.
 *
 * @since 0.1.0
 */

const encoder = new TextEncoder()

/**
 * The size of a chunk, in bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const CHUNK_SIZE = 64 * 1024

/**
 * Appends text (as UTF-8) and single bytes into chunks.
 *
 * @since 0.1.0
 * @category models
 */
export interface Utf8Writer {
  /** Bytes written so far, in all chunks. */
  readonly length: number
  /**
   * Appends `text` as UTF-8 (a lone surrogate becomes U+FFFD, as with
   * `TextEncoder`), all of it in one chunk; returns the bytes written.
   */
  readonly text: (text: string) => number
  /** Appends one byte (0–255). */
  readonly byte: (value: number) => void
  /** Removes the last `bytes` bytes, which must all come from the last `text` written. */
  readonly drop: (bytes: number) => void
  /** The chunks written, in order: views of the chunks, without a copy. */
  readonly chunks: () => ReadonlyArray<Uint8Array>
}

/**
 * An empty writer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Utf8Writer => {
  const done: Array<Uint8Array> = []
  let chunk = new Uint8Array(CHUNK_SIZE)
  let at = 0
  let total = 0
  let last = 0
  /** Room for `bytes` more in the current chunk, starting a new one (as large as needed) if there is not. */
  const room = (bytes: number) => {
    if (chunk.length - at >= bytes) return
    if (at > 0) done.push(chunk.subarray(0, at))
    chunk = new Uint8Array(Math.max(CHUNK_SIZE, bytes))
    at = 0
  }
  return {
    get length() {
      return total
    },
    text: (text) => {
      // At most 3 bytes per UTF-16 code unit: with that much room, the whole text fits.
      room(text.length * 3)
      const written = encoder.encodeInto(text, chunk.subarray(at)).written
      at += written
      total += written
      last = written
      return written
    },
    byte: (value) => {
      room(1)
      chunk[at++] = value
      total += 1
      last = 0
    },
    drop: (bytes) => {
      if (bytes < 0 || bytes > last) throw new RangeError(`can drop only the last text's ${last} bytes, not ${bytes}`)
      at -= bytes
      total -= bytes
      last -= bytes
    },
    chunks: () => (at > 0 ? [...done, chunk.subarray(0, at)] : [...done])
  }
}
