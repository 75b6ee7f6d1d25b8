/**
 * The EventStore port on a SQLite file (Node.js).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as SqliteNodeEventStore from "./SqliteNodeEventStore.js"
