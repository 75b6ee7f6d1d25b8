/**
 * Encryption at rest for a KeyStore (INV-014). A passphrase derives, with
 * Argon2id, a key that wraps a random **device key**; the device key
 * encrypts every entry. So changing the passphrase, or raising the Argon2
 * parameters, re-wraps one key and touches no entry; and nothing a KeyStore
 * adapter ever receives is a key in plaintext.
 *
 * Formats: `docs/formats.md`, "Key store v1".
 *
 * @since 0.1.0
 */
import { Argon2, Crypto, type SymmetricKey, zeroize } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { Effect, Either, Option, Redacted, Schema } from "effect"
import { KeyStore } from "./KeyStore.js"
import { KeyStoreError, KeyStoreExists, KeyStoreMissing, WeakPassphrase, WrongPassphrase } from "./KeyStoreError.js"
import { canonicalJson, context } from "./internal/encoding.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const FORMAT = "cipherlog-keystore"

/**
 * @since 0.1.0
 * @category constants
 */
export const VERSION = 1

const SealedJson = Schema.Struct({ suite: Schema.Literal("A256GCM"), nonce: Bytes.Base64Url, ciphertext: Bytes.Base64Url })

/**
 * Argon2id parameters with their salt, as stored.
 *
 * @since 0.1.0
 * @category schemas
 */
export const KdfSettings = Schema.Struct({
  ...Argon2.Argon2Params.from.fields,
  salt: Bytes.Base64Url
}).annotations({ identifier: "KdfSettings" })

/**
 * The key store header v1: not secret, but bound to the wrapped device key.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Header = Schema.Struct({
  format: Schema.Literal(FORMAT),
  v: Schema.Literal(VERSION),
  vaultId: Bytes.Base64UrlOfLength(16),
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  meta: Schema.Record({ key: Schema.String, value: Schema.String }),
  kdf: KdfSettings,
  deviceKey: SealedJson
}).annotations({ identifier: "KeyStoreHeader" })
/** @since 0.1.0 */
export type Header = typeof Header.Type

const HeaderJson = Schema.parseJson(Header)

/**
 * How strong passphrase derivation must be. `minimum` refuses weaker
 * parameters (the OWASP floor unless a test says otherwise); `target` is
 * what new stores get and what weaker stores are raised to on unlock.
 *
 * @since 0.1.0
 * @category models
 */
export interface KdfPolicy {
  readonly target: Argon2.Argon2Params
  readonly minimum: { readonly memoryKiB: number; readonly iterations: number }
}

/**
 * Production policy: new stores at m=64 MiB, t=3; nothing below the OWASP minimum.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPolicy: KdfPolicy = { target: Argon2.defaults, minimum: Argon2.owaspMinimum }

/**
 * Constrained devices: the OWASP minimum m=19 MiB, t=2.
 *
 * @since 0.1.0
 * @category constants
 */
export const constrainedPolicy: KdfPolicy = { target: Argon2.owaspMinimum, minimum: Argon2.owaspMinimum }

/**
 * For tests only: cheap derivation (m=64 KiB, t=1). Never use it for real keys.
 *
 * @since 0.1.0
 * @category constants
 */
export const insecureTestPolicy: KdfPolicy = {
  target: { ...Argon2.defaults, memoryKiB: 64, iterations: 1 },
  minimum: { memoryKiB: 8, iterations: 1 }
}

