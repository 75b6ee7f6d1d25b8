import { GroupCommit, ServerStore } from "@cipherlog/server"
import { ServerStoreConformance } from "@cipherlog/server-store-conformance"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Either, Fiber, Layer, type Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SqliteServerStore } from "../src/index.js"

class Refused extends Data.TaggedError("Refused")<{ readonly key: string }> {}

/** A fresh SQLite file with the server's pragmas, a table `t` and a deferred foreign key `child → parent`. */
const database = Layer.unwrapScoped(Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "cipherlog-group-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  return SqliteServerStore.layerClient({ filename: join(dir, "group.db") })
}))

const setUp = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`PRAGMA foreign_keys = ON`
  yield* sql`CREATE TABLE t (k TEXT PRIMARY KEY)`
  yield* sql`CREATE TABLE parent (id TEXT PRIMARY KEY)`
  yield* sql`CREATE TABLE child (p TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`
  return sql
})

const keys = (sql: SqlClient.SqlClient) => Effect.map(sql<{ k: string }>`SELECT k FROM t ORDER BY k`, (rows) => rows.map((r) => r.k))

/** Submits `count` jobs from concurrent fibers (all waiting before the writer runs); job `bad` inserts, then fails. */
const submitMany = (group: GroupCommit.GroupCommit, sql: SqlClient.SqlClient, count: number, bad: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    (i) => {
      const key = `k${String(i).padStart(2, "0")}`
      return Effect.either(group.submit(Effect.gen(function*() {
        yield* sql`INSERT INTO t (k) VALUES (${key})`
        if (i === bad) return yield* Effect.fail(new Refused({ key }))
        return key
      })))
    },
    { concurrency: "unbounded" }
  )

const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | Scope.Scope>) =>
  Effect.scoped(effect).pipe(Effect.provide(database))

describe("GroupCommit (SQLite)", () => {
  it.effect("writes waiting together commit in one transaction; a failing one is rolled back alone", () =>
    run(Effect.gen(function*() {
      const sql = yield* setUp
      const group = yield* GroupCommit.make()
      const results = yield* submitMany(group, sql, 20, 7)
      expect(results.filter(Either.isRight)).toHaveLength(19)
      expect(results[7]).toEqual(Either.left(new Refused({ key: "k07" })))
      const stored = yield* keys(sql)
      expect(stored).toHaveLength(19)
      expect(stored).not.toContain("k07")
      // 20 writes submitted at once: far fewer transactions than writes.
      expect(group.stats().jobs).toBe(20)
      expect(group.stats().groups).toBeLessThanOrEqual(2)
    })))

  it.effect("mutant: without savepoints the failed write's row is committed (the check above sees it)", () =>
    run(Effect.gen(function*() {
      const sql = yield* setUp
      const group = yield* GroupCommit.make({ mutant: "no-savepoints" })
      yield* submitMany(group, sql, 20, 7)
      expect(yield* keys(sql)).toContain("k07")
    })))

  it.effect("answers come after the shared COMMIT: a failed COMMIT fails every write of the group and stores none", () =>
    run(Effect.gen(function*() {
      const sql = yield* setUp
      const group = yield* GroupCommit.make()
      const fine = group.submit(sql`INSERT INTO t (k) VALUES ('fine')`)
      // Its savepoint succeeds; the deferred foreign key fails only at COMMIT.
      const orphan = group.submit(sql`INSERT INTO child (p) VALUES ('missing')`)
      const [a, b] = yield* Effect.all([Effect.either(fine), Effect.either(orphan)], { concurrency: "unbounded" })
      expect(Either.isLeft(a) && a.left._tag).toBe("SqlError")
      expect(Either.isLeft(b) && b.left._tag).toBe("SqlError")
      expect(yield* keys(sql)).toEqual([])
      // The failed transaction was ended: the next write goes through.
      yield* group.submit(sql`INSERT INTO t (k) VALUES ('after')`)
      expect(yield* keys(sql)).toEqual(["after"])
    })))

  it.effect("mutant: answering each write before the COMMIT acknowledges a write that was never stored", () =>
    run(Effect.gen(function*() {
      const sql = yield* setUp
      const group = yield* GroupCommit.make({ mutant: "answer-before-commit" })
      const fine = group.submit(sql`INSERT INTO t (k) VALUES ('fine')`)
      const orphan = group.submit(sql`INSERT INTO child (p) VALUES ('missing')`)
      const [a] = yield* Effect.all([Effect.either(fine), Effect.either(orphan)], { concurrency: "unbounded" })
      expect(Either.isRight(a)).toBe(true)
      expect(yield* keys(sql)).toEqual([])
    })))

  it.effect("writers looping on the store take turns in arrival order (none runs ahead by more than a round)", () =>
    run(Effect.gen(function*() {
      const sql = yield* setUp
      const group = yield* GroupCommit.make({ maxJobs: 3 })
      const done = new Array<number>(8).fill(0)
      let spread = 0
      const rounds = 10
      const fibers = yield* Effect.forEach(Array.from({ length: 8 }, (_, i) => i), (i) =>
        Effect.fork(Effect.repeatN(
          group.submit(Effect.gen(function*() {
            yield* sql`INSERT INTO t (k) VALUES (${`w${i}-${done[i]}`})`
            done[i]!++
            spread = Math.max(spread, Math.max(...done) - Math.min(...done))
          })),
          rounds - 1
        )))
      yield* Fiber.joinAll(fibers)
      expect(done).toEqual(new Array(8).fill(rounds))
      expect(spread).toBeLessThanOrEqual(1)
      expect((yield* keys(sql)).length).toBe(8 * rounds)
    })))
})

describe("SqliteServerStore with group commit", () => {
  it.effect("concurrent pushes to one store: the conflicting one is refused, the others get gapless sequences", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "cipherlog-group-store-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const outcome = yield* Effect.gen(function*() {
        const store = yield* ServerStore.ServerStore
        const storeId = yield* ServerStoreConformance.freshStore(store)
        const pushes = Array.from({ length: 12 }, (_, i) =>
          // Push 5 claims version 2 of a new aggregate: a conflict.
          ServerStoreConformance.batch(storeId, [{ aggregateId: `a${i}`, version: i === 5 ? 2 : 1 }]))
        const results = yield* Effect.forEach(pushes, (records) => Effect.either(store.append({ storeId, records, receivedAt: 1 })), {
          concurrency: "unbounded"
        })
        const page = yield* store.readAfter({ storeId, after: 0, limit: 100 })
        return { results, page }
      }).pipe(Effect.provide(SqliteServerStore.layer({ filename: join(dir, "store.db") })))
      expect(outcome.results.filter(Either.isLeft).map((e) => e.left._tag)).toEqual(["VersionConflict"])
      const sequences = outcome.page.records.map((r) => r.globalSequence)
      expect(sequences).toEqual(Array.from({ length: 11 }, (_, i) => i + 1))
      expect(outcome.page.head).toBe(11)
    }).pipe(Effect.scoped))
})
