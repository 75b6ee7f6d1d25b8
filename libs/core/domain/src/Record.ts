/**
 * Small records shared by envelopes and sync records: key references,
 * cipher suites, authorship and the device hash-chain position.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Base64UrlOfLength } from "./Bytes.js"
import { DeviceId, DeviceSeq, Epoch, KeyId, UserId } from "./Identifiers.js"

/**
 * Which key decrypts a record: a keyring key and its epoch.
 *
 * @since 0.1.0
 * @category models
 */
export const KeyRef = Schema.Struct({ id: KeyId, epoch: Epoch }).annotations({ identifier: "KeyRef" })
/** @since 0.1.0 */
export type KeyRef = typeof KeyRef.Type

/**
 * A key reference in one line, `<keyId>@<epoch>`, for messages and maps.
 *
 * @since 0.1.0
 * @category getters
 */
export const keyRefLabel = (ref: KeyRef): string => `${ref.id}@${ref.epoch}`

/**
 * Cipher suites. Every ciphertext names its suite so that a new one can be
 * added without a format break.
 * - `A256GCM`: AES-256-GCM, 96-bit random nonce, 128-bit tag (the default).
 * - `XC20P`: XChaCha20-Poly1305, 192-bit random nonce, 128-bit tag.
 *
 * @since 0.1.0
 * @category models
 */
export const SuiteId = Schema.Literal("A256GCM", "XC20P").annotations({
  identifier: "SuiteId",
  message: () => "a suite id is A256GCM or XC20P"
})
/** @since 0.1.0 */
export type SuiteId = typeof SuiteId.Type

/**
 * Nonce length in bytes of each suite.
 *
 * @since 0.1.0
 * @category constants
 */
export const nonceLength: Record<SuiteId, number> = { A256GCM: 12, XC20P: 24 }

/**
 * Authentication tag length in bytes of each suite.
 *
 * @since 0.1.0
 * @category constants
 */
export const tagLength: Record<SuiteId, number> = { A256GCM: 16, XC20P: 16 }

/**
 * Who wrote a record: a user and the device (whose key, certified by the
 * user's identity, signs it; INV-007).
 *
 * @since 0.1.0
 * @category models
 */
export const Author = Schema.Struct({ userId: UserId, deviceId: DeviceId }).annotations({ identifier: "Author" })
/** @since 0.1.0 */
export type Author = typeof Author.Type

/**
 * A record's place in its author device's hash chain for the store: `seq`
 * counts the device's records from 1 and `prev` is the chain digest of the
 * device's previous record (absent exactly when `seq` is 1).
 *
 * @since 0.1.0
 * @category models
 */
export const ChainLink = Schema.Struct({
  seq: DeviceSeq,
  prev: Schema.optionalWith(Base64UrlOfLength(32), { exact: true })
}).pipe(
  Schema.filter((link) =>
    (link.seq === 1) === (link.prev === undefined) || "chain.prev must be present exactly when chain.seq is greater than 1"
  )
).annotations({ identifier: "ChainLink" })
/** @since 0.1.0 */
export type ChainLink = typeof ChainLink.Type
