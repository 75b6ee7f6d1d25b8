/**
 * The Crypto port of Cipherlog and everything built on it that is the same
 * for every adapter: typed key handles, the HKDF label registry, Argon2id
 * parameters and HPKE (RFC 9180).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Argon2 from "./Argon2.js"
/** @since 0.1.0 */
export * as Crypto from "./Crypto.js"
/** @since 0.1.0 */
export * from "./CryptoError.js"
/** @since 0.1.0 */
export * as Hkdf from "./Hkdf.js"
/** @since 0.1.0 */
export * as Hpke from "./Hpke.js"
/** @since 0.1.0 */
export {
  type AgreementKey,
  DEFAULT_USAGE_LIMIT,
  isAgreementKey,
  isSigningKey,
  isSymmetricKey,
  type KeyPurpose,
  purposes,
  requirePurpose,
  type SigningKey,
  SYMMETRIC_KEY_LENGTH,
  type SymmetricKey
} from "./Keys.js"
/** @since 0.1.0 */
export * from "./Labels.js"
/** @since 0.1.0 */
export * as PublicKeyCache from "./PublicKeyCache.js"
/** @since 0.1.0 */
export * from "./Secret.js"
