import { describe, expect, it } from "@effect/vitest"
import { Bytes } from "@cipherlog/domain"
import { Chunk, Effect, Either, FastCheck as fc, Option, Stream, TestClock } from "effect"
import { Identity } from "@cipherlog/keys"
import { type EventStore, LocalStore } from "../src/index.js"
import { memoryEventStore } from "./sqlite.js"
import { appendGoal, copyKeks, type Device, events, firstDevice, otherUser, rotatedDevice, secondDevice, server, storeId, withLayers } from "./fixtures.js"

const readAll = (device: Device, options?: { verify?: boolean }) =>
  Effect.map(Stream.runCollect(device.store.readAll(options)), Chunk.toReadonlyArray)

describe("LocalStore", () => {
  it.effect("appends commands, reads back the same payloads, versions 1..n; a stale expectation is a conflict", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      const written = yield* a.store.append([
        { aggregateType: "Goal", aggregateId: "g1", events: [{ eventType: "GoalSet", payload: { title: "run", n: 1 } }, { eventType: "GoalRenamed", payload: { title: "run far" }, meta: { causation: "c1" } }] },
        { aggregateType: "Project", aggregateId: "p1", events: [{ eventType: "ProjectOpened", payload: ["x", null, true] }] }
      ])
      expect(written.map((e) => [e.aggregateId, e.version])).toEqual([["g1", 1], ["g1", 2], ["p1", 1]])
      const goal = events(yield* a.store.readAggregate("Goal", "g1"))
      expect(goal.map((e) => e.payload)).toEqual([{ title: "run", n: 1 }, { title: "run far" }])
      expect(goal[1]!.meta).toEqual({ causation: "c1" })
      const conflict = yield* Effect.either(appendGoal(a, "g1", "late", 1))
      expect(Either.isLeft(conflict) && conflict.left._tag).toBe("VersionConflict")
      expect(events(yield* readAll(a)).map((e) => e.eventType)).toEqual(["GoalSet", "GoalRenamed", "ProjectOpened"])
      const bad = yield* Effect.either(a.store.append({ aggregateType: "cipherlog.dek", aggregateId: "x", events: [{ eventType: "X", payload: 1 }] }))
      expect(Either.isLeft(bad) && bad.left._tag).toBe("InvalidInput")
    })))

  it.effect("the record text holds no plaintext: payloads exist only as ciphertext", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      yield* appendGoal(a, "g1", "CANARY-PLAINTEXT-PAYLOAD")
      for (const r of yield* a.events.readAfter(storeId, 0, 100)) expect(r.recordJson).not.toContain("CANARY")
    })))

  it.effect.prop(
    "INV-013 flipping any byte of a stored record, or moving its ciphertext into another record, is detected; the rest stays readable",
    [fc.nat(), fc.nat(), fc.boolean()],
    ([which, where, move]) =>
      withLayers(Effect.gen(function*() {
        const a = yield* firstDevice()
        for (let i = 0; i < 3; i++) yield* appendGoal(a, `g${i}`, `title ${i}`)
        const stored = (yield* a.events.readAfter(storeId, 0, 100)).filter((r) => r.header.aggregateType === "Goal")
        const target = stored[which % stored.length]!
        const json = JSON.parse(target.recordJson)
        if (move) {
          const donor = JSON.parse(stored[(which + 1) % stored.length]!.recordJson)
          json.ciphertext = donor.ciphertext
          json.nonce = donor.nonce
        } else {
          const field = ["ciphertext", "nonce"][where % 2]!
          const bytes = Bytes.fromBase64Url(json[field])!
          bytes[where % bytes.length]! ^= 1 << (where % 8)
          json[field] = Bytes.toBase64Url(bytes)
        }
        // What a disk-level attacker can do: rewrite the row's text (the trigger is bypassed by recreating the DB row).
        const tampered = { header: target.header, nonce: Bytes.fromBase64Url(json.nonce)!, ciphertext: Bytes.fromBase64Url(json.ciphertext)!, signature: target.signature, recordJson: JSON.stringify(json) }
        const rest = stored.filter((r) => r !== target)
        const items = yield* tamperedRead(a, tampered, rest)
        const rejected = items.filter((i) => i._tag === "Rejected")
        expect(rejected.map((i) => i.header.eventId)).toEqual([target.header.eventId])
        expect(rejected[0]!._tag === "Rejected" && rejected[0]!.error.message).toMatch(new RegExp(target.header.eventId))
        expect(events(items).length).toBe(rest.length)
      })),
    { fastCheck: { numRuns: 20 } }
  )

  it.effect("INV-007 a second device accepts the first one's signed records, and rejects forged, re-attributed or unsigned ones", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      const b = yield* secondDevice(a)
      const srv = server()
      yield* appendGoal(b, "g0", "b was here") // b enrolls first, so its device is known to everyone
      expect(yield* srv.push(b)).toBe("ok")
      yield* appendGoal(a, "g1", "one")
      yield* a.store.append({ aggregateType: "Goal", aggregateId: "g2", events: [1, 2, 3].map((n) => ({ eventType: "Step", payload: n })) })
      yield* srv.pull(a)
      expect(yield* srv.push(a)).toBe("ok")
      const clean = yield* srv.pull(b)
      expect(clean.rejected).toEqual([])
      expect(events(yield* readAll(b)).map((e) => e.payload)).toEqual([{ title: "b was here" }, { title: "one" }, 1, 2, 3])

      // Forgeries arriving at a third device: a bad signature, a record claiming another author, a chain with a hole.
      for (const forge of ["signature", "author", "gap"] as const) {
        const c = yield* secondDevice(a, `d-${forge}`)
        const log = srv.log.map((x) => ({ ...x }))
        const lastSigned = log.map((x) => JSON.parse(x.recordJson)).findLastIndex((j) => j.signature !== undefined && j.author.deviceId === "d1")
        const j = JSON.parse(log[lastSigned]!.recordJson)
        if (forge === "signature") {
          const sig = Bytes.fromBase64Url(j.signature)!
          sig[5]! ^= 1
          j.signature = Bytes.toBase64Url(sig)
          log[lastSigned]!.recordJson = JSON.stringify(j)
        } else if (forge === "author") {
          j.author.deviceId = "d2"
          log[lastSigned]!.recordJson = JSON.stringify(j)
        } else {
          log.splice(lastSigned - 1, 1)
          log.forEach((x, i) => (x.globalSequence = i + 1))
        }
        const report = yield* c.store.ingest(log)
        expect(report.rejected.length, forge).toBeGreaterThan(0)
        expect(report.rejected.map((e) => e.reason)).toContain(forge === "signature" ? "signature" : "chain")
        expect((yield* c.events.counts(storeId)).rejected).toBeGreaterThan(0)
      }
    })))

  it.effect("a store reopened on the same database still knows the other devices: it verifies their old records and accepts new ones", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      const b = yield* secondDevice(a)
      const srv = server()
      yield* appendGoal(a, "g1", "before")
      yield* srv.push(a)
      yield* srv.pull(b)
      // A new session of device b: same keyring, same database, a fresh LocalStore (nothing in memory).
      const reopened: Device = { ...b, store: yield* LocalStore.make({ storeId, eventStore: b.events, keyring: Option.some(b.keyring) }) }
      const before = yield* readAll(reopened, { verify: true })
      expect(before.map((i) => i._tag)).toEqual(["Event"])
      yield* appendGoal(a, "g1", "after")
      yield* srv.push(a)
      const report = yield* srv.pull(reopened)
      expect([report.parked, report.rejected.length]).toEqual([0, 0])
      expect(events(yield* readAll(reopened, { verify: true })).map((e) => e.payload)).toEqual([{ title: "before" }, { title: "after" }])
    })))

  it.effect("records whose key is not here yet are parked, then released when the key arrives", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      const b = yield* secondDevice(a, "d2", false) // same user, but not given the KEK yet
      const srv = server()
      yield* appendGoal(a, "g1", "secret plan")
      yield* srv.push(a)
      const report = yield* srv.pull(b)
      expect(report.parked).toBeGreaterThan(0)
      expect(events(yield* readAll(b))).toEqual([])
      const state = yield* b.store.keyState
      expect(state.locked).toBe(true)
      expect(state.missing.map((m) => m.key)).toContain("kv1@0")
      yield* copyKeks(a, b.keyring)
      const retried = yield* b.store.retryParked
      expect(retried.stillParked).toBe(0)
      expect(events(yield* readAll(b)).map((e) => e.payload)).toEqual([{ title: "secret plan" }])
      expect((yield* b.store.keyState).locked).toBe(false)
    })))

  it.effect("another user's records open only when the host vouches for that user's genesis identity (peers), not for a look-alike", () =>
    withLayers(Effect.gen(function*() {
      const alice = yield* firstDevice("alice", "a1")
      const srv = server()
      yield* appendGoal(alice, "g1", "shared plan")
      yield* srv.push(alice)
      const aliceGenesis = (yield* alice.keyring.identity).genesis
      const lookalike = (yield* Effect.flatMap(Identity.generate("alice", 0), Identity.load)).public
      const readers = {
        nobody: yield* otherUser("bob", "b1"),
        lookalike: yield* otherUser("bob", "b2", new Map([["alice", lookalike]])),
        renamed: yield* otherUser("bob", "b3", new Map([["alice", { ...aliceGenesis, userId: "mallory" }], ["mallory", aliceGenesis]])),
        alice: yield* otherUser("bob", "b4", new Map([["alice", aliceGenesis]]))
      }
      const seen: Record<string, ReadonlyArray<unknown>> = {}
      for (const [name, bob] of Object.entries(readers)) {
        yield* copyKeks(alice, bob.keyring) // every reader holds the store's KEK: only trust differs
        yield* srv.pull(bob)
        seen[name] = events(yield* readAll(bob, { verify: true })).map((e) => e.payload)
      }
      expect(seen).toEqual({ nobody: [], lookalike: [], renamed: [], alice: [{ title: "shared plan" }] })
    })))

  it.effect("a peer's identity rotation, verified from the genesis the host vouches for, is reported once at ingest (compromise signal); an unverified chain is not", () =>
    withLayers(Effect.gen(function*() {
      const alice = yield* firstDevice("alice", "a1")
      const srv = server()
      yield* appendGoal(alice, "g1", "before the rotation")
      yield* srv.push(alice)
      const { device: rotated, statement } = yield* rotatedDevice(alice, "a2", "planned")
      yield* appendGoal(rotated, "g2", "after the rotation")
      yield* srv.push(rotated)
      const aliceGenesis = (yield* alice.keyring.identity).genesis
      const bob = yield* otherUser("bob", "b1", new Map([["alice", aliceGenesis]]))
      const carol = yield* otherUser("carol", "c1", new Map([["alice", (yield* Effect.flatMap(Identity.generate("alice", 0), Identity.load)).public]]))
      for (const reader of [bob, carol]) yield* copyKeks(alice, reader.keyring)
      const first = yield* srv.pull(bob)
      expect(first.rotations).toEqual([{ userId: "alice", own: false, kind: "planned", rotatedAt: statement.rotatedAt, deviceId: "a2" }])
      expect(events(yield* readAll(bob, { verify: true })).map((e) => e.payload)).toEqual([{ title: "before the rotation" }, { title: "after the rotation" }])
      yield* appendGoal(rotated, "g3", "more")
      yield* srv.push(rotated)
      expect((yield* srv.pull(bob)).rotations).toEqual([]) // seen once
      // carol vouches for a look-alike genesis: nothing verifies, nothing is reported, nothing opens.
      expect((yield* srv.pull(carol)).rotations).toEqual([])
      expect(events(yield* readAll(carol, { verify: true }))).toEqual([])
    })))

  it.effect("records parked for a key after their author and chain were verified open once the key arrives (retryParked), grants first", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      const srv = server()
      yield* appendGoal(a, "g1", "under kv1")
      yield* srv.push(a)
      const b = yield* secondDevice(a) // holds kv1 only
      yield* a.keyring.createKek(storeId, "kv2")
      yield* appendGoal(a, "g1", "under kv2")
      yield* appendGoal(a, "g2", "new aggregate under kv2")
      yield* srv.push(a)
      const report = yield* srv.pull(b)
      expect(report.parked).toBeGreaterThanOrEqual(3) // the grants sealed under kv2, and the two events
      expect(events(yield* readAll(b, { verify: true })).map((e) => e.payload)).toEqual([{ title: "under kv1" }])
      expect((yield* b.store.retryParked).released).toBe(0) // still no key: nothing changes
      yield* copyKeks(a, b.keyring) // kv2 arrives (as from a KEK blob)
      const retried = yield* b.store.retryParked
      expect([retried.released, retried.stillParked]).toEqual([report.parked, 0])
      expect(events(yield* readAll(b, { verify: true })).map((e) => e.payload)).toEqual([
        { title: "under kv1" }, { title: "under kv2" }, { title: "new aggregate under kv2" }
      ])
      expect((yield* b.store.keyState).locked).toBe(false)
    })))

  it.effect("rewrap publishes every epoch held (own and received) under the active version: the old version can then be destroyed, and a device given live versions only reads everything", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      const b = yield* secondDevice(a)
      const srv = server()
      yield* appendGoal(a, "g1", "a under kv1")
      yield* appendGoal(b, "g2", "b under kv1")
      for (const d of [a, b]) yield* srv.push(d)
      yield* srv.pull(a) // a receives b's data key (under kv1)
      yield* a.keyring.createKek(storeId, "kv2")
      yield* a.keyring.setKekStatus(storeId, "kv1", "deprecated")
      yield* TestClock.adjust(a.keyring.policy.kekGraceMs)
      const payloads = (d: Device) => Effect.map(readAll(d, { verify: true }), (items) => events(items).map((e) => (e.payload as { title: string }).title).sort())
      /** A new device that receives kv2 only (as from a KEK blob once kv1 is gone), then pulls the log. */
      const newcomer = (id: string) =>
        Effect.gen(function*() {
          const c = yield* secondDevice(a, id, false)
          yield* c.keyring.importKek(storeId, { versionId: "kv2", raw: yield* a.keyring.exportKek(storeId, "kv2"), status: "active", createdAt: 0 })
          yield* srv.pull(c)
          return c
        })
      // Before the re-wrap: kv1 cannot be destroyed, and a device holding kv2 only reads none of the old events.
      const early = yield* Effect.either(a.keyring.destroyKek(storeId, "kv1"))
      expect(Either.isLeft(early) && early.left.message).toMatch(/2 data key epoch\(s\) are wrapped under no other live version/)
      expect(yield* payloads(yield* newcomer("d3"))).toEqual([])
      // Both data keys, and both devices' enrollments (sealed under kv1 only, b's learned from the log).
      expect(yield* a.store.rewrap).toEqual({ keys: 2, epochs: 2, devices: 2 })
      expect(yield* a.store.rewrap).toEqual({ keys: 0, epochs: 0, devices: 0 }) // nothing left to re-wrap
      expect(yield* srv.push(a)).toBe("ok")
      yield* a.keyring.destroyKek(storeId, "kv1")
      expect((yield* a.keyring.kekVersions(storeId)).map((v) => [v.versionId, v.status])).toEqual([["kv1", "destroyed"], ["kv2", "active"]])
      expect(yield* payloads(yield* newcomer("d4"))).toEqual(["a under kv1", "b under kv1"])
      expect(yield* payloads(a)).toEqual(["a under kv1", "b under kv1"])
    })))

  it.effect("a store without keys opens locked: it lists what it holds and which keys are missing, and decrypts nothing", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      for (let i = 0; i < 3; i++) yield* appendGoal(a, `g${i}`, `plan ${i}`)
      const locked = yield* LocalStore.make({ storeId, eventStore: a.events, keyring: Option.none() })
      const items = yield* readAll({ ...a, store: locked })
      expect(items.length).toBe(3)
      expect(items.every((i) => i._tag === "Locked")).toBe(true)
      const state = yield* locked.keyState
      expect(state.locked).toBe(true)
      expect(state.missing.length).toBeGreaterThanOrEqual(2)
      const refused = yield* Effect.either(appendGoal({ ...a, store: locked }, "g9", "x"))
      expect(Either.isLeft(refused) && refused.left._tag).toBe("KeysMissing")
      expect(events(yield* readAll(a)).length).toBe(3) // with the keyring, the same database reads again
    })))

  it.effect("a conflict rebases this device's pending events on top of the server's, with new versions", () =>
    withLayers(Effect.gen(function*() {
      const a = yield* firstDevice()
      const b = yield* secondDevice(a)
      const srv = server()
      yield* appendGoal(a, "g1", "created on a")
      yield* srv.push(a)
      yield* srv.pull(b)
      yield* appendGoal(a, "g1", "a's second")
      yield* appendGoal(b, "g1", "b's second")
      yield* appendGoal(b, "g2", "b's other goal")
      expect(yield* srv.push(a)).toBe("ok")
      expect(yield* srv.push(b)).toBe("conflict")
      const report = yield* srv.pull(b)
      expect(report.rebased).toBe(2)
      expect(yield* srv.push(b)).toBe("ok")
      yield* srv.pull(a)
      const titles = (d: Device) => Effect.map(d.store.readAggregate("Goal", "g1"), (i) => events(i).map((e) => [e.version, (e.payload as { title: string }).title]))
      expect(yield* titles(a)).toEqual([[1, "created on a"], [2, "a's second"], [3, "b's second"]])
      expect(yield* titles(b)).toEqual(yield* titles(a))
      const verifiedA = yield* readAll(a, { verify: true })
      expect(verifiedA.filter((i) => i._tag !== "Event").map((i) => i._tag === "Rejected" ? i.error.message : i._tag === "Locked" ? i.missing : "")).toEqual([])
      expect(events(verifiedA).length).toBe(4)
      expect(events(yield* readAll(b, { verify: true })).length).toBe(4)
    })))
})

