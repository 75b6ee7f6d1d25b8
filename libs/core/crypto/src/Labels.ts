/**
 * The registry of HKDF labels. Every key Cipherlog derives comes from one of
 * these labels (INV-008): each is unique, versioned (`cipherlog/v<n>/…`) and
 * names one purpose. `Crypto.hkdf` accepts only a `Label`, so an ad-hoc info
 * string cannot be passed by accident; adding a derivation means adding a
 * label here, where the uniqueness test sees it.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A registered HKDF label.
 *
 * @since 0.1.0
 * @category models
 */
export const Label = Schema.String.pipe(
  Schema.pattern(/^cipherlog\/v[1-9][0-9]*\/[a-z0-9][a-z0-9/-]*$/),
  Schema.brand("HkdfLabel")
)
/** @since 0.1.0 */
export type Label = typeof Label.Type

const label = (text: string): Label => Schema.decodeSync(Label)(text)

/**
 * All labels, by name. Values are part of the formats (docs/formats.md):
 * changing one changes every key derived from it.
 *
 * @since 0.1.0
 * @category constants
 */
export const labels = {
  /** BIP39 seed + store id → master secret (seed 001). */
  masterSecret: label("cipherlog/v1/master-secret"),
  /** master secret → master KEK, which wraps recovery material. */
  masterKek: label("cipherlog/v1/master-kek"),
  /** master secret → the id under which the server keeps recovery material (not a key). */
  recoveryLocator: label("cipherlog/v1/recovery-locator"),
  /** device secret → `K_cache` for projections (device-local; INV-010). */
  cacheKey: label("cipherlog/v1/cache-key"),
  /** HPKE `info` when a KEK version is sealed to a member (a KEK blob). */
  kekBlob: label("cipherlog/v1/kek-blob"),
  /** HPKE `info` when a KEK version is sealed to one of a member's prekeys (a KEK blob v2). */
  kekBlobPrekey: label("cipherlog/v1/kek-blob-prekey"),
  /** HPKE `info` when key material is sealed to a device of the same user. */
  deviceTransfer: label("cipherlog/v1/device-transfer")
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type LabelName = keyof typeof labels
