import { ServerStore } from "@cipherlog/server"
import { ServerStoreConformance } from "@cipherlog/server-store-conformance"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Queue, Redacted } from "effect"
import { PgServerStore } from "../src/index.js"
import { layerFresh } from "./database.js"

const storeOn = (url: string) => PgServerStore.layer({ url: Redacted.make(url), maxConnections: 4 })

ServerStoreConformance.suite("postgres", layerFresh(storeOn), { rawSql: true, runs: 10 })

/** Two stores on one fresh database, each with its own pool: as two server processes. */
const twoProcesses = Effect.gen(function*() {
  const both = yield* Layer.build(layerFresh((url) => Layer.mergeAll(
    Layer.effect(ProcessA, ServerStore.ServerStore).pipe(Layer.provide(storeOn(url))),
    Layer.effect(ProcessB, ServerStore.ServerStore).pipe(Layer.provide(storeOn(url)))
  )))
  const a = Option.getOrThrow(Option.fromNullable(both.unsafeMap.get(ProcessA.key) as ServerStore.ServerStore | undefined))
  const b = Option.getOrThrow(Option.fromNullable(both.unsafeMap.get(ProcessB.key) as ServerStore.ServerStore | undefined))
  return [a, b] as const
})

describe("PgServerStore", () => {
  it.effect("INV-003 two stores (two pools, as two server processes) appending concurrently to one store stay gapless; one hears the other", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b] = yield* twoProcesses
      const storeId = yield* ServerStoreConformance.freshStore(a)
      const heard = yield* b.subscribe
      // Many writers on both "processes", each on its own aggregates, racing for the same store row.
      const writer = (store: ServerStore.ServerStore, w: number) =>
        Effect.forEach(Array.from({ length: 8 }, (_, i) => i), (i) =>
          store.append({ storeId, records: ServerStoreConformance.batch(storeId, [{ aggregateId: `w${w}`, version: 2 * i + 1 }, { aggregateId: `w${w}`, version: 2 * i + 2 }]), receivedAt: 1 }), { discard: true })
      yield* Effect.all([0, 1, 2, 3].map((w) => writer(w % 2 === 0 ? a : b, w)), { concurrency: "unbounded" })
      expect(yield* ServerStoreConformance.checks.sequence(a, storeId, [0, 5, 17, 40])).toEqual([])
      expect((yield* b.readAfter({ storeId, after: 0, limit: 1000 })).head).toBe(64)
      // Process B hears of an append made by process A only through LISTEN/NOTIFY.
      yield* Queue.takeAll(heard)
      yield* a.append({ storeId, records: ServerStoreConformance.batch(storeId, [{ aggregateId: "from-a", version: 1 }]), receivedAt: 2 })
      const seen = yield* Effect.iterate(0, {
        while: (h) => h < 65,
        body: () => Effect.map(Queue.take(heard), (h) => (h.storeId === storeId ? h.head : 0))
      }).pipe(Effect.timeout("10 seconds"), Effect.either)
      expect(Either.isRight(seen)).toBe(true)
    })))

  it.effect("prekeys: two stores (two pools, as two server processes) claiming one user's prekeys concurrently never hand one out twice", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b] = yield* twoProcesses
      const storeId = yield* ServerStoreConformance.freshStore(a)
      const report = yield* ServerStoreConformance.checks.prekeySingleUse([a, b], storeId, { prekeys: 150, claims: 200 })
      expect([report.handedOut.length, report.duplicates, report.unknown, report.remaining]).toEqual([150, 0, 0, 0])
    })))

  it.effect("INV-001 mutant: without the trigger, raw UPDATE and DELETE go through (the check sees it)", () =>
    Effect.gen(function*() {
      const report = yield* Effect.gen(function*() {
        const store = yield* ServerStore.ServerStore
        const sql = yield* SqlClient.SqlClient
        const storeId = yield* ServerStoreConformance.freshStore(store)
        yield* store.append({ storeId, records: ServerStoreConformance.batch(storeId, [{ aggregateId: "a", version: 1 }]), receivedAt: 1 })
        yield* sql`DROP TRIGGER records_no_update_or_delete ON records`
        return yield* ServerStoreConformance.checks.rawMutationRefused(sql, storeId)
      }).pipe(Effect.provide(layerFresh(storeOn)))
      expect(report).toEqual({ updateRefused: false, deleteRefused: false })
    }))

  it.effect("refuses a database migrated by a newer server, and changes nothing", () =>
    Effect.gen(function*() {
      const outcome = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO cipherlog_migrations (migration_id, name) VALUES (${PgServerStore.latestMigration + 1}, ${"from_the_future"})`
        const refused = yield* Effect.flip(PgServerStore.migrate)
        const left = yield* sql<{ migration_id: number }>`SELECT migration_id FROM cipherlog_migrations ORDER BY migration_id`
        return { refused, left: left.map((m) => Number(m.migration_id)) }
      }).pipe(Effect.provide(layerFresh(storeOn)))
      const refused = outcome.refused
      expect([refused._tag, refused._tag === "MigrationError" ? refused.reason : "", outcome.left]).toEqual(["MigrationError", "bad-state", [1, 2, 3, 4, 5, 6]])
      expect(refused.message).toContain("migrated by a newer server (schema migration 6; this server knows up to 5)")
    }))

  it.effect("mutant: without the audit triggers, raw SQL rewrites the audit log (the check sees it)", () =>
    Effect.gen(function*() {
      const report = yield* Effect.gen(function*() {
        const store = yield* ServerStore.ServerStore
        const sql = yield* SqlClient.SqlClient
        const storeId = yield* ServerStoreConformance.freshStore(store)
        yield* sql`DROP TRIGGER audit_log_no_update_or_delete ON audit_log`
        return yield* ServerStoreConformance.checks.rawAuditMutationRefused(sql, storeId)
      }).pipe(Effect.provide(layerFresh(storeOn)))
      expect(report).toEqual({ updateRefused: false, deleteRefused: false })
    }))
})

class ProcessA extends Effect.Tag("test/ProcessA")<ProcessA, ServerStore.ServerStore>() {}
class ProcessB extends Effect.Tag("test/ProcessB")<ProcessB, ServerStore.ServerStore>() {}
