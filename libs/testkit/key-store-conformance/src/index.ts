/**
 * The KeyStore port's conformance kit.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as KeyStoreConformance from "./KeyStoreConformance.js"