/**
 * Passphrases are NFKC-normalised UTF-8 and at least 8 characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const MIN_PASSPHRASE_LENGTH = 8

const passphraseBytes = (passphrase: Redacted.Redacted<string>): Either.Either<Uint8Array, WeakPassphrase> => {
  const text = Redacted.value(passphrase).normalize("NFKC")
  return [...text].length < MIN_PASSPHRASE_LENGTH
    ? Either.left(new WeakPassphrase({ detail: `it must have at least ${MIN_PASSPHRASE_LENGTH} characters` }))
    : Either.right(Bytes.utf8(text))
}

const headerAad = (vaultId: Uint8Array, kdf: typeof KdfSettings.Type, meta: Record<string, string>) =>
  context("cipherlog/keystore-header", vaultId, canonicalJson(Schema.encodeSync(KdfSettings)(kdf)), canonicalJson(meta))

const entryAad = (vaultId: Uint8Array, name: string) => context("cipherlog/keystore-entry", vaultId, name)

const ENTRY_VERSION = 1

/**
 * An unlocked key store: reads and writes decrypted entries. Entries are
 * encrypted as `0x01 ‖ nonce(12) ‖ AES-256-GCM ciphertext ‖ tag`, with
 * AAD = `"cipherlog/keystore-entry" ‖ 0x01 ‖ lp(vaultId) ‖ lp(name)`, so an
 * entry copied under another name or into another store does not open.
 *
 * @since 0.1.0
 * @category models
 */
export interface Vault {
  readonly location: string
  readonly header: Header
  readonly get: (name: string) => Effect.Effect<Option.Option<Uint8Array>, KeyStoreError>
  readonly put: (name: string, plaintext: Uint8Array) => Effect.Effect<void, KeyStoreError>
  readonly remove: (name: string) => Effect.Effect<void, KeyStoreError>
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<string>, KeyStoreError>
  /**
   * Re-wraps the device key under a new passphrase (and the policy's target
   * parameters; optionally new public metadata); no entry is touched.
   */
  readonly changePassphrase: (
    passphrase: Redacted.Redacted<string>,
    options?: { readonly policy?: KdfPolicy; readonly meta?: Record<string, string> }
  ) => Effect.Effect<void, KeyStoreError | WeakPassphrase>
  /** True when `passphrase` is the one that unlocks this store (one Argon2id derivation). */
  readonly isPassphrase: (passphrase: Redacted.Redacted<string>) => Effect.Effect<boolean, KeyStoreError>
  /** Forgets the device key (zeroing what the adapter allows); the vault is unusable afterwards. */
  readonly close: Effect.Effect<void>
}

const readHeader = Effect.gen(function*() {
  const store = yield* KeyStore
  const bytes = yield* store.readHeader
  if (Option.isNone(bytes)) return Option.none<Header>()
  const decoded = Schema.decodeUnknownEither(HeaderJson)(new TextDecoder().decode(bytes.value))
  if (Either.isLeft(decoded)) {
    return yield* Effect.fail(new KeyStoreError({ reason: "corrupted", location: store.location, entry: "header", detail: "the header does not parse as a key store header v1" }))
  }
  return Option.some(decoded.right)
})

/**
 * True when a key store exists at the KeyStore's location.
 *
 * @since 0.1.0
 * @category constructors
 */
export const exists: Effect.Effect<boolean, KeyStoreError, KeyStore> = Effect.map(readHeader, Option.isSome)

const derive = (passphrase: Uint8Array, kdf: typeof KdfSettings.Type) =>
  Effect.flatMap(Crypto.Crypto, (crypto) => {
    const { salt, ...params } = kdf
    return crypto.argon2id(passphrase, salt, params).pipe(Effect.orDie)
  })

const writeHeader = (header: Header) =>
  Effect.flatMap(KeyStore, (store) => store.writeHeader(Bytes.utf8(Schema.encodeSync(HeaderJson)(header))))

const wrapDeviceKey = (rawDeviceKey: Uint8Array, passphrase: Uint8Array, vaultId: Uint8Array, meta: Record<string, string>, params: Argon2.Argon2Params) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const kdf = { ...params, salt: yield* crypto.randomBytes(16) }
    const wrappingBytes = yield* derive(passphrase, kdf)
    const wrapping = yield* crypto.importKey("device-kek", wrappingBytes).pipe(Effect.orDie)
    zeroize(wrappingBytes)
    const sealed = yield* crypto.seal(wrapping, rawDeviceKey, headerAad(vaultId, kdf, meta)).pipe(Effect.orDie)
    yield* crypto.destroyKey(wrapping)
    return { kdf, deviceKey: { suite: "A256GCM" as const, nonce: sealed.nonce, ciphertext: sealed.ciphertext } }
  })

