/**
 * The Crypto port on WebCrypto (`globalThis.crypto.subtle`), for browsers,
 * workers and any host that has it (Node.js included). AES-256-GCM keys are
 * imported as non-extractable `CryptoKey`s, so a KEK or DEK in use can never
 * be read back out of the page. Ed25519 and X25519 use WebCrypto where the
 * host supports them (probed once when the layer is built) and `@noble/curves`
 * otherwise; ChaCha20/XChaCha20-Poly1305, which WebCrypto lacks, come from
 * `@noble/ciphers`; Argon2id from `hash-wasm`.
 *
 * WebCrypto calls are asynchronous with a fixed cost each: encrypt and
 * decrypt batches with `sealMany`/`openMany`, which overlap the calls.
 *
 * @since 0.1.0
 */
import { Crypto, DecryptionFailed, Hkdf, PublicKeyCache } from "@cipherlog/crypto"
import { chacha20poly1305, xchacha20poly1305 } from "@noble/ciphers/chacha.js"
import { equalBytes } from "@noble/ciphers/utils.js"
import { ed25519, x25519 } from "@noble/curves/ed25519.js"
import { Effect, Layer } from "effect"
import { argon2 } from "./internal/argon2.js"

type AeadKey = { readonly kind: "subtle"; readonly key: CryptoKey } | { readonly kind: "bytes"; readonly key: Uint8Array }
type CurveKey = { readonly kind: "subtle"; readonly key: CryptoKey } | { readonly kind: "bytes"; readonly key: Uint8Array }

const PKCS8_ED25519 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const PKCS8_X25519 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])

const subtle = () => globalThis.crypto.subtle

/** WebCrypto's types want ArrayBuffer-backed views; Cipherlog never hands it a SharedArrayBuffer. */
const bs = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => bytes as Uint8Array<ArrayBuffer>

const pkcs8 = (prefix: Uint8Array, secret: Uint8Array): Uint8Array<ArrayBuffer> => {
  const der = new Uint8Array(prefix.length + 32)
  der.set(prefix)
  der.set(secret, prefix.length)
  return der
}

/** An HMAC key of zero length is refused by WebCrypto; HMAC pads keys with zeros, so 32 zero bytes are the same key. */
const hmacKey = (key: Uint8Array) => (key.length === 0 ? new Uint8Array(32) : key)

