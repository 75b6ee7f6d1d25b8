/**
 * Compromise signals (seed 002 "Detection"): a tampered record, a duplicate
 * event id with other bytes, and identity rotations reach the host as
 * signals on the engine's stream, in the round's report and in the metric.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import { Identity, Keyring, KeyStore, Vault } from "@cipherlog/keys"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Metric, Option, Redacted, Stream } from "effect"
import { Signals, SyncTransport } from "../src/index.js"
import { append, copyKeks, deviceOn, engineFor, firstDevice, memoryTransport, secondDevice, serverLog, storeId } from "./fixtures.js"

const signalCount = (tag: string) =>
  Effect.map(Metric.value(Metric.tagged(Signals.counter, "signal", tag)), (s) => s.count)

/** A transport whose pulls flip one character of the ciphertext of records of `aggregateId`. */
const tampering = (inner: SyncTransport.SyncTransport, aggregateId: string): SyncTransport.SyncTransport => ({
  ...inner,
  pull: (s, o) =>
    Effect.map(inner.pull(s, o), (page) => ({
      ...page,
      records: page.records.map((r) => {
        const json = JSON.parse(r.recordJson) as { aggregateId: string; ciphertext: string }
        if (json.aggregateId !== aggregateId) return r
        const c = json.ciphertext
        return { ...r, recordJson: JSON.stringify({ ...json, ciphertext: (c[0] === "A" ? "B" : "A") + c.slice(1) }) }
      })
    }))
})

const vault = Effect.provide(
  Vault.create(Redacted.make("device passphrase"), { policy: Vault.insecureTestPolicy }),
  Layer.merge(KeyStore.layerMemory(), NodeCrypto.layer)
)

describe("Signals", () => {
  it.scopedLive("a tampered record → RecordRejected (ids and reason only), counted, on the stream and in the report", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const b = yield* secondDevice(a, "d2")
      yield* append(a, "g1", "kept")
      yield* append(a, "g2", "tampered with")
      yield* (yield* engineFor(a, memoryTransport(log))).syncOnce
      const before = yield* signalCount("RecordRejected")
      const engine = yield* engineFor(b, tampering(memoryTransport(log), "g2"))
      const seen: Array<Signals.SecuritySignal> = []
      const fiber = yield* Effect.fork(Stream.runForEach(engine.signals, (s) => Effect.sync(() => seen.push(s))))
      yield* Effect.sleep("20 millis")
      const report = yield* engine.syncOnce
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(fiber)
      const rejected = report.signals.filter((s) => s._tag === "RecordRejected")
      expect(rejected).toHaveLength(1)
      expect(rejected[0]).toMatchObject({ _tag: "RecordRejected", storeId, aggregateType: "Goal", aggregateId: "g2", version: 1 })
      expect(seen).toEqual(report.signals)
      expect((yield* signalCount("RecordRejected")) - before).toBe(1)
      // Ids and a reason, never contents.
      expect(JSON.stringify(report.signals)).not.toContain("tampered with")
    }))

  it.scopedLive("a push refused for a duplicate event id with other bytes → DuplicateMismatch (push), then the typed error", () =>
    Effect.gen(function*() {
      const a = yield* firstDevice()
      const refusing: SyncTransport.SyncTransport = {
        ...memoryTransport(yield* serverLog),
        push: (s) => Effect.fail(new SyncTransport.PushRefused({ storeId: s, reason: "duplicate-mismatch", eventId: "e-1", detail: "other bytes" }))
      }
      const engine = yield* engineFor(a, refusing)
      yield* append(a, "g1", "x")
      const before = yield* signalCount("DuplicateMismatch")
      const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(engine.signals, 1)))
      yield* Effect.sleep("20 millis")
      const error = yield* Effect.flip(engine.syncOnce)
      expect(error._tag).toBe("PushRefused")
      const published = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(published).toEqual([Signals.SecuritySignal.DuplicateMismatch({ storeId, eventId: "e-1", seenOn: "push" })])
      expect((yield* signalCount("DuplicateMismatch")) - before).toBe(1)
    }))

  it.scopedLive("the user's own identity rotated by another device → IdentityRotated (own, emergency), once; that device stays untrusted", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      // A device holding the identity rotates it in an emergency (as a thief, or the user elsewhere, would).
      const secrets = Option.getOrThrow(yield* Keyring.readEntry(a.keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets))
      const rotated = yield* Effect.provide(Identity.rotate(secrets, "emergency", Date.now(), 0), NodeCrypto.layer)
      const b = yield* deviceOn(yield* Effect.provide(
        Keyring.initialize(yield* vault, { userId: "u1", deviceId: "d2", identity: rotated.secrets }),
        NodeCrypto.layer
      ))
      yield* copyKeks(a, b.keyring)
      yield* append(b, "g1", "after the rotation")
      yield* (yield* engineFor(b, memoryTransport(log))).syncOnce
      const before = [yield* signalCount("IdentityRotated/own"), yield* signalCount("IdentityRotated/emergency")]
      const engine = yield* engineFor(a, memoryTransport(log))
      const report = yield* engine.syncOnce
      expect(report.signals).toEqual([
        Signals.SecuritySignal.IdentityRotated({ storeId, userId: "u1", own: true, kind: "emergency", rotatedAt: rotated.statement.rotatedAt, deviceId: "d2" })
      ])
      expect([(yield* signalCount("IdentityRotated/own")) - before[0]!, (yield* signalCount("IdentityRotated/emergency")) - before[1]!]).toEqual([1, 1])
      // Not trusted here: d2's records stay parked until this device learns the rotation.
      expect(report.parked).toBeGreaterThan(0)
      // Seen once: more records carrying the same chain do not signal again.
      yield* append(b, "g2", "more")
      yield* (yield* engineFor(b, memoryTransport(log))).syncOnce
      expect((yield* engine.syncOnce).signals).toEqual([])
    }))

  it.scopedLive("a device of the same user with the same identity signals nothing", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const b = yield* secondDevice(a, "d2")
      yield* append(b, "g1", "plain")
      yield* (yield* engineFor(b, memoryTransport(log))).syncOnce
      expect(yield* (yield* engineFor(a, memoryTransport(log))).syncOnce).toMatchObject({ signals: [], rejected: 0, parked: 0 })
    }))
})
