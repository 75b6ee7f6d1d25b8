/**
 * The key hierarchy of Cipherlog: the KeyStore port and, on the Crypto port,
 * the passphrase vault (INV-014), the recovery phrase, identities and
 * devices, the keyring (KEK versions, DEK epochs, `K_cache`) and backups.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Backup from "./Backup.js"
/** @since 0.1.0 */
export * as Identity from "./Identity.js"
/** @since 0.1.0 */
export * as KekBlob from "./KekBlob.js"
/** @since 0.1.0 */
export * as Keyring from "./Keyring.js"
/** @since 0.1.0 */
export * as KeyStore from "./KeyStore.js"
/** @since 0.1.0 */
export * from "./KeyStoreError.js"
/** @since 0.1.0 */
export * as Prekeys from "./Prekeys.js"
/** @since 0.1.0 */
export * as Recovery from "./Recovery.js"
/** @since 0.1.0 */
export * as Vault from "./Vault.js"
