/**
 * The conformance suite of the ServerStore port: every adapter runs it
 * (`suite(name, layer)`), and `checks.*` expose each invariant check as a
 * function that reports what it found instead of asserting, so that mutant
 * tests can show each one failing on a deliberately broken store.
 *
 * @since 0.1.0
 */
import { Bytes, type StoreId, type UserId } from "@cipherlog/domain"
import { ServerStore } from "@cipherlog/server"
import { type Models, PullLines, type StoredRecord } from "@cipherlog/sync-api"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Either, FastCheck as fc, type Layer, Option, Queue } from "effect"
import * as Records from "./Records.js"

type Store = ServerStore.ServerStore

/**
 * @since 0.1.0
 */
export interface Options {
  /** The layer also provides the adapter's `SqlClient`: try raw UPDATE/DELETE of records (INV-001). */
  readonly rawSql?: boolean
  /** Property runs per property (default 15). */
  readonly runs?: number
}

const USER = "u-conformance" as UserId

/** A signed prekey with made-up key bytes (the store does not check signatures; clients do). */
const signedPrekey = (prekeyId: string, fill: number): Models.SignedPrekey => ({
  prekeyId, publicKey: new Uint8Array(32).fill(fill), createdAt: 1_700_000_000_000 + fill, signature: new Uint8Array(64).fill(fill)
})

const oneTimePrekey = (prekeyId: string, fill: number): Models.OneTimePrekey => ({
  prekeyId, publicKey: new Uint8Array(32).fill(fill % 256), signature: new Uint8Array(64).fill(fill % 256)
})

/**
 * Record texts a store must keep and serve, as `append` takes any text:
 * valid records (which travel verbatim as record lines), the same with line
 * breaks, and any text without NUL (PostgreSQL text cannot hold one).
 */
export const recordText: fc.Arbitrary<string> = fc.oneof(
  Records.spellingArb.map((spelling) =>
    Records.spelled({ storeId: "s", aggregateType: "Item", aggregateId: "a", version: 1, eventId: "0192f1c4-9a3b-7c2d-8e4f-0123456789ab", userId: USER }, spelling)
  ),
  fc.constantFrom("{\"a\":1}", "{\"a\":\n1}", "{\"a\":1}\r", " {}", "\"x\"", "{\"e\":\"\u00e9\ud83d\ude00\"}", "{\"q\":\"\\\"\"}", "{\"c\":\"\u2028\"}", ""),
  fc.string({ unit: "grapheme" }).filter((t) => !t.includes("\u0000"))
)

/** A fresh store owned by `USER`. */
export const freshStore = (store: Store) =>
  Effect.gen(function*() {
    const storeId = Records.freshId("s") as StoreId
    yield* store.createStore({ storeId, actor: USER, at: Date.now() })
    return storeId
  })

const incoming = (text: string, spec: { aggregateType: string; aggregateId: string; version: number; eventId: string }) => ({
  eventId: spec.eventId,
  aggregateType: spec.aggregateType,
  aggregateId: spec.aggregateId,
  version: spec.version,
  recordJson: text
})

/** A batch of records continuing aggregates, spelled as asked. */
const batchFor = (
  storeId: string,
  items: ReadonlyArray<{ readonly aggregateId: string; readonly version: number; readonly spelling?: Records.Spelling }>
) =>
  items.map((item) => {
    const spec = { storeId, aggregateType: "Item", aggregateId: item.aggregateId, version: item.version, eventId: Records.eventId(), userId: USER }
    return incoming(Records.spelled(spec, item.spelling ?? Records.canonicalSpelling), spec)
  })

/** Every record of a store, paged. */
export const readAll = (store: Store, storeId: StoreId, page = 1000) =>
  Effect.gen(function*() {
    const out: Array<StoredRecord> = []
    let after = 0
    for (;;) {
      const { head, records } = yield* store.readAfter({ storeId, after, limit: page })
      out.push(...records)
      // A short page is not the end (pages are also bounded by MAX_PAGE_CHARACTERS): the head is.
      if (records.length === 0 || records[records.length - 1]!.globalSequence >= head) return out
      after = records[records.length - 1]!.globalSequence
    }
  })

/**
 * The invariant checks.
 *
 * @since 0.1.0
 */
