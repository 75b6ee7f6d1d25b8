/**
 * A small least-recently-used cache for adapters' parsed public keys
 * (Node `KeyObject`s, WebCrypto `CryptoKey`s): verifying many records of the
 * same few devices should not re-parse the same public key every time.
 * Only public keys go in here.
 *
 * @since 0.1.0
 */
import { Encoding } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface PublicKeyCache<V> {
  readonly get: (publicKey: Uint8Array, make: () => V) => V
  readonly size: () => number
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <V>(capacity = 256): PublicKeyCache<V> => {
  const entries = new Map<string, V>()
  return {
    get(publicKey, create) {
      const id = Encoding.encodeBase64(publicKey)
      const hit = entries.get(id)
      if (hit !== undefined) {
        entries.delete(id)
        entries.set(id, hit)
        return hit
      }
      const value = create()
      entries.set(id, value)
      if (entries.size > capacity) entries.delete(entries.keys().next().value!)
      return value
    },
    size: () => entries.size
  }
}
