/**
 * The EventStore port's conformance kit.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as EventStoreConformance from "./EventStoreConformance.js"
/** @since 0.1.0 */
export * as Records from "./Records.js"