const makeVault = (initial: Header, deviceKey: SymmetricKey<"device-kek">, rawDeviceKey: Uint8Array) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const store = yield* KeyStore
    let header = initial
    let closed = false
    const open = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.suspend(() => (closed ? Effect.dieMessage(`the key store at ${store.location} was closed; unlock it again`) : effect))
    const withServices = <A, E>(effect: Effect.Effect<A, E, KeyStore | Crypto.Crypto>) =>
      effect.pipe(Effect.provideService(Crypto.Crypto, crypto), Effect.provideService(KeyStore, store))
    const corrupted = (name: string, detail: string) =>
      new KeyStoreError({ reason: "corrupted", location: store.location, entry: name, detail })

    const rewrap = (passphrase: Uint8Array, params: Argon2.Argon2Params, meta: Record<string, string>, now: number) =>
      withServices(Effect.gen(function*() {
        const wrapped = yield* wrapDeviceKey(rawDeviceKey, passphrase, header.vaultId, meta, params)
        const next: Header = { ...header, ...wrapped, meta, updatedAt: now }
        yield* writeHeader(next)
        header = next
      }))

    const vault: Vault = {
      location: store.location,
      get header() {
        return header
      },
      get: (name) =>
        open(Effect.gen(function*() {
          const bytes = yield* store.read(name)
          if (Option.isNone(bytes)) return Option.none()
          const b = bytes.value
          if (b.length < 1 + 12 + 16 || b[0] !== ENTRY_VERSION) return yield* Effect.fail(corrupted(name, "not an entry of key store format v1"))
          const opened = yield* Effect.either(
            crypto.open(deviceKey, { suite: "A256GCM", nonce: b.subarray(1, 13), ciphertext: b.subarray(13) }, entryAad(header.vaultId, name))
          )
          return Either.isRight(opened) ? Option.some(opened.right) : yield* Effect.fail(corrupted(name, "it does not authenticate under this store's device key"))
        })),
      put: (name, plaintext) =>
        open(Effect.gen(function*() {
          const sealed = yield* crypto.seal(deviceKey, plaintext, entryAad(header.vaultId, name)).pipe(Effect.orDie)
          yield* store.write(name, Bytes.concat(Uint8Array.of(ENTRY_VERSION), sealed.nonce, sealed.ciphertext))
        })),
      remove: store.remove,
      list: store.list,
      changePassphrase: (passphrase, options = {}) =>
        Effect.gen(function*() {
          const bytes = yield* passphraseBytes(passphrase)
          const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
          const policy = options.policy ?? defaultPolicy
          yield* rewrap(bytes, policy.target, options.meta ?? header.meta, now).pipe(Effect.ensuring(Effect.sync(() => zeroize(bytes))))
        }),
      isPassphrase: (passphrase) =>
        Effect.gen(function*() {
          const bytes = passphraseBytes(passphrase)
          if (Either.isLeft(bytes)) return false
          const wrappingBytes = yield* withServices(derive(bytes.right, header.kdf)).pipe(Effect.ensuring(Effect.sync(() => zeroize(bytes.right))))
          const wrapping = yield* crypto.importKey("device-kek", wrappingBytes).pipe(Effect.orDie)
          zeroize(wrappingBytes)
          const opened = yield* Effect.either(crypto.open(wrapping, header.deviceKey, headerAad(header.vaultId, header.kdf, header.meta)))
          yield* crypto.destroyKey(wrapping)
          if (Either.isRight(opened)) zeroize(opened.right)
          return Either.isRight(opened)
        }),
      close: Effect.gen(function*() {
        closed = true
        zeroize(rawDeviceKey)
        yield* crypto.destroyKey(deviceKey)
      })
    }
    return vault
  })

