/**
 * The Crypto port in pure JavaScript (`@noble/ciphers`, `@noble/curves`,
 * `@noble/hashes`), for any host without WebCrypto or `node:crypto`.
 * Argon2id comes from `hash-wasm` (WASM). The only thing taken from the
 * host is randomness: by default `globalThis.crypto.getRandomValues`;
 * a host without it passes its own CSPRNG to {@link layer}.
 *
 * @since 0.1.0
 */
import { Crypto, DecryptionFailed } from "@cipherlog/crypto"
import { gcm } from "@noble/ciphers/aes.js"
import { chacha20poly1305, xchacha20poly1305 } from "@noble/ciphers/chacha.js"
import { equalBytes } from "@noble/ciphers/utils.js"
import { ed25519, x25519 } from "@noble/curves/ed25519.js"
import { expand, extract, hkdf } from "@noble/hashes/hkdf.js"
import { hmac } from "@noble/hashes/hmac.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { randomBytes as nobleRandomBytes } from "@noble/hashes/utils.js"
import { Effect, Layer } from "effect"
import { argon2 } from "./internal/argon2.js"

const ciphers = { "AES-256-GCM": gcm, "ChaCha20-Poly1305": chacha20poly1305, "XChaCha20-Poly1305": xchacha20poly1305 }

const openSync = (algorithm: Crypto.AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array) => {
  try {
    return ciphers[algorithm](key, nonce, aad).decrypt(ciphertext)
  } catch (_) {
    return undefined
  }
}

/**
 * Options of the noble adapter.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** A CSPRNG; defaults to the host's `crypto.getRandomValues`. */
  readonly randomBytes?: (length: number) => Uint8Array
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const primitives = (options: Options = {}): Crypto.Primitives<Uint8Array, Uint8Array, Uint8Array> => ({
  name: "noble",
  algorithms: ["AES-256-GCM", "ChaCha20-Poly1305", "XChaCha20-Poly1305"],
  randomBytes: options.randomBytes ?? ((length) => nobleRandomBytes(length)),
  sha256: (data) => Effect.sync(() => sha256(data)),
  hmacSha256: (key, data) => Effect.sync(() => hmac(sha256, key, data)),
  hkdf: (ikm, salt, info, length) => Effect.sync(() => hkdf(sha256, ikm, salt, info, length)),
  hkdfExtract: (salt, ikm) => Effect.sync(() => extract(sha256, ikm, salt)),
  hkdfExpand: (prk, info, length) => Effect.sync(() => expand(sha256, prk, info, length)),
  argon2id: argon2,
  aead: {
    importKey: (_algorithm, raw) => Effect.sync(() => raw.slice()),
    destroyKey: (key) => key.fill(0),
    sealSync: (algorithm, key, nonce, plaintext, aad) => ciphers[algorithm](key, nonce, aad).encrypt(plaintext),
    openSync,
    seal: (algorithm, key, nonce, plaintext, aad) => Effect.sync(() => ciphers[algorithm](key, nonce, aad).encrypt(plaintext)),
    sealMany: (algorithm, key, items) =>
      Effect.sync(() => items.map((item) => ciphers[algorithm](key, item.nonce, item.aad).encrypt(item.plaintext))),
    open: (algorithm, key, nonce, ciphertext, aad) =>
      Effect.suspend(() => {
        const plaintext = openSync(algorithm, key, nonce, ciphertext, aad)
        return plaintext === undefined ? Effect.fail(new DecryptionFailed({ algorithm })) : Effect.succeed(plaintext)
      }),
    openMany: (algorithm, key, items) =>
      Effect.sync(() =>
        items.map((item) => openSync(algorithm, key, item.nonce, item.ciphertext, item.aad) ?? new DecryptionFailed({ algorithm }))
      )
  },
  ed25519: {
    importSeed: (seed) => Effect.sync(() => ({ key: seed.slice(), publicKey: ed25519.getPublicKey(seed) })),
    destroyKey: (key) => key.fill(0),
    sign: (key, message) => Effect.sync(() => ed25519.sign(message, key)),
    verify: (publicKey, message, signature) =>
      Effect.sync(() => {
        try {
          // Strict RFC 8032 verification: ZIP-215's lenient encodings are refused.
          return ed25519.verify(signature, message, publicKey, { zip215: false })
        } catch (_) {
          return false
        }
      })
  },
  x25519: {
    importSecret: (secret) => Effect.sync(() => ({ key: secret.slice(), publicKey: x25519.getPublicKey(secret) })),
    destroyKey: (key) => key.fill(0),
    agree: (key, publicKey) =>
      Effect.sync(() => {
        try {
          return x25519.getSharedSecret(key, publicKey)
        } catch (_) {
          return undefined
        }
      })
  },
  timingSafeEqual: (a, b) => equalBytes(a, b)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Crypto.Crypto => Crypto.make(primitives(options))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Crypto.Crypto> => Layer.sync(Crypto.Crypto, () => make(options))
