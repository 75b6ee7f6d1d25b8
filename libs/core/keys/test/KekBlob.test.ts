import { describe, expect, it } from "@effect/vitest"
import { Bytes } from "@cipherlog/domain"
import { Effect, Either, Exit } from "effect"
import { Identity, KekBlob } from "../src/index.js"
import { contains, userKeyring } from "./fixtures.js"
import { NodeCrypto } from "@cipherlog/crypto-node"

const layer = NodeCrypto.layer

const user = userKeyring

/** Alice (admin, holds kv1 of s1), Bob and Carol (hold nothing). */
const people = Effect.gen(function*() {
  const alice = yield* user("alice")
  const bob = yield* user("bob")
  const carol = yield* user("carol")
  yield* alice.createKek("s1", "kv1")
  return {
    alice, bob, carol,
    alicePublic: (yield* alice.identity).public,
    bobPublic: (yield* bob.identity).public,
    carolPublic: (yield* carol.identity).public
  }
})

const reasonOf = <A>(e: Either.Either<A, KekBlob.KekBlobRefused>) => (Either.isLeft(e) ? e.left.reason : "opened")

describe("KekBlob", () => {
  it.effect("a KEK version sealed to a member opens to the same bytes, and accept imports it with its creation time", () =>
    Effect.gen(function*() {
      const { alice, alicePublic, bob, bobPublic } = yield* people
      const blob = yield* KekBlob.provision(alice, { storeId: "s1", versionId: "kv1", recipient: bobPublic })
      expect(blob[0]).toBe(KekBlob.VERSION)
      expect(blob.length).toBe(1 + 4 + "alice".length + 8 + 32 + 48 + 64)
      const opened = yield* KekBlob.open({ blob, storeId: "s1", versionId: "kv1", recipient: yield* bob.identity, sender: alicePublic })
      const original = yield* alice.exportKek("s1", "kv1")
      expect(Bytes.toBase64Url(opened.kek)).toBe(Bytes.toBase64Url(original))
      expect(contains(blob, original)).toBe(false) // the KEK is not in the blob in the clear
      const aliceInfo = (yield* alice.kekVersions("s1"))[0]!
      expect(opened.createdAt).toBe(aliceInfo.createdAt)

      yield* KekBlob.accept(bob, { storeId: "s1", versionId: "kv1", blob, sender: alicePublic, status: "active" })
      const bobVersions = yield* bob.kekVersions("s1")
      expect(bobVersions.map((v) => [v.versionId, v.status, v.createdAt])).toEqual([["kv1", "active", aliceInfo.createdAt]])
      expect(Bytes.toBase64Url(yield* bob.exportKek("s1", "kv1"))).toBe(Bytes.toBase64Url(original))
    }).pipe(Effect.provide(layer)))

  it.effect("refuses a blob for another store, version or recipient, from another sender, or altered — typed, without secrets", () =>
    Effect.gen(function*() {
      const { alice, alicePublic, bob, bobPublic, carol, carolPublic } = yield* people
      const blob = yield* KekBlob.provision(alice, { storeId: "s1", versionId: "kv1", recipient: bobPublic })
      const bobIdentity = yield* bob.identity
      const base = { blob, storeId: "s1", versionId: "kv1", recipient: bobIdentity, sender: alicePublic }
      const attempt = (input: Partial<typeof base>) => Effect.either(KekBlob.open({ ...base, ...input }))

      expect(reasonOf(yield* attempt({}))).toBe("opened")
      expect(reasonOf(yield* attempt({ storeId: "s2" }))).toBe("not-for-this-context")
      expect(reasonOf(yield* attempt({ versionId: "kv2" }))).toBe("not-for-this-context")
      // Carol, with her own key, on a blob sealed to Bob.
      expect(reasonOf(yield* attempt({ recipient: yield* carol.identity }))).toBe("not-for-this-context")
      // Carol presenting herself as Bob (Bob's public identity, Carol's secret key) still opens nothing.
      const carolAsBob: Identity.Identity = { ...(yield* carol.identity), userId: "bob", public: bobPublic }
      expect(reasonOf(yield* attempt({ recipient: carolAsBob }))).toBe("not-for-this-context")
      // The expected sender is someone else (Carol), or Alice's name with Carol's key.
      expect(reasonOf(yield* attempt({ sender: carolPublic }))).toBe("not-for-this-context")
      expect(reasonOf(yield* attempt({ sender: { ...carolPublic, userId: "alice" } }))).toBe("not-for-this-context")
      // A blob forged under Alice's name (as a malicious server could: HPKE base mode does not
      // authenticate the sender), sealing a KEK the forger knows, is refused: only Alice's key signs.
      const forger: Identity.Identity = { ...(yield* carol.identity), userId: "alice" }
      const forged = yield* KekBlob.seal({
        target: { storeId: "s1", versionId: "kv1", recipient: bobPublic }, sender: forger, kek: new Uint8Array(32).fill(7), createdAt: 0
      })
      expect(reasonOf(yield* attempt({ blob: forged }))).toBe("not-for-this-context")
      expect(reasonOf(yield* attempt({ blob: forged, sender: { ...carolPublic, userId: "alice" } }))).toBe("opened") // the forger's own key verifies it
      // Every single-byte alteration is refused.
      for (let i = 0; i < blob.length; i++) {
        const altered = blob.slice()
        altered[i]! ^= 0x01
        const reason = reasonOf(yield* attempt({ blob: altered }))
        expect(reason, `byte ${i}`).not.toBe("opened")
      }
      expect(reasonOf(yield* attempt({ blob: blob.slice(0, blob.length - 1) }))).toBe("malformed")
      expect(reasonOf(yield* attempt({ blob: new Uint8Array(0) }))).toBe("malformed")
      const v3 = blob.slice()
      v3[0] = 3
      expect(reasonOf(yield* attempt({ blob: v3 }))).toBe("unsupported-version")

      // The error names ids only: no blob bytes, no key bytes.
      const failure = yield* attempt({ storeId: "s2" })
      const text = Either.isLeft(failure) ? `${failure.left.message} ${JSON.stringify(failure.left)}` : ""
      const kek = yield* alice.exportKek("s1", "kv1")
      expect(text).toContain("s2")
      expect(text).not.toContain(Bytes.toBase64Url(kek))
      expect(text).not.toContain(Bytes.toBase64Url(blob).slice(0, 40))

      // A refused blob imports nothing.
      const refused = yield* Effect.exit(KekBlob.accept(carol, { storeId: "s1", versionId: "kv1", blob, sender: alicePublic, status: "active" }))
      expect(Exit.isFailure(refused)).toBe(true)
      expect(yield* carol.kekVersions("s1")).toEqual([])
    }).pipe(Effect.provide(layer)))

  it.effect("a blob sealed to a retired encryption key still opens after the recipient rotates its identity", () =>
    Effect.gen(function*() {
      const { alice, alicePublic, bobPublic } = yield* people
      const blob = yield* KekBlob.provision(alice, { storeId: "s1", versionId: "kv1", recipient: bobPublic })
      // Bob's identity is re-created from its secrets after a planned rotation.
      const bobSecrets = yield* Identity.generate("bob", 0)
      const bob2 = yield* user("bob", bobSecrets)
      const blobToBob2 = yield* KekBlob.provision(alice, { storeId: "s1", versionId: "kv1", recipient: (yield* bob2.identity).public })
      const rotated = yield* Identity.rotate(bobSecrets, "planned", 10, 1000)
      const afterRotation = yield* Identity.load(rotated.secrets)
      expect(Bytes.toBase64Url(afterRotation.public.encryptionPublicKey)).not.toBe(Bytes.toBase64Url((yield* bob2.identity).public.encryptionPublicKey))
      const opened = yield* KekBlob.open({ blob: blobToBob2, storeId: "s1", versionId: "kv1", recipient: afterRotation, sender: alicePublic })
      expect(opened.kek.length).toBe(32)
      expect(blob.length).toBe(blobToBob2.length)
    }).pipe(Effect.provide(layer)))
})
