/**
 * The Crypto port: every cryptographic operation Cipherlog performs, as an
 * Effect service. Adapters (WebCrypto, noble, Node) implement a small set of
 * {@link Primitives}; {@link make} turns them into the full service and adds,
 * once for all adapters, what must never differ between them: random nonces
 * for every encryption (never caller-chosen), key purposes and usage limits
 * (INV-008), length and parameter checks, registered HKDF labels, the
 * all-zero X25519 check, and errors without secrets (INV-016).
 *
 * @since 0.1.0
 */
import { type SuiteId, nonceLength, Bytes } from "@cipherlog/domain"
import { Context, Effect, Schema } from "effect"
import { Argon2Params } from "./Argon2.js"
import {
  DecryptionFailed,
  InvalidKey,
  KeyUsageExhausted,
  UnsupportedSuite
} from "./CryptoError.js"
import {
  type AgreementKey,
  DEFAULT_USAGE_LIMIT,
  forget,
  isSigningKey,
  isSymmetricKey,
  type KeyPurpose,
  makeAgreementKey,
  makeSigningKey,
  makeSymmetricKey,
  materialOf,
  materialSync,
  purposes,
  recordUse,
  type SigningKey,
  SYMMETRIC_KEY_LENGTH,
  type SymmetricKey
} from "./Keys.js"
import type { Label } from "./Labels.js"
import { zeroize } from "./Secret.js"

/**
 * AEAD algorithms the primitives provide. `ChaCha20-Poly1305` (RFC 8439) is
 * used only inside HPKE; records use the suites of `SuiteId`.
 *
 * @since 0.1.0
 * @category models
 */
export type AeadAlgorithm = "AES-256-GCM" | "ChaCha20-Poly1305" | "XChaCha20-Poly1305"

/**
 * The AEAD algorithm behind each record suite.
 *
 * @since 0.1.0
 * @category constants
 */
export const suiteAlgorithm: Record<SuiteId, AeadAlgorithm> = { A256GCM: "AES-256-GCM", XC20P: "XChaCha20-Poly1305" }

/**
 * Nonce length in bytes of each AEAD algorithm.
 *
 * @since 0.1.0
 * @category constants
 */
export const algorithmNonceLength: Record<AeadAlgorithm, number> = {
  "AES-256-GCM": 12,
  "ChaCha20-Poly1305": 12,
  "XChaCha20-Poly1305": 24
}

/**
 * Authentication tag length (bytes) of every AEAD here.
 *
 * @since 0.1.0
 * @category constants
 */
export const TAG_LENGTH = 16

/**
 * The most output HKDF-SHA256 can produce: 255 × 32 bytes (RFC 5869 §2.3).
 *
 * @since 0.1.0
 * @category constants
 */
export const HKDF_MAX_LENGTH = 255 * 32

/**
 * A ciphertext with what is needed to open it: its suite and nonce.
 * `ciphertext` ends with the 16-byte tag.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sealed {
  readonly suite: SuiteId
  readonly nonce: Uint8Array
  readonly ciphertext: Uint8Array
}

/**
 * One message of a batch encryption.
 *
 * @since 0.1.0
 * @category models
 */
export interface SealInput {
  readonly plaintext: Uint8Array
  readonly aad: Uint8Array
}

/**
 * One message of a batch decryption.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenInput {
  readonly sealed: Sealed
  readonly aad: Uint8Array
}

/**
 * What an adapter implements. Methods receive validated arguments (lengths
 * checked, algorithms supported) and may assume them; they must not keep
 * references to input buffers, which callers zero after use.
 * `M`, `S` and `X` are the adapter's own representations of AEAD, signing and
 * agreement keys (a non-extractable `CryptoKey`, a `KeyObject`, bytes…).
 *
 * @since 0.1.0
 * @category models
 */
