/**
 * The ServerStore port's conformance kit: one suite for every adapter
 * (INV-001..005, members, KEK versions, blobs, audit, recovery), its checks
 * as functions (for mutant tests), and valid record texts in any spelling.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Records from "./Records.js"
/** @since 0.1.0 */
export * as ServerStoreConformance from "./ServerStoreConformance.js"
