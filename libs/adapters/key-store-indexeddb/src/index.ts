/**
 * The KeyStore port on IndexedDB (browsers, workers).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as IndexedDbKeyStore from "./IndexedDbKeyStore.js"
