/**
 * The Crypto port on `node:crypto` (OpenSSL): the default for the CLI and
 * the server. XChaCha20-Poly1305 (which OpenSSL lacks) comes from
 * `@noble/ciphers`; Argon2id from the native reference implementation
 * (`argon2`), measured faster here than `hash-wasm` (see internal/argon2.ts).
 *
 * @since 0.1.0
 */
import { Crypto, DecryptionFailed, Hkdf, PublicKeyCache } from "@cipherlog/crypto"
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js"
import { Effect, Layer } from "effect"
import * as nodeCrypto from "node:crypto"
import { argon2id } from "./internal/argon2.js"

const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex")
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex")
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex")
const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex")

const u8 = (b: Buffer | ArrayBuffer): Uint8Array =>
  b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)

const rawPublicKey = (key: nodeCrypto.KeyObject) =>
  u8(nodeCrypto.createPublicKey(key).export({ format: "der", type: "spki" })).slice(-32)

const privateKey = (prefix: Buffer, secret: Uint8Array) => {
  const der = Buffer.concat([prefix, secret])
  try {
    return nodeCrypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" })
  } finally {
    der.fill(0)
  }
}

const publicKey = (prefix: Buffer, raw: Uint8Array) =>
  nodeCrypto.createPublicKey({ key: Buffer.concat([prefix, raw]), format: "der", type: "spki" })

// Parsing a public key costs more than using it: keep the recent ones.
const ed25519Keys = PublicKeyCache.make<nodeCrypto.KeyObject>()
const x25519Keys = PublicKeyCache.make<nodeCrypto.KeyObject>()

/** AEAD key material: a private copy of the key bytes, zeroed on destroy. */
type AeadKey = Buffer

const createCipher = (algorithm: "AES-256-GCM" | "ChaCha20-Poly1305", key: AeadKey, nonce: Uint8Array) =>
  algorithm === "AES-256-GCM"
    ? nodeCrypto.createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 })
    : nodeCrypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 })

const createDecipher = (algorithm: "AES-256-GCM" | "ChaCha20-Poly1305", key: AeadKey, nonce: Uint8Array) =>
  algorithm === "AES-256-GCM"
    ? nodeCrypto.createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 })
    : nodeCrypto.createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 })

