/**
 * Sharing a store between users, through a real server process on loopback
 * — the same tests once on SQLite, once on a fresh PostgreSQL database:
 * whole devices (keyring, local store on SQLite, sync engine, HTTP
 * transport) for alice, bob and carol. The client side of sharing is
 * `Sharing` from `@cipherlog/sync-transport-http` (verifyUser, addMember,
 * rotate/removeMember, acceptOwnBlobs); the INV-015 mutants use its
 * test-only `RotationMutant` hook.
 *
 * - alice adds bob as a member, checks his public keys against his safety
 *   number, provisions the active KEK version to him as a KEK blob; bob
 *   fetches his blobs, opens them, syncs and reads everything alice wrote;
 *   alice reads what bob writes.
 * - carol, who is not a member, gets nothing from the server (403), and a
 *   blob sealed to bob does not open with her keys.
 * - dave, a reader, reads everything; the server refuses his writes.
 * - INV-015: after a rotation that removes carol, nothing written after it
 *   decrypts with everything carol held, while alice and bob read
 *   everything; a mutant that also provisions the new version to carol is
 *   caught by the same check.
 * - INV-015/INV-009 over random membership histories of four users and up
 *   to nine devices (additions as member or reader, role changes, removals
 *   by rotation, re-additions, linked devices, writes, and destruction of
 *   old KEK versions after every writing device re-wrapped), with three
 *   mutants: the new version also sealed to the removed user, a version
 *   taken out of circulation without the re-wrap, readers never provisioned.
 * - Three users and four devices (alice's laptop and phone, bob, carol):
 *   share, rotate, remove, re-add, and revoke alice's phone.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import type { KeyId, StoreId, UserId } from "@cipherlog/domain"
import { Bytes } from "@cipherlog/domain"
import { LocalStore } from "@cipherlog/event-store"
import { SqliteNodeEventStore } from "@cipherlog/event-store-sqlite-node"
import { Identity, KekBlob, Keyring, KeyStore, Prekeys, Vault } from "@cipherlog/keys"
import { SyncEngine, SyncTransport } from "@cipherlog/sync"
import { HttpTransport, PrekeyClient, Sharing } from "@cipherlog/sync-transport-http"
import { FetchHttpClient } from "@effect/platform"
import { Effect, Either, FastCheck as fc, Layer, Option, Redacted, type Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Client from "./support/client.js"
import * as Servers from "./support/server.js"


/** No grace period before a deprecated KEK version may be destroyed: the histories destroy one once every device synced. */
const devicePolicy: Keyring.KeyPolicy = { ...Keyring.defaultPolicy, kekGraceMs: 0 }

/**
 * A user's device (`laptop` unless named): keyring in its own memory key
 * store, local store, engine and HTTP client. With `sameUserAs`, another
 * device of that user: the identity copied from it (as a key backup or the
 * recovery phrase would bring it), trusting the same peers.
 */
const person = (baseUrl: string, storeId: string, userId: string, device: { readonly name: string; readonly sameUserAs?: Person } = { name: "laptop" }) =>
  Effect.gen(function*() {
    /** The other users this device trusts, added once their safety number was compared. */
    const peers = device.sameUserAs?.peers ?? new Map<string, Identity.PublicIdentity>()
    const vault = yield* Effect.provide(
      Vault.create(Redacted.make(`${userId} ${device.name} passphrase`), { policy: Vault.insecureTestPolicy }),
      Layer.merge(KeyStore.layerMemory(), NodeCrypto.layer)
    )
    const identitySecrets = device.sameUserAs === undefined
      ? {}
      : { identity: Option.getOrThrow(yield* Keyring.readEntry(device.sameUserAs.keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets)) }
    const keyring = yield* Effect.provide(Keyring.initialize(vault, { userId, deviceId: `${userId}-${device.name}`, ...identitySecrets }, devicePolicy), NodeCrypto.layer)
    const events = yield* SqliteNodeEventStore.make(":memory:")
    const store = yield* Effect.provide(LocalStore.make({
      storeId, eventStore: events, keyring: Option.some(keyring), peers: (id) => Effect.succeed(Option.fromNullable(peers.get(id)))
    }), NodeCrypto.layer)
    const identity = yield* keyring.identity
    const client = yield* HttpTransport.forKeyring(keyring, { baseUrl }).pipe(Effect.provide(Layer.merge(FetchHttpClient.layer, NodeCrypto.layer)))
    const engine = yield* SyncEngine.make(store, { retry: { baseMs: 10, maxMs: 200 } }).pipe(
      Effect.provideService(SyncTransport.SyncTransport, client.transport)
    )
    yield* client.register
    const safetyNumber = yield* Effect.provide(Identity.fingerprint(identity.public), NodeCrypto.layer)
    return { userId, keyring, store, engine, client, public: identity.public, safetyNumber, peers }
  })
interface Person {
  readonly userId: string
  readonly keyring: Keyring.Keyring
  readonly store: LocalStore.LocalStore
  readonly engine: SyncEngine.SyncEngine
  readonly client: HttpTransport.SyncClient
  readonly public: Identity.PublicIdentity
  readonly safetyNumber: string
  readonly peers: Map<string, Identity.PublicIdentity>
}

const sid = (s: string) => s as StoreId
const uid = (s: string) => s as UserId
const vid = (s: string) => s as KeyId

/** A user's public identity as the server reports it, accepted only if it matches the safety number compared out of band (Sharing.verifyUser). */
const verifiedIdentity = (asker: Person, userId: string, safetyNumber: string) =>
  Effect.gen(function*() {
    const { identity } = yield* Effect.provide(Sharing.verifyUser(asker.client, userId, safetyNumber), NodeCrypto.layer)
    asker.peers.set(userId, identity)
    return identity
  })

/** The sharing context of a person's device in a store. */
const ctx = (p: Person, storeId: string): Sharing.Context => ({ client: p.client, keyring: p.keyring, storeId })
const trusted = (p: Person): Sharing.Identities => (userId) => Option.fromNullable(p.peers.get(userId))

/** An admin seals a KEK version to a member (by their verified identity). */
const blobFor = (admin: Person, storeId: string, versionId: string, recipient: Identity.PublicIdentity) =>
  Effect.map(
    Effect.provide(KekBlob.provision(admin.keyring, { storeId, versionId, recipient }), NodeCrypto.layer),
    (bytes) => ({ userId: uid(recipient.userId), blob: Bytes.toBase64Url(bytes) })
  )

/**
 * A member fetches its own blobs, opens each with the sender's identity
 * (verified by safety number) and imports the versions with the status the
 * server lists (Sharing.acceptOwnBlobs).
 */
const acceptBlobs = (member: Person, storeId: string, senders: ReadonlyMap<string, Identity.PublicIdentity>) =>
  Effect.map(
    Effect.provide(Sharing.acceptOwnBlobs(ctx(member, storeId), (id) => Option.fromNullable(senders.get(id))), NodeCrypto.layer),
    (r) => r.accepted.length
  )

const append = (p: Person, aggregateId: string, title: string) =>
  p.store.append({ aggregateType: "Goal", aggregateId, events: [{ eventType: "GoalSet", payload: { title } }] })