export const checks = {
  /**
   * INV-003: the log of a store — sequences 1..head, strictly increasing,
   * gapless — and pulls after random cursors return exactly what follows.
   * Returns the problems found (empty when the log is right).
   */
  sequence: (store: Store, storeId: StoreId, cursors: ReadonlyArray<number> = []) =>
    Effect.gen(function*() {
      const problems: Array<string> = []
      const log = yield* readAll(store, storeId, 7)
      const { head } = yield* store.readAfter({ storeId, after: 0, limit: 1 })
      log.forEach((r, i) => {
        if (r.globalSequence !== i + 1) problems.push(`position ${i + 1} holds sequence ${r.globalSequence}`)
      })
      if (head !== log.length) problems.push(`head ${head} but ${log.length} records`)
      const ids = new Set(log.map((r) => Records.eventIdOf(r.recordJson)))
      if (ids.size !== log.length) problems.push(`${log.length - ids.size} event ids stored twice`)
      for (const c of cursors) {
        const cursor = Math.min(c, log.length + 2)
        const limit = 1 + (c % 5)
        const { records } = yield* store.readAfter({ storeId, after: cursor, limit })
        const expected = log.slice(cursor, cursor + limit)
        if (JSON.stringify(records) !== JSON.stringify(expected)) problems.push(`pull after ${cursor} (limit ${limit}) differs`)
      }
      return problems
    }),

  /**
   * INV-004: appends the texts (each its own aggregate) and reads them back
   * through every read path (pull, by event id, by aggregate); returns how
   * many came back different.
   */
  bytesPreserved: (store: Store, storeId: StoreId, spellings: ReadonlyArray<Records.Spelling>) =>
    Effect.gen(function*() {
      const batch = batchFor(storeId, spellings.map((spelling) => ({ aggregateId: Records.freshId("a"), version: 1, spelling })))
      const outcome = yield* store.append({ storeId, records: batch, receivedAt: Date.now() })
      let changed = 0
      const log = yield* readAll(store, storeId)
      for (let i = 0; i < batch.length; i++) {
        const sent = batch[i]!
        const seq = outcome.results[i]!.globalSequence
        const pulled = log.find((r) => r.globalSequence === seq)
        const byId = Option.getOrUndefined(yield* store.findEvent(storeId, sent.eventId))
        const [byAggregate] = yield* store.readAggregate({ storeId, aggregateType: sent.aggregateType, aggregateId: sent.aggregateId, fromVersion: 1, limit: 10 })
        for (const got of [pulled?.recordJson, byId?.recordJson, byAggregate?.recordJson]) {
          if (got !== sent.recordJson) changed++
        }
      }
      return { sent: batch.length, changed }
    }),

  /**
   * The two read paths of a pull agree: appends `texts` (each its own
   * aggregate, any text), then for each cursor compares `readLinesAfter`,
   * decoded as a client decodes a record-lines answer, with `readAfter`.
   * Returns the problems found.
   */
  linesAgree: (store: Store, storeId: StoreId, texts: ReadonlyArray<string>, cursors: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const problems: Array<string> = []
      const batch = texts.map((text) => incoming(text, { aggregateType: "Item", aggregateId: Records.freshId("a"), version: 1, eventId: Records.eventId() }))
      if (batch.length > 0) yield* store.append({ storeId, records: batch, receivedAt: Date.now() })
      for (const c of [0, ...cursors]) {
        const after = Math.min(c, texts.length + 2)
        const limit = c === 0 ? 1000 : 1 + (c % 4)
        const rows = yield* store.readAfter({ storeId, after, limit })
        const lines = yield* store.readLinesAfter({ storeId, after, limit })
        const answer = Bytes.concat(...PullLines.encodeLines({ records: lines.records, head: lines.head, hasMore: false }))
        const decoded = PullLines.decodeBytes(answer)
        if (Either.isLeft(decoded)) {
          problems.push(`lines after ${after} (limit ${limit}) do not decode: ${decoded.left}`)
          continue
        }
        if (decoded.right.head !== rows.head) problems.push(`lines after ${after}: head ${decoded.right.head}, readAfter ${rows.head}`)
        if (JSON.stringify(decoded.right.records) !== JSON.stringify(rows.records)) {
          problems.push(`lines after ${after} (limit ${limit}) differ from readAfter`)
        }
      }
      return problems
    }),

  /**
   * Pages are bounded by `MAX_PAGE_CHARACTERS` of record text: appends
   * texts of the given lengths (each its own aggregate), then pulls after
   * every cursor with `limit` 1000, both as rows and as record lines. Each
   * page must be the longest run that fits (at least one record). Returns
   * the problems found.
   */
  pageBudget: (store: Store, storeId: StoreId, lengths: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const problems: Array<string> = []
      const texts = lengths.map((n, i) => `{"i":${i},"pad":"${"x".repeat(Math.max(0, n - 18 - String(i).length))}"}`)
      yield* store.append({
        storeId,
        records: texts.map((text) => incoming(text, { aggregateType: "Item", aggregateId: Records.freshId("a"), version: 1, eventId: Records.eventId() })),
        receivedAt: Date.now()
      })
      for (let after = 0; after < texts.length; after++) {
        let expected = 0
        let characters = 0
        while (after + expected < texts.length) {
          const next = texts[after + expected]!.length
          if (expected > 0 && characters + next > ServerStore.MAX_PAGE_CHARACTERS) break
          characters += next
          expected++
        }
        const rows = yield* store.readAfter({ storeId, after, limit: 1000 })
        const lines = yield* store.readLinesAfter({ storeId, after, limit: 1000 })
        const decoded = PullLines.decodeBytes(Bytes.concat(...PullLines.encodeLines({ records: lines.records, head: lines.head, hasMore: false })))
        const got = rows.records.map((r) => r.globalSequence)
        const want = Array.from({ length: expected }, (_, k) => after + k + 1)
        if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`page after ${after}: sequences ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
        if (rows.records.some((r, k) => r.recordJson !== texts[after + k])) problems.push(`page after ${after}: a text differs`)
        if (Either.isLeft(decoded) || JSON.stringify(decoded.right.records) !== JSON.stringify(rows.records)) {
          problems.push(`page after ${after}: the record lines differ from the rows`)
        }
      }
      return problems
    }),

  /**
   * INV-005: runs a retry schedule — each batch is sent `repeats[i]` times,
   * sometimes with records repeated inside the batch — then sends one event
   * id again with different bytes. Returns copies per event id, retries
   * answered with another sequence, and whether the mismatch was refused and
   * the stored text kept.
   */
  idempotency: (store: Store, storeId: StoreId, schedule: ReadonlyArray<{ readonly size: number; readonly repeats: number; readonly inner: boolean }>) =>
    Effect.gen(function*() {
      let wrongSequence = 0
      let refusedRetries = 0
      const sent: Array<ReturnType<typeof batchFor>[number]> = []
      for (const step of schedule) {
        const batch = batchFor(storeId, Array.from({ length: step.size }, () => ({ aggregateId: Records.freshId("a"), version: 1 })))
        sent.push(...batch)
        let first: ReadonlyArray<number> | undefined
        for (let r = 0; r < step.repeats; r++) {
          // `inner`: the batch carries each record twice; the second copy is a duplicate of the first.
          const records = step.inner ? [...batch, ...batch] : batch
          const result = yield* Effect.either(store.append({ storeId, records, receivedAt: Date.now() }))
          if (Either.isLeft(result)) {
            refusedRetries++
            continue
          }
          const results = result.right.results
          const seqs = results.slice(0, batch.length).map((x) => x.globalSequence)
          if (first === undefined) first = seqs
          else if (seqs.some((s, i) => s !== first![i])) wrongSequence++
          if (results.slice(0, batch.length).some((x) => x.duplicate !== r > 0)) wrongSequence++
          if (step.inner && results.slice(batch.length).some((x, i) => !x.duplicate || x.globalSequence !== seqs[i])) wrongSequence++
        }
      }
      const log = yield* readAll(store, storeId)
      const copies = new Map<string, number>()
      for (const r of log) {
        const id = Records.eventIdOf(r.recordJson)
        copies.set(id, (copies.get(id) ?? 0) + 1)
      }
      const duplicated = [...copies.values()].filter((n) => n > 1).length
      const missing = sent.filter((s) => !copies.has(s.eventId)).length
      // The same id with other bytes.
      const victim = sent[0]!
      const forged = { ...victim, recordJson: `${victim.recordJson} ` }
      const mismatch = yield* Effect.either(store.append({ storeId, records: [forged], receivedAt: Date.now() }))
      const mismatchRefused = Either.isLeft(mismatch) && mismatch.left._tag === "DuplicateEventMismatch"
      const kept = Option.getOrUndefined(yield* store.findEvent(storeId, victim.eventId))?.recordJson === victim.recordJson
      const logAfter = yield* readAll(store, storeId)
      return { duplicated, missing, wrongSequence, refusedRetries, mismatchRefused, kept, grew: logAfter.length - log.length }
    }),

  /**
   * INV-002: `writers` concurrent writers each make `appends` appends of
   * 1–3 records to random aggregates among `aggregates`, from their own view
   * of each aggregate's version; a lost race must be a VersionConflict whose
   * `missing` records are exactly the stored versions from the attempted one
   * on, and the writer rebases on them. Returns the problems found.
   */
  concurrentWriters: (
    store: Store,
    storeId: StoreId,
    plan: { readonly writers: number; readonly appends: number; readonly aggregates: number; readonly seed: number }
  ) =>
    Effect.gen(function*() {
      const problems: Array<string> = []
      let conflicts = 0
      let accepted = 0
      const aggregateIds = Array.from({ length: plan.aggregates }, (_, i) => `agg${i}`)
      let rng = plan.seed >>> 0
      const next = (n: number) => {
        rng = (Math.imul(rng, 1_103_515_245) + 12_345) >>> 0
        return rng % n
      }
      const writer = (w: number) =>
        Effect.gen(function*() {
          const known = new Map<string, number>()
          for (let i = 0; i < plan.appends; i++) {
            const aggregateId = aggregateIds[next(aggregateIds.length)]!
            const count = 1 + next(3)
            const from = (known.get(aggregateId) ?? 0) + 1
            const batch = batchFor(storeId, Array.from({ length: count }, (_, k) => ({ aggregateId, version: from + k })))
            const result = yield* Effect.either(store.append({ storeId, records: batch, receivedAt: Date.now() }))
            if (Either.isRight(result)) {
              accepted += count
              known.set(aggregateId, from + count - 1)
            } else if (result.left._tag === "VersionConflict") {
              conflicts++
              const e = result.left
              const versions = e.missing.map((r) => Records.versionOf(r.recordJson))
              const expectedCount = Math.max(0, e.actual - from + 1)
              if (e.aggregateId !== aggregateId || e.expected !== from - 1) problems.push(`writer ${w}: conflict names the wrong aggregate or version`)
              if (versions.length !== expectedCount || versions.some((v, k) => v !== from + k)) {
                problems.push(`writer ${w}: conflict at v${from} carries versions [${versions.join(",")}] for actual ${e.actual}`)
              }
              if (e.missing.some((r) => Records.aggregateOf(r.recordJson) !== `Item/${aggregateId}`)) {
                problems.push(`writer ${w}: conflict carries another aggregate's records`)
              }
              known.set(aggregateId, Math.max(known.get(aggregateId) ?? 0, e.actual))
            } else {
              problems.push(`writer ${w}: unexpected ${result.left._tag}`)
            }
            yield* Effect.yieldNow()
          }
        })
      yield* Effect.forEach(Array.from({ length: plan.writers }, (_, w) => w), writer, { concurrency: "unbounded", discard: true })
      const log = yield* readAll(store, storeId)
      const perAggregate = new Map<string, Array<number>>()
      for (const r of log) {
        const key = Records.aggregateOf(r.recordJson)
        const list = perAggregate.get(key) ?? []
        list.push(Records.versionOf(r.recordJson))
        perAggregate.set(key, list)
      }
      for (const [key, versions] of perAggregate) {
        if (versions.some((v, i) => v !== i + 1)) problems.push(`${key} holds versions [${versions.slice(0, 12).join(",")}…], not 1..n`)
      }
      if (log.length !== accepted) problems.push(`${accepted} records accepted but ${log.length} stored`)
      return { problems, conflicts, accepted }
    }),

  /**
   * INV-001: runs random operations (appends, retries, mismatching
   * duplicates, conflicts, reads, member and KEK changes) and after each
   * one compares every record stored so far with its first reading.
   * Returns how many stored records ever changed or vanished.
   */
  immutability: (store: Store, storeId: StoreId, ops: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const seen = new Map<number, string>()
      let changed = 0
      let aggregates = 0
      const sent: Array<ReturnType<typeof batchFor>[number]> = []
      for (const op of ops) {
        switch (op % 6) {
          case 0: {
            const batch = batchFor(storeId, [{ aggregateId: `i${aggregates++}`, version: 1 }, { aggregateId: `i${aggregates++}`, version: 1 }])
            sent.push(...batch)
            yield* store.append({ storeId, records: batch, receivedAt: Date.now() })
            break
          }
          case 1: {
            if (sent.length > 0) yield* Effect.either(store.append({ storeId, records: [sent[op % sent.length]!], receivedAt: Date.now() }))
            break
          }
          case 2: {
            if (sent.length > 0) {
              const victim = sent[op % sent.length]!
              const forged = { ...victim, recordJson: victim.recordJson.replace("TestEvent", "Forged") }
              yield* Effect.either(store.append({ storeId, records: [forged], receivedAt: Date.now() }))
            }
            break
          }
          case 3: {
            // A stale writer: version 1 again for an aggregate that has it.
            if (aggregates > 0) {
              yield* Effect.either(store.append({ storeId, records: batchFor(storeId, [{ aggregateId: `i${op % aggregates}`, version: 1 }]), receivedAt: Date.now() }))
            }
            break
          }
          case 4: {
            const versionId = Records.freshId("k")
            yield* Effect.either(store.createKekVersion({ storeId, versionId, reason: "test", blobs: [], actor: USER, at: Date.now() }))
            break
          }
          default: {
            yield* store.readAfter({ storeId, after: op % 5, limit: 3 })
          }
        }
        for (const r of yield* readAll(store, storeId)) {
          const first = seen.get(r.globalSequence)
          if (first === undefined) seen.set(r.globalSequence, r.recordJson)
          else if (first !== r.recordJson) changed++
        }
        const now = new Set((yield* readAll(store, storeId)).map((r) => r.globalSequence))
        for (const seq of seen.keys()) if (!now.has(seq)) changed++
      }
      return { records: seen.size, changed }
    }),

  /**
   * INV-001, below the port: raw UPDATE, DELETE of records through the
   * adapter's own SQL client. Returns which of them the database refused.
   */
  rawMutationRefused: (sql: SqlClient.SqlClient, storeId: StoreId) =>
    Effect.gen(function*() {
      const update = yield* Effect.either(sql`UPDATE records SET record_json = ${"{}"} WHERE store_id = ${storeId}`)
      const del = yield* Effect.either(sql`DELETE FROM records WHERE store_id = ${storeId}`)
      return { updateRefused: Either.isLeft(update), deleteRefused: Either.isLeft(del) }
    }),
  /**
   * Prekeys are single use: a fresh user publishes a signed prekey and
   * `prekeys` one-time prekeys; `claims` claims run concurrently, each by
   * its own claimer (so no rate limit applies), spread round-robin over
   * `stores` (several instances on one database: several server processes).
   * Reports every one-time prekey id handed out, how many were handed out
   * more than once, how many were never uploaded, and how many the first
   * store still counts as unclaimed.
   */
  prekeySingleUse: (stores: ReadonlyArray<Store>, storeId: StoreId, plan: { readonly prekeys: number; readonly claims: number }) =>
    Effect.gen(function*() {
      const first = stores[0]!
      const owner = Records.freshId("owner") as UserId
      yield* first.putSignedPrekey({ userId: owner, prekey: signedPrekey("spk-1", 1), at: Date.now() })
      const uploaded = Array.from({ length: plan.prekeys }, (_, i) => oneTimePrekey(`otk-${i}`, i))
      for (let i = 0; i < uploaded.length; i += 100) {
        yield* first.addOneTimePrekeys({ userId: owner, prekeys: uploaded.slice(i, i + 100), at: Date.now(), max: plan.prekeys })
      }
      const bundles = yield* Effect.forEach(
        Array.from({ length: plan.claims }, (_, i) => i),
        (i) =>
          stores[i % stores.length]!.claimPrekeys({
            storeId, userId: owner, actor: `claimer-${i}` as UserId, at: Date.now(), perWindow: 10, windowMs: 3600_000
          }),
        { concurrency: "unbounded" }
      )
      const handedOut = bundles.flatMap((b) => Option.isSome(b) && b.value.oneTimePrekey !== undefined ? [b.value.oneTimePrekey.prekeyId] : [])
      const known = new Set(uploaded.map((p) => p.prekeyId))
      return {
        handedOut,
        duplicates: handedOut.length - new Set(handedOut).size,
        unknown: handedOut.filter((id) => !known.has(id)).length,
        remaining: (yield* first.prekeyStatus(owner)).oneTimeCount
      }
    }),
  /** Tries raw SQL that un-claims and deletes claimed one-time prekeys; reports what the database refused. */
  rawPrekeyMutationRefused: (sql: SqlClient.SqlClient, userId: UserId) =>
    Effect.gen(function*() {
      const update = yield* Effect.either(sql`UPDATE one_time_prekeys SET claimed_at = NULL, claimed_by = NULL
        WHERE user_id = ${userId} AND claimed_at IS NOT NULL`)
      const del = yield* Effect.either(sql`DELETE FROM one_time_prekeys WHERE user_id = ${userId} AND claimed_at IS NOT NULL`)
      return { updateRefused: Either.isLeft(update), deleteRefused: Either.isLeft(del) }
    }),
  /** Tries raw SQL that rewrites and deletes a store's audit entries; reports what the database refused. */
  rawAuditMutationRefused: (sql: SqlClient.SqlClient, storeId: StoreId) =>
    Effect.gen(function*() {
      const update = yield* Effect.either(sql`UPDATE audit_log SET actor_user_id = ${"someone-else"} WHERE store_id = ${storeId}`)
      const del = yield* Effect.either(sql`DELETE FROM audit_log WHERE store_id = ${storeId}`)
      return { updateRefused: Either.isLeft(update), deleteRefused: Either.isLeft(del) }
    })
}