/** Reads records as a store whose database was altered at rest (a fresh DB holding the altered row and the rest). */
const tamperedRead = (a: Device, tampered: EventStore.NewRecord, rest: ReadonlyArray<EventStore.NewRecord>) =>
  Effect.gen(function*() {
    const copy = yield* memoryEventStore()
    for (const r of [...rest, tampered].sort((x, y) => x.header.aggregateId.localeCompare(y.header.aggregateId))) yield* copy.append([r])
    const reader = yield* LocalStore.make({ storeId, eventStore: copy, keyring: Option.some(a.keyring) })
    return Chunk.toReadonlyArray(yield* Stream.runCollect(reader.readAll()))
  })

describe("LocalStore convergence", () => {
  type Step = { readonly device: number; readonly op: "append" | "push" | "pull"; readonly aggregate: number }
  const steps = fc.array(fc.record({ device: fc.integer({ min: 0, max: 2 }), op: fc.constantFrom("append" as const, "append" as const, "push" as const, "pull" as const), aggregate: fc.integer({ min: 0, max: 2 }) }), { minLength: 5, maxLength: 30 })

  it.effect.prop(
    "random appends, pushes and pulls on three devices: after a final sync every device holds the same events, versions 1..n, each event once",
    [steps],
    ([schedule]) =>
      withLayers(Effect.gen(function*() {
        const a = yield* firstDevice()
        const devices = [a, yield* secondDevice(a, "d2"), yield* secondDevice(a, "d3")]
        const srv = server()
        let n = 0
        for (const s of schedule as ReadonlyArray<Step>) {
          const d = devices[s.device]!
          if (s.op === "append") yield* appendGoal(d, `g${s.aggregate}`, `e${n++}`)
          else if (s.op === "push") {
            if ((yield* srv.push(d)) === "conflict") yield* srv.pull(d)
          } else yield* srv.pull(d)
        }
        // Settle: pull, push until nothing is pending anywhere.
        for (let round = 0; round < 6; round++) {
          for (const d of devices) {
            yield* srv.pull(d)
            if ((yield* srv.push(d)) === "conflict") yield* srv.pull(d)
          }
        }
        for (const d of devices) yield* srv.pull(d)
        const views = yield* Effect.forEach(devices, (d) =>
          Effect.map(readAll(d, { verify: true }), (items) => items.map((i) => i._tag === "Event" ? `${i.event.aggregateId}/${i.event.version}:${(i.event.payload as { title: string }).title}` : `!${i._tag}`)))
        const sorted = views.map((v) => [...v].sort())
        expect(sorted[1]).toEqual(sorted[0])
        expect(sorted[2]).toEqual(sorted[0])
        expect(sorted[0]!.every((v) => !v.startsWith("!"))).toBe(true)
        const titles = sorted[0]!.map((v) => v.split(":")[1])
        expect(new Set(titles).size).toBe(n) // every appended event exactly once, none lost
        for (let g = 0; g < 3; g++) {
          const versions = sorted[0]!.filter((v) => v.startsWith(`g${g}/`)).map((v) => Number(v.split("/")[1]!.split(":")[0])).sort((x, y) => x - y)
          expect(versions).toEqual(versions.map((_, i) => i + 1))
        }
      })),
    { fastCheck: { numRuns: 25 } }
  )
})

