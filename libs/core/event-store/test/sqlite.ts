/**
 * A test-only SQLite executor over better-sqlite3 in memory. (The Node
 * adapter has its own; core tests cannot import it without a dependency
 * cycle, and this is all they need.)
 */
import Database from "better-sqlite3"
import { Effect, type Scope } from "effect"
import { SqlEventStore, SqliteExecutor } from "../src/index.js"

export const executor = (db: Database.Database): SqliteExecutor.SqliteExecutor => {
  const fail = (error: unknown) => {
    throw new SqliteExecutor.SqliteFailure(String((error as { code?: unknown }).code ?? "UNKNOWN"), String((error as Error).message))
  }
  return {
    exec: (sql) => void db.exec(sql),
    run: (sql, params = []) => {
      try {
        const r = db.prepare(sql).run(...(params as Array<unknown>))
        return { changes: r.changes, lastInsertRowid: Number(r.lastInsertRowid) }
      } catch (error) {
        return fail(error)
      }
    },
    all: (sql, params = []) => db.prepare(sql).all(...(params as Array<unknown>)) as ReadonlyArray<SqliteExecutor.Row>,
    transaction: (f) => db.transaction(f).immediate(),
    close: () => db.close()
  }
}

/** A fresh in-memory EventStore, closed with the scope. */
export const memoryEventStore = (): Effect.Effect<import("../src/index.js").EventStore.EventStore, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(Effect.sync(() => new Database(":memory:")), (db) => Effect.sync(() => db.close()))
    return yield* SqlEventStore.make(executor(db), { adapter: "test", location: ":memory:" })
  })
