/**
 * Each invariant check of the kit, run against a deliberately broken store:
 * the check must report the breakage (the suite requires the same checks to
 * pass on every real adapter, memory included — shown here too).
 */
import type { StoreId } from "@cipherlog/domain"
import { ServerStore } from "@cipherlog/server"
import { DuplicateEventMismatch, type Models, type StoredRecord, VersionConflict } from "@cipherlog/sync-api"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, PubSub } from "effect"
import { Records, ServerStoreConformance } from "../src/index.js"

const { checks } = ServerStoreConformance

interface Bugs {
  /** Stores `JSON.stringify(JSON.parse(text))` instead of the text. */
  readonly reserialize?: boolean
  /** Accepts any version: no contiguity check. */
  readonly skipContiguity?: boolean
  /** Gives every record of a batch the same sequence number. */
  readonly reuseSequence?: boolean
  /** Skips a sequence number after each batch. */
  readonly gaps?: boolean
  /** Stores a re-sent event id again instead of acknowledging it. */
  readonly storeRetries?: boolean
  /** Replaces the stored record when an event id comes back with other bytes. */
  readonly overwriteDuplicates?: boolean
  /** Answers a pull as record lines by joining the texts, without checking each may travel verbatim. */
  readonly joinLinesBlindly?: boolean
  /** Hands out the oldest one-time prekey without marking it claimed (check-then-act without the claim). */
  readonly reuseOneTimePrekeys?: boolean
}

interface Row extends StoredRecord {
  readonly eventId: string
  readonly aggregate: string
  readonly version: number
}

/** A naive record store with the given bugs; everything else is the real memory store. */
const mutant = (bugs: Bugs) =>
  Effect.gen(function*() {
    const base = yield* ServerStore.makeMemory
    const logs = new Map<string, Array<Row>>()
    const heads = yield* PubSub.unbounded<ServerStore.StoreHead>()
    const log = (storeId: string) => logs.get(storeId) ?? logs.set(storeId, []).get(storeId)!
    const unclaimed = new Map<string, Array<Models.OneTimePrekey>>()
    const stored = (r: Row): StoredRecord => ({ globalSequence: r.globalSequence, receivedAt: r.receivedAt, recordJson: r.recordJson })
    const readAfter: ServerStore.ServerStore["readAfter"] = ({ after, limit, storeId }) =>
      Effect.sync(() => {
        const rows = log(storeId)
        return { records: rows.filter((r) => r.globalSequence > after).slice(0, limit).map(stored), head: rows.length === 0 ? 0 : rows[rows.length - 1]!.globalSequence }
      })
    const store: ServerStore.ServerStore = {
      ...base,
      append: ({ receivedAt, records, storeId }) =>
        Effect.gen(function*() {
          const rows = log(storeId)
          const versions = new Map<string, number>()
          for (const r of rows) versions.set(r.aggregate, Math.max(versions.get(r.aggregate) ?? 0, r.version))
          let next = (rows.length === 0 ? 0 : rows[rows.length - 1]!.globalSequence) + (bugs.gaps === true && rows.length > 0 ? 1 : 0)
          const results: Array<{ eventId: string; globalSequence: number; duplicate: boolean }> = []
          const add: Array<Row> = []
          const batchSeq = next + 1
          for (const r of records) {
            const prior = [...rows, ...add].find((x) => x.eventId === r.eventId)
            if (prior !== undefined && !bugs.storeRetries) {
              if (prior.recordJson !== r.recordJson) {
                if (bugs.overwriteDuplicates) {
                  const i = rows.indexOf(prior)
                  if (i >= 0) rows[i] = { ...prior, recordJson: r.recordJson }
                } else {
                  return yield* Effect.fail(DuplicateEventMismatch.of(storeId, r.eventId))
                }
              }
              results.push({ eventId: r.eventId, globalSequence: prior.globalSequence, duplicate: true })
              continue
            }
            const aggregate = `${r.aggregateType}/${r.aggregateId}`
            const current = versions.get(aggregate) ?? 0
            const blindRetry = bugs.storeRetries === true && prior !== undefined
            if (!bugs.skipContiguity && !blindRetry && r.version !== current + 1) {
              const missing = rows.filter((x) => x.aggregate === aggregate && x.version >= r.version).map(stored)
              return yield* Effect.fail(VersionConflict.of({
                storeId, aggregateType: r.aggregateType, aggregateId: r.aggregateId, expected: r.version - 1, actual: current, missing
              }))
            }
            versions.set(aggregate, r.version)
            const globalSequence = bugs.reuseSequence ? batchSeq : ++next
            const recordJson = bugs.reserialize ? JSON.stringify(JSON.parse(r.recordJson)) : r.recordJson
            add.push({ eventId: r.eventId, aggregate, version: r.version, globalSequence, receivedAt, recordJson })
            results.push({ eventId: r.eventId, globalSequence, duplicate: false })
          }
          rows.push(...add)
          const head = rows.length === 0 ? 0 : rows[rows.length - 1]!.globalSequence
          yield* PubSub.publish(heads, { storeId, head })
          return { results: results as unknown as ServerStore.AppendOutcome["results"], head }
        }),
      readAfter,
      readLinesAfter: (input) =>
        Effect.map(readAfter(input), (page) => {
          if (bugs.joinLinesBlindly !== true) return ServerStore.linesOf(page)
          // Every text verbatim, one per line, as if none held a line break or started otherwise than with `{`.
          const joined = new TextEncoder().encode(page.records.map((r) => `${r.recordJson}\n`).join(""))
          const { lines: _, ...numbers } = ServerStore.linesOf(page).records
          return { records: { ...numbers, lines: [joined] }, head: page.head }
        }),
      readAggregate: ({ aggregateId, aggregateType, fromVersion, limit, storeId }) =>
        Effect.sync(() => log(storeId).filter((r) => r.aggregate === `${aggregateType}/${aggregateId}` && r.version >= fromVersion).slice(0, limit).map(stored)),
      findEvent: (storeId, eventId) => Effect.sync(() => Option.map(Option.fromNullable(log(storeId).find((r) => r.eventId === eventId)), stored)),
      subscribe: PubSub.subscribe(heads),
      claimPrekeys: (input) =>
        bugs.reuseOneTimePrekeys !== true ? base.claimPrekeys(input) : Effect.gen(function*() {
          // Reads the bundle (which claims), then puts the claimed prekey back as if never handed out.
          const bundle = yield* base.claimPrekeys(input)
          const taken = Option.isSome(bundle) ? bundle.value.oneTimePrekey : undefined
          if (taken !== undefined) unclaimed.set(input.userId, [...(unclaimed.get(input.userId) ?? []), taken])
          const again = unclaimed.get(input.userId)?.[0]
          return Option.map(bundle, (b) => ({ ...b, ...(again === undefined ? {} : { oneTimePrekey: again }) }))
        })
    }
    return store
  })

