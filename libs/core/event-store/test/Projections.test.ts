import { describe, expect, it } from "@effect/vitest"
import { Keyring } from "@cipherlog/keys"
import { Bytes, type Envelope } from "@cipherlog/domain"
import { Effect, Option, Ref, Schema } from "effect"
import { LocalStore, Projections } from "../src/index.js"
import { appendGoal, type Device, firstDevice, secondDevice, server, storeId, withLayers } from "./fixtures.js"

/** Per-goal state: title and how many events it took. Keyed by aggregate: order-independent across aggregates. */
const goals: Projections.Projection<{ title: string; events: number }> = {
  name: "goals",
  version: 1,
  key: (e) => (e.aggregateType === "Goal" ? e.aggregateId : undefined),
  apply: (state, e) => ({ title: (e.payload as { title: string }).title, events: (state?.events ?? 0) + 1 })
}

/** A deliberately order-dependent projection: "the last event written anywhere". */
const lastWritten: Projections.Projection<string> = {
  name: "last-written",
  version: 1,
  key: () => "last",
  apply: (_, e) => `${e.aggregateId}:${(e.payload as { title: string }).title}`
}

/** Two devices writing interleaved, then synced both ways: same events, different local orders. */
const twoDevices = Effect.gen(function*() {
  const a = yield* firstDevice()
  const b = yield* secondDevice(a)
  const srv = server()
  for (let i = 0; i < 4; i++) {
    yield* appendGoal(a, `a${i}`, `from a ${i}`)
    yield* appendGoal(b, `b${i}`, `from b ${i}`)
  }
  yield* srv.pull(a)
  yield* srv.push(a)
  yield* srv.pull(b)
  yield* srv.push(b)
  yield* srv.pull(a)
  return { a, b }
})

const rebuild = <S extends Envelope.Json>(d: Device, p: Projections.Projection<S>) => Projections.rebuild(d.store, p)

describe("Projections", () => {
  it.effect("INV-010 a rebuild from the log is deterministic: twice on one device, and on two devices holding the same events", () =>
    withLayers(Effect.gen(function*() {
      const { a, b } = yield* twoDevices
      yield* rebuild(a, goals)
      const first = yield* Projections.digest(a.store, goals)
      yield* rebuild(a, goals)
      expect(yield* Projections.digest(a.store, goals)).toBe(first)
      yield* rebuild(b, goals)
      expect(yield* Projections.digest(b.store, goals)).toBe(first)
      expect(Option.getOrThrow(yield* Projections.get(b.store, goals, "a2"))).toEqual({ title: "from a 2", events: 1 })
      // Each device encrypts its copy under its own K_cache: same state, different bytes.
      const bytesA = Option.getOrThrow(yield* a.events.cache.get("projection:goals", "a2"))
      const bytesB = Option.getOrThrow(yield* b.events.cache.get("projection:goals", "a2"))
      expect(bytesA).not.toEqual(bytesB)
    })))

  it.effect("INV-010 mutant: an order-dependent projection differs between devices, and the same check says so", () =>
    withLayers(Effect.gen(function*() {
      const { a, b } = yield* twoDevices
      yield* rebuild(a, lastWritten)
      yield* rebuild(b, lastWritten)
      expect(yield* Projections.digest(a.store, lastWritten)).not.toBe(yield* Projections.digest(b.store, lastWritten))
    })))

  it.effect("INV-010 losing K_cache loses no event: the old derived state is unreadable, a rebuild restores it", () =>
    withLayers(Effect.gen(function*() {
      const { a } = yield* twoDevices
      yield* rebuild(a, goals)
      const before = yield* Projections.digest(a.store, goals)
      // Replace the cache key, as a device that lost it would have to.
      yield* Keyring.writeEntry(a.keyring.vault, Keyring.entries.cache, KeyOnly, { v: 1, key: new Uint8Array(32).fill(7) })
      const fresh = yield* Keyring.make(a.keyring.vault)
      const reopened = yield* LocalStore.make({ storeId, eventStore: a.events, keyring: Option.some(fresh) })
      expect(Option.isNone(yield* Projections.get(reopened, goals, "a1"))).toBe(true)
      yield* Projections.rebuild(reopened, goals)
      expect(yield* Projections.digest(reopened, goals)).toBe(before)
    })))

  it.effect("a rebuild streams page by page and reports its progress up to the total", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      for (let i = 0; i < 25; i++) yield* appendGoal(a, `g${i % 7}`, `t${i}`)
      const seen = yield* Ref.make<Array<number>>([])
      const result = yield* Projections.rebuild(a.store, goals, { pageSize: 4, stateCache: 2, onProgress: (p) => Ref.update(seen, (s) => [...s, p.processed]) })
      const steps = yield* Ref.get(seen)
      expect(steps.length).toBeGreaterThan(5)
      expect(steps.every((v, i) => i === 0 || v > steps[i - 1]!)).toBe(true)
      expect(result.processed).toBe(result.total)
      expect(Option.getOrThrow(yield* Projections.get(a.store, goals, "g0"))).toEqual({ title: "t21", events: 4 })
    })))

  it.effect("snapshots: encrypted with the aggregate's DEK; loading returns the state; a tampered one is not trusted", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      yield* appendGoal(a, "g1", "first")
      yield* Projections.saveSnapshot(a.store, { aggregateType: "Goal", aggregateId: "g1" }, 1, { title: "first", n: 1 })
      expect(Option.getOrThrow(yield* Projections.loadSnapshot(a.store, { aggregateType: "Goal", aggregateId: "g1" }))).toEqual({ version: 1, state: { n: 1, title: "first" } })
      const raw = Option.getOrThrow(yield* a.events.cache.get("snapshot", "Goal/g1"))
      const json = JSON.parse(new TextDecoder().decode(raw))
      yield* a.events.cache.put("snapshot", [["Goal/g1", new TextEncoder().encode(JSON.stringify({ ...json, version: 5 }))]])
      expect(Option.isNone(yield* Projections.loadSnapshot(a.store, { aggregateType: "Goal", aggregateId: "g1" }))).toBe(true)
      expect(new TextDecoder().decode(raw)).not.toContain("first")
    })))
})

const KeyOnly = Schema.Struct({ v: Schema.Literal(1), key: Bytes.Base64UrlOfLength(32) })