const hmac = (key: Uint8Array, data: Uint8Array) =>
  Effect.promise(async () => {
    const k = await subtle().importKey("raw", bs(hmacKey(key)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
    return new Uint8Array(await subtle().sign("HMAC", k, bs(data)))
  })

const nobleAead = { "ChaCha20-Poly1305": chacha20poly1305, "XChaCha20-Poly1305": xchacha20poly1305 } as const

const openNoble = (algorithm: keyof typeof nobleAead, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array) => {
  try {
    return nobleAead[algorithm](key, nonce, aad).decrypt(ciphertext)
  } catch (_) {
    return undefined
  }
}

const gcmParams = (nonce: Uint8Array, aad: Uint8Array): AesGcmParams => ({ name: "AES-GCM", iv: bs(nonce), additionalData: bs(aad), tagLength: 128 })

const sealOne = (algorithm: Crypto.AeadAlgorithm, key: AeadKey, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> =>
  key.kind === "subtle"
    ? subtle().encrypt(gcmParams(nonce, aad), key.key, bs(plaintext)).then((b) => new Uint8Array(b))
    : Promise.resolve(nobleAead[algorithm as keyof typeof nobleAead](key.key, nonce, aad).encrypt(plaintext))

const openOne = (algorithm: Crypto.AeadAlgorithm, key: AeadKey, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> =>
  key.kind === "subtle"
    ? subtle().decrypt(gcmParams(nonce, aad), key.key, bs(ciphertext)).then((b) => new Uint8Array(b), () => undefined)
    : Promise.resolve(openNoble(algorithm as keyof typeof nobleAead, key.key, nonce, ciphertext, aad))

// Importing a public key is an async WebCrypto call of its own: keep the recent ones.
const ed25519Keys = PublicKeyCache.make<Promise<CryptoKey>>()
const x25519Keys = PublicKeyCache.make<Promise<CryptoKey>>()

/**
 * Which curve operations the host's WebCrypto performs itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface Capabilities {
  readonly ed25519: boolean
  readonly x25519: boolean
}

/**
 * Probes the host's WebCrypto for Ed25519 and X25519.
 *
 * @since 0.1.0
 * @category constructors
 */
export const probe: Effect.Effect<Capabilities> = Effect.promise(async () => {
  const attempt = async (f: () => Promise<unknown>) => {
    try {
      await f()
      return true
    } catch (_) {
      return false
    }
  }
  const seed = new Uint8Array(32).fill(7)
  const [ed, x] = await Promise.all([
    attempt(async () => {
      const k = await subtle().importKey("pkcs8", pkcs8(PKCS8_ED25519, seed), { name: "Ed25519" }, false, ["sign"])
      await subtle().sign({ name: "Ed25519" }, k, new Uint8Array(1))
    }),
    attempt(async () => {
      const k = await subtle().importKey("pkcs8", pkcs8(PKCS8_X25519, seed), { name: "X25519" }, false, ["deriveBits"])
      const pub = await subtle().importKey("raw", bs(x25519.getPublicKey(seed)), { name: "X25519" }, false, [])
      await subtle().deriveBits({ name: "X25519", public: pub }, k, 256)
    })
  ])
  return { ed25519: ed, x25519: x }
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const primitives = (capabilities: Capabilities): Crypto.Primitives<AeadKey, CurveKey, CurveKey> => ({
  name: "webcrypto",
  algorithms: ["AES-256-GCM", "ChaCha20-Poly1305", "XChaCha20-Poly1305"],
  randomBytes: (length) => globalThis.crypto.getRandomValues(new Uint8Array(length)),
  sha256: (data) => Effect.promise(() => subtle().digest("SHA-256", bs(data)).then((b) => new Uint8Array(b))),
  hmacSha256: hmac,
  hkdf: (ikm, salt, info, length) =>
    Effect.promise(async () => {
      const k = await subtle().importKey("raw", bs(ikm), "HKDF", false, ["deriveBits"])
      return new Uint8Array(await subtle().deriveBits({ name: "HKDF", hash: "SHA-256", salt: bs(salt), info: bs(info) }, k, length * 8))
    }),
  hkdfExtract: (salt, ikm) => hmac(salt, ikm),
  hkdfExpand: Hkdf.expandWith(hmac),
  argon2id: argon2,
  aead: {
    importKey: (algorithm, raw) =>
      algorithm === "AES-256-GCM"
        ? Effect.promise(() =>
          subtle().importKey("raw", bs(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]).then((key) => ({ kind: "subtle" as const, key }))
        )
        : Effect.sync(() => ({ kind: "bytes" as const, key: raw.slice() })),
    destroyKey: (key) => {
      // A non-extractable CryptoKey has no bytes to overwrite: it goes with its last reference.
      if (key.kind === "bytes") key.key.fill(0)
    },
    seal: (algorithm, key, nonce, plaintext, aad) => Effect.promise(() => sealOne(algorithm, key, nonce, plaintext, aad)),
    sealMany: (algorithm, key, items) =>
      Effect.promise(() => Promise.all(items.map((item) => sealOne(algorithm, key, item.nonce, item.plaintext, item.aad)))),
    open: (algorithm, key, nonce, ciphertext, aad) =>
      Effect.flatMap(Effect.promise(() => openOne(algorithm, key, nonce, ciphertext, aad)), (plaintext) =>
        plaintext === undefined ? Effect.fail(new DecryptionFailed({ algorithm })) : Effect.succeed(plaintext)),
    openMany: (algorithm, key, items) =>
      Effect.promise(() =>
        Promise.all(items.map((item) =>
          openOne(algorithm, key, item.nonce, item.ciphertext, item.aad).then((p) => p ?? new DecryptionFailed({ algorithm }))
        ))
      )
  },
  ed25519: {
    importSeed: (seed) =>
      Effect.promise(async () => {
        const publicKey = ed25519.getPublicKey(seed)
        if (!capabilities.ed25519) return { key: { kind: "bytes" as const, key: seed.slice() }, publicKey }
        const der = pkcs8(PKCS8_ED25519, seed)
        try {
          const key = await subtle().importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"])
          return { key: { kind: "subtle" as const, key }, publicKey }
        } finally {
          der.fill(0)
        }
      }),
    destroyKey: (key) => {
      if (key.kind === "bytes") key.key.fill(0)
    },
    sign: (key, message) =>
      key.kind === "subtle"
        ? Effect.promise(() => subtle().sign({ name: "Ed25519" }, key.key, bs(message)).then((b) => new Uint8Array(b)))
        : Effect.sync(() => ed25519.sign(message, key.key)),
    verify: (publicKey, message, signature) =>
      capabilities.ed25519
        ? Effect.promise(async () => {
          try {
            const key = await ed25519Keys.get(publicKey, () => subtle().importKey("raw", bs(publicKey.slice()), { name: "Ed25519" }, false, ["verify"]))
            return await subtle().verify({ name: "Ed25519" }, key, bs(signature), bs(message))
          } catch (_) {
            return false
          }
        })
        : Effect.sync(() => {
          try {
            return ed25519.verify(signature, message, publicKey, { zip215: false })
          } catch (_) {
            return false
          }
        })
  },
  x25519: {
    importSecret: (secret) =>
      Effect.promise(async () => {
        const publicKey = x25519.getPublicKey(secret)
        if (!capabilities.x25519) return { key: { kind: "bytes" as const, key: secret.slice() }, publicKey }
        const der = pkcs8(PKCS8_X25519, secret)
        try {
          const key = await subtle().importKey("pkcs8", der, { name: "X25519" }, false, ["deriveBits"])
          return { key: { kind: "subtle" as const, key }, publicKey }
        } finally {
          der.fill(0)
        }
      }),
    destroyKey: (key) => {
      if (key.kind === "bytes") key.key.fill(0)
    },
    agree: (key, publicKey) =>
      Effect.promise(async () => {
        try {
          if (key.kind === "bytes") return x25519.getSharedSecret(key.key, publicKey)
          const peer = await x25519Keys.get(publicKey, () => subtle().importKey("raw", bs(publicKey.slice()), { name: "X25519" }, false, []))
          return new Uint8Array(await subtle().deriveBits({ name: "X25519", public: peer }, key.key, 256))
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
export const make: Effect.Effect<Crypto.Crypto> = Effect.map(probe, (capabilities) => Crypto.make(primitives(capabilities)))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Crypto.Crypto> = Layer.effect(Crypto.Crypto, make)
