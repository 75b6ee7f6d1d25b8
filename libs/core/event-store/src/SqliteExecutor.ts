/**
 * The smallest interface over a SQLite connection that the event store
 * needs: run a statement, read rows, run a function in a transaction. Both
 * local SQLite hosts — better-sqlite3 in Node.js and `@sqlite.org/sqlite-wasm`
 * (in memory, or OPFS inside a browser worker) — are synchronous, so this is
 * synchronous too; `SqlEventStore` builds the whole store on it once, and
 * each adapter only binds a connection.
 *
 * Errors are thrown as `SqliteFailure` with SQLite's result code name.
 *
 * @since 0.1.0
 */

/**
 * A parameter value.
 *
 * @since 0.1.0
 * @category models
 */
export type SqlValue = string | number | bigint | Uint8Array | null

/**
 * A row as returned by a query: column name → value.
 *
 * @since 0.1.0
 * @category models
 */
export type Row = Record<string, SqlValue>

/**
 * @since 0.1.0
 * @category models
 */
export interface SqliteExecutor {
  /** Runs one or more statements without parameters (schema changes). */
  readonly exec: (sql: string) => void
  /** Runs one statement; the number of rows it changed and the last inserted rowid. */
  readonly run: (sql: string, params?: ReadonlyArray<SqlValue>) => { readonly changes: number; readonly lastInsertRowid: number }
  /** Runs a query; its rows. */
  readonly all: (sql: string, params?: ReadonlyArray<SqlValue>) => ReadonlyArray<Row>
  /**
   * Runs a query; its rows as arrays of values in the order of the selected
   * columns (optional: cheaper than named rows for wide reads; without it the
   * store reads named rows).
   */
  readonly values?: (sql: string, params?: ReadonlyArray<SqlValue>) => ReadonlyArray<ReadonlyArray<SqlValue>>
  /** Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it returns, rolled back if it throws. */
  readonly transaction: <A>(f: () => A) => A
  /** Closes the connection. */
  readonly close: () => void
}

/**
 * A SQLite error: its extended result code name (`SQLITE_BUSY`,
 * `SQLITE_CONSTRAINT_UNIQUE`, …) and message.
 *
 * @since 0.1.0
 * @category errors
 */
export class SqliteFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message)
    this.name = "SqliteFailure"
  }
}
