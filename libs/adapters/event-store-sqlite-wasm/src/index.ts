/**
 * The EventStore port on sqlite-wasm: in memory anywhere, and on OPFS in a
 * browser worker.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as OpfsEventStore from "./OpfsEventStore.js"
/** @since 0.1.0 */
export * as SqliteWasmEventStore from "./SqliteWasmEventStore.js"
