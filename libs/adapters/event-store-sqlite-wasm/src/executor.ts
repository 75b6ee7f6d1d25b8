/**
 * A `SqliteExecutor` over a sqlite-wasm `oo1` database, with statements
 * prepared once and cached.
 *
 * @since 0.1.0
 */
import { SqliteExecutor } from "@cipherlog/event-store"
import type { Database, PreparedStatement, Sqlite3Static } from "@sqlite.org/sqlite-wasm"

/**
 * @since 0.1.0
 * @category constructors
 */
export const executor = (sqlite3: Sqlite3Static, db: Database): SqliteExecutor.SqliteExecutor => {
  const statements = new Map<string, PreparedStatement>()
  const failure = (error: unknown) => {
    if (error instanceof SqliteExecutor.SqliteFailure) return error
    const rc = typeof error === "object" && error !== null && "resultCode" in error ? Number(error.resultCode) : undefined
    const code = rc === undefined ? "UNKNOWN" : (sqlite3.capi.sqlite3_js_rc_str(rc) ?? `SQLITE_${rc}`)
    return new SqliteExecutor.SqliteFailure(code, error instanceof Error ? error.message : String(error))
  }
  const guard = <A>(f: () => A): A => {
    try {
      return f()
    } catch (error) {
      throw failure(error)
    }
  }
  const prepare = (sql: string) => {
    let stmt = statements.get(sql)
    if (!stmt) {
      stmt = db.prepare(sql)
      statements.set(sql, stmt)
    }
    return stmt
  }
  const bind = (stmt: PreparedStatement, params: ReadonlyArray<SqliteExecutor.SqlValue>) => {
    stmt.reset(true)
    if (params.length > 0) stmt.bind(params as Array<SqliteExecutor.SqlValue>)
  }
  return {
    exec: (sql) => guard(() => void db.exec(sql)),
    run: (sql, params = []) =>
      guard(() => {
        const stmt = prepare(sql)
        bind(stmt, params)
        try {
          stmt.step()
        } finally {
          stmt.reset()
        }
        return { changes: db.changes(), lastInsertRowid: Number(sqlite3.capi.sqlite3_last_insert_rowid(db)) }
      }),
    all: (sql, params = []) =>
      guard(() => {
        const stmt = prepare(sql)
        bind(stmt, params)
        const rows: Array<SqliteExecutor.Row> = []
        try {
          while (stmt.step()) rows.push(stmt.get({}) as SqliteExecutor.Row)
        } finally {
          stmt.reset()
        }
        return rows
      }),
    values: (sql, params = []) =>
      guard(() => {
        const stmt = prepare(sql)
        bind(stmt, params)
        const rows: Array<ReadonlyArray<SqliteExecutor.SqlValue>> = []
        try {
          while (stmt.step()) rows.push(stmt.get([]) as Array<SqliteExecutor.SqlValue>)
        } finally {
          stmt.reset()
        }
        return rows
      }),
    transaction: (f) => {
      // The store's typed aborts are not Errors and pass through; SQLite errors become SqliteFailure.
      guard(() => db.exec("BEGIN IMMEDIATE"))
      let result
      try {
        result = f()
      } catch (error) {
        db.exec("ROLLBACK")
        if (error instanceof Error) throw failure(error)
        throw error
      }
      guard(() => db.exec("COMMIT"))
      return result
    },
    close: () => {
      for (const stmt of statements.values()) stmt.finalize()
      statements.clear()
      db.close()
    }
  }
}
