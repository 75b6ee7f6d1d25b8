/**
 * Identity rotation and device revocation that takes keys away, end to end
 * through a real server process (SQLite) on loopback: whole devices
 * (keyring, local store, sync engine, HTTP client) and the client module
 * `IdentityRotation` of `@cipherlog/sync-transport-http`.
 *
 * - Revocation: alice (laptop, phone, tablet) and bob share a store; the
 *   phone is revoked from the laptop (authorship revocation, emergency
 *   identity rotation, recovery material re-sealed under a fresh root, KEK
 *   rotation). The laptop, the tablet (relinked from the recovery phrase)
 *   and bob keep reading and writing; bob verifies alice's chain from the
 *   keys he pinned; the phone, with its whole keystore as it was and the
 *   whole log, decrypts nothing written after the revocation, can no longer
 *   log in, and cannot open the new recovery material (INV-015, INV-007).
 * - Planned rotation: during the window both of alice's keys log in and her
 *   phone keeps syncing with the old identity; bob pins her new keys after
 *   verifying the chain and seals to them.
 * - A chain with a forged link is refused and raised as a compromise
 *   signal; the mutant that pins without verifying is caught by the same check.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import type { KeyId, StoreId, UserId } from "@cipherlog/domain"
import { Bytes } from "@cipherlog/domain"
import { LocalStore } from "@cipherlog/event-store"
import { SqliteNodeEventStore } from "@cipherlog/event-store-sqlite-node"
import { Identity, KekBlob, Keyring, KeyStore, Recovery, Vault } from "@cipherlog/keys"
import { Signals, SyncEngine, SyncTransport } from "@cipherlog/sync"
import type { Models } from "@cipherlog/sync-api"
import { HttpTransport, IdentityRotation, Sharing } from "@cipherlog/sync-transport-http"
import { FetchHttpClient } from "@effect/platform"
import { Effect, Either, Layer, Metric, Option, Redacted, Schema, type Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Servers from "./support/server.js"

let server: Awaited<ReturnType<typeof Servers.startSqlite>>
beforeAll(async () => {
  server = await Servers.startSqlite()
})
afterAll(async () => {
  await server?.stop()
})

const layers = Layer.merge(FetchHttpClient.layer, NodeCrypto.layer)
const sid = (s: string) => s as StoreId
const uid = (s: string) => s as UserId
const vid = (s: string) => s as KeyId

/** A device. `client` and `engine` change when its identity rotates (a new client logs in with the new key). */
interface Device {
  readonly userId: string
  readonly name: string
  readonly keyring: Keyring.Keyring
  readonly store: LocalStore.LocalStore
  client: HttpTransport.SyncClient
  engine: SyncEngine.SyncEngine
  /** Genesis identities of peers, for verifying authorship (the local store's `peers`). */
  readonly peers: Map<string, Identity.PublicIdentity>
  /** Peers' current keys as pinned after verifying their chains: what KEK blobs are sealed to and accepted from. */
  readonly pins: Map<string, IdentityRotation.Pinned>
}

const device = (baseUrl: string, storeId: string, userId: string, name: string, sameUserAs?: Device) =>
  Effect.gen(function*() {
    const vault = yield* Effect.provide(
      Vault.create(Redacted.make(`${userId} ${name} passphrase`), { policy: Vault.insecureTestPolicy }),
      Layer.merge(KeyStore.layerMemory(), NodeCrypto.layer)
    )
    const identity = sameUserAs === undefined
      ? {}
      : { identity: Option.getOrThrow(yield* Keyring.readEntry(sameUserAs.keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets)) }
    const keyring = yield* Effect.provide(Keyring.initialize(vault, { userId, deviceId: `${userId}-${name}`, ...identity }), NodeCrypto.layer)
    const peers = sameUserAs?.peers ?? new Map<string, Identity.PublicIdentity>()
    const pins = sameUserAs?.pins ?? new Map<string, IdentityRotation.Pinned>()
    const events = yield* SqliteNodeEventStore.make(":memory:")
    const store = yield* Effect.provide(LocalStore.make({
      storeId, eventStore: events, keyring: Option.some(keyring), peers: (id) => Effect.succeed(Option.fromNullable(peers.get(id)))
    }), NodeCrypto.layer)
    const client = yield* HttpTransport.forKeyring(keyring, { baseUrl }).pipe(Effect.provide(layers))
    yield* client.register
    const d: Device = { userId, name, keyring, store, client, engine: yield* engineFor(store, client), peers, pins }
    return d
  })