const withStore = <A, E>(bugs: Bugs, f: (store: ServerStore.ServerStore, storeId: StoreId) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const store = yield* mutant(bugs)
    const storeId = yield* ServerStoreConformance.freshStore(store)
    return yield* f(store, storeId)
  })

const realMemory = <A, E>(f: (store: ServerStore.ServerStore, storeId: StoreId) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const store = yield* ServerStore.makeMemory
    const storeId = yield* ServerStoreConformance.freshStore(store)
    return yield* f(store, storeId)
  })

const spellings: ReadonlyArray<Records.Spelling> = [
  { shuffle: 3, spaces: [" ", "\n"], escapes: [false, true], numbers: 2, upperHex: true },
  { shuffle: 11, spaces: ["\t"], escapes: [false], numbers: 1, upperHex: false },
  Records.canonicalSpelling
]

describe("server store invariant checks catch broken stores", () => {
  it.effect("the naive store without bugs passes every check (so the mutants below fail only by their bug)", () =>
    Effect.gen(function*() {
      expect((yield* withStore({}, (s, id) => checks.bytesPreserved(s, id, spellings))).changed).toBe(0)
      const writers = yield* withStore({}, (s, id) =>
        Effect.zip(checks.concurrentWriters(s, id, { writers: 3, appends: 6, aggregates: 2, seed: 7 }), checks.sequence(s, id, [0, 3, 5])))
      expect(writers[0].problems).toEqual([])
      expect(writers[1]).toEqual([])
      const report = yield* withStore({}, (s, id) => checks.idempotency(s, id, [{ size: 3, repeats: 3, inner: true }]))
      expect([report.duplicated, report.wrongSequence, report.refusedRetries, report.mismatchRefused, report.kept]).toEqual([0, 0, 0, true, true])
      expect((yield* withStore({}, (s, id) => checks.immutability(s, id, [0, 1, 2, 3, 0, 2]))).changed).toBe(0)
    }))

  it.effect("INV-004 mutant: a store that re-serialises JSON changes the bytes", () =>
    Effect.gen(function*() {
      const broken = yield* withStore({ reserialize: true }, (s, id) => checks.bytesPreserved(s, id, spellings))
      expect(broken.changed).toBeGreaterThan(0)
      expect((yield* realMemory((s, id) => checks.bytesPreserved(s, id, spellings))).changed).toBe(0)
    }))

  it.effect("INV-002 mutant: a store that skips the contiguity check lets stale writers through", () =>
    Effect.gen(function*() {
      const plan = { writers: 3, appends: 6, aggregates: 1, seed: 1 }
      const broken = yield* withStore({ skipContiguity: true }, (s, id) => checks.concurrentWriters(s, id, plan))
      expect(broken.problems.some((p) => p.includes("not 1..n"))).toBe(true)
      expect((yield* realMemory((s, id) => checks.concurrentWriters(s, id, plan))).problems).toEqual([])
    }))

  it.effect("INV-003 mutant: a store that reuses sequence numbers within a batch is caught", () =>
    Effect.gen(function*() {
      const problems = yield* withStore({ reuseSequence: true }, (s, id) =>
        Effect.zipRight(s.append({ storeId: id, records: ServerStoreConformance.batch(id, [{ aggregateId: "a", version: 1 }, { aggregateId: "b", version: 1 }]), receivedAt: 1 }), checks.sequence(s, id, [0, 1])))
      expect(problems.length).toBeGreaterThan(0)
    }))

  it.effect("INV-003 mutant: a store that leaves gaps in the sequence is caught", () =>
    Effect.gen(function*() {
      const problems = yield* withStore({ gaps: true }, (s, id) =>
        Effect.gen(function*() {
          for (const a of ["a", "b", "c"]) yield* s.append({ storeId: id, records: ServerStoreConformance.batch(id, [{ aggregateId: a, version: 1 }]), receivedAt: 1 })
          return yield* checks.sequence(s, id, [1, 2])
        }))
      expect(problems.some((p) => p.includes("holds sequence"))).toBe(true)
    }))

  it.effect("INV-005 mutant: a store that stores retries again duplicates events", () =>
    Effect.gen(function*() {
      const schedule = [{ size: 2, repeats: 2, inner: false }]
      const broken = yield* withStore({ storeRetries: true }, (s, id) => checks.idempotency(s, id, schedule))
      expect(broken.duplicated).toBeGreaterThan(0)
      const fine = yield* realMemory((s, id) => checks.idempotency(s, id, schedule))
      expect([fine.duplicated, fine.wrongSequence, fine.mismatchRefused]).toEqual([0, 0, true])
    }))

  it.effect("INV-005 and INV-001 mutant: a store that overwrites a duplicate with other bytes is caught by both checks", () =>
    Effect.gen(function*() {
      const report = yield* withStore({ overwriteDuplicates: true }, (s, id) => checks.idempotency(s, id, [{ size: 1, repeats: 1, inner: false }]))
      expect([report.mismatchRefused, report.kept]).toEqual([false, false])
      const immutability = yield* withStore({ overwriteDuplicates: true }, (s, id) => checks.immutability(s, id, [0, 2, 0, 2]))
      expect(immutability.changed).toBeGreaterThan(0)
      expect((yield* realMemory((s, id) => checks.immutability(s, id, [0, 2, 0, 2]))).changed).toBe(0)
    }))

  it.effect("INV-004 mutant: a store that joins record texts into lines without checking them is caught", () =>
    Effect.gen(function*() {
      const texts = ["{\"a\":1}", "{\"b\":\n2}", " {}", "{\"c\":3}"]
      const broken = yield* withStore({ joinLinesBlindly: true }, (s, id) => checks.linesAgree(s, id, texts, [1, 2]))
      expect(broken.length).toBeGreaterThan(0)
      expect(yield* withStore({ joinLinesBlindly: true }, (s, id) => checks.linesAgree(s, id, ["{\"a\":1}", "{\"b\":2}"], [1]))).toEqual([])
      expect(yield* withStore({}, (s, id) => checks.linesAgree(s, id, texts, [1, 2]))).toEqual([])
      expect(yield* realMemory((s, id) => checks.linesAgree(s, id, texts, [1, 2]))).toEqual([])
    }))

  it.effect("page mutant: a store whose pages are bounded only by their limit is caught by the page-size check", () =>
    Effect.gen(function*() {
      const third = Math.floor(ServerStore.MAX_PAGE_CHARACTERS / 3)
      const lengths = [third + 100, third + 100, third + 100, 100]
      expect((yield* withStore({}, (s, id) => checks.pageBudget(s, id, lengths))).length).toBeGreaterThan(0)
      expect(yield* realMemory((s, id) => checks.pageBudget(s, id, lengths))).toEqual([])
    }), { timeout: 60_000 })

  it.effect("prekey mutant: a store that hands out a one-time prekey again is caught by the single-use check", () =>
    Effect.gen(function*() {
      const plan = { prekeys: 5, claims: 8 }
      const broken = yield* withStore({ reuseOneTimePrekeys: true }, (s, id) => checks.prekeySingleUse([s], id, plan))
      expect(broken.duplicates).toBeGreaterThan(0)
      const fine = yield* realMemory((s, id) => checks.prekeySingleUse([s], id, plan))
      expect([fine.handedOut.length, fine.duplicates]).toEqual([5, 0])
    }))
})