describe("Diagnostics", () => {
  it.effect("INV-016 diagnostics name stores, stages, counts and missing keys, and never a payload, key or passphrase", () =>
    withLayers(Effect.gen(function*() {
      const { Diagnostics } = yield* Effect.promise(() => import("../src/index.js"))
      const { Canary } = yield* Effect.promise(() => import("@cipherlog/crypto-conformance"))
      const a = yield* firstDevice()
      yield* appendGoal(a, "g1", "PAYLOAD-CANARY-never-in-diagnostics")
      const kek = yield* a.keyring.exportKek(storeId, "kv1")
      const dek = (yield* a.keyring.deks(storeId))[0]!.epochs[0]!.key
      const d = yield* Diagnostics.collect(a.store)
      expect(d.stage).toBe("unlocked")
      expect(d.counts.records).toBeGreaterThan(1)
      expect(d.storage.integrity).toBe("ok")
      expect(d.keys.kekVersions).toEqual([{ versionId: "kv1", status: "active" }])
      expect(Canary.findLeak(d, ["PAYLOAD-CANARY-never-in-diagnostics", "device passphrase", kek, dek])).toBeUndefined()
      const locked = yield* Diagnostics.collect(yield* LocalStore.make({ storeId, eventStore: a.events, keyring: Option.none() }))
      expect(locked.stage).toBe("locked")
      expect(locked.keys.missing.length).toBeGreaterThan(0)
      // The check can fail: a diagnostic that carried the key would be caught.
      expect(Canary.findLeak({ ...d, debug: Bytes.toBase64Url(dek) }, [dek])).toBeDefined()
    })))
})
