/**
 * The ServerStore port on SQLite (better-sqlite3 via @effect/sql-sqlite-node):
 * the embedded default.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as SqliteServerStore from "./SqliteServerStore.js"