const engineFor = (store: LocalStore.LocalStore, client: HttpTransport.SyncClient) =>
  SyncEngine.make(store, { retry: { baseMs: 10, maxMs: 200 } }).pipe(Effect.provideService(SyncTransport.SyncTransport, client.transport))

/** Gives a device the client of its rotated identity. */
const useClient = (d: Device, client: HttpTransport.SyncClient) =>
  Effect.gen(function*() {
    d.client = client
    d.engine = yield* engineFor(d.store, client)
  })

const ctx = (d: Device, storeId: string): Sharing.Context => ({ client: d.client, keyring: d.keyring, storeId })
const current = (d: Device): Sharing.Identities => (userId) => Option.map(Option.fromNullable(d.pins.get(userId)), (p) => p.current)

/** `asker` verifies `other`'s safety number and pins its identity (trust on first use of a compared number). */
const trust = (asker: Device, other: Device) =>
  Effect.gen(function*() {
    const own = yield* other.keyring.identity
    const safetyNumber = yield* Effect.provide(Identity.fingerprint(own.public), NodeCrypto.layer)
    const { identity } = yield* Effect.provide(Sharing.verifyUser(asker.client, other.userId, safetyNumber), NodeCrypto.layer)
    asker.peers.set(other.userId, identity)
    asker.pins.set(other.userId, IdentityRotation.pin(identity))
  })

/** `asker` refreshes its pin of `userId` from the server's chain (IdentityRotation.verifyPeer). */
const refresh = (asker: Device, userId: string, mutant?: IdentityRotation.PinMutant) =>
  Effect.gen(function*() {
    const result = yield* Effect.provide(IdentityRotation.verifyPeer(asker.client, asker.pins.get(userId)!, mutant), NodeCrypto.layer)
    asker.pins.set(userId, result.pinned)
    return result
  })

const accept = (d: Device, storeId: string) =>
  Effect.provide(Sharing.acceptOwnBlobs(ctx(d, storeId), current(d)), NodeCrypto.layer)

const append = (d: Device, aggregateId: string, title: string) =>
  d.store.append({ aggregateType: "Goal", aggregateId, events: [{ eventType: "GoalSet", payload: { title } }] })

const titles = (d: Device) =>
  Effect.map(Stream.runCollect(d.store.readAll({ verify: true })), (items) =>
    Array.from(items).map((i) => (i._tag === "Event" ? (i.event.payload as { title: string }).title : i._tag)).sort())

const syncAll = (ds: ReadonlyArray<Device>) =>
  Effect.forEach([1, 2], () => Effect.forEach(ds, (d) => d.engine.syncOnce), { discard: true })

const failureTag = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.either(effect), (e) => (Either.isLeft(e) ? e.left._tag : "succeeded"))

const scoped = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

/** Every record of the store, as `reader` pulls it (the log as it could leak). */
const wholeLog = (reader: Device, storeId: string) =>
  Effect.gen(function*() {
    const records: Array<{ readonly recordJson: string; readonly globalSequence: number }> = []
    for (;;) {
      const page = yield* reader.client.transport.pull(storeId, { after: records.length, limit: 500 })
      records.push(...page.records.map((r) => ({ recordJson: r.recordJson, globalSequence: r.globalSequence })))
      if (!page.hasMore) return records
    }
  })

/** alice's laptop with a store, its first KEK version, and bob as a member; both trust each other. */
const team = (baseUrl: string, storeId: string) =>
  Effect.gen(function*() {
    const laptop = yield* device(baseUrl, storeId, `alice-${storeId}`, "laptop")
    yield* laptop.keyring.createKek(storeId, "kv1")
    yield* laptop.client.authenticated((api) => api.stores.create({ payload: { storeId: sid(storeId) } }))
    const own = yield* Effect.provide(KekBlob.provision(laptop.keyring, { storeId, versionId: "kv1", recipient: (yield* laptop.keyring.identity).public }), NodeCrypto.layer)
    yield* laptop.client.authenticated((api) =>
      api.kek.createVersion({ path: { storeId: sid(storeId) }, payload: { versionId: vid("kv1"), reason: "initial", blobs: [{ userId: uid(laptop.userId), blob: Bytes.toBase64Url(own) }] } })
    )
    const bob = yield* device(baseUrl, storeId, `bob-${storeId}`, "laptop")
    yield* trust(laptop, bob)
    yield* trust(bob, laptop)
    yield* Effect.provide(Sharing.addMember(ctx(laptop, storeId), { identity: laptop.pins.get(bob.userId)!.current, role: "member" }), NodeCrypto.layer)
    yield* accept(bob, storeId)
    // The recovery phrase (shown once at init) and the recovery material on the server, sealed under a root the devices keep.
    const phrase = yield* Effect.provide(Recovery.generatePhrase, NodeCrypto.layer)
    const master = yield* Effect.provide(Recovery.derive(phrase, storeId), NodeCrypto.layer)
    yield* Effect.provide(IdentityRotation.republishRecovery(laptop.client, laptop.keyring, { storeId, master }), NodeCrypto.layer)
    return { laptop, bob, master, recovery: { storeId, master } }
  })

