/**
 * The client sync engine and its `SyncTransport` port.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as SyncEngine from "./SyncEngine.js"

/** @since 0.1.0 */
export * as SyncTransport from "./SyncTransport.js"

/** @since 0.1.0 */
export * as MemoryTransport from "./MemoryTransport.js"

/** @since 0.1.0 */
export * as Signals from "./Signals.js"