/**
 * Creates a key store with a new random device key, wrapped under the
 * passphrase with the policy's target parameters. Fails if one exists.
 *
 * @since 0.1.0
 * @category constructors
 */
export const create = (
  passphrase: Redacted.Redacted<string>,
  options: { readonly policy?: KdfPolicy; readonly meta?: Record<string, string> } = {}
): Effect.Effect<Vault, KeyStoreError | KeyStoreExists | WeakPassphrase, KeyStore | Crypto.Crypto> =>
  Effect.gen(function*() {
    const store = yield* KeyStore
    const crypto = yield* Crypto.Crypto
    if (Option.isSome(yield* readHeader)) return yield* Effect.fail(new KeyStoreExists({ location: store.location }))
    const bytes = yield* passphraseBytes(passphrase)
    const policy = options.policy ?? defaultPolicy
    const meta = options.meta ?? {}
    const vaultId = yield* crypto.randomBytes(16)
    const { key: deviceKey, raw } = yield* crypto.generateKey("device-kek").pipe(Effect.orDie)
    const wrapped = yield* wrapDeviceKey(raw, bytes, vaultId, meta, policy.target).pipe(Effect.ensuring(Effect.sync(() => zeroize(bytes))))
    const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
    const header: Header = { format: FORMAT, v: VERSION, vaultId, createdAt: now, updatedAt: now, meta, ...wrapped }
    yield* writeHeader(header)
    return yield* makeVault(header, deviceKey, raw)
  })

/**
 * Unlocks a key store. A wrong passphrase is a `WrongPassphrase` error,
 * never garbage; parameters weaker than the policy's target are raised (the
 * device key re-wrapped) on the way; parameters below the policy's minimum
 * are refused as tampering.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unlock = (
  passphrase: Redacted.Redacted<string>,
  options: { readonly policy?: KdfPolicy } = {}
): Effect.Effect<Vault, KeyStoreError | KeyStoreMissing | WrongPassphrase, KeyStore | Crypto.Crypto> =>
  Effect.gen(function*() {
    const store = yield* KeyStore
    const crypto = yield* Crypto.Crypto
    const policy = options.policy ?? defaultPolicy
    const header = yield* Effect.flatMap(readHeader, Option.match({
      onNone: () => Effect.fail(new KeyStoreMissing({ location: store.location })),
      onSome: Effect.succeed
    }))
    if (header.kdf.memoryKiB < policy.minimum.memoryKiB || header.kdf.iterations < policy.minimum.iterations) {
      // A header asking for cheap derivation was weakened on purpose: refuse, as for a wrong passphrase.
      return yield* Effect.fail(new WrongPassphrase({ location: store.location }))
    }
    const bytes = passphraseBytes(passphrase)
    if (Either.isLeft(bytes)) return yield* Effect.fail(new WrongPassphrase({ location: store.location }))
    const wrappingBytes = yield* derive(bytes.right, header.kdf)
    const wrapping = yield* crypto.importKey("device-kek", wrappingBytes).pipe(Effect.orDie)
    zeroize(wrappingBytes)
    const opened = yield* Effect.either(crypto.open(wrapping, header.deviceKey, headerAad(header.vaultId, header.kdf, header.meta)))
    yield* crypto.destroyKey(wrapping)
    if (Either.isLeft(opened)) {
      zeroize(bytes.right)
      return yield* Effect.fail(new WrongPassphrase({ location: store.location }))
    }
    const raw = opened.right
    const deviceKey = yield* crypto.importKey("device-kek", raw).pipe(Effect.orDie)
    const vault = yield* makeVault(header, deviceKey, raw)
    const { salt: _salt, ...current } = header.kdf
    if (Argon2.isStronger(policy.target, current)) {
      yield* vault.changePassphrase(passphrase, { policy }).pipe(Effect.catchTag("WeakPassphrase", () => Effect.void))
    }
    zeroize(bytes.right)
    return vault
  })
