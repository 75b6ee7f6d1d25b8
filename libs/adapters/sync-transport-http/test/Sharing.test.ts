/**
 * Sharing over the in-process server (memory store): the happy path of
 * adding, accepting and rotating, and the refusals — an unknown user, a
 * safety number that does not match, a member that is not an admin, a
 * rotation to an unverified member, a blob from a sender not trusted.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import type { KeyId, StoreId, UserId } from "@cipherlog/domain"
import { Bytes } from "@cipherlog/domain"
import { type Identity, KekBlob } from "@cipherlog/keys"
import { SyncTransport } from "@cipherlog/sync"
import type { Models } from "@cipherlog/sync-api"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { type HttpTransport, Sharing } from "../src/index.js"
import { keyringUser, serverRuntime, urlOf } from "./support.js"

const runtime = serverRuntime()
afterAll(() => runtime.dispose())
const baseUrl = Effect.promise(() => runtime.runPromise(urlOf))

let n = 0
/** A registered user with a keyring in memory and a client. */
const person = (name: string) => Effect.flatMap(baseUrl, (url) => keyringUser(url, name))
type Person = Effect.Effect.Success<ReturnType<typeof person>>

const ctx = (p: Person, storeId: string): Sharing.Context => ({ client: p.client, keyring: p.keyring, storeId })
const none: Sharing.Identities = () => Option.none()
const only = (...ids: ReadonlyArray<Identity.PublicIdentity>): Sharing.Identities => (userId) => Option.fromNullable(ids.find((i) => i.userId === userId))

/** alice's store with kv1 on the server (her own blob). */
const aliceStore = (alice: Person) =>
  Effect.gen(function*() {
    const storeId = `sh${Date.now().toString(36)}${n++}`
    yield* alice.keyring.createKek(storeId, "kv1")
    yield* alice.client.authenticated((api) => api.stores.create({ payload: { storeId: storeId as StoreId } }))
    const blob = yield* KekBlob.provision(alice.keyring, { storeId, versionId: "kv1", recipient: alice.public })
    yield* alice.client.authenticated((api) =>
      api.kek.createVersion({
        path: { storeId: storeId as StoreId },
        payload: { versionId: "kv1" as KeyId, reason: "initial", blobs: [{ userId: alice.userId as UserId, blob: Bytes.toBase64Url(blob) }] }
      })
    )
    return storeId
  })

/**
 * alice, bob and carol share a store (kv1, which bob and carol took); alice removes carol (kv2, sealed to
 * alice and bob only). `lying(client, as)`: the client as a server would serve it that lists kv1 active and
 * kv2 `as` (deprecated unless given) — the version carol holds presented as the one to encrypt under.
 */
const removalWithALyingServer = Effect.gen(function*() {
  const alice = yield* person("alice")
  const bob = yield* person("bob")
  const carol = yield* person("carol")
  const storeId = yield* aliceStore(alice)
  const bobId = (yield* Sharing.verifyUser(alice.client, bob.userId, bob.safetyNumber)).identity
  const carolId = (yield* Sharing.verifyUser(alice.client, carol.userId, carol.safetyNumber)).identity
  for (const identity of [bobId, carolId]) yield* Sharing.addMember(ctx(alice, storeId), { identity, role: "member" })
  const aliceId = (yield* Sharing.verifyUser(bob.client, alice.userId, alice.safetyNumber)).identity
  for (const p of [bob, carol]) yield* Sharing.acceptOwnBlobs(ctx(p, storeId), only(aliceId))
  yield* Sharing.removeMember(ctx(alice, storeId), carol.userId, only(bobId, carolId))
  const lie = (as: "deprecated" | "decrypt-only") => (versions: ReadonlyArray<Models.KekVersion>) =>
    versions.map((v) => ({ ...v, status: v.versionId === "kv1" ? "active" as const : as }))
  const lying = (client: HttpTransport.SyncClient, as: "deprecated" | "decrypt-only" = "deprecated"): HttpTransport.SyncClient => ({
    ...client,
    authenticated: (f) =>
      client.authenticated((api) => {
        // The endpoint is generic in `withResponse`; Sharing never asks for the response, so the plain list is what it gets.
        const versions = ((request: { readonly path: { readonly storeId: StoreId } }) =>
          Effect.map(api.kek.versions({ path: request.path }), lie(as))) as typeof api.kek.versions
        return f({ ...api, kek: { ...api.kek, versions } })
      })
  })
  return { alice, bob, carol, aliceId, storeId, lying }
})

