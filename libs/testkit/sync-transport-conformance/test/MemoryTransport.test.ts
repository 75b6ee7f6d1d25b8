import type { StoreId, UserId } from "@cipherlog/domain"
import { ServerStore } from "@cipherlog/server"
import { MemoryTransport, SyncTransport } from "@cipherlog/sync"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SyncTransportConformance } from "../src/index.js"

let n = 0

const setup = Effect.gen(function*() {
  const log = yield* ServerStore.makeMemory
  const storeId = `mem${n++}` as StoreId
  yield* log.createStore({ storeId, actor: "alice" as UserId, at: Date.now() })
  const actor = (userId: string, forbidden?: boolean) => ({
    userId,
    transport: MemoryTransport.make({ log, userId, ...(forbidden === true ? { forbidden: new Set([storeId]) } : {}) })
  })
  return { storeId, alice: actor("alice"), bob: actor("bob"), outsider: actor("mallory", true) }
})

SyncTransportConformance.suite({ name: "memory over the server's memory store", setup })

describe("memory transport", () => {
  it.effect("refuses empty and oversized batches as too large", () =>
    Effect.gen(function*() {
      const { alice, storeId } = yield* setup
      const small = MemoryTransport.make({ log: yield* ServerStore.makeMemory, userId: alice.userId, maxBatch: 2 })
      const empty = yield* Effect.flip(alice.transport.push(storeId, []))
      expect(empty).toBeInstanceOf(SyncTransport.PushRefused)
      const texts = [1, 2, 3].map(() => "{}")
      const big = yield* Effect.flip(small.push(storeId, texts))
      expect(big).toMatchObject({ _tag: "PushRefused", reason: "too-large" })
    }))
})

/** Transports broken on purpose: the conformance checks must catch each. */
const mutants: ReadonlyArray<readonly [string, (t: SyncTransport.SyncTransport) => SyncTransport.SyncTransport]> = [
  ["pull skips a sequence", (t) => ({
    ...t,
    pull: (s, o) => Effect.map(t.pull(s, o), (p) => ({ ...p, records: p.records.map((r) => (r.globalSequence >= 2 ? { ...r, globalSequence: r.globalSequence + 1 } : r)) }))
  })],
  ["pull re-serialises the text", (t) => ({
    ...t,
    pull: (s, o) => Effect.map(t.pull(s, o), (p) => ({ ...p, records: p.records.map((r) => ({ ...r, recordJson: JSON.stringify(JSON.parse(r.recordJson), null, 1) })) }))
  })],
  ["a re-send gets a new sequence", (t) => ({
    ...t,
    push: (s, texts) => Effect.map(t.push(s, texts), (a) => ({ ...a, results: a.results.map((r) => (r.duplicate ? { ...r, globalSequence: r.globalSequence + 100 } : r)) }))
  })],
  ["pull drops the last record", (t) => ({
    ...t,
    pull: (s, o) => Effect.map(t.pull(s, o), (p) => ({ ...p, records: p.hasMore ? p.records : p.records.slice(0, -1) }))
  })]
]

describe("conformance checks catch broken transports", () => {
  for (const [name, mutate] of mutants) {
    it.effect(`INV-003 INV-004 INV-005 mutant: the convergence check fails when ${name}`, () =>
      Effect.gen(function*() {
        const s = yield* setup
        const steps = [
          { writer: 0, aggregate: 0, count: 3, resend: false },
          { writer: 0, aggregate: 0, count: 1, resend: true },
          { writer: 1, aggregate: 1, count: 2, resend: false }
        ] as const
        expect(yield* SyncTransportConformance.checks.convergence(s, steps)).toEqual([])
        const again = yield* setup
        const broken = { ...again, alice: { ...again.alice, transport: mutate(again.alice.transport) } }
        expect((yield* SyncTransportConformance.checks.convergence(broken, steps)).length).toBeGreaterThan(0)
      }))
  }
})