const RootEntry = Schema.Struct({ v: Schema.Literal(1), key: Bytes.Base64UrlOfLength(32) })
const rootOf = (d: Device, storeId: string) =>
  Effect.map(Keyring.readEntry(d.keyring.vault, Keyring.entries.recoveryRoot(storeId), RootEntry), Option.map((r) => Bytes.toBase64Url(r.key)))

/** Another device of alice, set up as `cipherlog recover` would: her identity and her recovery root. */
const sibling = (baseUrl: string, storeId: string, of: Device, name: string) =>
  Effect.gen(function*() {
    const d = yield* device(baseUrl, storeId, of.userId, name, of)
    const root = yield* Keyring.readEntry(of.keyring.vault, Keyring.entries.recoveryRoot(storeId), RootEntry)
    yield* Keyring.writeEntry(d.keyring.vault, Keyring.entries.recoveryRoot(storeId), RootEntry, Option.getOrThrow(root))
    yield* accept(d, storeId)
    return d
  })

describe("identity rotation through the server", () => {
  it("INV-015 INV-007 revoking a device (emergency rotation + KEK rotation) takes its keys away; the other devices and users carry on", async () => {
    await scoped(Effect.gen(function*() {
      const storeId = `idrev-${Date.now().toString(36)}`
      const { bob, laptop, master, recovery } = yield* team(server.url, storeId)
      const phone = yield* sibling(server.url, storeId, laptop, "phone")
      const tablet = yield* sibling(server.url, storeId, laptop, "tablet")
      const all = [laptop, phone, tablet, bob]

      yield* append(laptop, "a", "laptop 1")
      yield* append(phone, "p", "phone 1")
      yield* append(bob, "b", "bob 1")
      yield* syncAll(all)
      const before = ["bob 1", "laptop 1", "phone 1"]
      for (const d of all) expect(yield* titles(d)).toEqual(before)

      // The phone is lost. Its keystore as it was, kept by whoever has it.
      const phoneRoot = yield* rootOf(phone, storeId)
      expect(Option.isSome(phoneRoot)).toBe(true)

      // The laptop revokes it: authorship, then the keys (emergency rotation, fresh recovery root, KEK rotation).
      yield* laptop.store.revokeDevice(phone.keyring.deviceId)
      yield* laptop.engine.syncOnce
      const revoked = yield* Effect.provide(
        IdentityRotation.revokeDeviceKeys({
          client: laptop.client, keyring: laptop.keyring, options: { baseUrl: server.url }, recovery,
          stores: [{ storeId, identities: current(laptop) }]
        }),
        layers
      )
      expect(revoked.statement.kind).toBe("emergency")
      expect(revoked.rotated.map((r) => r.versionId)).toEqual(["kv2"])
      expect(revoked.needsAdminRotation).toEqual([])
      yield* useClient(laptop, revoked.client)

      // bob verifies alice's chain from what he pinned, pins her new keys, takes the new version sealed by her new identity.
      const seen = yield* refresh(bob, laptop.userId)
      expect(seen.rotations.map((r) => r.kind)).toEqual(["emergency"])
      expect(bob.pins.get(laptop.userId)!.current.signingPublicKey).toEqual((yield* laptop.keyring.identity).public.signingPublicKey)
      expect((yield* accept(bob, storeId)).accepted.map((a) => a.versionId)).toEqual(["kv2"])

      // The tablet relinks from the recovery phrase: it adopts the new identity and takes kv2.
      const relinked = yield* Effect.provide(
        IdentityRotation.relinkFromRecovery({ keyring: tablet.keyring, options: { baseUrl: server.url }, anonymous: tablet.client.anonymous, recovery }),
        layers
      )
      yield* useClient(tablet, relinked)
      expect((yield* accept(tablet, storeId)).accepted.map((a) => a.versionId)).toEqual(["kv2"])

      // Everyone left writes; everyone left reads everything.
      yield* append(laptop, "a", "laptop 2")
      yield* append(tablet, "t", "tablet 2")
      yield* append(bob, "b", "bob 2")
      const remaining = [laptop, tablet, bob]
      yield* syncAll(remaining)
      const after = ["bob 2", "laptop 2", "tablet 2"]
      for (const d of remaining) expect(yield* titles(d)).toEqual([...before, ...after].sort())

      // The phone: no login any more (its old session and its key are refused).
      expect(yield* failureTag(phone.client.transport.pull(storeId, { after: 0, limit: 10 }))).toBe("AccessDenied")
      expect(yield* failureTag(phone.client.register)).toBe("AccessDenied")
      // With the whole log leaked to it and everything it held, it decrypts nothing written after the revocation.
      const leaked = yield* wholeLog(bob, storeId)
      const cursor = yield* phone.store.eventStore.cursor(storeId)
      yield* phone.store.ingest(leaked.filter((r) => r.globalSequence > cursor))
      yield* phone.store.retryParked
      const phoneReads = yield* titles(phone)
      expect(phoneReads.filter((t) => after.includes(t))).toEqual([])
      expect(phoneReads.filter((t) => t === "Locked").length).toBeGreaterThanOrEqual(after.length)
      expect(phoneReads.filter((t) => before.includes(t))).toEqual(before)
      // Nor does it hold kv2, or open the blob sealed to alice's new identity, or the new recovery material.
      expect((yield* phone.keyring.kekVersions(storeId)).map((v) => v.versionId)).toEqual(["kv1"])
      const aliceBlob = yield* laptop.client.authenticated((api) => api.kek.userBlob({ path: { storeId: sid(storeId), userId: uid(laptop.userId), versionId: vid("kv2") } }))
      const opened = yield* Effect.either(Effect.provide(
        KekBlob.accept(phone.keyring, { storeId, versionId: "kv2", blob: Bytes.fromBase64Url(aliceBlob.blob)!, sender: (yield* laptop.keyring.identity).public, status: "active" }),
        NodeCrypto.layer
      ))
      expect(Either.isLeft(opened)).toBe(true)
      const material = yield* laptop.client.anonymous.recovery.get({ path: { locator: master.locator as Models.Locator } })
      const reopened = yield* Effect.provide(
        Recovery.open(master, Schema.decodeSync(Schema.parseJson(Recovery.RecoveryMaterial))(Bytes.fromUtf8(Bytes.fromBase64Url(material.blob)!))),
        NodeCrypto.layer
      )
      expect(Bytes.toBase64Url(reopened.root)).not.toBe(Option.getOrThrow(phoneRoot))
      expect(reopened.identity.chain.map((s) => s.kind)).toEqual(["emergency"])

      // The server's audit log names the rotation for the store's admins.
      const audit = yield* laptop.client.authenticated((api) => api.audit.list({ path: { storeId: sid(storeId) }, urlParams: {} }))
      expect(audit.entries.filter((e) => e.action === "identity.rotate").map((e) => [e.targetUserId, e.reason])).toEqual([[laptop.userId, "emergency"]])
    }))
  }, 120_000)

  it("INV-007 a planned rotation: both keys work during the window; peers verify the chain and seal to the new keys", async () => {
    await scoped(Effect.gen(function*() {
      const storeId = `idplan-${Date.now().toString(36)}`
      const { bob, laptop, recovery } = yield* team(server.url, storeId)
      const phone = yield* sibling(server.url, storeId, laptop, "phone")
      yield* append(phone, "p", "phone 1")
      yield* syncAll([laptop, phone, bob])

      const oldPhone = phone.client
      const rotated = yield* Effect.provide(
        IdentityRotation.rotateOwnIdentity({
          client: laptop.client, keyring: laptop.keyring, options: { baseUrl: server.url }, kind: "planned", migrationMs: 600_000, recovery
        }),
        layers
      )
      yield* useClient(laptop, rotated.client)
      expect(rotated.statement.migrationUntil - rotated.statement.rotatedAt).toBe(600_000)

      // The phone still has the old identity: during the window it logs in anew and syncs.
      const fresh = yield* HttpTransport.forKeyring(phone.keyring, { baseUrl: server.url }).pipe(Effect.provide(layers))
      expect(yield* failureTag(fresh.transport.pull(storeId, { after: 0, limit: 1 }))).toBe("succeeded")
      expect(yield* failureTag(oldPhone.transport.pull(storeId, { after: 0, limit: 1 }))).toBe("succeeded")
      yield* append(phone, "p", "phone during the window")
      yield* append(laptop, "a", "laptop with the new key")

      // bob verifies the chain and pins the new keys; a rotation by bob (admin) would seal to them: here alice rotates the KEK.
      const seen = yield* refresh(bob, laptop.userId)
      expect(seen.rotations.map((r) => r.kind)).toEqual(["planned"])
      expect(bob.pins.get(laptop.userId)!.rotations).toBe(1)
      yield* trust(laptop, bob)
      const kek = yield* Effect.provide(Sharing.rotate(ctx(laptop, storeId), { identities: current(laptop), reason: "after identity rotation" }), NodeCrypto.layer)
      expect(kek.versionId).toBe("kv2")
      expect((yield* accept(bob, storeId)).accepted.map((a) => a.versionId)).toEqual(["kv2"])
      // The phone relinks from the phrase to the new identity and takes kv2.
      const relinked = yield* Effect.provide(
        IdentityRotation.relinkFromRecovery({ keyring: phone.keyring, options: { baseUrl: server.url }, anonymous: phone.client.anonymous, recovery }),
        layers
      )
      yield* useClient(phone, relinked)
      expect((yield* accept(phone, storeId)).accepted.map((a) => a.versionId)).toEqual(["kv2"])
      yield* append(bob, "b", "bob after")
      yield* syncAll([laptop, phone, bob])
      const everything = ["bob after", "laptop with the new key", "phone 1", "phone during the window"].sort()
      for (const d of [laptop, phone, bob]) expect(yield* titles(d)).toEqual(everything)
    }))
  }, 120_000)

  it("INV-007 a chain with a forged link is refused and signalled; the mutant that pins without verifying accepts the forger's keys", async () => {
    await scoped(Effect.gen(function*() {
      const storeId = `idforge-${Date.now().toString(36)}`
      const { bob, laptop } = yield* team(server.url, storeId)
      const genuine = yield* laptop.client.authenticated((api) => api.users.identity({ path: { userId: uid(laptop.userId) } }))
      // A server substituting keys: a "rotation" from alice's key to the forger's, signed by the forger only.
      const forger = yield* Effect.provide(Identity.generate(laptop.userId, Date.now()), NodeCrypto.layer)
      const stranger = yield* Effect.provide(Identity.rotate(forger, "emergency", Date.now(), 0), NodeCrypto.layer)
      const forged: Models.IdentityChain = {
        ...genuine,
        rotations: [{ ...stranger.statement, userId: uid(laptop.userId), oldSigningPublicKey: genuine.genesis.signingPublicKey }]
      }
      /** What a device ends up trusting for alice: her genuine keys, or someone else's. */
      const pinsGenuine = (mutant?: IdentityRotation.PinMutant) =>
        Effect.map(
          Effect.either(Effect.provide(IdentityRotation.verifyChainFrom(bob.pins.get(laptop.userId)!, forged, mutant), NodeCrypto.layer)),
          (r) => Either.isLeft(r) || Bytes.equalsPublic(r.right.pinned.current.signingPublicKey, genuine.genesis.signingPublicKey)
        )
      expect(yield* pinsGenuine()).toBe(true)
      expect(yield* pinsGenuine({ pinWithoutVerifying: true })).toBe(false)
      const refused = yield* Effect.flip(Effect.provide(IdentityRotation.verifyChainFrom(bob.pins.get(laptop.userId)!, forged), NodeCrypto.layer))
      expect([refused._tag, refused.reason]).toEqual(["IdentityChainRefused", "broken-link"])
      // A chain that drops the pinned keys (history rewritten) is refused too.
      const rewritten = yield* Effect.flip(Effect.provide(
        IdentityRotation.verifyChainFrom(IdentityRotation.pin(bob.pins.get(laptop.userId)!.current, 1), genuine),
        NodeCrypto.layer
      ))
      expect(rewritten.reason).toBe("history-rewritten")
      // Through the server, a refusal is counted as the compromise signal IdentityChainBroken; the pin stays.
      const broken = Metric.tagged(Signals.counter, "signal", "IdentityChainBroken")
      const signalsBefore = (yield* Metric.value(broken)).count
      const wrongPin = IdentityRotation.pin(bob.pins.get(laptop.userId)!.current, 1)
      expect(yield* failureTag(Effect.provide(IdentityRotation.verifyPeer(bob.client, wrongPin), NodeCrypto.layer))).toBe("IdentityChainRefused")
      expect((yield* Metric.value(broken)).count).toBe(signalsBefore + 1)
      // The genuine chain verifies and nothing changes.
      expect((yield* refresh(bob, laptop.userId)).rotations).toEqual([])
    }))
  }, 60_000)
})