/** What a device reads: `aggregate@version:payload` per event, `Locked`/`Rejected` with the event id otherwise. */
const view = (p: Person) =>
  Effect.map(Stream.runCollect(p.store.readAll({ verify: true })), (items) =>
    Array.from(items).map((i) =>
      i._tag === "Event" ? `${i.event.aggregateId}@${i.event.version}:${JSON.stringify(i.event.payload)}` : `${i._tag}:${i.header.eventId}`
    ).sort())

const failureTag = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.either(effect), (e) => (Either.isLeft(e) ? e.left._tag : "succeeded"))

const scoped = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

/** alice with a store and its first KEK version (registered on the server, with her own blob). */
const aliceWithStore = (baseUrl: string, storeId: string) =>
  Effect.gen(function*() {
    const alice = yield* person(baseUrl, storeId, `alice-${storeId}`)
    yield* alice.keyring.createKek(storeId, "kv1")
    yield* alice.client.authenticated((api) => api.stores.create({ payload: { storeId: sid(storeId) } }))
    const own = yield* blobFor(alice, storeId, "kv1", alice.public)
    yield* alice.client.authenticated((api) =>
      api.kek.createVersion({ path: { storeId: sid(storeId) }, payload: { versionId: vid("kv1"), reason: "initial", blobs: [own] } })
    )
    return alice
  })

/** alice adds `member` with `role` (verified by safety number) and provisions every version she holds (Sharing.addMember). */
const share = (alice: Person, member: Person, storeId: string, role: "member" | "reader" = "member") =>
  Effect.gen(function*() {
    const identity = yield* verifiedIdentity(alice, member.userId, member.safetyNumber)
    yield* Effect.provide(Sharing.addMember(ctx(alice, storeId), { identity, role }), NodeCrypto.layer)
  })

/** Every record of the store, as a member reads it from the server (a removed member's copy of "everything"). */
const wholeLog = (member: Person, storeId: string) =>
  Effect.gen(function*() {
    const records: Array<{ readonly recordJson: string; readonly globalSequence: number }> = []
    for (;;) {
      const page = yield* member.client.transport.pull(storeId, { after: records.length, limit: 500 })
      records.push(...page.records.map((r) => ({ recordJson: r.recordJson, globalSequence: r.globalSequence })))
      if (!page.hasMore) return records
    }
  })

/** Every key a device holds for the store, as base64url: KEK versions and DEK epochs (with the epochs' KEK version). */
const heldKeys = (p: Person, storeId: string) =>
  Effect.gen(function*() {
    const keys = new Map<string, string>()
    for (const v of yield* p.keyring.kekVersions(storeId)) {
      if (v.status !== "destroyed") keys.set(Bytes.toBase64Url(yield* p.keyring.exportKek(storeId, v.versionId)), `kek:${v.versionId}`)
    }
    for (const d of yield* p.keyring.deks(storeId)) {
      for (const e of d.epochs) keys.set(Bytes.toBase64Url(e.key), `dek:${d.keyId}@${e.epoch}/${e.createdUnder}`)
    }
    return keys
  })

/**
 * alice, bob and carol share a store and each write; alice removes carol
 * (`mutant`: instead of a rotation that removes her, a new version sealed
 * to everyone, then a plain removal — the bug INV-015 exists to catch);
 * alice and bob write again. Returns what carol, with everything she held,
 * can read of the writes after the removal, and what the others read.
 */
const removalScenario = (baseUrl: string, mutant: boolean) =>
  Effect.gen(function*() {
    const storeId = `rot-${mutant ? "m" : "r"}-${Date.now().toString(36)}`
    const alice = yield* aliceWithStore(baseUrl, storeId)
    const bob = yield* person(baseUrl, storeId, `bob-${storeId}`)
    const carol = yield* person(baseUrl, storeId, `carol-${storeId}`)
    const aliceIdentity = yield* verifiedIdentity(bob, alice.userId, alice.safetyNumber)
    yield* verifiedIdentity(carol, alice.userId, alice.safetyNumber)
    yield* verifiedIdentity(bob, carol.userId, carol.safetyNumber)
    yield* verifiedIdentity(carol, bob.userId, bob.safetyNumber)
    const senders = new Map([[alice.userId, aliceIdentity]])
    yield* share(alice, bob, storeId)
    yield* share(alice, carol, storeId)
    for (const m of [bob, carol]) yield* acceptBlobs(m, storeId, senders)

    yield* append(alice, "g1", "before 1")
    yield* append(bob, "g2", "before 2")
    yield* append(carol, "g3", "before 3")
    for (let round = 0; round < 2; round++) for (const p of [alice, bob, carol]) yield* p.engine.syncOnce
    const before = yield* view(alice)
    expect(before).toHaveLength(3)
    for (const p of [bob, carol]) expect(yield* view(p)).toEqual(before)

    // The removal: a rotation to kv2 sealed to alice and bob only (mutant: sealed to carol too, who fetches it before her removal).
    const remaining = [alice, bob]
    yield* verifiedIdentity(alice, bob.userId, bob.safetyNumber)
    yield* verifiedIdentity(alice, carol.userId, carol.safetyNumber)
    const path = { storeId: sid(storeId) }
    const rotated = yield* Effect.provide(
      Sharing.removeMember(ctx(alice, storeId), carol.userId, trusted(alice), mutant ? { sealToRemoved: true, beforeRemoval: acceptBlobs(carol, storeId, senders) } : undefined),
      NodeCrypto.layer
    )
    expect(rotated.versionId).toBe("kv2")
    expect(rotated.removedUserIds).toEqual([carol.userId])
    expect([...rotated.provisionedTo].sort()).toEqual((mutant ? [alice, bob, carol] : [alice, bob]).map((p) => p.userId).sort())
    expect((yield* alice.client.authenticated((api) => api.kek.activeVersion({ path }))).versionId).toBe("kv2")
    yield* acceptBlobs(bob, storeId, senders)
    expect((yield* bob.keyring.kekVersions(storeId)).map((v) => [v.versionId, v.status])).toEqual([["kv1", "decrypt-only"], ["kv2", "active"]])
    // carol is out: the server answers her with 403s.
    expect(yield* failureTag(carol.client.transport.pull(storeId, { after: 0, limit: 10 }))).toBe("AccessDenied")
    expect(yield* failureTag(carol.client.authenticated((api) => api.kek.myBlobs({ path })))).toBe("Forbidden")

    // Writes after the removal: on aggregates old (g1, g2, carol's g3) and new (g4).
    yield* append(alice, "g1", "after 1")
    yield* append(bob, "g2", "after 2")
    yield* append(bob, "g3", "after 3")
    yield* append(alice, "g4", "after 4")
    for (let round = 0; round < 2; round++) for (const p of remaining) yield* p.engine.syncOnce
    const after = yield* view(alice)

    // Everything carol held: her keyring and her local store, plus every record of the log (as if leaked).
    const leaked = yield* wholeLog(alice, storeId)
    const cursor = yield* carol.store.eventStore.cursor(storeId)
    yield* carol.store.ingest(leaked.filter((r) => r.globalSequence > cursor))
    yield* carol.store.retryParked
    const carolReads = yield* view(carol)
    const newLines = after.filter((l) => !before.includes(l))
    const carolKeys = yield* heldKeys(carol, storeId)
    const keysOfNewWrites = new Map<string, string>()
    for (const p of remaining) {
      for (const [key, name] of yield* heldKeys(p, storeId)) if (name === "kek:kv2" || name.endsWith("/kv2")) keysOfNewWrites.set(key, name)
    }
    return {
      before, after, newLines,
      remainingViews: yield* Effect.forEach(remaining, view),
      carolReadsNew: newLines.filter((l) => carolReads.includes(l)),
      carolReadsOld: before.filter((l) => carolReads.includes(l)),
      carolLocked: carolReads.filter((l) => l.startsWith("Locked:")).length,
      carolHoldsNewKeys: [...keysOfNewWrites.keys()].filter((k) => carolKeys.has(k)).map((k) => keysOfNewWrites.get(k)!),
      newKeys: keysOfNewWrites.size
    }
  })

