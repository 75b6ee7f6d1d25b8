/**
 * The Crypto port on `node:crypto`: the default for the CLI and the server.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as NodeCrypto from "./NodeCrypto.js"
