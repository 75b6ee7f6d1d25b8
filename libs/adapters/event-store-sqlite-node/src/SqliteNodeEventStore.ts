/**
 * The EventStore port on a SQLite file for Node.js (better-sqlite3): WAL
 * journal, `synchronous = NORMAL`, and SQLite's own exclusive locking mode
 * held for the connection's lifetime, so a second process waits up to
 * `busyTimeoutMs` and then fails with `StoreLocked` — it never writes beside
 * the first one (INV-011).
 *
 * @since 0.1.0
 */
import { EventStore, SchemaTooNew, SqlEventStore, SqliteExecutor, StorageFailure, StoreLocked } from "@cipherlog/event-store"
import Database from "better-sqlite3"
import { Effect, Layer, type Scope } from "effect"
import * as path from "node:path"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long to wait for another writer to let go before `StoreLocked` (default 5 s). */
  readonly busyTimeoutMs?: number
}

const failure = (error: unknown): SqliteExecutor.SqliteFailure => {
  if (error instanceof SqliteExecutor.SqliteFailure) return error
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "UNKNOWN"
  return new SqliteExecutor.SqliteFailure(code, error instanceof Error ? error.message : String(error))
}

/**
 * A `SqliteExecutor` over a better-sqlite3 connection (statements prepared once and cached).
 *
 * @since 0.1.0
 * @category constructors
 */
export const executor = (db: Database.Database): SqliteExecutor.SqliteExecutor => {
  const statements = new Map<string, Database.Statement>()
  const prepare = (sql: string) => {
    let stmt = statements.get(sql)
    if (!stmt) {
      stmt = db.prepare(sql)
      statements.set(sql, stmt)
    }
    return stmt
  }
  // Statements in raw mode (rows as arrays), kept apart from the named-row ones.
  const rawStatements = new Map<string, Database.Statement>()
  const prepareRaw = (sql: string) => {
    let stmt = rawStatements.get(sql)
    if (!stmt) {
      stmt = db.prepare(sql).raw(true)
      rawStatements.set(sql, stmt)
    }
    return stmt
  }
  const guard = <A>(f: () => A): A => {
    try {
      return f()
    } catch (error) {
      throw failure(error)
    }
  }
  return {
    exec: (sql) => guard(() => void db.exec(sql)),
    run: (sql, params = []) =>
      guard(() => {
        const result = prepare(sql).run(...(params as Array<unknown>))
        return { changes: result.changes, lastInsertRowid: Number(result.lastInsertRowid) }
      }),
    all: (sql, params = []) => guard(() => prepare(sql).all(...(params as Array<unknown>)) as ReadonlyArray<SqliteExecutor.Row>),
    values: (sql, params = []) =>
      guard(() => prepareRaw(sql).all(...(params as Array<unknown>)) as ReadonlyArray<ReadonlyArray<SqliteExecutor.SqlValue>>),
    transaction: (f) => {
      try {
        return db.transaction(f).immediate()
      } catch (error) {
        // The store's typed aborts are not Errors and pass through untouched; SQLite errors become SqliteFailure.
        if (error instanceof Error) throw failure(error)
        throw error
      }
    },
    close: () => db.close()
  }
}

/**
 * Opens (creating if needed) the store in the SQLite file `file` and holds
 * it exclusively for the scope's lifetime.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (file: string, options: Options = {}): Effect.Effect<EventStore.EventStore, StoreLocked | SchemaTooNew | StorageFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const location = file === ":memory:" ? file : path.resolve(file)
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const db = new Database(location, { timeout: options.busyTimeoutMs ?? 5000 })
          try {
            db.pragma("locking_mode = EXCLUSIVE")
            db.pragma("journal_mode = WAL")
            db.pragma("synchronous = NORMAL")
            db.pragma("foreign_keys = ON")
          } catch (error) {
            db.close()
            throw error
          }
          return db
        },
        catch: (error) => {
          const f = failure(error)
          return f.code.startsWith("SQLITE_BUSY") || f.code.startsWith("SQLITE_LOCKED")
            ? new StoreLocked({ location })
            : new StorageFailure({ location, operation: "open the database", code: f.code, cause: error })
        }
      }),
      (db) => Effect.sync(() => db.close())
    )
    return yield* SqlEventStore.make(executor(db), {
      adapter: "sqlite-node",
      location,
      capabilities: { journal: "wal", synchronous: "normal", singleWriter: "sqlite exclusive locking mode" }
    }).pipe(
      // Opening writes (taking SQLite's exclusive lock): busy here means another writer holds the file.
      Effect.catchTag("StorageFailure", (e): Effect.Effect<never, StorageFailure | StoreLocked> =>
        /^SQLITE_(BUSY|LOCKED)/.test(e.code) ? Effect.fail(new StoreLocked({ location })) : Effect.fail(e))
    )
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (file: string, options?: Options): Layer.Layer<EventStore.EventStore, StoreLocked | SchemaTooNew | StorageFailure> =>
  Layer.scoped(EventStore.EventStore, make(file, options))
