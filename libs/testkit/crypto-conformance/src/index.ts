/**
 * The Crypto port's conformance kit: one suite every adapter runs, the
 * public vectors it checks, and canary helpers for INV-016.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Canary from "./Canary.js"
/** @since 0.1.0 */
export * as CryptoConformance from "./CryptoConformance.js"
/** @since 0.1.0 */
export * as Interop from "./Interop.js"
/** @since 0.1.0 */
export * as Vectors from "./Vectors.js"