type Role = "member" | "reader"
type HistoryStep =
  | { readonly op: "add"; readonly user: number; readonly role: Role }
  | { readonly op: "remove"; readonly user: number }
  | { readonly op: "write"; readonly device: number }
  | { readonly op: "link"; readonly user: number }
  | { readonly op: "destroy" }

/**
 * What a history's mutant breaks (test-only; each must be reported by the check):
 * - `seal-to-removed`: a removal also seals the new version to the removed user (INV-015);
 * - `destroy-without-rewrap`: a version is taken out of circulation (no longer provisioned, its blobs deleted)
 *   without the members re-wrapping first (INV-009: members and devices added later cannot read what it protected);
 * - `readers-unprovisioned`: readers are never given a KEK version (INV-009: a reader reads nothing).
 */
type HistoryMutant = "seal-to-removed" | "destroy-without-rewrap" | "readers-unprovisioned"

/**
 * A random membership history on a fresh store. alice (the admin) adds bob,
 * carol and dave as members or readers (an addition provisions every live
 * version alice holds; adding a member again with another role changes the
 * role), removes them (a rotation: a new KEK version sealed to the
 * remaining members only) and destroys old versions: deprecated on the
 * server, every writing device of every member re-wraps (`rewrap`), every
 * member device destroys it locally, and alice deletes its blobs on the
 * server — so members and devices added afterwards receive live versions
 * only. alice and bob start with two devices each (laptop, phone), carol and
 * dave with one; a member can link another device (the identity copied, as
 * a recovery would bring it); devices of members with the role `member`
 * write. At the end the members' devices sync and every other device takes
 * every record of the log as if leaked. Returns every violation: a current
 * member's device that cannot read an event (INV-009), a device that reads
 * an event written under a KEK version created after its user's last
 * membership ended (INV-015), or a member device that cannot destroy a
 * version after the re-wrap. (A removed member may or may not read what
 * came before their removal: that depends on whether they fetched their
 * blobs while they were a member.)
 */
const membershipHistory = (baseUrl: string, steps: ReadonlyArray<HistoryStep>, tag: string, mutant?: HistoryMutant) =>
  Effect.gen(function*() {
    const storeId = `hist-${tag}`
    const path = { storeId: sid(storeId) }
    const alice = yield* aliceWithStore(baseUrl, storeId)
    const firsts = [alice, ...(yield* Effect.forEach(["bob", "carol", "dave"], (name) => person(baseUrl, storeId, `${name}-${tag}`)))]
    const others = firsts.slice(1)
    const devices: Array<{ readonly name: string; readonly device: Person }> = firsts.map((p) => ({ name: `${p.userId.split("-")[0]}/laptop`, device: p }))
    const link = (user: Person, name: string) =>
      Effect.map(person(baseUrl, storeId, user.userId, { name, sameUserAs: user }), (device) => {
        devices.push({ name: `${user.userId.split("-")[0]}/${name}`, device })
        return device
      })
    yield* link(alice, "phone")
    yield* link(others[0]!, "phone")
    for (const a of firsts) for (const b of firsts) if (a !== b) yield* verifiedIdentity(a, b.userId, b.safetyNumber)
    const senders = new Map([[alice.userId, alice.public]]) // alice as her members verified her
    /** Membership intervals [from, until) in steps, per user (alice: always), and current roles. */
    const intervals = new Map<string, Array<[number, number]>>(others.map((p) => [p.userId, []]))
    const roles = new Map<string, Role | "admin">([[alice.userId, "admin"]])
    const versionCreatedAt = new Map<string, number>([["kv1", 0]])
    const destroyed = new Set<string>()
    let active = "kv1"
    let readers = 0
    const written: Array<{ readonly title: string; readonly version: string }> = []
    const violations: Array<string> = []
    const devicesOf = (userId: string) => devices.filter((d) => d.device.userId === userId)
    const memberDevices = () => devices.filter((d) => roles.has(d.device.userId))
    /** A device takes the blobs of versions it does not hold yet (alice's laptop holds them all). */
    const accept = (d: Person) => (d === alice ? Effect.void : Effect.asVoid(acceptBlobs(d, storeId, senders)))
    const syncMembers = (ds: ReadonlyArray<{ readonly device: Person }>) =>
      Effect.forEach(ds, ({ device }) => Effect.zipRight(device.engine.syncOnce, device.store.retryParked), { discard: true })
    /** alice deletes `userId`'s blobs of `versionIds` on the server (those it has). */
    const deleteBlobs = (userId: string, versionIds: Iterable<string>) =>
      Effect.forEach([...versionIds], (versionId) =>
        Effect.either(alice.client.authenticated((api) => api.kek.deleteBlob({ path: { ...path, userId: uid(userId), versionId: vid(versionId) } }))), { discard: true })
    for (const [i, step] of steps.entries()) {
      const at = i + 1
      if (step.op === "add") {
        const p = others[step.user]!
        if (roles.get(p.userId) === step.role) continue
        const wasMember = roles.has(p.userId)
        const added = yield* Effect.provide(Sharing.addMember(ctx(alice, storeId), { identity: alice.peers.get(p.userId)!, role: step.role }), NodeCrypto.layer)
        expect([...added.provisioned].sort()).toEqual([...versionCreatedAt.keys()].filter((v) => mutant === "destroy-without-rewrap" || !destroyed.has(v)).sort())
        if (mutant === "destroy-without-rewrap") yield* deleteBlobs(p.userId, destroyed)
        if (mutant === "readers-unprovisioned" && step.role === "reader") yield* deleteBlobs(p.userId, versionCreatedAt.keys())
        roles.set(p.userId, step.role)
        if (step.role === "reader") readers++
        if (!wasMember) intervals.get(p.userId)!.push([at, Infinity])
      } else if (step.op === "remove") {
        const p = others[step.user]!
        if (!roles.has(p.userId)) continue
        active = `kv${versionCreatedAt.size + 1}`
        versionCreatedAt.set(active, at)
        const beforeRemoval = Effect.forEach(devicesOf(p.userId), (d) => accept(d.device), { discard: true })
        yield* Effect.provide(
          Sharing.rotate(
            ctx(alice, storeId),
            { remove: [p.userId], identities: trusted(alice), versionId: active, reason: "removal" },
            mutant === "seal-to-removed" ? { sealToRemoved: true, beforeRemoval } : undefined
          ),
          NodeCrypto.layer
        )
        if (mutant === "readers-unprovisioned") {
          for (const [userId, role] of roles) if (role === "reader") yield* deleteBlobs(userId, [active])
        }
        roles.delete(p.userId)
        intervals.get(p.userId)!.find(([, until]) => until === Infinity)![1] = at
      } else if (step.op === "write") {
        const { device: p } = devices[step.device % devices.length]!
        if (roles.get(p.userId) !== "member" && roles.get(p.userId) !== "admin") continue
        yield* accept(p)
        const title = `e${written.length}`
        yield* append(p, `${p.keyring.deviceId}-agg`, title)
        yield* p.engine.syncOnce
        written.push({ title, version: active })
      } else if (step.op === "link") {
        const user = firsts[step.user]!
        if (!roles.has(user.userId) || devicesOf(user.userId).length >= 3) continue
        yield* accept(yield* link(user, `device${devices.length}`))
      } else {
        // destroy the oldest version that is neither active nor destroyed
        const target = (yield* alice.keyring.kekVersions(storeId)).filter((v) => v.status !== "active" && !destroyed.has(v.versionId))
          .sort((a, b) => a.createdAt - b.createdAt)[0]?.versionId
        if (target === undefined) continue
        yield* alice.client.authenticated((api) => api.kek.setVersionStatus({ path: { ...path, versionId: vid(target) }, payload: { status: "deprecated" } }))
        const writers = memberDevices().filter((d) => roles.get(d.device.userId) !== "reader")
        for (const { device } of writers) {
          yield* accept(device)
          yield* syncMembers([{ device }])
          if (mutant !== "destroy-without-rewrap") yield* device.store.rewrap
          yield* device.engine.syncOnce
        }
        yield* syncMembers(memberDevices())
        if (mutant !== "destroy-without-rewrap") {
          for (const { name, device } of memberDevices()) {
            if (!(yield* device.keyring.kekVersions(storeId)).some((v) => v.versionId === target && v.status !== "destroyed")) continue
            yield* device.keyring.setKekStatus(storeId, target, "deprecated")
            const refused = yield* Effect.flip(device.keyring.destroyKek(storeId, target)).pipe(Effect.option)
            if (Option.isSome(refused)) violations.push(`${name} cannot destroy ${target}: ${refused.value.message}`)
          }
        }
        for (const userId of roles.keys()) yield* deleteBlobs(userId, [target])
        destroyed.add(target)
      }
    }
    // Members sync; every other device gets every record of the log.
    const leaked = yield* wholeLog(alice, storeId)
    for (let round = 0; round < 2; round++) {
      for (const { device } of memberDevices()) yield* accept(device)
      yield* syncMembers(memberDevices())
    }
    for (const { device } of devices) {
      if (roles.has(device.userId)) continue
      const cursor = yield* device.store.eventStore.cursor(storeId)
      yield* device.store.ingest(leaked.filter((r) => r.globalSequence > cursor))
      yield* device.store.retryParked
    }
    for (const { name, device } of devices) {
      const lines = yield* view(device)
      const readable = new Set(lines.flatMap((l) => {
        const m = /:\{"title":"(e\d+)"\}$/.exec(l)
        return m ? [m[1]!] : []
      }))
      for (const w of written) {
        const what = `${name} ${readable.has(w.title) ? "reads" : "cannot read"} ${w.title} (${w.version})`
        // INV-009: every device of a current member reads everything.
        if (roles.has(device.userId) && !readable.has(w.title)) violations.push(what)
        // INV-015: no device reads what was written under a version created after its user's last membership ended.
        const receivedVersion = device.userId === alice.userId ||
          intervals.get(device.userId)!.some(([, until]) => until > versionCreatedAt.get(w.version)!)
        if (!receivedVersion && readable.has(w.title)) violations.push(what)
      }
    }
    return { violations, written: written.length, destroyed: destroyed.size, devices: devices.length, readers }
  })

