/**
 * The Crypto port's typed errors. Expected failures (a tag that does not
 * verify, a key of the wrong length or purpose) are values, never defects.
 * None carries key bytes, plaintext, passphrases or any input value
 * (INV-016): only names, lengths and reasons.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Authenticated decryption failed: the key is wrong, or the ciphertext,
 * nonce, tag or associated data differ from what was sealed.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecryptionFailed extends Schema.TaggedError<DecryptionFailed>("@cipherlog/crypto/DecryptionFailed")(
  "DecryptionFailed",
  { algorithm: Schema.String }
) {
  override get message(): string {
    return `${this.algorithm} authentication failed: wrong key, or the ciphertext, nonce, tag or associated data were ` +
      `altered. Nothing was decrypted.`
  }
}

/**
 * Why key material was refused.
 *
 * @since 0.1.0
 * @category models
 */
export const InvalidKeyReason = Schema.Literal(
  "length", // wrong number of bytes
  "purpose", // a key typed for one purpose used for another (INV-008)
  "adapter", // a key handle made by another Crypto adapter
  "low-order", // an X25519 public key that yields the all-zero shared secret
  "encoding", // a public key that does not decode to a curve point
  "destroyed", // the key was destroyed (its buffers zeroed)
  "parameters" // KDF parameters or lengths outside what the algorithm allows
)
/** @since 0.1.0 */
export type InvalidKeyReason = typeof InvalidKeyReason.Type

/**
 * Key material or a key parameter that cannot be used.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidKey extends Schema.TaggedError<InvalidKey>("@cipherlog/crypto/InvalidKey")("InvalidKey", {
  reason: InvalidKeyReason,
  detail: Schema.String
}) {
  override get message(): string {
    return `Invalid key (${this.reason}): ${this.detail}.`
  }
}

/**
 * A signature that does not verify against the given public key and message.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidSignature extends Schema.TaggedError<InvalidSignature>("@cipherlog/crypto/InvalidSignature")(
  "InvalidSignature",
  { context: Schema.String }
) {
  override get message(): string {
    return `Signature does not verify (${this.context}): the message was altered, or it was not signed by this key.`
  }
}

/**
 * A cipher suite or algorithm this adapter does not implement.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedSuite extends Schema.TaggedError<UnsupportedSuite>("@cipherlog/crypto/UnsupportedSuite")(
  "UnsupportedSuite",
  { suite: Schema.String, adapter: Schema.String }
) {
  override get message(): string {
    return `Cipher suite ${this.suite} is not supported by the ${this.adapter} crypto adapter. ` +
      `Use a build or adapter that supports it.`
  }
}

/**
 * A key refused to encrypt because it reached its usage limit (INV-008):
 * rotate it (a new DEK epoch or KEK version) and encrypt with the new key.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyUsageExhausted extends Schema.TaggedError<KeyUsageExhausted>("@cipherlog/crypto/KeyUsageExhausted")(
  "KeyUsageExhausted",
  { purpose: Schema.String, limit: Schema.Number }
) {
  override get message(): string {
    return `This ${this.purpose} key has encrypted ${this.limit} messages, its limit; it refuses to encrypt more. ` +
      `Rotate it and encrypt with the new key (decryption with it still works).`
  }
}

/**
 * All Crypto port errors.
 *
 * @since 0.1.0
 * @category errors
 */
export type CryptoError = DecryptionFailed | InvalidKey | InvalidSignature | UnsupportedSuite | KeyUsageExhausted
