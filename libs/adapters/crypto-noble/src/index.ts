/**
 * The Crypto port in pure JavaScript (noble), for hosts without WebCrypto.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as NobleCrypto from "./NobleCrypto.js"
