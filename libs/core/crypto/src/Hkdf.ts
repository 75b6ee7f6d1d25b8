/**
 * HKDF-Expand (RFC 5869 §2.3) over an HMAC-SHA256 primitive, for adapters
 * whose host offers HMAC but no stand-alone Expand (WebCrypto's HKDF and
 * Node's `hkdf` run Extract and Expand together). Checked against the
 * RFC 5869 vectors, which give PRK and OKM, on every adapter that uses it.
 *
 * @since 0.1.0
 */
import { Bytes } from "@cipherlog/domain"
import { Effect } from "effect"
import { zeroize } from "./Secret.js"

/**
 * @since 0.1.0
 * @category constructors
 */
export const expandWith = <E, R>(hmac: (key: Uint8Array, data: Uint8Array) => Effect.Effect<Uint8Array, E, R>) =>
  (prk: Uint8Array, info: Uint8Array, length: number): Effect.Effect<Uint8Array, E, R> =>
    Effect.gen(function*() {
      const blocks = Math.ceil(length / 32)
      if (blocks > 255) throw new RangeError("HKDF-SHA256 output is at most 8160 bytes")
      const out = new Uint8Array(blocks * 32)
      let previous: Uint8Array = new Uint8Array(0)
      for (let i = 1; i <= blocks; i++) {
        const block = yield* hmac(prk, Bytes.concat(previous, info, Uint8Array.of(i)))
        out.set(block, (i - 1) * 32)
        zeroize(previous)
        previous = block
      }
      zeroize(previous)
      const okm = out.slice(0, length)
      zeroize(out)
      return okm
    })
