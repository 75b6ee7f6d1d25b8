/**
 * Key handles. A handle names what a key is for (its purpose), which suite
 * it serves and which adapter holds its material; the material itself is
 * out of reach: not a property, not in JSON, not in `inspect` output.
 *
 * Purposes keep keys apart (INV-008): a function that needs a DEK takes a
 * `SymmetricKey<"dek">`, and a KEK does not type-check there; at run time
 * the same rule is checked again for callers without types.
 *
 * @since 0.1.0
 */
import type { SuiteId } from "@cipherlog/domain"
import { Effect } from "effect"
import { InvalidKey } from "./CryptoError.js"

/**
 * What a symmetric key is for.
 * - `device-kek`: derived from the passphrase (Argon2id); encrypts the KeyStore at rest (INV-014).
 * - `master-kek`: derived from the recovery phrase (HKDF); wraps recovery material. Never stored.
 * - `kek`: an operational KEK version; wraps DEKs.
 * - `dek`: a per-aggregate data key (`K_aggregate`); encrypts event payloads and snapshots.
 * - `cache`: a device-local `K_cache`; encrypts projections. Never synced or exported (INV-010).
 * - `backup`: derived from a backup passphrase; encrypts key backups.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyPurpose = "device-kek" | "master-kek" | "kek" | "dek" | "cache" | "backup"

/**
 * Every purpose, for validation and tests.
 *
 * @since 0.1.0
 * @category constants
 */
export const purposes: ReadonlyArray<KeyPurpose> = ["device-kek", "master-kek", "kek", "dek", "cache", "backup"]

/**
 * Symmetric keys are 256-bit.
 *
 * @since 0.1.0
 * @category constants
 */
export const SYMMETRIC_KEY_LENGTH = 32

/**
 * How many encryptions a key performs before it refuses (INV-008). 2^32 is
 * the NIST SP 800-38D bound for AES-GCM with random 96-bit nonces.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_USAGE_LIMIT = 2 ** 32

const SymmetricKeyTypeId: unique symbol = Symbol.for("@cipherlog/crypto/SymmetricKey")
const SigningKeyTypeId: unique symbol = Symbol.for("@cipherlog/crypto/SigningKey")
const AgreementKeyTypeId: unique symbol = Symbol.for("@cipherlog/crypto/AgreementKey")
const inspect = Symbol.for("nodejs.util.inspect.custom")

/**
 * A symmetric AEAD key of purpose `P`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SymmetricKey<P extends KeyPurpose = KeyPurpose> {
  readonly [SymmetricKeyTypeId]: typeof SymmetricKeyTypeId
  readonly purpose: P
  readonly suite: SuiteId
  readonly adapter: string
  /** Encryptions done so far (including those recorded before this handle was made). */
  readonly used: number
  readonly limit: number
  readonly destroyed: boolean
}

/**
 * An Ed25519 signing key with its public key.
 *
 * @since 0.1.0
 * @category models
 */
export interface SigningKey {
  readonly [SigningKeyTypeId]: typeof SigningKeyTypeId
  readonly adapter: string
  readonly publicKey: Uint8Array
  readonly destroyed: boolean
}

/**
 * An X25519 key-agreement key with its public key.
 *
 * @since 0.1.0
 * @category models
 */
export interface AgreementKey {
  readonly [AgreementKeyTypeId]: typeof AgreementKeyTypeId
  readonly adapter: string
  readonly publicKey: Uint8Array
  readonly destroyed: boolean
}

const material = new WeakMap<object, unknown>()

abstract class Redacted {
  abstract readonly label: string
  toString(): string {
    return `${this.label}(<redacted>)`
  }
  toJSON(): string {
    return this.toString()
  }
  [inspect](): string {
    return this.toString()
  }
}

class SymmetricKeyImpl<P extends KeyPurpose> extends Redacted implements SymmetricKey<P> {
  readonly [SymmetricKeyTypeId]: typeof SymmetricKeyTypeId = SymmetricKeyTypeId
  destroyed = false
  constructor(
    readonly purpose: P,
    readonly suite: SuiteId,
    readonly adapter: string,
    public used: number,
    readonly limit: number
  ) {
    super()
  }
  get label() {
    return `SymmetricKey<${this.purpose}>`
  }
}