const historyArb: fc.Arbitrary<ReadonlyArray<HistoryStep>> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant("add" as const), user: fc.integer({ min: 0, max: 2 }), role: fc.constantFrom<Role>("member", "member", "reader") }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant("remove" as const), user: fc.integer({ min: 0, max: 2 }) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant("write" as const), device: fc.nat({ max: 8 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("link" as const), user: fc.integer({ min: 0, max: 3 }) }) },
    // A destruction needs an older version (a removal before it): about one run in six destroys one.
    { weight: 2, arbitrary: fc.constant({ op: "destroy" as const }) }
  ),
  { minLength: 4, maxLength: 12 }
)

describe.each(Servers.stores.map(({ start, store }) => [store, start] as const))("sharing a store through a %s server process", (_store, start) => {
  let server: Servers.Server
  beforeAll(async () => {
    server = await start()
  }, 60_000)
  afterAll(() => server?.stop())

  it("alice shares a store with bob: he reads everything she wrote, she reads what he writes; carol, not a member, gets nothing", async () => {
    await scoped(Effect.gen(function*() {
      const storeId = `share-${Date.now().toString(36)}`
      const alice = yield* aliceWithStore(server.url, storeId)
      const bob = yield* person(server.url, storeId, `bob-${storeId}`)
      const carol = yield* person(server.url, storeId, `carol-${storeId}`)
      for (const [aggregate, title] of [["g1", "first"], ["g1", "second"], ["g2", "ünïcødé ✓"]] as const) yield* append(alice, aggregate, title)
      yield* alice.engine.syncOnce

      // Before sharing, bob is not a member: the server gives him nothing.
      expect(yield* failureTag(bob.client.authenticated((api) => api.kek.myBlobs({ path: { storeId: sid(storeId) } })))).toBe("Forbidden")

      yield* share(alice, bob, storeId)
      const aliceIdentity = yield* verifiedIdentity(bob, alice.userId, alice.safetyNumber)
      expect(yield* acceptBlobs(bob, storeId, new Map([[alice.userId, aliceIdentity]]))).toBe(1)
      expect((yield* bob.keyring.kekVersions(storeId)).map((v) => [v.versionId, v.status])).toEqual([["kv1", "active"]])
      yield* bob.engine.syncOnce
      const aliceView = yield* view(alice)
      expect(aliceView).toEqual(['g1@1:{"title":"first"}', 'g1@2:{"title":"second"}', 'g2@1:{"title":"ünïcødé ✓"}'])
      expect(yield* view(bob)).toEqual(aliceView)
      // Byte-identical payloads, event ids and versions.
      const events = (p: Person) =>
        Effect.map(Stream.runCollect(p.store.readAll({ verify: true })), (items) =>
          Array.from(items).flatMap((i) => (i._tag === "Event" ? [`${i.event.eventId}/${i.event.version}/${JSON.stringify(i.event.payload)}`] : [])).sort())
      expect(yield* events(bob)).toEqual(yield* events(alice))

      yield* append(bob, "g3", "from bob")
      yield* bob.engine.syncOnce
      yield* alice.engine.syncOnce
      expect(yield* view(alice)).toContain('g3@1:{"title":"from bob"}')
      expect(yield* view(alice)).toEqual(yield* view(bob))

      // carol is registered but not a member: 403 on blobs, records, members and bob's blobs.
      const store = { path: { storeId: sid(storeId) } }
      expect(yield* failureTag(carol.client.authenticated((api) => api.kek.myBlobs(store)))).toBe("Forbidden")
      expect(yield* failureTag(carol.client.authenticated((api) => api.kek.versions(store)))).toBe("Forbidden")
      expect(yield* failureTag(carol.client.authenticated((api) => api.stores.members(store)))).toBe("Forbidden")
      expect(yield* failureTag(carol.client.authenticated((api) =>
        api.kek.userBlobs({ path: { storeId: sid(storeId), userId: uid(bob.userId) } })
      ))).toBe("Forbidden")
      expect(yield* failureTag(carol.client.transport.pull(storeId, { after: 0, limit: 100 }))).toBe("AccessDenied")
      // bob (a member, not an admin) cannot read another user's blobs either.
      expect(yield* failureTag(bob.client.authenticated((api) =>
        api.kek.userBlobs({ path: { storeId: sid(storeId), userId: uid(alice.userId) } })
      ))).toBe("Forbidden")

      // Even holding bob's blob (taken from alice's admin view), carol's keys open nothing.
      const bobsBlobs = yield* alice.client.authenticated((api) => api.kek.userBlobs({ path: { storeId: sid(storeId), userId: uid(bob.userId) } }))
      expect(bobsBlobs).toHaveLength(1)
      const stolen = Bytes.fromBase64Url(bobsBlobs[0]!.blob)!
      const refused = yield* Effect.either(Effect.provide(
        KekBlob.accept(carol.keyring, { storeId, versionId: "kv1", blob: stolen, sender: aliceIdentity, status: "active" }),
        NodeCrypto.layer
      ))
      expect(Either.isLeft(refused) && refused.left._tag === "KekBlobRefused" && refused.left.reason).toBe("not-for-this-context")
      expect(yield* carol.keyring.kekVersions(storeId)).toEqual([])
      // The same bytes do open for bob (the negative above is not a broken blob).
      const opened = yield* Effect.provide(
        KekBlob.open({ blob: stolen, storeId, versionId: "kv1", recipient: yield* bob.keyring.identity, sender: aliceIdentity }),
        NodeCrypto.layer
      )
      expect(opened.kek).toHaveLength(32)
    }))
  }, 60_000)
  it("a reader (role reader) provisioned with the KEK reads everything, and the server refuses what it writes", async () => {
    await scoped(Effect.gen(function*() {
      const storeId = `reader-${Date.now().toString(36)}`
      const alice = yield* aliceWithStore(server.url, storeId)
      const dave = yield* person(server.url, storeId, `dave-${storeId}`)
      yield* append(alice, "g1", "for everyone")
      yield* alice.engine.syncOnce
      yield* share(alice, dave, storeId, "reader")
      yield* acceptBlobs(dave, storeId, new Map([[alice.userId, yield* verifiedIdentity(dave, alice.userId, alice.safetyNumber)]]))
      yield* dave.engine.syncOnce
      expect(yield* view(dave)).toEqual(['g1@1:{"title":"for everyone"}'])
      yield* append(dave, "g2", "not allowed")
      const pushed = yield* Effect.either(dave.engine.syncOnce)
      expect(Either.isLeft(pushed) ? pushed.left._tag : "synced").toBe("AccessDenied")
      expect((yield* dave.store.eventStore.counts(storeId)).pending).toBeGreaterThan(0) // kept, not lost
      yield* alice.engine.syncOnce
      expect(yield* view(alice)).toEqual(['g1@1:{"title":"for everyone"}'])
    }))
  }, 60_000)

  it("INV-015 after a rotation that removes carol, nothing written after it decrypts with everything she held; alice and bob read everything", async () => {
    const r = await scoped(removalScenario(server.url, false))
    expect(r.newLines).toEqual(['g1@2:{"title":"after 1"}', 'g2@2:{"title":"after 2"}', 'g3@2:{"title":"after 3"}', 'g4@1:{"title":"after 4"}'])
    // The remaining members read everything, old and new (INV-009).
    for (const v of r.remainingViews) expect(v).toEqual(r.after)
    expect(r.after).toHaveLength(7)
    // carol: the old events still open (her trust and keys work), none of the new ones do.
    expect(r.carolReadsOld).toEqual(r.before)
    expect(r.carolReadsNew).toEqual([])
    expect(r.carolLocked).toBe(4)
    // Not one key that protects the new writes (kv2, and every DEK epoch created under it) is among hers.
    expect(r.newKeys).toBeGreaterThanOrEqual(5)
    expect(r.carolHoldsNewKeys).toEqual([])
  }, 60_000)

  it("INV-015 mutant: a new version also sealed to carol before her removal is caught by the same checks", async () => {
    const r = await scoped(removalScenario(server.url, true))
    expect(r.carolReadsNew).toEqual(r.newLines)
    expect(r.carolHoldsNewKeys).toContain("kek:kv2")
  }, 60_000)
  it("INV-015 INV-009 random membership histories (members and readers, several devices per user, destroyed versions): every device of a current member reads every event; no device reads an event under a KEK version created after its user's removal", async () => {
    let run = 0
    const seen = { destroyed: 0, linked: 0, readers: 0, written: 0 }
    await fc.assert(
      fc.asyncProperty(historyArb, async (steps) => {
        const result = await scoped(membershipHistory(server.url, steps, `${Date.now().toString(36)}${run++}`))
        expect(result.violations).toEqual([])
        seen.destroyed += result.destroyed
        seen.linked += result.devices - 6
        seen.readers += result.readers
        seen.written += result.written
      }),
      {
        numRuns: 8,
        examples: [
          [[{ op: "add", user: 0, role: "member" }, { op: "write", device: 1 }, { op: "remove", user: 0 }, { op: "write", device: 5 }, { op: "add", user: 0, role: "member" }, { op: "write", device: 5 }]],
          [[
            { op: "add", user: 0, role: "member" }, { op: "add", user: 2, role: "reader" }, { op: "write", device: 1 }, { op: "write", device: 4 },
            { op: "remove", user: 0 }, { op: "write", device: 0 }, { op: "destroy" }, { op: "add", user: 1, role: "member" }, { op: "link", user: 0 },
            { op: "write", device: 2 }, { op: "add", user: 2, role: "member" }, { op: "write", device: 3 }, { op: "remove", user: 2 }, { op: "destroy" },
            { op: "add", user: 0, role: "reader" }, { op: "write", device: 6 }
          ]]
        ]
      }
    )
    // The runs did exercise what the property is about (the second example alone destroys two versions, links a device, adds readers).
    expect(Object.values(seen).every((n) => n > 0)).toBe(true)
  }, 240_000)

  /** A history run honestly and with a mutant: the honest run has no violation, the mutant's are returned. */
  const honestAndMutant = async (steps: ReadonlyArray<HistoryStep>, mutant: HistoryMutant) => {
    const id = Date.now().toString(36)
    const honest = await scoped(membershipHistory(server.url, steps, `h${id}`))
    expect(honest.violations).toEqual([])
    const broken = await scoped(membershipHistory(server.url, steps, `m${id}`, mutant))
    return { honest, violations: [...broken.violations].sort() }
  }

  it("INV-015 mutant: with the new version also sealed to the removed member, the history check reports what each of their devices reads", async () => {
    const steps: ReadonlyArray<HistoryStep> = [
      { op: "add", user: 0, role: "member" }, { op: "add", user: 1, role: "member" }, { op: "remove", user: 0 }, { op: "write", device: 0 }, { op: "write", device: 2 }
    ]
    const { violations } = await honestAndMutant(steps, "seal-to-removed")
    expect(violations).toEqual(["bob/laptop reads e0 (kv2)", "bob/laptop reads e1 (kv2)", "bob/phone reads e0 (kv2)", "bob/phone reads e1 (kv2)"])
  }, 60_000)

  it("INV-009 mutant: a version taken out of circulation without the re-wrap strands what it protected for a member and a device added afterwards", async () => {
    const steps: ReadonlyArray<HistoryStep> = [
      { op: "add", user: 1, role: "member" }, { op: "write", device: 2 }, { op: "write", device: 0 }, { op: "remove", user: 1 }, { op: "destroy" },
      { op: "add", user: 2, role: "member" }, { op: "link", user: 0 }
    ]
    const { honest, violations } = await honestAndMutant(steps, "destroy-without-rewrap")
    expect([honest.destroyed, honest.devices, honest.written]).toEqual([1, 7, 2])
    expect(violations).toEqual([
      "alice/device6 cannot read e0 (kv1)", "alice/device6 cannot read e1 (kv1)", "dave/laptop cannot read e0 (kv1)", "dave/laptop cannot read e1 (kv1)"
    ])
  }, 60_000)

  it("INV-009 mutant: readers never given a KEK version are reported as members that cannot read", async () => {
    const steps: ReadonlyArray<HistoryStep> = [
      { op: "add", user: 2, role: "reader" }, { op: "write", device: 0 }, { op: "add", user: 0, role: "member" }, { op: "remove", user: 0 }, { op: "write", device: 4 }
    ]
    const { violations } = await honestAndMutant(steps, "readers-unprovisioned")
    expect(violations).toEqual(["dave/laptop cannot read e0 (kv1)", "dave/laptop cannot read e1 (kv2)"])
  }, 60_000)

  it("three users, four devices: share, rotate, remove, re-add, revoke a device — every device reads exactly what it should", async () => {
    await scoped(Effect.gen(function*() {
      const storeId = `team-${Date.now().toString(36)}`
      const alice = yield* aliceWithStore(server.url, storeId)
      const phone = yield* person(server.url, storeId, alice.userId, { name: "phone", sameUserAs: alice })
      const bob = yield* person(server.url, storeId, `bob-${storeId}`)
      const carol = yield* person(server.url, storeId, `carol-${storeId}`)
      // Everyone verifies everyone's safety number (alice's phone shares her laptop's trust).
      for (const [asker, other] of [[alice, bob], [alice, carol], [bob, alice], [bob, carol], [carol, alice], [carol, bob]] as const) {
        yield* verifiedIdentity(asker, other.userId, other.safetyNumber)
      }
      const fromAlice = new Map([[alice.userId, alice.public]])
      yield* share(alice, bob, storeId)
      yield* share(alice, carol, storeId)
      for (const d of [phone, bob, carol]) yield* acceptBlobs(d, storeId, fromAlice)
      const devices = [alice, phone, bob, carol]
      const syncAll = (ds: ReadonlyArray<Person>) => Effect.forEach([1, 2], () => Effect.forEach(ds, (d) => d.engine.syncOnce), { discard: true })
      const titles = (d: Person) => Effect.map(view(d), (lines) => lines.map((l) => (l.includes(":{") ? (JSON.parse(l.slice(l.indexOf(":") + 1)) as { title: string }).title : l.split(":")[0]!)).sort())

      // 1. Everyone writes; all four devices read the same four events.
      yield* append(alice, "a", "laptop 1")
      yield* append(phone, "p", "phone 1")
      yield* append(bob, "b", "bob 1")
      yield* append(carol, "c", "carol 1")
      yield* syncAll(devices)
      const first = ["bob 1", "carol 1", "laptop 1", "phone 1"]
      for (const d of devices) expect(yield* titles(d)).toEqual(first)

      // 2. A rotation without removal: everyone takes the new version; old and new writes stay readable.
      yield* Effect.provide(Sharing.rotate(ctx(alice, storeId), { identities: trusted(alice), reason: "scheduled" }), NodeCrypto.layer)
      for (const d of [phone, bob, carol]) yield* acceptBlobs(d, storeId, fromAlice)
      yield* append(bob, "b", "bob 2")
      yield* syncAll(devices)
      for (const d of devices) expect(yield* titles(d)).toEqual([...first, "bob 2"].sort())

      // 3. carol is removed (a rotation); the others write; carol, with everything she holds and the whole log, reads nothing new.
      yield* Effect.provide(Sharing.removeMember(ctx(alice, storeId), carol.userId, trusted(alice)), NodeCrypto.layer)
      for (const d of [phone, bob]) yield* acceptBlobs(d, storeId, fromAlice)
      yield* append(alice, "a", "laptop 2")
      yield* append(phone, "p", "phone 2")
      yield* append(bob, "c", "bob on carol's goal")
      yield* syncAll([alice, phone, bob])
      const whileOut = ["laptop 2", "phone 2", "bob on carol's goal"]
      for (const d of [alice, phone, bob]) expect(yield* titles(d)).toEqual([...first, "bob 2", ...whileOut].sort())
      expect(yield* failureTag(carol.client.transport.pull(storeId, { after: 0, limit: 10 }))).toBe("AccessDenied")
      const leaked = yield* wholeLog(alice, storeId)
      yield* carol.store.ingest(leaked.filter((r) => r.globalSequence > 0))
      yield* carol.store.retryParked
      const carolWhileOut = yield* titles(carol)
      expect(carolWhileOut.filter((t) => whileOut.includes(t))).toEqual([])
      expect(carolWhileOut.filter((t) => t === "Locked").length).toBeGreaterThanOrEqual(whileOut.length)

      // 4. carol is added again: she is given every live version (like every new member) and reads the whole history.
      yield* share(alice, carol, storeId)
      yield* acceptBlobs(carol, storeId, fromAlice)
      yield* carol.store.retryParked
      yield* append(carol, "c", "carol back")
      yield* syncAll(devices)
      const all = [...first, "bob 2", ...whileOut, "carol back"].sort()
      for (const d of devices) expect(yield* titles(d)).toEqual(all)

      // 5. alice's phone is lost: her laptop revokes it; what the phone writes afterwards is rejected on every other device.
      yield* alice.store.revokeDevice(phone.keyring.deviceId)
      yield* syncAll([alice])
      yield* append(phone, "p", "written by whoever has the phone")
      yield* phone.engine.syncOnce
      yield* syncAll([alice, bob, carol])
      for (const d of [alice, bob, carol]) expect(yield* titles(d)).toEqual([...all, "Rejected"].sort())
    }))
  }, 120_000)
})