describe("Sharing", () => {
  it.live("lookUpUser and verifyUser: the server's keys with their safety number; digits compare, spacing does not", () =>
    Effect.gen(function*() {
      const alice = yield* person("alice")
      const bob = yield* person("bob")
      const found = yield* Sharing.lookUpUser(alice.client, bob.userId)
      expect(found.safetyNumber).toBe(bob.safetyNumber)
      expect(Bytes.equalsPublic(found.identity.signingPublicKey, bob.public.signingPublicKey)).toBe(true)
      const verified = yield* Sharing.verifyUser(alice.client, bob.userId, bob.safetyNumber.replace(/ /g, "\n"))
      expect(verified.identity.userId).toBe(bob.userId)
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.live("an unknown user is SharingRefused unknown-user, naming the id and what to do", () =>
    Effect.gen(function*() {
      const alice = yield* person("alice")
      const error = yield* Effect.flip(Sharing.lookUpUser(alice.client, "nobody-here"))
      expect(error).toBeInstanceOf(Sharing.SharingRefused)
      expect(error).toMatchObject({ reason: "unknown-user", userIds: ["nobody-here"] })
      expect(error.message).toContain("cipherlog whoami")
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.live("a safety number that does not match is refused, and nothing changes on the server", () =>
    Effect.gen(function*() {
      const alice = yield* person("alice")
      const bob = yield* person("bob")
      const mallory = yield* person("mallory")
      const storeId = yield* aliceStore(alice)
      for (const wrong of [mallory.safetyNumber, "", bob.safetyNumber.slice(0, -1) + (bob.safetyNumber.endsWith("0") ? "1" : "0")]) {
        const error = yield* Effect.flip(Sharing.verifyUser(alice.client, bob.userId, wrong))
        expect(error).toMatchObject({ _tag: "SharingRefused", reason: "safety-number-mismatch", userIds: [bob.userId] })
      }
      expect((yield* Sharing.members(ctx(alice, storeId))).map((m) => m.userId)).toEqual([alice.userId])
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.live("add, accept, rotate: a member gets every version; after a removal the removed user gets no blob of the new one", () =>
    Effect.gen(function*() {
      const alice = yield* person("alice")
      const bob = yield* person("bob")
      const carol = yield* person("carol")
      const storeId = yield* aliceStore(alice)
      yield* alice.keyring.createKek(storeId, "kv-local-only") // not on the server: never provisioned
      const bobId = (yield* Sharing.verifyUser(alice.client, bob.userId, bob.safetyNumber)).identity
      const carolId = (yield* Sharing.verifyUser(alice.client, carol.userId, carol.safetyNumber)).identity
      const added = yield* Sharing.addMember(ctx(alice, storeId), { identity: bobId, role: "member" })
      expect(added).toEqual({ userId: bob.userId, role: "member", provisioned: ["kv1"] })
      yield* Sharing.addMember(ctx(alice, storeId), { identity: carolId, role: "reader" })

      // bob trusts alice: he takes her blob; with no trusted sender, carol takes nothing.
      const aliceId = (yield* Sharing.verifyUser(bob.client, alice.userId, alice.safetyNumber)).identity
      const accepted = yield* Sharing.acceptOwnBlobs(ctx(bob, storeId), only(aliceId))
      expect(accepted).toEqual({ accepted: [{ versionId: "kv1", status: "active", sender: alice.userId }], skipped: [] })
      expect((yield* Sharing.acceptOwnBlobs(ctx(bob, storeId), only(aliceId))).accepted).toEqual([]) // held already
      const untrusted = yield* Sharing.acceptOwnBlobs(ctx(carol, storeId), none)
      expect(untrusted).toEqual({ accepted: [], skipped: [{ versionId: "kv1", sender: alice.userId, reason: "untrusted-sender" }] })
      expect(yield* carol.keyring.kekVersions(storeId)).toEqual([])

      // A rotation needs every remaining member verified here.
      const unverified = yield* Effect.flip(Sharing.rotate(ctx(alice, storeId), { identities: only(bobId) }))
      expect(unverified).toMatchObject({ _tag: "SharingRefused", reason: "unverified-member", userIds: [carol.userId] })
      expect((yield* alice.client.authenticated((api) => api.kek.versions({ path: { storeId: storeId as StoreId } }))).map((v) => v.versionId)).toEqual(["kv1"])
      const notMember = yield* Effect.flip(Sharing.removeMember(ctx(alice, storeId), "stranger", only(bobId, carolId)))
      expect(notMember).toMatchObject({ reason: "not-a-member", userIds: ["stranger"] })

      const rotated = yield* Sharing.removeMember(ctx(alice, storeId), carol.userId, only(bobId, carolId))
      expect(rotated.versionId).toBe("kv2")
      expect(rotated.removedUserIds).toEqual([carol.userId])
      expect([...rotated.provisionedTo].sort()).toEqual([alice.userId, bob.userId].sort())
      expect((yield* alice.keyring.activeKek(storeId)).pipe(Option.map((v) => v.versionId))).toEqual(Option.some("kv2"))
      const later = yield* Sharing.acceptOwnBlobs(ctx(bob, storeId), only(aliceId))
      expect(later.accepted.map((a) => a.versionId)).toEqual(["kv2"])
      expect((yield* bob.keyring.kekVersions(storeId)).map((v) => [v.versionId, v.status])).toEqual([["kv1", "decrypt-only"], ["kv2", "active"]])
      // carol is out: the server refuses her, no blob of kv2 exists for her, and her kv1 blob went with her membership.
      const out = yield* Effect.flip(Sharing.acceptOwnBlobs(ctx(carol, storeId), only(aliceId)))
      expect(out).toBeInstanceOf(SyncTransport.AccessDenied)
      const carolsBlobs = yield* alice.client.authenticated((api) => api.kek.userBlobs({ path: { storeId: storeId as StoreId, userId: carol.userId as UserId } }))
      expect(carolsBlobs.map((b) => b.versionId)).toEqual([])

      // A rotation without removal reaches every member; the new version id follows.
      const plain = yield* Sharing.rotate(ctx(alice, storeId), { identities: only(bobId) })
      expect(plain).toMatchObject({ versionId: "kv3", removedUserIds: [] })
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.live("INV-015 a server that lists an older version as active, or the newest one as deprecated, does not choose the version a member encrypts under: the newest the admin signed is active", () =>
    Effect.gen(function*() {
      const { alice, bob, aliceId, storeId, lying } = yield* removalWithALyingServer
      // bob held kv1 (active) when carol was removed; the server lists kv1 active and kv2 deprecated.
      const taken = yield* Sharing.acceptOwnBlobs(ctx({ ...bob, client: lying(bob.client) }, storeId), only(aliceId))
      expect(taken.accepted).toEqual([{ versionId: "kv2", status: "active", sender: alice.userId }])
      expect((yield* bob.keyring.kekVersions(storeId)).map((v) => [v.versionId, v.status])).toEqual([["kv1", "decrypt-only"], ["kv2", "active"]])
      // dave, added after the removal, receives both versions at once; the server lists kv1 active and kv2 decrypt-only.
      const dave = yield* person("dave")
      yield* Sharing.addMember(ctx(alice, storeId), { identity: (yield* Sharing.verifyUser(alice.client, dave.userId, dave.safetyNumber)).identity, role: "member" })
      const daveTook = yield* Sharing.acceptOwnBlobs(ctx({ ...dave, client: lying(dave.client, "decrypt-only") }, storeId), only(aliceId))
      expect([...daveTook.accepted].sort((a, b) => a.versionId.localeCompare(b.versionId)).map((a) => [a.versionId, a.status])).toEqual([["kv1", "decrypt-only"], ["kv2", "active"]])
      expect(Option.map(yield* dave.keyring.activeKek(storeId), (v) => v.versionId)).toEqual(Option.some("kv2"))
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.live("INV-015 mutant: a member that takes the status from the server's list encrypts under the version the removed member holds", () =>
    Effect.gen(function*() {
      const { bob, aliceId, storeId, lying } = yield* removalWithALyingServer
      // What acceptOwnBlobs did before: open each blob and import it with the status the (lying) server lists.
      const listed = yield* lying(bob.client).authenticated((api) => api.kek.versions({ path: { storeId: storeId as StoreId } }))
      const mine = yield* bob.client.authenticated((api) => api.kek.myBlobs({ path: { storeId: storeId as StoreId } }))
      for (const b of mine.filter((b) => b.versionId === "kv2")) {
        yield* KekBlob.accept(bob.keyring, { storeId, versionId: b.versionId, blob: Bytes.fromBase64Url(b.blob)!, sender: aliceId, status: listed.find((v) => v.versionId === b.versionId)!.status })
      }
      expect(Option.map(yield* bob.keyring.activeKek(storeId), (v) => v.versionId)).toEqual(Option.some("kv1"))
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.live("a KEK blob dated more than a day ahead is not taken (it would stay the active version past later rotations); the other versions are", () =>
    Effect.gen(function*() {
      const alice = yield* person("alice")
      const bob = yield* person("bob")
      const storeId = yield* aliceStore(alice)
      const bobId = (yield* Sharing.verifyUser(alice.client, bob.userId, bob.safetyNumber)).identity
      yield* Sharing.addMember(ctx(alice, storeId), { identity: bobId, role: "member" })
      const kek = new Uint8Array(32).fill(7)
      const sender = yield* alice.keyring.identity
      const dated = (versionId: string, createdAt: number) =>
        Effect.map(KekBlob.seal({ target: { storeId, versionId, recipient: bobId }, sender, kek, createdAt }), (blob) => ({
          userId: bob.userId as UserId, blob: Bytes.toBase64Url(blob)
        }))
      const day = 24 * 3600 * 1000
      for (const [versionId, createdAt] of [["kv-ahead", Date.now() + 2 * day], ["kv-skewed", Date.now() + day / 2]] as const) {
        const blob = yield* dated(versionId, createdAt)
        yield* alice.client.authenticated((api) =>
          api.kek.createVersion({ path: { storeId: storeId as StoreId }, payload: { versionId: versionId as KeyId, reason: "dated", blobs: [blob] } }))
      }
      const aliceId = (yield* Sharing.verifyUser(bob.client, alice.userId, alice.safetyNumber)).identity
      const taken = yield* Sharing.acceptOwnBlobs(ctx(bob, storeId), only(aliceId))
      expect(taken.skipped).toEqual([{ versionId: "kv-ahead", sender: alice.userId, reason: "future-dated" }])
      expect([...taken.accepted].map((a) => [a.versionId, a.status]).sort()).toEqual([["kv-skewed", "active"], ["kv1", "decrypt-only"]])
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.live("a member that is not an admin gets AccessDenied 403 for adding, provisioning and rotating", () =>
    Effect.gen(function*() {
      const alice = yield* person("alice")
      const bob = yield* person("bob")
      const carol = yield* person("carol")
      const storeId = yield* aliceStore(alice)
      const bobId = (yield* Sharing.verifyUser(alice.client, bob.userId, bob.safetyNumber)).identity
      yield* Sharing.addMember(ctx(alice, storeId), { identity: bobId, role: "member" })
      const aliceId = (yield* Sharing.verifyUser(bob.client, alice.userId, alice.safetyNumber)).identity
      yield* Sharing.acceptOwnBlobs(ctx(bob, storeId), only(aliceId))
      const carolId = (yield* Sharing.verifyUser(bob.client, carol.userId, carol.safetyNumber)).identity
      const add = yield* Effect.flip(Sharing.addMember(ctx(bob, storeId), { identity: carolId, role: "member" }))
      expect(add).toBeInstanceOf(SyncTransport.AccessDenied)
      expect(add).toMatchObject({ status: 403, storeId })
      expect(add.message).toContain("admin")
      const rotate = yield* Effect.flip(Sharing.rotate(ctx(bob, storeId), { identities: only(aliceId) }))
      expect(rotate).toMatchObject({ _tag: "AccessDenied", status: 403 })
      // bob's refused rotation left no new local version.
      expect((yield* bob.keyring.kekVersions(storeId)).map((v) => v.versionId)).toEqual(["kv1"])
      expect((yield* Sharing.members(ctx(alice, storeId))).map((m) => m.userId).sort()).toEqual([alice.userId, bob.userId].sort())
    }).pipe(Effect.provide(NodeCrypto.layer)))
})