class SigningKeyImpl extends Redacted implements SigningKey {
  readonly [SigningKeyTypeId]: typeof SigningKeyTypeId = SigningKeyTypeId
  readonly label = "SigningKey"
  destroyed = false
  constructor(readonly adapter: string, readonly publicKey: Uint8Array) {
    super()
  }
}

class AgreementKeyImpl extends Redacted implements AgreementKey {
  readonly [AgreementKeyTypeId]: typeof AgreementKeyTypeId = AgreementKeyTypeId
  readonly label = "AgreementKey"
  destroyed = false
  constructor(readonly adapter: string, readonly publicKey: Uint8Array) {
    super()
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isSymmetricKey = (u: unknown): u is SymmetricKey =>
  typeof u === "object" && u !== null && SymmetricKeyTypeId in u

/**
 * @since 0.1.0
 * @category guards
 */
export const isSigningKey = (u: unknown): u is SigningKey =>
  typeof u === "object" && u !== null && SigningKeyTypeId in u

/**
 * @since 0.1.0
 * @category guards
 */
export const isAgreementKey = (u: unknown): u is AgreementKey =>
  typeof u === "object" && u !== null && AgreementKeyTypeId in u

/**
 * Checks at run time that a key has the purpose the caller needs.
 *
 * @since 0.1.0
 * @category guards
 */
export const requirePurpose = <P extends KeyPurpose>(
  key: SymmetricKey,
  purpose: P
): Effect.Effect<SymmetricKey<P>, InvalidKey> =>
  key.purpose === purpose
    ? Effect.succeed(key as SymmetricKey<P>)
    : Effect.fail(new InvalidKey({ reason: "purpose", detail: `a ${key.purpose} key was given where a ${purpose} key is required` }))

/** @internal */
export const makeSymmetricKey = <P extends KeyPurpose, M>(
  purpose: P,
  suite: SuiteId,
  adapter: string,
  keyMaterial: M,
  used: number,
  limit: number
): SymmetricKey<P> => {
  const key = new SymmetricKeyImpl(purpose, suite, adapter, used, limit)
  material.set(key, keyMaterial)
  return key
}

/** @internal */
export const makeSigningKey = <M>(adapter: string, publicKey: Uint8Array, keyMaterial: M): SigningKey => {
  const key = new SigningKeyImpl(adapter, publicKey)
  material.set(key, keyMaterial)
  return key
}

/** @internal */
export const makeAgreementKey = <M>(adapter: string, publicKey: Uint8Array, keyMaterial: M): AgreementKey => {
  const key = new AgreementKeyImpl(adapter, publicKey)
  material.set(key, keyMaterial)
  return key
}

/** @internal */
export const materialSync = <M>(key: SymmetricKey | SigningKey | AgreementKey, adapter: string): M | InvalidKey => {
  if (key.destroyed) return new InvalidKey({ reason: "destroyed", detail: "this key was destroyed" })
  if (key.adapter !== adapter) {
    return new InvalidKey({ reason: "adapter", detail: `a key of the ${key.adapter} adapter was given to the ${adapter} adapter` })
  }
  const m = material.get(key)
  return m === undefined ? new InvalidKey({ reason: "adapter", detail: "not a key handle made by a Crypto adapter" }) : (m as M)
}

/** @internal */
export const materialOf = <M>(key: SymmetricKey | SigningKey | AgreementKey, adapter: string): Effect.Effect<M, InvalidKey> => {
  const m = materialSync<M>(key, adapter)
  return m instanceof InvalidKey ? Effect.fail(m) : Effect.succeed(m)
}

/** @internal */
export const recordUse = (key: SymmetricKey, count: number): boolean => {
  const impl = key as SymmetricKeyImpl<KeyPurpose>
  if (impl.used + count > impl.limit) return false
  impl.used += count
  return true
}

/** @internal */
export const forget = (key: SymmetricKey | SigningKey | AgreementKey): unknown => {
  const m = material.get(key)
  material.delete(key)
  ;(key as { destroyed: boolean }).destroyed = true
  return m
}