export interface Primitives<M = unknown, S = unknown, X = unknown> {
  readonly name: string
  readonly algorithms: ReadonlyArray<AeadAlgorithm>
  /** Bytes from a CSPRNG. Synchronous on every host. */
  readonly randomBytes: (length: number) => Uint8Array
  readonly sha256: (data: Uint8Array) => Effect.Effect<Uint8Array>
  readonly hmacSha256: (key: Uint8Array, data: Uint8Array) => Effect.Effect<Uint8Array>
  readonly hkdf: (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number) => Effect.Effect<Uint8Array>
  readonly hkdfExtract: (salt: Uint8Array, ikm: Uint8Array) => Effect.Effect<Uint8Array>
  readonly hkdfExpand: (prk: Uint8Array, info: Uint8Array, length: number) => Effect.Effect<Uint8Array>
  readonly argon2id: (
    password: Uint8Array,
    salt: Uint8Array,
    params: Argon2Params,
    extra: { readonly secret: Uint8Array; readonly associatedData: Uint8Array }
  ) => Effect.Effect<Uint8Array>
  readonly aead: {
    /** `raw` is zeroed by the caller after this returns. */
    readonly importKey: (algorithm: AeadAlgorithm, raw: Uint8Array) => Effect.Effect<M>
    readonly destroyKey: (key: M) => void
    readonly seal: (
      algorithm: AeadAlgorithm, key: M, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array
    ) => Effect.Effect<Uint8Array>
    /**
     * Optional synchronous fast path of `seal`/`open` for hosts whose AEAD is
     * synchronous (node:crypto, noble): lets `make` encrypt a single message
     * with one Effect step instead of several.
     */
    readonly sealSync?: (algorithm: AeadAlgorithm, key: M, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array) => Uint8Array
    /** See `sealSync`; `undefined` when authentication fails. */
    readonly openSync?: (
      algorithm: AeadAlgorithm, key: M, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array
    ) => Uint8Array | undefined
    /** A batch; adapters whose host has per-call overhead (WebCrypto) overlap the calls. */
    readonly sealMany: (
      algorithm: AeadAlgorithm, key: M, items: ReadonlyArray<{ readonly nonce: Uint8Array } & SealInput>
    ) => Effect.Effect<ReadonlyArray<Uint8Array>>
    readonly open: (
      algorithm: AeadAlgorithm, key: M, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array
    ) => Effect.Effect<Uint8Array, DecryptionFailed>
    readonly openMany: (
      algorithm: AeadAlgorithm,
      key: M,
      items: ReadonlyArray<{ readonly nonce: Uint8Array; readonly ciphertext: Uint8Array; readonly aad: Uint8Array }>
    ) => Effect.Effect<ReadonlyArray<Uint8Array | DecryptionFailed>>
  }
  readonly ed25519: {
    /** `seed` (32 bytes) is zeroed by the caller after this returns. */
    readonly importSeed: (seed: Uint8Array) => Effect.Effect<{ readonly key: S; readonly publicKey: Uint8Array }>
    readonly destroyKey: (key: S) => void
    readonly sign: (key: S, message: Uint8Array) => Effect.Effect<Uint8Array>
    /** False for any signature that does not verify, including malformed keys and signatures. */
    readonly verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Effect.Effect<boolean>
  }
  readonly x25519: {
    /** `secret` (32 bytes) is zeroed by the caller after this returns. */
    readonly importSecret: (secret: Uint8Array) => Effect.Effect<{ readonly key: X; readonly publicKey: Uint8Array }>
    readonly destroyKey: (key: X) => void
    /** The raw X25519 output; `undefined` when the host refuses the point. The all-zero check is done by `make`. */
    readonly agree: (key: X, publicKey: Uint8Array) => Effect.Effect<Uint8Array | undefined>
  }
  readonly timingSafeEqual: (a: Uint8Array, b: Uint8Array) => boolean
}

/**
 * Options when importing a symmetric key.
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportOptions {
  readonly suite?: SuiteId
  /** Encryptions the key already performed (persisted by the keyring). */
  readonly used?: number
  /** Encryptions after which the key refuses (default 2^32). */
  readonly limit?: number
}