const sealSync = (algorithm: Crypto.AeadAlgorithm, key: AeadKey, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array => {
  if (algorithm === "XChaCha20-Poly1305") return xchacha20poly1305(key, nonce, aad).encrypt(plaintext)
  const cipher = createCipher(algorithm, key, nonce)
  cipher.setAAD(aad, { plaintextLength: plaintext.length })
  const head = cipher.update(plaintext)
  const tail = cipher.final()
  const tag = cipher.getAuthTag()
  const out = new Uint8Array(head.length + tail.length + 16)
  out.set(head, 0)
  out.set(tail, head.length)
  out.set(tag, head.length + tail.length)
  return out
}

const openSync = (algorithm: Crypto.AeadAlgorithm, key: AeadKey, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array | undefined => {
  try {
    if (algorithm === "XChaCha20-Poly1305") return xchacha20poly1305(key, nonce, aad).decrypt(ciphertext)
    const body = ciphertext.subarray(0, ciphertext.length - 16)
    const decipher = createDecipher(algorithm, key, nonce)
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
    decipher.setAAD(aad, { plaintextLength: body.length })
    const head = decipher.update(body)
    const tail = decipher.final()
    return tail.length === 0 ? u8(head) : u8(Buffer.concat([head, tail]))
  } catch (_) {
    return undefined
  }
}

/**
 * Small random requests (nonces, ids) are served from a pool refilled from
 * OpenSSL's CSPRNG 8 KiB at a time, as Node's own `randomUUID` does: one
 * `randomFillSync` per message was the largest single cost of sealing a
 * 1 KiB record. Bytes are handed out once, copied, and never reused.
 */
const POOL_SIZE = 8192
const pool = new Uint8Array(POOL_SIZE)
let poolOffset = POOL_SIZE
const randomBytes = (length: number): Uint8Array => {
  if (length > 256) return nodeCrypto.randomFillSync(new Uint8Array(length))
  if (poolOffset + length > POOL_SIZE) {
    nodeCrypto.randomFillSync(pool)
    poolOffset = 0
  }
  const out = pool.slice(poolOffset, poolOffset + length)
  pool.fill(0, poolOffset, poolOffset + length)
  poolOffset += length
  return out
}

const hmacSync = (key: Uint8Array, data: Uint8Array) => u8(nodeCrypto.createHmac("sha256", key).update(data).digest())

/**
 * The primitives, for composing your own service or testing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const primitives: Crypto.Primitives<AeadKey, nodeCrypto.KeyObject, nodeCrypto.KeyObject> = {
  name: "node",
  algorithms: ["AES-256-GCM", "ChaCha20-Poly1305", "XChaCha20-Poly1305"],
  randomBytes,
  sha256: (data) => Effect.sync(() => u8(nodeCrypto.createHash("sha256").update(data).digest())),
  hmacSha256: (key, data) => Effect.sync(() => hmacSync(key, data)),
  hkdf: (ikm, salt, info, length) => Effect.sync(() => u8(nodeCrypto.hkdfSync("sha256", ikm, salt, info, length))),
  hkdfExtract: (salt, ikm) => Effect.sync(() => hmacSync(salt, ikm)),
  hkdfExpand: Hkdf.expandWith((key, data) => Effect.sync(() => hmacSync(key, data))),
  argon2id,
  aead: {
    importKey: (_algorithm, raw) => Effect.sync(() => {
      const key = Buffer.alloc(32)
      key.set(raw)
      return key
    }),
    destroyKey: (key) => key.fill(0),
    sealSync,
    openSync,
    seal: (algorithm, key, nonce, plaintext, aad) => Effect.sync(() => sealSync(algorithm, key, nonce, plaintext, aad)),
    sealMany: (algorithm, key, items) =>
      Effect.sync(() => items.map((item) => sealSync(algorithm, key, item.nonce, item.plaintext, item.aad))),
    open: (algorithm, key, nonce, ciphertext, aad) =>
      Effect.suspend(() => {
        const plaintext = openSync(algorithm, key, nonce, ciphertext, aad)
        return plaintext === undefined ? Effect.fail(new DecryptionFailed({ algorithm })) : Effect.succeed(plaintext)
      }),
    openMany: (algorithm, key, items) =>
      Effect.sync(() =>
        items.map((item) =>
          openSync(algorithm, key, item.nonce, item.ciphertext, item.aad) ?? new DecryptionFailed({ algorithm })
        )
      )
  },
  ed25519: {
    importSeed: (seed) =>
      Effect.sync(() => {
        const key = privateKey(PKCS8_ED25519, seed)
        return { key, publicKey: rawPublicKey(key) }
      }),
    destroyKey: () => {
      // OpenSSL owns the key's memory; it is freed when the KeyObject is collected.
    },
    sign: (key, message) => Effect.sync(() => u8(nodeCrypto.sign(null, message, key))),
    verify: (raw, message, signature) =>
      Effect.sync(() => {
        try {
          return nodeCrypto.verify(null, message, ed25519Keys.get(raw, () => publicKey(SPKI_ED25519, raw)), signature)
        } catch (_) {
          return false
        }
      })
  },
  x25519: {
    importSecret: (secret) =>
      Effect.sync(() => {
        const key = privateKey(PKCS8_X25519, secret)
        return { key, publicKey: rawPublicKey(key) }
      }),
    destroyKey: () => {
      // As for Ed25519: OpenSSL frees the key with the KeyObject.
    },
    agree: (key, raw) =>
      Effect.sync(() => {
        try {
          return u8(nodeCrypto.diffieHellman({ privateKey: key, publicKey: x25519Keys.get(raw, () => publicKey(SPKI_X25519, raw)) }))
        } catch (_) {
          return undefined
        }
      })
  },
  timingSafeEqual: (a, b) => a.length === b.length && nodeCrypto.timingSafeEqual(a, b)
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Crypto.Crypto => Crypto.make(primitives)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Crypto.Crypto> = Layer.sync(Crypto.Crypto, make)
