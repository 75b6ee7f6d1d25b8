/**
 * The KeyStore port on a directory (Node.js).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as FileKeyStore from "./FileKeyStore.js"