/**
 * The service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Crypto {
  /** Which adapter this is, for diagnostics. */
  readonly adapter: string
  /** Record suites this adapter can seal and open. */
  readonly suites: ReadonlyArray<SuiteId>
  readonly randomBytes: (length: number) => Effect.Effect<Uint8Array>
  /** Constant-time equality; false for different lengths. */
  readonly timingSafeEqual: (a: Uint8Array, b: Uint8Array) => boolean
  readonly sha256: (data: Uint8Array) => Effect.Effect<Uint8Array>
  readonly hmacSha256: (key: Uint8Array, data: Uint8Array) => Effect.Effect<Uint8Array>
  /**
   * HKDF-SHA256 with a registered label; `info = label ‖ 0x00 ‖ context`.
   */
  readonly hkdf: (input: {
    readonly ikm: Uint8Array
    readonly salt?: Uint8Array
    readonly label: Label
    readonly context?: Uint8Array
    readonly length: number
  }) => Effect.Effect<Uint8Array, InvalidKey>
  readonly argon2id: (
    password: Uint8Array,
    salt: Uint8Array,
    params: Argon2Params,
    extra?: { readonly secret?: Uint8Array; readonly associatedData?: Uint8Array }
  ) => Effect.Effect<Uint8Array, InvalidKey>
  /** A new random 256-bit key: returns the handle and the raw bytes (to wrap; zero them after). */
  readonly generateKey: <P extends KeyPurpose>(
    purpose: P,
    options?: ImportOptions
  ) => Effect.Effect<{ readonly key: SymmetricKey<P>; readonly raw: Uint8Array }, UnsupportedSuite>
  /** Makes a handle from raw key bytes; the adapter keeps its own copy (the caller zeroes `raw`). */
  readonly importKey: <P extends KeyPurpose>(
    purpose: P,
    raw: Uint8Array,
    options?: ImportOptions
  ) => Effect.Effect<SymmetricKey<P>, InvalidKey | UnsupportedSuite>
  readonly destroyKey: (key: SymmetricKey | SigningKey | AgreementKey) => Effect.Effect<void>
  /** Encrypts with a fresh random nonce; counts against the key's usage limit. */
  readonly seal: (
    key: SymmetricKey,
    plaintext: Uint8Array,
    aad: Uint8Array
  ) => Effect.Effect<Sealed, InvalidKey | KeyUsageExhausted>
  /** Encrypts a batch, each with a fresh random nonce; all or nothing against the usage limit. */
  readonly sealMany: (
    key: SymmetricKey,
    items: ReadonlyArray<SealInput>
  ) => Effect.Effect<ReadonlyArray<Sealed>, InvalidKey | KeyUsageExhausted>
  readonly open: (
    key: SymmetricKey,
    sealed: Sealed,
    aad: Uint8Array
  ) => Effect.Effect<Uint8Array, DecryptionFailed | InvalidKey | UnsupportedSuite>
  /** Decrypts a batch; each item is its plaintext or its own failure. */
  readonly openMany: (
    key: SymmetricKey,
    items: ReadonlyArray<OpenInput>
  ) => Effect.Effect<ReadonlyArray<Uint8Array | DecryptionFailed>, InvalidKey | UnsupportedSuite>
  readonly ed25519: {
    readonly generate: () => Effect.Effect<{ readonly key: SigningKey; readonly seed: Uint8Array }>
    readonly importSeed: (seed: Uint8Array) => Effect.Effect<SigningKey, InvalidKey>
    readonly sign: (key: SigningKey, message: Uint8Array) => Effect.Effect<Uint8Array, InvalidKey>
    /** True only for a valid signature (RFC 8032, strict: no malleable or non-canonical encodings). */
    readonly verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Effect.Effect<boolean>
  }
  readonly x25519: {
    readonly generate: () => Effect.Effect<{ readonly key: AgreementKey; readonly secret: Uint8Array }>
    readonly importSecret: (secret: Uint8Array) => Effect.Effect<AgreementKey, InvalidKey>
    /** The shared secret; refuses public keys of the wrong length and those giving the all-zero output. */
    readonly agree: (key: AgreementKey, publicKey: Uint8Array) => Effect.Effect<Uint8Array, InvalidKey>
  }
  /**
   * Hazardous, low-level operations for constructions (HPKE) and for
   * known-answer tests. Nothing else should call them: they take raw keys
   * and caller-chosen nonces, and reusing a nonce with a key breaks AEAD.
   */
  readonly hazmat: {
    readonly aeadEncrypt: (
      algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array
    ) => Effect.Effect<Uint8Array, InvalidKey | UnsupportedSuite>
    readonly aeadDecrypt: (
      algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array
    ) => Effect.Effect<Uint8Array, DecryptionFailed | InvalidKey | UnsupportedSuite>
    readonly hkdf: (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number) => Effect.Effect<Uint8Array, InvalidKey>
    readonly hkdfExtract: (salt: Uint8Array, ikm: Uint8Array) => Effect.Effect<Uint8Array>
    readonly hkdfExpand: (prk: Uint8Array, info: Uint8Array, length: number) => Effect.Effect<Uint8Array, InvalidKey>
  }
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Crypto: Context.Tag<Crypto, Crypto> = Context.GenericTag<Crypto>("@cipherlog/crypto/Crypto")

