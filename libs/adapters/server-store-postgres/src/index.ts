/**
 * The ServerStore port on PostgreSQL (@effect/sql-pg): several stateless
 * server processes over one database.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as PgServerStore from "./PgServerStore.js"
