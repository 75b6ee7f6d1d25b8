/**
 * The Crypto port on WebCrypto: browsers, workers, and any host with
 * `crypto.subtle`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as WebCryptoCrypto from "./WebCryptoCrypto.js"