/** A user's prekey maintenance (what `cipherlog sync` runs), with an optional policy (e.g. fewer one-time prekeys). */
const maintain = (p: Person, policy?: Prekeys.PrekeyPolicy) =>
  Effect.provide(PrekeyClient.maintain(p.client, p.keyring, policy === undefined ? {} : { policy }), NodeCrypto.layer)

/** The KEK blob the server holds for `member` of `versionId`, as an admin reads it, parsed. */
const blobOf = (admin: Person, storeId: string, member: Person, versionId: string) =>
  Effect.gen(function*() {
    const stored = yield* admin.client.authenticated((api) =>
      api.kek.userBlob({ path: { storeId: sid(storeId), userId: uid(member.userId), versionId: vid(versionId) } })
    )
    const bytes = Bytes.fromBase64Url(stored.blob)!
    return yield* KekBlob.parse(bytes, { storeId, versionId, recipient: member.public })
  })

describe("prekeys: provisioning to a member who is offline", () => {
  let server: Awaited<ReturnType<typeof Servers.startSqlite>>
  beforeAll(async () => {
    server = await Servers.startSqlite()
  }, 60_000)
  afterAll(() => server?.stop())

  it("alice provisions kv1 and a rotation's kv2 to bob's one-time prekeys while bob is offline; bob syncs later, reads everything, and the used secrets are gone", async () => {
    await scoped(Effect.gen(function*() {
      const storeId = `pk-${Date.now().toString(36)}`
      const alice = yield* aliceWithStore(server.url, storeId)
      const bob = yield* person(server.url, storeId, `bob-${storeId}`)
      // bob's first sync publishes his prekeys; then he goes offline (no request of his until the end).
      const first = yield* maintain(bob)
      expect([Option.isSome(first.publishedSigned), first.uploaded, first.oneTimeOnServer]).toEqual([true, 100, 100])
      expect(yield* Prekeys.secrets(bob.keyring.vault, "one-time")).toHaveLength(100)

      yield* append(alice, "g1", "before bob")
      yield* alice.engine.syncOnce
      yield* share(alice, bob, storeId)
      const kv1 = yield* blobOf(alice, storeId, bob, "kv1")
      expect(Option.getOrThrow(kv1.prekey).kind).toBe("one-time")
      // A rotation while bob is still offline: kv2 goes to another one-time prekey of his.
      const rotated = yield* Effect.provide(Sharing.rotate(ctx(alice, storeId), { identities: trusted(alice) }), NodeCrypto.layer)
      expect(rotated.versionId).toBe("kv2")
      const kv2 = yield* blobOf(alice, storeId, bob, "kv2")
      expect(Option.getOrThrow(kv2.prekey).kind).toBe("one-time")
      expect(Option.getOrThrow(kv2.prekey).prekeyId).not.toBe(Option.getOrThrow(kv1.prekey).prekeyId)
      // alice's own blob stays sealed to her identity key (her other devices open it too).
      expect(Option.isNone((yield* blobOf(alice, storeId, alice, "kv2")).prekey)).toBe(true)
      yield* append(alice, "g2", "after rotation")
      yield* alice.engine.syncOnce

      // bob comes online: verifies alice, takes his blobs, syncs, reads everything.
      const aliceIdentity = yield* verifiedIdentity(bob, alice.userId, alice.safetyNumber)
      expect(yield* acceptBlobs(bob, storeId, new Map([[alice.userId, aliceIdentity]]))).toBe(2)
      expect((yield* bob.keyring.kekVersions(storeId)).map((v) => [v.versionId, v.status])).toEqual([["kv1", "decrypt-only"], ["kv2", "active"]])
      yield* bob.engine.syncOnce
      yield* bob.store.retryParked
      expect(yield* view(bob)).toEqual(yield* view(alice))
      expect(yield* view(bob)).toHaveLength(2)
      // Forward secrecy: the two one-time secrets used are erased from bob's vault; the other 98 remain.
      const held = new Set((yield* Prekeys.secrets(bob.keyring.vault, "one-time")).map((s) => s.prekeyId))
      expect(held.size).toBe(98)
      for (const used of [kv1, kv2]) expect(held.has(Option.getOrThrow(used.prekey).prekeyId)).toBe(false)
      // The next sync publishes nothing new (98 left, the signed prekey is current).
      const second = yield* maintain(bob)
      expect([Option.isSome(second.publishedSigned), second.uploaded, second.oneTimeOnServer]).toEqual([false, 0, 98])
    }))
  }, 120_000)

  it("claims: never the same one-time prekey twice, rate limited per claimer, admins only; prekey writes are the user's own and bounded", async () => {
    await scoped(Effect.gen(function*() {
      const storeId = `pkc-${Date.now().toString(36)}`
      const alice = yield* aliceWithStore(server.url, storeId)
      const bob = yield* person(server.url, storeId, `bob-${storeId}`)
      const carol = yield* person(server.url, storeId, `carol-${storeId}`)
      yield* maintain(bob, { ...Prekeys.defaultPolicy, oneTimeTarget: 15 })
      yield* share(alice, bob, storeId, "member")
      const claim = (p: Person) =>
        p.client.authenticated((api) => api.prekeys.claim({ path: { storeId: sid(storeId), userId: uid(bob.userId) } }))
      // addMember used one; alice may be handed 9 more this hour, all different; then the signed prekey alone.
      const ids: Array<string> = []
      for (let i = 0; i < 12; i++) {
        const bundle = yield* claim(alice)
        if (bundle.oneTimePrekey !== undefined) ids.push(bundle.oneTimePrekey.prekeyId)
      }
      expect(ids).toHaveLength(9)
      expect(new Set(ids).size).toBe(9)
      const used = Option.getOrThrow((yield* blobOf(alice, storeId, bob, "kv1")).prekey).prekeyId
      expect(ids).not.toContain(used)
      expect((yield* bob.client.authenticated((api) => api.prekeys.status({ path: { userId: uid(bob.userId) } }))).oneTimeCount).toBe(5)
      // Not an admin of the store (carol is no member; bob is a member, not an admin): 403.
      expect(yield* failureTag(claim(carol))).toBe("Forbidden")
      expect(yield* failureTag(claim(bob))).toBe("Forbidden")
      // A member without prekeys: 404 (the sharing module then seals to the identity key).
      yield* share(alice, carol, storeId, "member")
      expect(yield* failureTag(carol.client.authenticated((api) => api.prekeys.claim({ path: { storeId: sid(storeId), userId: uid(alice.userId) } })))).toBe("Forbidden")
      expect(yield* failureTag(alice.client.authenticated((api) => api.prekeys.claim({ path: { storeId: sid(storeId), userId: uid(carol.userId) } })))).toBe("NotFound")
      expect(Option.isNone((yield* blobOf(alice, storeId, carol, "kv1")).prekey)).toBe(true)

      // Writes to another user's prekeys: 403; reading another user's status: 403.
      const signed = yield* Effect.provide(Prekeys.newSignedPrekey(carol.keyring.vault, yield* carol.keyring.identity, Date.now()), NodeCrypto.layer)
      const { userId: _, ...payload } = signed
      expect(yield* failureTag(carol.client.authenticated((api) => api.prekeys.publishSigned({ path: { userId: uid(bob.userId) }, payload })))).toBe("Forbidden")
      expect(yield* failureTag(carol.client.authenticated((api) => api.prekeys.status({ path: { userId: uid(bob.userId) } })))).toBe("Forbidden")
      const otk = { prekeyId: "otk_x", publicKey: new Uint8Array(32).fill(1), signature: new Uint8Array(64).fill(2) }
      expect(yield* failureTag(carol.client.authenticated((api) => api.prekeys.uploadOneTime({ path: { userId: uid(bob.userId) }, payload: { prekeys: [otk] } })))).toBe("Forbidden")
      // Duplicate ids (in one upload, or one already used): 422.
      const own = { userId: uid(carol.userId) }
      expect(yield* failureTag(carol.client.authenticated((api) => api.prekeys.uploadOneTime({ path: own, payload: { prekeys: [otk, otk] } })))).toBe("Unprocessable")
      const bobsStatus = yield* bob.client.authenticated((api) => api.prekeys.status({ path: { userId: uid(bob.userId) } }))
      expect(bobsStatus.oneTimeCount).toBe(5)
    }))
  }, 120_000)

  it("bad input is refused with 4xx before it reaches the store; only the user writes their prekeys", async () => {
    const id = Date.now().toString(36)
    const { token, user } = await Client.signUp(server.url, `erin-${id}`)
    const other = await Client.signUp(server.url, `frank-${id}`)
    const b64 = (n: number, fill = 1) => Bytes.toBase64Url(new Uint8Array(n).fill(fill))
    const otk = (i: number) => ({ prekeyId: `otk-${i}`, publicKey: b64(32, i % 256), signature: b64(64) })
    const signed = { prekeyId: "spk-1", publicKey: b64(32), createdAt: Date.now(), signature: b64(64) }
    const call = (method: string, path: string, body?: unknown, as = token) =>
      Client.call(server.url, method, `/v1/users/${user.userId}/prekeys/${path}`, { token: as, ...(body === undefined ? {} : { body }) })
    // Without a session: 401. As another user: 403, and nothing is written.
    expect((await Client.call(server.url, "GET", `/v1/users/${user.userId}/prekeys/status`)).status).toBe(401)
    expect((await call("PUT", "signed", signed, other.token)).status).toBe(403)
    expect((await call("POST", "one-time", { prekeys: [otk(1)] }, other.token)).status).toBe(403)
    expect((await call("GET", "status", undefined, other.token)).status).toBe(403)
    expect((await call("GET", "status")).body).toEqual({ oneTimeCount: 0 })
    // Malformed bodies: 400.
    for (const bad of [{ ...signed, publicKey: b64(31) }, { ...signed, signature: b64(63) }, { ...signed, prekeyId: "" }, { ...signed, prekeyId: "x".repeat(65) }, { ...signed, prekeyId: "a/b" }, { ...signed, createdAt: "now" }]) {
      expect((await call("PUT", "signed", bad)).status, JSON.stringify(bad)).toBe(400)
    }
    expect((await call("POST", "one-time", { prekeys: [] })).status).toBe(400)
    expect((await call("POST", "one-time", { prekeys: Array.from({ length: 101 }, (_, i) => otk(i)) })).status).toBe(400)
    expect((await call("POST", "one-time", { prekeys: [{ ...otk(1), publicKey: b64(33) }] })).status).toBe(400)
    // Bounds: 100 per upload, 200 unclaimed; a repeated id: 422.
    expect((await call("PUT", "signed", signed)).status).toBe(200)
    expect((await call("POST", "one-time", { prekeys: Array.from({ length: 100 }, (_, i) => otk(i)) })).status).toBe(201)
    expect((await call("POST", "one-time", { prekeys: [otk(7)] })).body).toMatchObject({ _tag: "Unprocessable", reason: "duplicate-prekey" })
    expect((await call("POST", "one-time", { prekeys: Array.from({ length: 100 }, (_, i) => otk(100 + i)) })).status).toBe(201)
    const over = await call("POST", "one-time", { prekeys: [otk(500)] })
    expect([over.status, over.body.reason]).toEqual([422, "prekey-limit"])
    expect((await call("GET", "status")).body).toEqual({ signedPrekey: { prekeyId: "spk-1", createdAt: signed.createdAt }, oneTimeCount: 200 })
  }, 60_000)
})

