import { describe, expect, it } from "@effect/vitest"
import { Crypto, type SymmetricKey } from "@cipherlog/crypto"
import { Bytes, type KeyRef } from "@cipherlog/domain"
import { Effect, Either, FastCheck as fc, Option, Schema, TestClock } from "effect"
import { Identity, Keyring, Vault } from "../src/index.js"
import { memory, newKeyring, passphrase, policy } from "./fixtures.js"

const day = 24 * 3600 * 1000
const GrantJson = Schema.parseJson(Keyring.DekGrantBody)

/** What a store's log holds, for these tests: data records and key records (grants sealed under a KEK version). */
interface Log {
  readonly data: Array<{ storeId: string; ref: KeyRef; nonce: Uint8Array; ciphertext: Uint8Array; plaintext: string; activeWhenWritten: string }>
  readonly grants: Array<{ kekVersionId: string; nonce: Uint8Array; ciphertext: Uint8Array }>
}

const grantAad = (storeId: string, version: string) => Bytes.utf8(`grant/${storeId}/${version}`)

/** Publishes grants as key records: sealed under their KEK version, then marked published. */
const publish = (keyring: Keyring.Keyring, log: Log, grants: ReadonlyArray<Keyring.DekGrant>) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    for (const g of grants) {
      const kek = yield* keyring.kek(g.storeId, g.kekVersionId)
      const body = Bytes.utf8(Schema.encodeSync(GrantJson)({ v: 1, keyId: g.keyId, aggregateType: g.aggregateType, aggregateId: g.aggregateId, epochs: g.epochs }))
      const sealed = yield* crypto.seal(kek, body, grantAad(g.storeId, g.kekVersionId))
      log.grants.push({ kekVersionId: g.kekVersionId, nonce: sealed.nonce, ciphertext: sealed.ciphertext })
    }
    yield* keyring.markPublished(grants)
  })

const append = (keyring: Keyring.Keyring, log: Log, storeId: string, aggregateId: string, plaintext: string) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { ref, key, grants } = yield* keyring.dekForWrite(storeId, "Goal", aggregateId)
    yield* publish(keyring, log, grants)
    const active = Option.getOrThrow(yield* keyring.activeKek(storeId)).versionId
    const sealed = yield* crypto.seal(key, Bytes.utf8(plaintext), Bytes.utf8(`${storeId}/${ref.id}/${ref.epoch}`))
    log.data.push({ storeId, ref, nonce: sealed.nonce, ciphertext: sealed.ciphertext, plaintext, activeWhenWritten: active })
  })

/**
 * What a member holding `versions` (raw KEKs) can read: it opens every key
 * record sealed under a version it holds, imports the DEK epochs, and tries
 * every data record. Returns the plaintexts it could not recover.
 */
const unreadable = (log: Log, storeId: string, versions: ReadonlyArray<{ versionId: string; raw: Uint8Array }>) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const keks = new Map<string, SymmetricKey<"kek">>()
    for (const v of versions) keks.set(v.versionId, yield* crypto.importKey("kek", v.raw))
    const deks = new Map<string, Uint8Array>()
    for (const g of log.grants) {
      const kek = keks.get(g.kekVersionId)
      if (!kek) continue
      const body = yield* crypto.open(kek, { suite: "A256GCM", nonce: g.nonce, ciphertext: g.ciphertext }, grantAad(storeId, g.kekVersionId))
      const grant = Schema.decodeUnknownSync(GrantJson)(Bytes.fromUtf8(body))
      for (const e of grant.epochs) deks.set(`${grant.keyId}@${e.epoch}`, e.key)
    }
    const missing: Array<string> = []
    for (const d of log.data) {
      const raw = deks.get(`${d.ref.id}@${d.ref.epoch}`)
      if (!raw) {
        missing.push(d.plaintext)
        continue
      }
      const dek = yield* crypto.importKey("dek", raw)
      const opened = yield* Effect.either(crypto.open(dek, { suite: "A256GCM", nonce: d.nonce, ciphertext: d.ciphertext }, Bytes.utf8(`${d.storeId}/${d.ref.id}/${d.ref.epoch}`)))
      if (Either.isLeft(opened) || Bytes.fromUtf8(opened.right) !== d.plaintext) missing.push(d.plaintext)
    }
    return missing
  })