/** The operations of the port that touch records: none updates or deletes one. */
export const recordOperations = ["append", "readAfter", "readAggregate", "findEvent", "readLinesAfter", "subscribe"] as const

/**
 * Defines the suite for one adapter.
 *
 * @since 0.1.0
 */
export const suite = (
  name: string,
  storeLayer: Layer.Layer<ServerStore.ServerStore, unknown> | Layer.Layer<ServerStore.ServerStore | SqlClient.SqlClient, unknown>,
  options: Options = {}
): void => {
  const runs = options.runs ?? 15
  describe(`ServerStore conformance: ${name}`, () => {
    layer(storeLayer as Layer.Layer<ServerStore.ServerStore | SqlClient.SqlClient, unknown>, { timeout: "120 seconds" })((it) => {
      const store = ServerStore.ServerStore

      it.effect.prop(
        "INV-003 sequences are 1..head, gapless and strictly increasing; a pull after c returns exactly what follows c",
        [fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 8 }), fc.array(fc.nat({ max: 40 }), { maxLength: 8 })],
        ([sizes, cursors]) =>
          Effect.gen(function*() {
            const s = yield* store
            const storeId = yield* freshStore(s)
            let expectedHead = 0
            for (const size of sizes) {
              const outcome = yield* s.append({ storeId, records: batchFor(storeId, Array.from({ length: size }, () => ({ aggregateId: Records.freshId("a"), version: 1 }))), receivedAt: Date.now() })
              expect(outcome.results.map((r) => r.globalSequence)).toEqual(Array.from({ length: size }, (_, i) => expectedHead + i + 1))
              expectedHead += size
              expect(outcome.head).toBe(expectedHead)
            }
            expect(yield* checks.sequence(s, storeId, cursors)).toEqual([])
          }),
        { fastCheck: { numRuns: runs } }
      )

      it.effect.prop(
        "INV-004 records in any valid spelling (key order, white space, \\u escapes, number forms) come back byte for byte",
        [fc.array(Records.spellingArb, { minLength: 1, maxLength: 6 })],
        ([spellings]) =>
          Effect.gen(function*() {
            const s = yield* store
            const storeId = yield* freshStore(s)
            const { changed, sent } = yield* checks.bytesPreserved(s, storeId, spellings)
            expect(sent).toBe(spellings.length)
            expect(changed).toBe(0)
          }),
        { fastCheck: { numRuns: runs } }
      )

      it.effect.prop(
        "INV-004 a pull as record lines reads back what readAfter reads, whatever the texts (line breaks, quotes, non-ASCII)",
        [fc.array(recordText, { maxLength: 12 }), fc.array(fc.nat({ max: 14 }), { maxLength: 5 })],
        ([texts, cursors]) =>
          Effect.gen(function*() {
            const s = yield* store
            const storeId = yield* freshStore(s)
            expect(yield* checks.linesAgree(s, storeId, texts, cursors)).toEqual([])
          }),
        { fastCheck: { numRuns: runs } }
      )

      it.effect("a pull page holds at most MAX_PAGE_CHARACTERS of record text (at least one record), as rows and as lines", () =>
        Effect.gen(function*() {
          const s = yield* store
          const storeId = yield* freshStore(s)
          const third = Math.floor(ServerStore.MAX_PAGE_CHARACTERS / 3)
          // Pages: [1, 2] (a third record would pass the limit), [3], [4] alone although longer than the limit, [5, 6].
          const lengths = [third + 100, third + 100, third + 100, ServerStore.MAX_PAGE_CHARACTERS + 5, 100, 100]
          expect(yield* checks.pageBudget(s, storeId, lengths)).toEqual([])
          expect((yield* readAll(s, storeId)).length).toBe(lengths.length)
        }), { timeout: 60_000 })

      it.effect.prop(
        "INV-005 retries and in-batch repeats leave one copy with the original sequence; the same id with other bytes is refused",
        [fc.array(fc.record({ size: fc.integer({ min: 1, max: 4 }), repeats: fc.integer({ min: 1, max: 3 }), inner: fc.boolean() }), { minLength: 1, maxLength: 5 })],
        ([schedule]) =>
          Effect.gen(function*() {
            const s = yield* store
            const storeId = yield* freshStore(s)
            const report = yield* checks.idempotency(s, storeId, schedule)
            expect(report).toEqual({ duplicated: 0, missing: 0, wrongSequence: 0, refusedRetries: 0, mismatchRefused: true, kept: true, grew: 0 })
          }),
        { fastCheck: { numRuns: runs } }
      )

      it.effect.prop(
        "INV-002 concurrent writers: every aggregate ends 1..n, every lost race is a conflict carrying exactly the missing records",
        [fc.integer({ min: 2, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.nat()],
        ([writers, aggregates, seed]) =>
          Effect.gen(function*() {
            const s = yield* store
            const storeId = yield* freshStore(s)
            const report = yield* checks.concurrentWriters(s, storeId, { writers, appends: 6, aggregates, seed })
            expect(report.problems).toEqual([])
            expect(report.accepted).toBeGreaterThan(0)
            expect(yield* checks.sequence(s, storeId)).toEqual([])
          }),
        { fastCheck: { numRuns: runs } }
      )

      it.effect.prop(
        "INV-001 random operation sequences never change or remove a stored record",
        [fc.array(fc.nat({ max: 1000 }), { minLength: 4, maxLength: 24 })],
        ([ops]) =>
          Effect.gen(function*() {
            const s = yield* store
            const storeId = yield* freshStore(s)
            const { changed, records } = yield* checks.immutability(s, storeId, [0, ...ops])
            expect(records).toBeGreaterThan(0)
            expect(changed).toBe(0)
          }),
        { fastCheck: { numRuns: runs } }
      )

      it.effect("INV-001 the port has no operation that updates or deletes a record", () =>
        Effect.gen(function*() {
          const s = yield* store
          const names = Object.keys(s)
          const recordish = names.filter((n) => /record|append|read|event|subscribe/i.test(n))
          expect(recordish.sort()).toEqual([...recordOperations].sort())
        }))

      if (options.rawSql === true) {
        it.effect("INV-001 the database itself refuses UPDATE and DELETE of records (triggers)", () =>
          Effect.gen(function*() {
            const s = yield* store
            const sql = yield* SqlClient.SqlClient
            const storeId = yield* freshStore(s)
            yield* s.append({ storeId, records: batchFor(storeId, [{ aggregateId: "a", version: 1 }]), receivedAt: Date.now() })
            const before = yield* readAll(s, storeId)
            expect(yield* checks.rawMutationRefused(sql, storeId)).toEqual({ updateRefused: true, deleteRefused: true })
            expect(yield* readAll(s, storeId)).toEqual(before)
          }))

        it.effect("the database itself keeps the audit log append-only (triggers)", () =>
          Effect.gen(function*() {
            const s = yield* store
            const sql = yield* SqlClient.SqlClient
            const storeId = yield* freshStore(s)
            const before = yield* s.listAudit({ storeId, after: 0, limit: 100 })
            expect(before.length).toBeGreaterThan(0)
            expect(yield* checks.rawAuditMutationRefused(sql, storeId)).toEqual({ updateRefused: true, deleteRefused: true })
            expect(yield* s.listAudit({ storeId, after: 0, limit: 100 })).toEqual(before)
          }))
      }

      it.effect("a version conflict carries the stored records from the conflicting version on, and nothing of the batch is stored", () =>
        Effect.gen(function*() {
          const s = yield* store
          const storeId = yield* freshStore(s)
          const first = batchFor(storeId, [{ aggregateId: "a", version: 1 }, { aggregateId: "a", version: 2 }, { aggregateId: "a", version: 3 }])
          yield* s.append({ storeId, records: first, receivedAt: 1000 })
          const stale = batchFor(storeId, [{ aggregateId: "b", version: 1 }, { aggregateId: "a", version: 2 }])
          const error = yield* Effect.flip(s.append({ storeId, records: stale, receivedAt: 2000 }))
          expect(error._tag).toBe("VersionConflict")
          if (error._tag !== "VersionConflict") return
          expect({ aggregateId: error.aggregateId, expected: error.expected, actual: error.actual }).toEqual({ aggregateId: "a", expected: 1, actual: 3 })
          expect(error.missing.map((r) => [r.globalSequence, r.recordJson, r.receivedAt])).toEqual([[2, first[1]!.recordJson, 1000], [3, first[2]!.recordJson, 1000]])
          expect((yield* readAll(s, storeId)).length).toBe(3)
          // A gap (v5 after v3) is a conflict too, with nothing missing.
          const gap = yield* Effect.flip(s.append({ storeId, records: batchFor(storeId, [{ aggregateId: "a", version: 5 }]), receivedAt: 3000 }))
          expect(gap._tag === "VersionConflict" && [gap.expected, gap.actual, gap.missing.length]).toEqual([4, 3, 0])
          // A batch that breaks its own sequence is refused whole, as a bad record of the batch (not a conflict:
          // nothing stored is missing, so pulling and rebasing could not fix it).
          const broken = yield* Effect.flip(s.append({ storeId, records: batchFor(storeId, [{ aggregateId: "c", version: 1 }, { aggregateId: "c", version: 3 }]), receivedAt: 3000 }))
          expect(broken._tag === "InvalidRecord" && broken.index).toBe(1)
          expect((yield* readAll(s, storeId)).length).toBe(3)
        }))

      it.effect("a subscriber is told about appends to a store (long-poll wake-up)", () =>
        Effect.scoped(Effect.gen(function*() {
          const s = yield* store
          const storeId = yield* freshStore(s)
          const heads = yield* s.subscribe
          yield* s.append({ storeId, records: batchFor(storeId, [{ aggregateId: "a", version: 1 }, { aggregateId: "b", version: 1 }]), receivedAt: 1 })
          const got = yield* Effect.iterate(Option.none<ServerStore.StoreHead>(), {
            while: (h) => Option.isNone(h),
            body: () => Effect.map(Queue.take(heads), (h) => (h.storeId === storeId ? Option.some(h) : Option.none()))
          }).pipe(Effect.timeout("5 seconds"))
          expect(Option.getOrThrow(got)).toEqual({ storeId, head: 2 })
        })))

      it.effect("users: registration is idempotent for identical keys and refused for others; challenges are single use", () =>
        Effect.gen(function*() {
          const s = yield* store
          const userId = Records.freshId("u") as UserId
          const keys = { userId, signingPublicKey: new Uint8Array(32).fill(1), encryptionPublicKey: new Uint8Array(32).fill(2), registeredAt: 5 }
          expect((yield* s.registerUser(keys)).created).toBe(true)
          const again = yield* s.registerUser({ ...keys, registeredAt: 6 })
          expect(again.created).toBe(false)
          expect(again.user.registeredAt).toBe(5)
          const other = yield* Effect.flip(s.registerUser({ ...keys, encryptionPublicKey: new Uint8Array(32).fill(3) }))
          expect(other._tag).toBe("UserKeysMismatch")
          expect(Option.getOrThrow(yield* s.getUser(userId)).signingPublicKey).toEqual(keys.signingPublicKey)
          const challengeId = Records.freshId("c")
          yield* s.putChallenge({ challengeId, userId, nonce: new Uint8Array(32).fill(9), expiresAt: Date.now() + 60_000 }, Date.now())
          expect(Option.getOrThrow(yield* s.takeChallenge(challengeId)).nonce).toEqual(new Uint8Array(32).fill(9))
          expect(Option.isNone(yield* s.takeChallenge(challengeId))).toBe(true)
          const tokenHash = Records.freshId("h")
          yield* s.putSession({ tokenHash, userId, createdAt: 1, expiresAt: Date.now() + 60_000 })
          expect(Option.getOrThrow(yield* s.getSession(tokenHash)).userId).toBe(userId)
          // Expired sessions are forgotten when the next challenge is stored.
          const stale = Records.freshId("h")
          yield* s.putSession({ tokenHash: stale, userId, createdAt: 1, expiresAt: 2 })
          yield* s.putChallenge({ challengeId: Records.freshId("c"), userId, nonce: new Uint8Array(32), expiresAt: Date.now() + 1000 }, Date.now())
          expect(Option.isNone(yield* s.getSession(stale))).toBe(true)
        }))

      it.effect("sessions: ending one (a logout) removes exactly that session; the user's others stay", () =>
        Effect.gen(function*() {
          const s = yield* store
          const userId = Records.freshId("u") as UserId
          yield* s.registerUser({ userId, signingPublicKey: new Uint8Array(32).fill(1), encryptionPublicKey: new Uint8Array(32).fill(2), registeredAt: 5 })
          const [ended, kept] = [Records.freshId("h"), Records.freshId("h")]
          for (const tokenHash of [ended, kept]) yield* s.putSession({ tokenHash, userId, createdAt: 1, expiresAt: Date.now() + 60_000 })
          expect(yield* s.endSession(ended)).toBe(true)
          expect(Option.isNone(yield* s.getSession(ended))).toBe(true)
          expect(Option.getOrThrow(yield* s.getSession(kept)).userId).toBe(userId)
          // Ending it again, or a session never started, changes nothing.
          expect(yield* s.endSession(ended)).toBe(false)
          expect(yield* s.endSession(Records.freshId("h"))).toBe(false)
          expect(Option.isSome(yield* s.getSession(kept))).toBe(true)
        }))

      it.effect("members: roles, the last admin stays, unknown users are refused, every change is audited", () =>
        Effect.gen(function*() {
          const s = yield* store
          const storeId = yield* freshStore(s)
          const bob = Records.freshId("bob") as UserId
          expect((yield* Effect.flip(s.putMember({ storeId, userId: bob, role: "member", actor: USER, at: 2 })))._tag).toBe("Unprocessable")
          yield* s.registerUser({ userId: bob, signingPublicKey: new Uint8Array(32), encryptionPublicKey: new Uint8Array(32), registeredAt: 1 })
          yield* s.putMember({ storeId, userId: bob, role: "reader", actor: USER, at: 3 })
          expect(Option.getOrThrow(yield* s.getRole(storeId, bob))).toBe("reader")
          expect((yield* s.listMembers(storeId)).map((m) => [m.userId, m.role]).sort()).toEqual([[bob, "reader"], [USER, "admin"]].sort())
          expect((yield* Effect.flip(s.removeMember({ storeId, userId: USER, actor: USER, at: 4 })))._tag).toBe("LastAdmin")
          yield* s.registerUser({ userId: USER, signingPublicKey: new Uint8Array(32), encryptionPublicKey: new Uint8Array(32), registeredAt: 1 }).pipe(Effect.ignore)
          expect((yield* Effect.flip(s.putMember({ storeId, userId: USER, role: "member", actor: USER, at: 4 })))._tag).toBe("LastAdmin")
          yield* s.putMember({ storeId, userId: bob, role: "admin", actor: USER, at: 5 })
          yield* s.removeMember({ storeId, userId: USER, actor: bob, at: 6 })
          expect(Option.isNone(yield* s.getRole(storeId, USER))).toBe(true)
          expect((yield* Effect.flip(s.removeMember({ storeId, userId: USER, actor: bob, at: 7 })))._tag).toBe("NotFound")
          expect((yield* Effect.flip(s.createStore({ storeId, actor: bob, at: 8 })))._tag).toBe("StoreExists")
          const audit = yield* s.listAudit({ storeId, after: 0, limit: 100 })
          expect(audit.map((a) => [a.seq, a.action, a.targetUserId, a.role])).toEqual([
            [1, "store.create", USER, "admin"],
            [2, "member.put", bob, "reader"],
            [3, "member.put", bob, "admin"],
            [4, "member.remove", USER, undefined]
          ])
          expect(audit[3]!.actorUserId).toBe(bob)
          expect((yield* s.listAudit({ storeId, after: 2, limit: 1 })).map((a) => a.seq)).toEqual([3])
        }))

      it.effect("KEK versions and blobs: one active version, statuses move forward only, rotation covers exactly the remaining members, leaving members' blobs are deleted, reads are audited", () =>
        Effect.gen(function*() {
          const s = yield* store
          const storeId = yield* freshStore(s)
          const [bob, carol] = [Records.freshId("bob") as UserId, Records.freshId("carol") as UserId]
          for (const userId of [bob, carol, USER]) {
            yield* s.registerUser({ userId, signingPublicKey: new Uint8Array(32), encryptionPublicKey: new Uint8Array(32), registeredAt: 1 }).pipe(Effect.ignore)
          }
          yield* s.putMember({ storeId, userId: bob, role: "member", actor: USER, at: 2 })
          const blob = (n: number) => "QUJD".repeat(n)
          expect(Option.isNone(yield* s.activeKekVersion(storeId))).toBe(true)
          const strangers = yield* Effect.flip(s.createKekVersion({ storeId, versionId: "v1", reason: "r", blobs: [{ userId: carol, blob: blob(1) }], actor: USER, at: 3 }))
          expect(strangers._tag === "Unprocessable" && strangers.reason).toBe("not-a-member")
          const v1 = yield* s.createKekVersion({ storeId, versionId: "v1", reason: "first", blobs: [{ userId: USER, blob: blob(1) }, { userId: bob, blob: blob(2) }], actor: USER, at: 3 })
          expect(v1.status).toBe("active")
          expect((yield* Effect.flip(s.createKekVersion({ storeId, versionId: "v1", reason: "again", blobs: [], actor: USER, at: 4 })))._tag).toBe("KekVersionExists")
          yield* s.createKekVersion({ storeId, versionId: "v2", reason: "second", blobs: [{ userId: USER, blob: blob(3) }], actor: USER, at: 4 })
          const statuses = () => Effect.map(s.listKekVersions(storeId), (vs) => vs.map((v) => [v.versionId, v.status]))
          expect(yield* statuses()).toEqual([["v1", "decrypt-only"], ["v2", "active"]])
          // Statuses move forward only: never back to active (INV-015), the active one is replaced, not set aside.
          const reactivate = yield* Effect.flip(s.setKekStatus({ storeId, versionId: "v1", status: "active", actor: USER, at: 5 }))
          expect(reactivate._tag === "Unprocessable" && reactivate.reason).toBe("status-transition")
          const setAside = yield* Effect.flip(s.setKekStatus({ storeId, versionId: "v2", status: "deprecated", actor: USER, at: 5 }))
          expect(setAside._tag === "Unprocessable" && setAside.reason).toBe("status-transition")
          expect(yield* statuses()).toEqual([["v1", "decrypt-only"], ["v2", "active"]])
          expect((yield* s.setKekStatus({ storeId, versionId: "v1", status: "deprecated", actor: USER, at: 6 })).status).toBe("deprecated")
          expect((yield* s.setKekStatus({ storeId, versionId: "v1", status: "decrypt-only", actor: USER, at: 6 })).status).toBe("decrypt-only")
          expect((yield* s.setKekStatus({ storeId, versionId: "v2", status: "active", actor: USER, at: 6 })).status).toBe("active") // unchanged, not audited
          expect((yield* Effect.flip(s.setKekStatus({ storeId, versionId: "nope", status: "active", actor: USER, at: 6 })))._tag).toBe("NotFound")
          // Rotation: remove bob; blobs must cover exactly the remaining members.
          const missing = yield* Effect.flip(s.rotateKek({ storeId, versionId: "v3", reason: "remove bob", removeUserIds: [bob], blobs: [], actor: USER, at: 7 }))
          expect(missing._tag === "Unprocessable" && [missing.reason, missing.userIds]).toEqual(["blobs-mismatch", [USER]])
          const extra = yield* Effect.flip(s.rotateKek({ storeId, versionId: "v3", reason: "remove bob", removeUserIds: [bob], blobs: [{ userId: USER, blob: blob(4) }, { userId: bob, blob: blob(4) }], actor: USER, at: 7 }))
          expect(extra._tag === "Unprocessable" && [extra.reason, extra.userIds]).toEqual(["blobs-mismatch", [bob]])
          const lastAdmin = yield* Effect.flip(s.rotateKek({ storeId, versionId: "v3", reason: "x", removeUserIds: [USER], blobs: [{ userId: bob, blob: blob(4) }], actor: USER, at: 7 }))
          expect(lastAdmin._tag).toBe("LastAdmin")
          expect(Option.getOrThrow(yield* s.getRole(storeId, bob))).toBe("member")
          const rotated = yield* s.rotateKek({ storeId, versionId: "v3", reason: "remove bob", removeUserIds: [bob], blobs: [{ userId: USER, blob: blob(5) }], actor: USER, at: 8 })
          expect([rotated.version.status, rotated.removedUserIds]).toEqual(["active", [bob]])
          expect(Option.isNone(yield* s.getRole(storeId, bob))).toBe(true)
          expect(yield* statuses()).toEqual([["v1", "decrypt-only"], ["v2", "decrypt-only"], ["v3", "active"]])
          // bob's blobs went with his membership.
          expect(yield* s.listBlobs({ storeId, userId: bob, actor: USER, at: 8 })).toEqual([])
          expect(Option.getOrThrow(yield* s.activeKekVersion(storeId)).versionId).toBe("v3")
          // Blobs: provision, replace, read, delete.
          expect((yield* Effect.flip(s.putBlob({ storeId, versionId: "v3", userId: bob, blob: blob(1), actor: USER, at: 9 })))._tag).toBe("Unprocessable")
          expect((yield* Effect.flip(s.putBlob({ storeId, versionId: "v9", userId: USER, blob: blob(1), actor: USER, at: 9 })))._tag).toBe("NotFound")
          yield* s.putBlob({ storeId, versionId: "v2", userId: USER, blob: blob(6), actor: USER, at: 9 })
          const mine = yield* s.listBlobs({ storeId, userId: USER, actor: USER, at: 10 })
          expect(mine.map((b) => [b.versionId, b.blob]).sort()).toEqual([["v1", blob(1)], ["v2", blob(6)], ["v3", blob(5)]])
          expect(Option.getOrThrow(yield* s.getBlob({ storeId, userId: USER, versionId: "v1", actor: USER, at: 11 })).blob).toBe(blob(1))
          yield* s.deleteBlob({ storeId, userId: USER, versionId: "v1", actor: USER, at: 12 })
          expect(Option.isNone(yield* s.getBlob({ storeId, userId: USER, versionId: "v1", actor: USER, at: 13 }))).toBe(true)
          expect((yield* Effect.flip(s.deleteBlob({ storeId, userId: USER, versionId: "v1", actor: USER, at: 14 })))._tag).toBe("NotFound")
          // Removing a member (not by rotation) deletes their blobs too.
          yield* s.putMember({ storeId, userId: carol, role: "reader", actor: USER, at: 15 })
          yield* s.putBlob({ storeId, versionId: "v3", userId: carol, blob: blob(7), actor: USER, at: 15 })
          yield* s.removeMember({ storeId, userId: carol, actor: USER, at: 16 })
          expect(yield* s.listBlobs({ storeId, userId: carol, actor: USER, at: 17 })).toEqual([])
          const actions = (yield* s.listAudit({ storeId, after: 0, limit: 100 })).map((a) => a.action)
          expect(actions).toEqual([
            "store.create", "member.put",
            "kek.version.create", "kek.blob.provision", "kek.blob.provision",
            "kek.version.create", "kek.blob.provision",
            "kek.version.status", "kek.version.status",
            "member.remove", "kek.blob.delete", "kek.rotate", "kek.blob.provision",
            "kek.blob.read",
            "kek.blob.provision", "kek.blob.read", "kek.blob.read", "kek.blob.delete",
            "member.put", "kek.blob.provision", "member.remove", "kek.blob.delete", "kek.blob.read"
          ])
          const audit = yield* s.listAudit({ storeId, after: 0, limit: 100 })
          expect(audit.filter((a) => a.action === "kek.blob.delete").map((a) => [a.targetUserId, a.versionId])).toEqual([
            [bob, "v1"], [USER, "v1"], [carol, "v3"]
          ])
          expect(JSON.stringify(audit)).not.toContain(blob(2))
        }))

      it.effect("recovery material: the first writer owns a locator; only it can replace the blob", () =>
        Effect.gen(function*() {
          const s = yield* store
          const locator = Records.freshId("loc")
          const [alice, mallory] = [Records.freshId("alice") as UserId, Records.freshId("mallory") as UserId]
          expect(Option.isNone(yield* s.getRecovery(locator))).toBe(true)
          yield* s.putRecovery({ locator, userId: alice, blob: "QUFB", at: 1 })
          expect((yield* Effect.flip(s.putRecovery({ locator, userId: mallory, blob: "QkJC", at: 2 })))._tag).toBe("Forbidden")
          expect(Option.getOrThrow(yield* s.getRecovery(locator))).toBe("QUFB")
          yield* s.putRecovery({ locator, userId: alice, blob: "Q0ND", at: 3 })
          expect(Option.getOrThrow(yield* s.getRecovery(locator))).toBe("Q0ND")
        }))

      it.effect("prekeys: a one-time prekey is handed out at most once, even to concurrent claims; then bundles carry the signed prekey alone", () =>
        Effect.gen(function*() {
          const s = yield* store
          const storeId = yield* freshStore(s)
          const report = yield* checks.prekeySingleUse([s], storeId, { prekeys: 25, claims: 40 })
          expect([report.handedOut.length, report.duplicates, report.unknown, report.remaining]).toEqual([25, 0, 0, 0])
        }))

      it.effect("prekeys: status, signed prekey replaced, ids usable once ever, the unclaimed limit, the per-claimer rate, audited claims", () =>
        Effect.gen(function*() {
          const s = yield* store
          const storeId = yield* freshStore(s)
          const bob = Records.freshId("bob") as UserId
          const admin = Records.freshId("admin") as UserId
          expect(yield* s.prekeyStatus(bob)).toEqual({ oneTimeCount: 0 })
          expect(Option.isNone(yield* s.claimPrekeys({ storeId, userId: bob, actor: admin, at: 1, perWindow: 2, windowMs: 1000 }))).toBe(true)
          yield* s.putSignedPrekey({ userId: bob, prekey: signedPrekey("spk-a", 1), at: 1 })
          expect(yield* s.putSignedPrekey({ userId: bob, prekey: signedPrekey("spk-b", 2), at: 2 })).toEqual({
            signedPrekey: { prekeyId: "spk-b", createdAt: 1_700_000_000_002 }, oneTimeCount: 0
          })
          const upload = (ids: ReadonlyArray<string>, max = 5) =>
            s.addOneTimePrekeys({ userId: bob, prekeys: ids.map((id, i) => oneTimePrekey(id, i)), at: 3, max })
          expect((yield* upload(["o1", "o2", "o3"])).oneTimeCount).toBe(3)
          const refusal = (e: Effect.Effect<unknown, { readonly _tag: string; readonly reason?: string }>) =>
            Effect.map(Effect.flip(e), (x) => `${x._tag}:${x.reason ?? ""}`)
          expect(yield* refusal(upload(["o4", "o4"]))).toBe("Unprocessable:duplicate-prekey")
          expect(yield* refusal(upload(["o3"]))).toBe("Unprocessable:duplicate-prekey")
          expect(yield* refusal(upload(["o4", "o5", "o6"]))).toBe("Unprocessable:prekey-limit")
          expect((yield* s.prekeyStatus(bob)).oneTimeCount).toBe(3)
          // The oldest first; the claimer's rate (2 per window) then leaves the one-time prekey out.
          const claim = (actor: UserId, at: number) =>
            Effect.map(s.claimPrekeys({ storeId, userId: bob, actor, at, perWindow: 2, windowMs: 1000 }), (b) => {
              const bundle = Option.getOrThrow(b)
              return [bundle.userId, bundle.signedPrekey.prekeyId, bundle.oneTimePrekey?.prekeyId ?? "-"]
            })
          expect(yield* claim(admin, 10)).toEqual([bob, "spk-b", "o1"])
          expect(yield* claim(admin, 11)).toEqual([bob, "spk-b", "o2"])
          expect(yield* claim(admin, 12)).toEqual([bob, "spk-b", "-"])
          expect((yield* s.prekeyStatus(bob)).oneTimeCount).toBe(1)
          expect(yield* claim(USER, 13)).toEqual([bob, "spk-b", "o3"])
          expect(yield* claim(admin, 1011)).toEqual([bob, "spk-b", "-"])
          // A claimed id stays taken.
          expect(yield* refusal(upload(["o1"]))).toBe("Unprocessable:duplicate-prekey")
          const audit = (yield* s.listAudit({ storeId, after: 0, limit: 100 })).filter((a) => a.action === "prekey.claim")
          expect(audit.map((a) => [a.actorUserId, a.targetUserId])).toEqual([[admin, bob], [admin, bob], [admin, bob], [USER, bob], [admin, bob]])
        }))

      if (options.rawSql === true) {
        it.effect("the database itself keeps a claimed one-time prekey claimed (triggers)", () =>
          Effect.gen(function*() {
            const s = yield* store
            const sql = yield* SqlClient.SqlClient
            const storeId = yield* freshStore(s)
            const bob = Records.freshId("bob") as UserId
            yield* s.putSignedPrekey({ userId: bob, prekey: signedPrekey("spk", 1), at: 1 })
            yield* s.addOneTimePrekeys({ userId: bob, prekeys: [oneTimePrekey("o1", 1)], at: 1, max: 10 })
            yield* s.claimPrekeys({ storeId, userId: bob, actor: USER, at: 2, perWindow: 10, windowMs: 1000 })
            expect(yield* checks.rawPrekeyMutationRefused(sql, bob)).toEqual({ updateRefused: true, deleteRefused: true })
            expect((yield* s.prekeyStatus(bob)).oneTimeCount).toBe(0)
          }))
      }

      it.effect("INV-007 identity rotations: the chain grows from the current key only; replays, forks and stale keys are refused; keys, sessions and audit follow", () =>
        Effect.gen(function*() {
          const s = yield* store
          const userId = Records.freshId("rot") as UserId
          const key = (n: number) => new Uint8Array(32).fill(n)
          const sig = (n: number) => new Uint8Array(64).fill(n)
          const statement = (
            old: number,
            next: number,
            kind: "planned" | "emergency",
            at: number,
            window = 0
          ): Models.IdentityRotation => ({
            userId, kind, oldSigningPublicKey: key(old), newSigningPublicKey: key(next), newEncryptionPublicKey: key(next + 100),
            rotatedAt: at, migrationUntil: at + (kind === "emergency" ? 0 : window), oldSignature: sig(old), newSignature: sig(next)
          })
          expect((yield* Effect.flip(s.rotateIdentity({ statement: statement(1, 2, "planned", 10), at: 10 })))._tag).toBe("NotFound")
          yield* s.registerUser({ userId, signingPublicKey: key(1), encryptionPublicKey: key(101), registeredAt: 5 })
          const storeId = yield* freshStore(s)
          yield* s.putMember({ storeId, userId, role: "member", actor: USER, at: 6 })
          const now = Date.now()
          const [live, other] = [Records.freshId("h"), Records.freshId("h")]
          yield* s.putSession({ tokenHash: live, userId, createdAt: 1, expiresAt: now + 3_600_000 })
          yield* s.putSession({ tokenHash: other, userId: USER, createdAt: 1, expiresAt: now + 3_600_000 })
          // Genesis before any rotation is the registration.
          const before = Option.getOrThrow(yield* s.identityChain(userId))
          expect(before.genesis.signingPublicKey).toEqual(key(1))
          expect(before.rotations).toEqual([])
          // A planned rotation: keys move, sessions end at the window's end.
          const first = statement(1, 2, "planned", 20, now + 60_000 - 20)
          const rotated = yield* s.rotateIdentity({ statement: first, at: 20 })
          expect(rotated.seq).toBe(1)
          expect(rotated.user.signingPublicKey).toEqual(key(2))
          expect(Option.getOrThrow(yield* s.getUser(userId)).encryptionPublicKey).toEqual(key(102))
          expect(Option.getOrThrow(yield* s.getSession(live)).expiresAt).toBe(now + 60_000)
          // Replayed, forked, stale: refused, nothing changed.
          const conflict = (st: Models.IdentityRotation) =>
            Effect.map(Effect.flip(s.rotateIdentity({ statement: st, at: 30 })), (e) => (e._tag === "RotationConflict" ? e.reason : e._tag))
          expect(yield* conflict(first)).toBe("replayed")
          expect(yield* conflict(statement(1, 9, "emergency", 30))).toBe("forked")
          expect(yield* conflict(statement(7, 8, "emergency", 30))).toBe("stale")
          expect((yield* Effect.flip(s.rotateIdentity({ statement: statement(2, 3, "emergency", 19), at: 30 })))._tag).toBe("InvalidRotation")
          expect(Option.getOrThrow(yield* s.identityChain(userId)).rotations.length).toBe(1)
          // An emergency rotation: every session of the user ends; other users' stay.
          yield* s.rotateIdentity({ statement: statement(2, 3, "emergency", 40), at: 40 })
          expect(Option.isNone(yield* s.getSession(live))).toBe(true)
          expect(Option.isSome(yield* s.getSession(other))).toBe(true)
          const chain = Option.getOrThrow(yield* s.identityChain(userId))
          expect(chain.genesis).toEqual({ signingPublicKey: key(1), encryptionPublicKey: key(101), registeredAt: 5 })
          expect(chain.rotations.map((r) => [r.kind, r.oldSigningPublicKey[0], r.newSigningPublicKey[0], r.rotatedAt])).toEqual([
            ["planned", 1, 2, 20],
            ["emergency", 2, 3, 40]
          ])
          expect(chain.rotations[0]).toEqual(first)
          // Re-registering the genesis keys is refused: the user has other keys now.
          expect((yield* Effect.flip(s.registerUser({ userId, signingPublicKey: key(1), encryptionPublicKey: key(101), registeredAt: 50 })))._tag)
            .toBe("UserKeysMismatch")
          const audit = yield* s.listAudit({ storeId, after: 0, limit: 100 })
          expect(audit.filter((a) => a.action === "identity.rotate").map((a) => [a.actorUserId, a.targetUserId, a.reason])).toEqual([
            [userId, userId, "planned"],
            [userId, userId, "emergency"]
          ])
          expect(Option.isNone(yield* s.identityChain(Records.freshId("nobody") as UserId))).toBe(true)
        }))

      it.effect("ping succeeds on a migrated store", () => Effect.flatMap(store, (s) => s.ping))
    })
  })
}

/** For adapters' own tests: a record batch continuing aggregates. */
export const batch = batchFor
