/**
 * The encrypted event store of Cipherlog.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Diagnostics from "./Diagnostics.js"
/** @since 0.1.0 */
export * as EventStore from "./EventStore.js"
/** @since 0.1.0 */
export * from "./EventStoreError.js"
/** @since 0.1.0 */
export * as LocalStore from "./LocalStore.js"
/** @since 0.1.0 */
export * as Pipeline from "./Pipeline.js"
/** @since 0.1.0 */
export * as Projections from "./Projections.js"
/** @since 0.1.0 */
export * as SqlEventStore from "./SqlEventStore.js"
/** @since 0.1.0 */
export * as SqliteExecutor from "./SqliteExecutor.js"
