/**
 * The conformance suite every `SyncTransport` adapter runs.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Records from "./Records.js"

/** @since 0.1.0 */
export * as SyncTransportConformance from "./SyncTransportConformance.js"
