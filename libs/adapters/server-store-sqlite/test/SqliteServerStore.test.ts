import { Bytes } from "@cipherlog/domain"
import { ServerStore } from "@cipherlog/server"
import { ServerStoreConformance } from "@cipherlog/server-store-conformance"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SqliteServerStore } from "../src/index.js"

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "cipherlog-sqlite-"))
  return { dir, cleanup: Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))) }
}

const suiteDir = tempDir()
ServerStoreConformance.suite(
  "sqlite",
  SqliteServerStore.layer({ filename: join(suiteDir.dir, "server.db") }).pipe(Layer.provideMerge(suiteDir.cleanup)),
  { rawSql: true, runs: 15 }
)

describe("SqliteServerStore", () => {
  it.effect("INV-001 mutant: without the triggers, raw UPDATE and DELETE go through (the check sees it)", () =>
    Effect.gen(function*() {
      const { cleanup, dir } = tempDir()
      const report = yield* Effect.gen(function*() {
        const store = yield* ServerStore.ServerStore
        const sql = yield* SqlClient.SqlClient
        const storeId = yield* ServerStoreConformance.freshStore(store)
        yield* store.append({ storeId, records: ServerStoreConformance.batch(storeId, [{ aggregateId: "a", version: 1 }]), receivedAt: 1 })
        yield* sql`DROP TRIGGER records_no_update`
        yield* sql`DROP TRIGGER records_no_delete`
        return yield* ServerStoreConformance.checks.rawMutationRefused(sql, storeId)
      }).pipe(Effect.provide(SqliteServerStore.layer({ filename: join(dir, "mutant.db") }).pipe(Layer.provideMerge(cleanup))))
      expect(report).toEqual({ updateRefused: false, deleteRefused: false })
    }))

  it.effect("a pull page of texts that may travel verbatim is SQLite's one concatenation; any other page is read row by row", () =>
    Effect.gen(function*() {
      const { cleanup, dir } = tempDir()
      const pages = yield* Effect.gen(function*() {
        const store = yield* ServerStore.ServerStore
        const storeId = yield* ServerStoreConformance.freshStore(store)
        // An astral character: the row-by-row encoder sends such a record as a JSON string, SQLite's join verbatim.
        const texts = ["{\"e\":\"\ud83d\ude00\"}", "{\"a\":1}", "{\"b\":\n2}"]
        yield* store.append({
          storeId,
          records: texts.map((recordJson, i) => ({ eventId: `e${i}`, aggregateType: "Item", aggregateId: `a${i}`, version: 1, recordJson })),
          receivedAt: 7
        })
        const joined = yield* store.readLinesAfter({ storeId, after: 0, limit: 2 })
        const rowByRow = yield* store.readLinesAfter({ storeId, after: 0, limit: 3 })
        const text = (page: typeof joined) => new TextDecoder().decode(Bytes.concat(...page.records.lines))
        return { joined: text(joined), chunks: joined.records.lines.length, numbers: [joined.records.sequences, joined.records.receivedAt, joined.head], rowByRow: text(rowByRow) }
      }).pipe(Effect.provide(SqliteServerStore.layer({ filename: join(dir, "lines.db") }).pipe(Layer.provideMerge(cleanup))))
      expect(pages.joined).toBe("{\"e\":\"\ud83d\ude00\"}\n{\"a\":1}\n")
      expect(pages.chunks).toBe(1)
      expect(pages.numbers).toEqual([[1, 2], [7, 7], 3])
      expect(pages.rowByRow).toBe(`${JSON.stringify("{\"e\":\"\ud83d\ude00\"}")}\n{"a":1}\n${JSON.stringify("{\"b\":\n2}")}\n`)
    }))

  it.effect("migration 5 fills each store's longest record length from its records; appends keep it", () =>
    Effect.gen(function*() {
      const { cleanup, dir } = tempDir()
      const lengths = yield* Effect.gen(function*() {
        const store = yield* ServerStore.ServerStore
        const sql = yield* SqlClient.SqlClient
        const storeId = yield* ServerStoreConformance.freshStore(store)
        const empty = yield* ServerStoreConformance.freshStore(store)
        const texts = ["{\"a\":1}", `{"b":"${"x".repeat(500)}"}`, "{}"]
        yield* store.append({
          storeId,
          records: texts.map((recordJson, i) => ({ eventId: `e${i}`, aggregateType: "Item", aggregateId: `a${i}`, version: 1, recordJson })),
          receivedAt: 1
        })
        const read = sql<{ store_id: string; max_record_length: number }>`SELECT store_id, max_record_length FROM stores
          WHERE store_id IN (${storeId}, ${empty}) ORDER BY store_id = ${storeId}`
        const appended = (yield* read).map((r) => r.max_record_length)
        // As a database migrated from schema 4 has it: the column at its default, then the migration's fill.
        yield* sql`UPDATE stores SET max_record_length = 0`
        yield* sql.unsafe(SqliteServerStore.schemaV5[1]!)
        return { appended, filled: (yield* read).map((r) => r.max_record_length), longest: texts[1]!.length }
      }).pipe(Effect.provide(SqliteServerStore.layer({ filename: join(dir, "v5.db") }).pipe(Layer.provideMerge(cleanup))))
      expect(lengths.appended).toEqual([0, lengths.longest])
      expect(lengths.filled).toEqual([0, lengths.longest])
    }))

  it.effect("data and migrations survive a restart; migrations run once", () =>
    Effect.gen(function*() {
      const { cleanup, dir } = tempDir()
      const filename = join(dir, "restart.db")
      const storeId = yield* Effect.gen(function*() {
        const store = yield* ServerStore.ServerStore
        const storeId = yield* ServerStoreConformance.freshStore(store)
        yield* store.append({ storeId, records: ServerStoreConformance.batch(storeId, [{ aggregateId: "a", version: 1 }, { aggregateId: "a", version: 2 }]), receivedAt: 1 })
        return storeId
      }).pipe(Effect.provide(SqliteServerStore.layer({ filename })))
      const after = yield* Effect.gen(function*() {
        const store = yield* ServerStore.ServerStore
        const sql = yield* SqlClient.SqlClient
        const migrations = yield* sql<{ migration_id: number }>`SELECT migration_id FROM cipherlog_migrations`
        const page = yield* store.readAfter({ storeId, after: 0, limit: 10 })
        const [mode] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
        const [sync] = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
        return { migrations: migrations.map((m) => m.migration_id), head: page.head, mode: mode?.journal_mode, sync: sync?.synchronous }
      }).pipe(Effect.provide(SqliteServerStore.layer({ filename }).pipe(Layer.provideMerge(cleanup))))
      expect(after).toEqual({ migrations: [1, 2, 3, 4, 5], head: 2, mode: "wal", sync: 2 })
    }))

  it.effect("refuses a database migrated by a newer server, and changes nothing", () =>
    Effect.gen(function*() {
      const { cleanup, dir } = tempDir()
      const outcome = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO cipherlog_migrations (migration_id, name) VALUES (${SqliteServerStore.latestMigration + 1}, ${"from_the_future"})`
        const refused = yield* Effect.flip(SqliteServerStore.migrate)
        const left = yield* sql<{ migration_id: number }>`SELECT migration_id FROM cipherlog_migrations ORDER BY migration_id`
        return { refused, left: left.map((m) => m.migration_id) }
      }).pipe(Effect.provide(SqliteServerStore.layer({ filename: join(dir, "newer.db") }).pipe(Layer.provideMerge(cleanup))))
      const refused = outcome.refused
      expect([refused._tag, refused._tag === "MigrationError" ? refused.reason : "", outcome.left]).toEqual(["MigrationError", "bad-state", [1, 2, 3, 4, 5, 6]])
      expect(refused.message).toContain("migrated by a newer server (schema migration 6; this server knows up to 5)")
    }))

  it.effect("mutant: without the audit triggers, raw SQL rewrites the audit log (the check sees it)", () =>
    Effect.gen(function*() {
      const { cleanup, dir } = tempDir()
      const report = yield* Effect.gen(function*() {
        const store = yield* ServerStore.ServerStore
        const sql = yield* SqlClient.SqlClient
        const storeId = yield* ServerStoreConformance.freshStore(store)
        yield* sql`DROP TRIGGER audit_log_no_update`
        yield* sql`DROP TRIGGER audit_log_no_delete`
        return yield* ServerStoreConformance.checks.rawAuditMutationRefused(sql, storeId)
      }).pipe(Effect.provide(SqliteServerStore.layer({ filename: join(dir, "audit-mutant.db") }).pipe(Layer.provideMerge(cleanup))))
      expect(report).toEqual({ updateRefused: false, deleteRefused: false })
    }))
})