const liveVersions = (keyring: Keyring.Keyring, storeId: string) =>
  Effect.gen(function*() {
    const out: Array<{ versionId: string; raw: Uint8Array }> = []
    for (const v of yield* keyring.kekVersions(storeId)) {
      if (v.status !== "destroyed") out.push({ versionId: v.versionId, raw: yield* keyring.exportKek(storeId, v.versionId) })
    }
    return out
  })

type Op =
  | { readonly _tag: "append"; readonly aggregate: number }
  | { readonly _tag: "rotate" }
  | { readonly _tag: "deprecate" }
  | { readonly _tag: "rewrap" }
  | { readonly _tag: "destroy" }
  | { readonly _tag: "wait" }

const ops: fc.Arbitrary<ReadonlyArray<Op>> = fc.array(fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 3 }).map((aggregate): Op => ({ _tag: "append", aggregate })) },
  { weight: 2, arbitrary: fc.constant<Op>({ _tag: "rotate" }) },
  { weight: 2, arbitrary: fc.constant<Op>({ _tag: "deprecate" }) },
  { weight: 1, arbitrary: fc.constant<Op>({ _tag: "rewrap" }) },
  { weight: 2, arbitrary: fc.constant<Op>({ _tag: "destroy" }) },
  { weight: 1, arbitrary: fc.constant<Op>({ _tag: "wait" }) }
), { minLength: 5, maxLength: 40 })

/** Runs a history; `destroy` is the keyring's (or a mutant's) destroy. */
const runHistory = (history: ReadonlyArray<Op>, destroy: (k: Keyring.Keyring, s: string, v: string) => Effect.Effect<void, unknown, never>) =>
  Effect.gen(function*() {
    const keyring = yield* newKeyring({ ...Keyring.defaultPolicy, kekGraceMs: day })
    const log: Log = { data: [], grants: [] }
    let n = 0
    yield* keyring.createKek("s1", "kv0")
    for (const op of history) {
      switch (op._tag) {
        case "append":
          yield* append(keyring, log, "s1", `g${op.aggregate}`, `event ${log.data.length}`)
          break
        case "rotate":
          yield* keyring.createKek("s1", `kv${++n}`)
          break
        case "deprecate": {
          const oldest = (yield* keyring.kekVersions("s1")).find((v) => v.status === "decrypt-only")
          if (oldest) yield* keyring.setKekStatus("s1", oldest.versionId, "deprecated")
          break
        }
        case "rewrap":
          yield* publish(keyring, log, yield* keyring.pendingGrants("s1"))
          break
        case "destroy": {
          const deprecated = (yield* keyring.kekVersions("s1")).find((v) => v.status === "deprecated")
          if (deprecated) yield* Effect.ignore(destroy(keyring, "s1", deprecated.versionId))
          break
        }
        case "wait":
          yield* TestClock.adjust(2 * day)
          break
      }
    }
    return { keyring, log }
  })

const forceDestroy = (keyring: Keyring.Keyring, storeId: string, versionId: string) =>
  Effect.gen(function*() {
    const record = Option.getOrThrow(yield* Keyring.readEntry(keyring.vault, Keyring.entries.kek(storeId, versionId), Keyring.KekRecord))
    const { key: _key, ...rest } = record
    yield* Keyring.writeEntry(keyring.vault, Keyring.entries.kek(storeId, versionId), Keyring.KekRecord, { ...rest, status: "destroyed" })
  }).pipe(Effect.orDie)