describe("prekeys: two server processes on one PostgreSQL database", () => {
  let database: Awaited<ReturnType<typeof Servers.freshDatabase>>
  let servers: ReadonlyArray<Servers.Server> = []
  beforeAll(async () => {
    database = await Servers.freshDatabase()
    servers = await Promise.all([Servers.start({ DATABASE_URL: database.url }), Servers.start({ DATABASE_URL: database.url })])
  }, 60_000)
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()))
    await database?.drop()
  })

  it("concurrent claims by four admins through both processes hand out each of bob's one-time prekeys once, and only once", async () => {
    await scoped(Effect.gen(function*() {
      const [a, b] = [servers[0]!.url, servers[1]!.url]
      const storeId = `pkpg-${Date.now().toString(36)}`
      const alice = yield* aliceWithStore(a, storeId)
      const bob = yield* person(b, storeId, `bob-${storeId}`)
      const admins = [alice, yield* person(b, storeId, `ann-${storeId}`), yield* person(a, storeId, `abe-${storeId}`), yield* person(b, storeId, `amy-${storeId}`)]
      for (const p of admins.slice(1)) {
        yield* alice.client.authenticated((api) => api.stores.putMember({ path: { storeId: sid(storeId), userId: uid(p.userId) }, payload: { role: "admin" } }))
      }
      yield* alice.client.authenticated((api) => api.stores.putMember({ path: { storeId: sid(storeId), userId: uid(bob.userId) }, payload: { role: "member" } }))
      yield* maintain(bob, { ...Prekeys.defaultPolicy, oneTimeTarget: 30 })
      // 40 claims at once (each admin's 10 per hour), spread over both processes: 30 one-time prekeys to hand out.
      const claims = admins.flatMap((admin) => Array.from({ length: 10 }, () =>
        admin.client.authenticated((api) => api.prekeys.claim({ path: { storeId: sid(storeId), userId: uid(bob.userId) } }))))
      const bundles = yield* Effect.all(claims, { concurrency: "unbounded" })
      const handedOut = bundles.flatMap((x) => (x.oneTimePrekey === undefined ? [] : [x.oneTimePrekey.prekeyId]))
      expect(handedOut).toHaveLength(30)
      expect(new Set(handedOut).size).toBe(30)
      const uploaded = new Set((yield* Prekeys.secrets(bob.keyring.vault, "one-time")).map((s) => s.prekeyId))
      expect(handedOut.every((id) => uploaded.has(id))).toBe(true)
      expect((yield* bob.client.authenticated((api) => api.prekeys.status({ path: { userId: uid(bob.userId) } }))).oneTimeCount).toBe(0)
      // Every claim is in the store's audit log, whichever process served it.
      const audit = yield* alice.client.authenticated((api) => api.audit.list({ path: { storeId: sid(storeId) }, urlParams: { limit: 1000 } }))
      expect(audit.entries.filter((e) => e.action === "prekey.claim")).toHaveLength(40)
    }))
  }, 120_000)
})