const lengthError = (what: string, expected: number | string, actual: number) =>
  new InvalidKey({ reason: "length", detail: `${what} must be ${expected} bytes, got ${actual}` })

const validateArgon2 = Schema.validateEither(Argon2Params)

/**
 * Builds the Crypto service from an adapter's primitives.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <M, S, X>(p: Primitives<M, S, X>): Crypto => {
  // Hosts cap one CSPRNG call (WebCrypto: 65 536 bytes); larger requests are filled in chunks.
  const random = (length: number): Uint8Array => {
    if (length <= 65_536) return p.randomBytes(length)
    const out = new Uint8Array(length)
    for (let offset = 0; offset < length; offset += 65_536) out.set(p.randomBytes(Math.min(65_536, length - offset)), offset)
    return out
  }
  const suites = (Object.keys(suiteAlgorithm) as Array<SuiteId>).filter((s) => p.algorithms.includes(suiteAlgorithm[s]))
  const unsupported = (suite: string) => new UnsupportedSuite({ suite, adapter: p.name })

  const checkAlgorithm = (algorithm: AeadAlgorithm) =>
    p.algorithms.includes(algorithm) ? Effect.void : Effect.fail(unsupported(algorithm))

  const checkSuite = (suite: SuiteId) =>
    suites.includes(suite) ? Effect.succeed(suiteAlgorithm[suite]) : Effect.fail(unsupported(suite))

  const importKey = <P extends KeyPurpose>(purpose: P, raw: Uint8Array, options: ImportOptions = {}) =>
    Effect.gen(function*() {
      if (!purposes.includes(purpose)) {
        return yield* Effect.fail(new InvalidKey({ reason: "purpose", detail: `unknown key purpose` }))
      }
      if (raw.length !== SYMMETRIC_KEY_LENGTH) return yield* Effect.fail(lengthError("a symmetric key", 32, raw.length))
      const suite = options.suite ?? "A256GCM"
      const algorithm = yield* checkSuite(suite)
      const limit = options.limit ?? DEFAULT_USAGE_LIMIT
      const used = options.used ?? 0
      if (!Number.isSafeInteger(limit) || limit < 1 || !Number.isSafeInteger(used) || used < 0) {
        return yield* Effect.fail(new InvalidKey({ reason: "parameters", detail: "usage counters must be non-negative integers" }))
      }
      const m = yield* p.aead.importKey(algorithm, raw)
      return makeSymmetricKey(purpose, suite, p.name, m, used, limit)
    })

  const sealWith = (key: SymmetricKey, items: ReadonlyArray<SealInput>) =>
    Effect.gen(function*() {
      const m = yield* materialOf<M>(key, p.name)
      if (!recordUse(key, items.length)) {
        return yield* Effect.fail(new KeyUsageExhausted({ purpose: key.purpose, limit: key.limit }))
      }
      const n = nonceLength[key.suite]
      const nonces = random(n * items.length)
      const withNonces = items.map((item, i) => ({ ...item, nonce: nonces.subarray(i * n, (i + 1) * n) }))
      const algorithm = suiteAlgorithm[key.suite]
      const ciphertexts = p.aead.sealSync
        ? withNonces.map((item) => p.aead.sealSync!(algorithm, m, item.nonce, item.plaintext, item.aad))
        : yield* p.aead.sealMany(algorithm, m, withNonces)
      return ciphertexts.map((ciphertext, i): Sealed => ({ suite: key.suite, nonce: withNonces[i]!.nonce, ciphertext }))
    })

  const checkSealed = (key: SymmetricKey, sealed: Sealed): AeadAlgorithm | DecryptionFailed | UnsupportedSuite => {
    // A key serves one suite; a record naming another cannot have been sealed with it.
    if (sealed.suite !== key.suite) return new DecryptionFailed({ algorithm: suiteAlgorithm[key.suite] })
    if (!suites.includes(sealed.suite)) return unsupported(sealed.suite)
    const algorithm = suiteAlgorithm[sealed.suite]
    if (sealed.nonce.length !== nonceLength[sealed.suite] || sealed.ciphertext.length < TAG_LENGTH) {
      return new DecryptionFailed({ algorithm })
    }
    return algorithm
  }

  const checkRawAead = (algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array) =>
    Effect.gen(function*() {
      yield* checkAlgorithm(algorithm)
      if (key.length !== 32) return yield* Effect.fail(lengthError(`an ${algorithm} key`, 32, key.length))
      if (nonce.length !== algorithmNonceLength[algorithm]) {
        return yield* Effect.fail(lengthError(`an ${algorithm} nonce`, algorithmNonceLength[algorithm], nonce.length))
      }
    })

  const withRawKey = <A, E>(algorithm: AeadAlgorithm, key: Uint8Array, use: (m: M) => Effect.Effect<A, E>) => {
    const copy = key.slice()
    return Effect.acquireUseRelease(
      p.aead.importKey(algorithm, copy).pipe(Effect.ensuring(Effect.sync(() => zeroize(copy)))),
      use,
      (m) => Effect.sync(() => p.aead.destroyKey(m))
    )
  }

  const checkHkdfLength = (length: number) =>
    Number.isInteger(length) && length >= 1 && length <= HKDF_MAX_LENGTH
      ? Effect.void
      : Effect.fail(new InvalidKey({ reason: "parameters", detail: `HKDF-SHA256 output must be 1 to ${HKDF_MAX_LENGTH} bytes` }))

  const importSeed = (seed: Uint8Array) =>
    seed.length !== 32
      ? Effect.fail(lengthError("an Ed25519 seed", 32, seed.length))
      : Effect.map(p.ed25519.importSeed(seed), ({ key, publicKey }) => makeSigningKey(p.name, publicKey, key))

  const importSecret = (secret: Uint8Array) =>
    secret.length !== 32
      ? Effect.fail(lengthError("an X25519 secret key", 32, secret.length))
      : Effect.map(p.x25519.importSecret(secret), ({ key, publicKey }) => makeAgreementKey(p.name, publicKey, key))

  const isAllZero = (bytes: Uint8Array) => bytes.every((b) => b === 0)

  return {
    adapter: p.name,
    suites,
    randomBytes: (length) => Effect.sync(() => random(length)),
    timingSafeEqual: p.timingSafeEqual,
    sha256: p.sha256,
    hmacSha256: p.hmacSha256,
    hkdf: ({ ikm, salt, label, context, length }) =>
      Effect.zipRight(
        checkHkdfLength(length),
        p.hkdf(ikm, salt ?? new Uint8Array(0), Bytes.concat(Bytes.utf8(label), Uint8Array.of(0), context ?? new Uint8Array(0)), length)
      ),
    argon2id: (password, salt, params, extra = {}) =>
      Effect.gen(function*() {
        const valid = validateArgon2(params)
        if (valid._tag === "Left") {
          return yield* Effect.fail(new InvalidKey({ reason: "parameters", detail: "Argon2id parameters outside RFC 9106 bounds" }))
        }
        if (salt.length < 8) return yield* Effect.fail(lengthError("an Argon2id salt", "at least 8", salt.length))
        return yield* p.argon2id(password, salt, params, {
          secret: extra.secret ?? new Uint8Array(0),
          associatedData: extra.associatedData ?? new Uint8Array(0)
        })
      }),
    generateKey: (purpose, options) =>
      Effect.gen(function*() {
        const raw = random(SYMMETRIC_KEY_LENGTH)
        const key = yield* importKey(purpose, raw, options).pipe(
          Effect.catchTag("InvalidKey", (e) => Effect.die(e)) // only an unknown purpose can fail here: a programming error
        )
        return { key, raw }
      }),
    importKey,
    destroyKey: (key) =>
      Effect.sync(() => {
        if (key.destroyed || key.adapter !== p.name) return
        const m = forget(key)
        if (isSymmetricKey(key)) p.aead.destroyKey(m as M)
        else if (isSigningKey(key)) p.ed25519.destroyKey(m as S)
        else p.x25519.destroyKey(m as X)
      }),
    seal: (key, plaintext, aad) =>
      // The hot path: checks are synchronous and, with a synchronous primitive, so is the encryption.
      Effect.suspend((): Effect.Effect<Sealed, InvalidKey | KeyUsageExhausted> => {
        const m = materialSync<M>(key, p.name)
        if (m instanceof InvalidKey) return Effect.fail(m)
        if (!recordUse(key, 1)) return Effect.fail(new KeyUsageExhausted({ purpose: key.purpose, limit: key.limit }))
        const nonce = random(nonceLength[key.suite])
        const algorithm = suiteAlgorithm[key.suite]
        return p.aead.sealSync
          ? Effect.succeed<Sealed>({ suite: key.suite, nonce, ciphertext: p.aead.sealSync(algorithm, m, nonce, plaintext, aad) })
          : Effect.map(p.aead.seal(algorithm, m, nonce, plaintext, aad), (ciphertext): Sealed => ({ suite: key.suite, nonce, ciphertext }))
      }),
    sealMany: (key, items) => (items.length === 0 ? Effect.succeed([]) : sealWith(key, items)),
    open: (key, sealed, aad) =>
      Effect.suspend((): Effect.Effect<Uint8Array, DecryptionFailed | InvalidKey | UnsupportedSuite> => {
        const m = materialSync<M>(key, p.name)
        if (m instanceof InvalidKey) return Effect.fail(m)
        const algorithm = checkSealed(key, sealed)
        if (typeof algorithm !== "string") return Effect.fail(algorithm)
        if (!p.aead.openSync) return p.aead.open(algorithm, m, sealed.nonce, sealed.ciphertext, aad)
        const plaintext = p.aead.openSync(algorithm, m, sealed.nonce, sealed.ciphertext, aad)
        return plaintext === undefined ? Effect.fail(new DecryptionFailed({ algorithm })) : Effect.succeed(plaintext)
      }),
    openMany: (key, items) =>
      Effect.gen(function*() {
        const m = yield* materialOf<M>(key, p.name)
        const algorithm = yield* checkSuite(key.suite)
        const plausible = new Array<boolean>(items.length)
        const inputs: Array<{ nonce: Uint8Array; ciphertext: Uint8Array; aad: Uint8Array }> = []
        for (let i = 0; i < items.length; i++) {
          const { sealed, aad } = items[i]!
          const ok = sealed.suite === key.suite && sealed.nonce.length === nonceLength[key.suite] && sealed.ciphertext.length >= TAG_LENGTH
          plausible[i] = ok
          if (ok) inputs.push({ nonce: sealed.nonce, ciphertext: sealed.ciphertext, aad })
        }
        const results = yield* p.aead.openMany(algorithm, m, inputs)
        if (inputs.length === items.length) return results
        let next = 0
        // Errors capture a stack when constructed: build one only for implausible items.
        return plausible.map((ok) => (ok ? results[next++]! : new DecryptionFailed({ algorithm })))
      }),
    ed25519: {
      generate: () =>
        Effect.gen(function*() {
          const seed = random(32)
          const key = yield* Effect.orDie(importSeed(seed))
          return { key, seed }
        }),
      importSeed,
      sign: (key, message) => Effect.flatMap(materialOf<S>(key, p.name), (m) => p.ed25519.sign(m, message)),
      verify: (publicKey, message, signature) =>
        publicKey.length !== 32 || signature.length !== 64 ? Effect.succeed(false) : p.ed25519.verify(publicKey, message, signature)
    },
    x25519: {
      generate: () =>
        Effect.gen(function*() {
          const secret = random(32)
          const key = yield* Effect.orDie(importSecret(secret))
          return { key, secret }
        }),
      importSecret,
      agree: (key, publicKey) =>
        Effect.gen(function*() {
          if (publicKey.length !== 32) return yield* Effect.fail(lengthError("an X25519 public key", 32, publicKey.length))
          const m = yield* materialOf<X>(key, p.name)
          const shared = yield* p.x25519.agree(m, publicKey)
          if (shared === undefined || isAllZero(shared)) {
            if (shared !== undefined) zeroize(shared)
            return yield* Effect.fail(new InvalidKey({ reason: "low-order", detail: "the peer's X25519 public key yields no shared secret" }))
          }
          return shared
        })
    },
    hazmat: {
      aeadEncrypt: (algorithm, key, nonce, plaintext, aad) =>
        Effect.zipRight(
          checkRawAead(algorithm, key, nonce),
          withRawKey(algorithm, key, (m) => p.aead.seal(algorithm, m, nonce, plaintext, aad))
        ),
      aeadDecrypt: (algorithm, key, nonce, ciphertext, aad) =>
        Effect.zipRight(
          checkRawAead(algorithm, key, nonce),
          ciphertext.length < TAG_LENGTH
            ? Effect.fail(new DecryptionFailed({ algorithm }))
            : withRawKey(algorithm, key, (m) => p.aead.open(algorithm, m, nonce, ciphertext, aad))
        ),
      hkdf: (ikm, salt, info, length) => Effect.zipRight(checkHkdfLength(length), p.hkdf(ikm, salt, info, length)),
      hkdfExtract: p.hkdfExtract,
      hkdfExpand: (prk, info, length) => Effect.zipRight(checkHkdfLength(length), p.hkdfExpand(prk, info, length))
    }
  }
}