describe("Keyring", () => {
  it.effect("initialise: an identity, a device certified by it, and a cache key", () =>
    Effect.gen(function*() {
      const keyring = yield* newKeyring()
      const identity = yield* keyring.identity
      const device = yield* keyring.device
      expect(identity.userId).toBe("u1")
      expect(device.certificate.deviceId).toBe("d1")
      yield* Identity.verifyCertificate(yield* Identity.verifyChain(identity.genesis, identity.chain), device.certificate)
      expect((yield* keyring.cacheKey).purpose).toBe("cache")
    }).pipe(Effect.provide(memory().layer)))

  it.effect("INV-007 rotateIdentity: new keys in the vault, the statement verifies from the genesis, the old keys are kept to open what was sealed to them", () =>
    Effect.gen(function*() {
      const keyring = yield* newKeyring()
      const before = (yield* keyring.identity).public
      const statement = yield* keyring.rotateIdentity("emergency", 0)
      expect(statement.kind).toBe("emergency")
      const after = yield* keyring.identity
      expect(after.public.signingPublicKey).toEqual(statement.newSigningPublicKey)
      expect(Bytes.equalsPublic(after.public.signingPublicKey, before.signingPublicKey)).toBe(false)
      expect(after.previousEncryption.map((k) => k.publicKey)).toEqual([before.encryptionPublicKey])
      const view = yield* Identity.verifyChain(after.genesis, after.chain)
      expect(view.current).toEqual(after.public)
      const stored = Option.getOrThrow(yield* Keyring.readEntry(keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets))
      expect(stored.chain).toHaveLength(1)
    }).pipe(Effect.provide(memory().layer)))

  it.effect("adoptIdentity: takes a rotated copy of the same identity; refuses another genesis, a fork and a broken chain", () =>
    Effect.gen(function*() {
      const laptop = yield* newKeyring()
      const secrets = Option.getOrThrow(yield* Keyring.readEntry(laptop.vault, Keyring.entries.identity, Identity.IdentitySecrets))
      const another = (deviceId: string) =>
        Effect.provide(Effect.flatMap(Vault.create(passphrase, { policy }), (v) => Keyring.initialize(v, { userId: "u1", deviceId, identity: secrets })), memory().layer)
      const phone = yield* another("d2")
      const tablet = yield* another("d3")
      yield* laptop.rotateIdentity("planned", 1000)
      const rotated = Option.getOrThrow(yield* Keyring.readEntry(laptop.vault, Keyring.entries.identity, Identity.IdentitySecrets))
      // A fork: the tablet rotates the same old identity on its own.
      yield* tablet.rotateIdentity("emergency", 0)
      const forked = Option.getOrThrow(yield* Keyring.readEntry(tablet.vault, Keyring.entries.identity, Identity.IdentitySecrets))
      const other = yield* Identity.generate("u1", 1)
      const reason = (next: Identity.IdentitySecrets, on: Keyring.Keyring) =>
        Effect.map(Effect.flip(on.adoptIdentity(next)), (e) => e.message)
      expect(yield* reason(other, phone)).toMatch(/genesis/)
      expect(yield* reason(forked, laptop)).toMatch(/fork/)
      const broken = { ...rotated, chain: rotated.chain.map((s) => ({ ...s, rotatedAt: s.rotatedAt + 1 })) }
      expect(yield* reason(broken, phone)).toMatch(/signature/)
      yield* phone.adoptIdentity(rotated)
      expect((yield* phone.identity).public).toEqual((yield* laptop.identity).public)
    }).pipe(Effect.provide(memory().layer)))

  it.effect("KEK versions: creating one makes the active one decrypt-only; only deprecated versions are destroyed, after their grace period", () =>
    Effect.gen(function*() {
      const keyring = yield* newKeyring({ ...Keyring.defaultPolicy, kekGraceMs: day })
      yield* keyring.createKek("s1", "v1")
      yield* keyring.createKek("s1", "v2")
      expect((yield* keyring.kekVersions("s1")).map((v) => [v.versionId, v.status])).toEqual([["v1", "decrypt-only"], ["v2", "active"]])
      expect(Option.map(yield* keyring.activeKek("s1"), (v) => v.versionId)).toEqual(Option.some("v2"))
      const activeDeprecation = yield* Effect.either(keyring.setKekStatus("s1", "v2", "deprecated"))
      expect(Either.isLeft(activeDeprecation) && activeDeprecation.left.message).toMatch(/create a new version first/)
      const early = yield* Effect.either(keyring.destroyKek("s1", "v1"))
      expect(Either.isLeft(early) && early.left.message).toMatch(/only a deprecated version/)
      yield* keyring.setKekStatus("s1", "v1", "deprecated")
      const grace = yield* Effect.either(keyring.destroyKek("s1", "v1"))
      expect(Either.isLeft(grace) && grace.left.message).toMatch(/grace period/)
      yield* TestClock.adjust(day)
      yield* keyring.destroyKek("s1", "v1")
      expect((yield* keyring.kekVersions("s1")).find((v) => v.versionId === "v1")?.status).toBe("destroyed")
      expect(Either.isLeft(yield* Effect.either(keyring.kek("s1", "v1")))).toBe(true)
      expect(Either.isLeft(yield* Effect.either(keyring.createKek("s1", "v2")))).toBe(true)
    }).pipe(Effect.provide(memory().layer)))

  it.effect("DEK epochs: one epoch per aggregate until a rotation; every epoch stays resolvable; grants appear once", () =>
    Effect.gen(function*() {
      const keyring = yield* newKeyring()
      const log: Log = { data: [], grants: [] }
      yield* keyring.createKek("s1", "v1")
      const first = yield* keyring.dekForWrite("s1", "Goal", "g1")
      expect(first.ref.epoch).toBe(0)
      expect(first.grants).toHaveLength(1)
      yield* publish(keyring, log, first.grants)
      const second = yield* keyring.dekForWrite("s1", "Goal", "g1")
      expect(second.ref).toEqual(first.ref)
      expect(second.grants).toHaveLength(0)
      yield* keyring.createKek("s1", "v2")
      const third = yield* keyring.dekForWrite("s1", "Goal", "g1")
      expect(third.ref).toEqual({ id: first.ref.id, epoch: 1 })
      expect(third.grants[0]!.epochs.map((e) => e.epoch)).toEqual([0, 1]) // the new epoch, and epoch 0 re-wrapped under v2
      expect((yield* keyring.dek("s1", first.ref)).purpose).toBe("dek")
      const missing = yield* Effect.either(keyring.dek("s1", { id: first.ref.id, epoch: 9 } as KeyRef))
      expect(Either.isLeft(missing) && missing.left._tag).toBe("KeysMissing")
      expect(yield* keyring.isKekRef("s1", { id: "v2", epoch: 0 } as KeyRef)).toBe(true)
      expect(yield* keyring.isKekRef("s1", first.ref)).toBe(false)
    }).pipe(Effect.provide(memory().layer)))

  it.effect.prop(
    "INV-008 no DEK epoch encrypts past the usage limit: the keyring moves to a new epoch first",
    [fc.integer({ min: 2, max: 20 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 30 })],
    ([limit, batches]) =>
      Effect.gen(function*() {
        const crypto = yield* Crypto.Crypto
        const keyring = yield* newKeyring({ ...Keyring.defaultPolicy, dekUsageLimit: limit, reservationBlock: 3 })
        yield* keyring.createKek("s1", "v1")
        const perEpoch = new Map<number, number>()
        for (const count of batches.map((b) => Math.min(b, limit))) {
          const { ref, key } = yield* keyring.dekForWrite("s1", "Goal", "g1", count)
          yield* crypto.sealMany(key, Array.from({ length: count }, () => ({ plaintext: new Uint8Array(1), aad: new Uint8Array(0) })))
          perEpoch.set(ref.epoch, (perEpoch.get(ref.epoch) ?? 0) + count)
        }
        for (const used of perEpoch.values()) expect(used).toBeLessThanOrEqual(limit)
      }).pipe(Effect.provide(memory().layer)),
    { fastCheck: { numRuns: 25 } }
  )

  it.effect("INV-008 usage survives a restart: reservations are persisted ahead of use, so a reopened keyring never under-counts", () => {
    const { layer } = memory()
    return Effect.gen(function*() {
      const crypto = yield* Crypto.Crypto
      const policyWithLimit = { ...Keyring.defaultPolicy, dekUsageLimit: 10, reservationBlock: 4 }
      const keyring = yield* newKeyring(policyWithLimit)
      yield* keyring.createKek("s1", "v1")
      const { key } = yield* keyring.dekForWrite("s1", "Goal", "g1", 3)
      yield* crypto.sealMany(key, [1, 2, 3].map(() => ({ plaintext: new Uint8Array(1), aad: new Uint8Array(0) })))
      // "crash": reopen from storage without closing
      const reopened = yield* Keyring.make(yield* Vault.unlock(passphrase, { policy }), policyWithLimit)
      const after = yield* reopened.dekForWrite("s1", "Goal", "g1", 1)
      expect(after.key.used).toBeGreaterThanOrEqual(3)
      const big = yield* reopened.dekForWrite("s1", "Goal", "g1", 5)
      expect(big.ref.epoch).toBe(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("INV-015 (key level) after a KEK rotation, new events use epochs created under the new version only", () =>
    Effect.gen(function*() {
      const keyring = yield* newKeyring()
      const log: Log = { data: [], grants: [] }
      yield* keyring.createKek("s1", "v1")
      for (let i = 0; i < 3; i++) yield* append(keyring, log, "s1", `g${i}`, `before ${i}`)
      const removedMemberHeld = yield* liveVersions(keyring, "s1") // everything a member had before being removed
      yield* keyring.createKek("s1", "v2")
      for (let i = 0; i < 3; i++) yield* append(keyring, log, "s1", `g${i}`, `after ${i}`)
      const unreadableForRemoved = yield* unreadable(log, "s1", removedMemberHeld)
      expect(unreadableForRemoved.sort()).toEqual(["after 0", "after 1", "after 2"])
      expect(yield* unreadable(log, "s1", yield* liveVersions(keyring, "s1"))).toEqual([])
    }).pipe(Effect.provide(memory().layer)))

  it.effect.prop(
    "INV-009 any history of appends, rotations, deprecations, re-wraps and destructions leaves every event readable for current members; only the active version encrypts",
    [ops],
    ([history]) =>
      Effect.gen(function*() {
        const { keyring, log } = yield* runHistory(history, (k, s, v) => k.destroyKek(s, v))
        for (const d of log.data) {
          const dek = Option.getOrThrow(Option.fromNullable((yield* keyring.deks("s1")).find((r) => r.keyId === d.ref.id)))
          expect(dek.epochs.find((e) => e.epoch === d.ref.epoch)?.createdUnder).toBe(d.activeWhenWritten)
        }
        expect(yield* unreadable(log, "s1", yield* liveVersions(keyring, "s1"))).toEqual([])
      }).pipe(Effect.provide(memory().layer)),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect("INV-009 mutant: destroying versions without the re-wrap check strands events", () =>
    Effect.gen(function*() {
      const failing = fc.sample(ops, { numRuns: 120, seed: 9 })
      let stranded = 0
      for (const history of failing) {
        const { keyring, log } = yield* runHistory(history, (k, s, v) => forceDestroy(k, s, v)).pipe(Effect.provide(memory().layer))
        const missing = yield* unreadable(log, "s1", yield* liveVersions(keyring, "s1")).pipe(Effect.provide(memory().layer))
        if (missing.length > 0) stranded++
      }
      expect(stranded).toBeGreaterThan(0)
    }).pipe(Effect.provide(memory().layer)))

  it.effect("grants from another device are adopted; a grant that contradicts a held epoch is refused", () =>
    Effect.gen(function*() {
      const a = yield* newKeyring().pipe(Effect.provide(memory().layer))
      const b = yield* newKeyring().pipe(Effect.provide(memory().layer))
      yield* a.createKek("s1", "v1")
      yield* b.importKek("s1", { versionId: "v1", raw: yield* a.exportKek("s1", "v1"), status: "active", createdAt: 0 })
      const { ref, grants } = yield* a.dekForWrite("s1", "Goal", "g1")
      yield* b.importGrant(grants[0]!)
      expect((yield* b.dek("s1", ref)).purpose).toBe("dek")
      expect((yield* b.dekForWrite("s1", "Goal", "g1")).ref).toEqual(ref) // b writes with the adopted key
      const forged: Keyring.DekGrant = { ...grants[0]!, epochs: grants[0]!.epochs.map((e) => ({ ...e, key: new Uint8Array(32).fill(1) })) }
      const conflict = yield* Effect.either(b.importGrant(forged))
      expect(Either.isLeft(conflict) && conflict.left._tag).toBe("KeyConflict")
    }).pipe(Effect.provide(memory().layer)))
})
