import { Crypto } from "@cipherlog/crypto"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { Bytes } from "@cipherlog/domain"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { type Identity, KekBlob, Prekeys } from "../src/index.js"
import { userKeyring } from "./fixtures.js"

const layer = NodeCrypto.layer
const DAY = 24 * 3600 * 1000
const NOW = 1_800_000_000_000

const user = (userId: string) => userKeyring(userId)

/** Alice (holds kv1 of s1) and Bob, who published a signed prekey and three one-time prekeys. */
const people = Effect.gen(function*() {
  const alice = yield* user("alice")
  const bob = yield* user("bob")
  const carol = yield* user("carol")
  yield* alice.createKek("s1", "kv1")
  const bobIdentity = yield* bob.identity
  const signed = yield* Prekeys.newSignedPrekey(bob.vault, bobIdentity, NOW)
  const oneTime = yield* Prekeys.newOneTimePrekeys(bob.vault, bobIdentity, 3, NOW)
  return {
    alice, bob, carol, signed, oneTime,
    alicePublic: (yield* alice.identity).public,
    bobPublic: bobIdentity.public,
    carolIdentity: yield* carol.identity
  }
})

const reasonOf = <A, E extends { readonly reason: string }>(e: Either.Either<A, E>) => (Either.isLeft(e) ? e.left.reason : "ok")

describe("Prekeys", () => {
  it.effect("a bundle verifies against the recipient's identity: one-time prekey first, else the signed prekey", () =>
    Effect.gen(function*() {
      const { bobPublic, oneTime, signed } = yield* people
      const withOne = yield* Prekeys.verifyBundle(bobPublic, { userId: "bob", signedPrekey: signed, oneTimePrekey: Option.some(oneTime[0]!) }, NOW)
      expect([withOne.kind, withOne.prekeyId]).toEqual(["one-time", oneTime[0]!.prekeyId])
      const signedOnly = yield* Prekeys.verifyBundle(bobPublic, { userId: "bob", signedPrekey: signed, oneTimePrekey: Option.none() }, NOW)
      expect([signedOnly.kind, signedOnly.prekeyId]).toEqual(["signed", signed.prekeyId])
    }).pipe(Effect.provide(layer)))

  it.effect("refuses a forged signature, a mismatched prekey, another user's bundle and a stale signed prekey", () =>
    Effect.gen(function*() {
      const { bobPublic, carol, carolIdentity, oneTime, signed } = yield* people
      const verify = (bundle: Prekeys.Bundle, now = NOW) => Effect.either(Prekeys.verifyBundle(bobPublic, bundle, now))
      const bundle = (spk: Prekeys.SignedPrekey, otk: Option.Option<Prekeys.OneTimePrekey> = Option.none()) => ({ userId: "bob", signedPrekey: spk, oneTimePrekey: otk })
      // Carol (or the server) signs a prekey of her own under Bob's name.
      const forged = yield* Prekeys.newSignedPrekey(carol.vault, { ...carolIdentity, userId: "bob" }, NOW)
      expect(reasonOf(yield* verify(bundle(forged)))).toBe("bad-signature")
      // Bob's signature with another public key (a substituted key).
      expect(reasonOf(yield* verify(bundle({ ...signed, publicKey: forged.publicKey })))).toBe("bad-signature")
      expect(reasonOf(yield* verify(bundle({ ...signed, createdAt: signed.createdAt + 1 })))).toBe("bad-signature")
      // A one-time prekey substituted by the server, or Bob's signature over another key.
      const carolOtk = (yield* Prekeys.newOneTimePrekeys(carol.vault, { ...carolIdentity, userId: "bob" }, 1, NOW))[0]!
      expect(reasonOf(yield* verify(bundle(signed, Option.some(carolOtk))))).toBe("bad-signature")
      expect(reasonOf(yield* verify(bundle(signed, Option.some({ ...oneTime[0]!, publicKey: carolOtk.publicKey }))))).toBe("bad-signature")
      // Carol's genuine bundle handed out for Bob.
      const carolSigned = yield* Prekeys.newSignedPrekey(carol.vault, carolIdentity, NOW)
      expect(reasonOf(yield* verify({ userId: "bob", signedPrekey: carolSigned, oneTimePrekey: Option.none() }))).toBe("wrong-user")
      expect(reasonOf(yield* verify({ userId: "carol", signedPrekey: carolSigned, oneTimePrekey: Option.none() }))).toBe("wrong-user")
      // Bob's genuine but old signed prekey (a server replaying it), and one dated in the future.
      expect(reasonOf(yield* verify(bundle(signed), NOW + 44 * DAY))).toBe("ok")
      expect(reasonOf(yield* verify(bundle(signed), NOW + 46 * DAY))).toBe("stale")
      expect(reasonOf(yield* verify(bundle(signed), NOW - 2 * DAY))).toBe("stale")
      // The error names the user, not key bytes.
      const failure = yield* verify(bundle(forged))
      const text = Either.isLeft(failure) ? `${failure.left.message} ${JSON.stringify(failure.left)}` : ""
      expect(text).toContain("bob")
      expect(text).not.toContain(Bytes.toBase64Url(forged.publicKey))
    }).pipe(Effect.provide(layer)))

  it.effect("a KEK sealed to a one-time prekey opens once: the blob names the prekey and its secret is erased after use", () =>
    Effect.gen(function*() {
      const { alice, alicePublic, bob, bobPublic, oneTime, signed } = yield* people
      const target = yield* Prekeys.verifyBundle(bobPublic, { userId: "bob", signedPrekey: signed, oneTimePrekey: Option.some(oneTime[1]!) }, NOW)
      const blob = yield* KekBlob.provision(alice, { storeId: "s1", versionId: "kv1", recipient: bobPublic, prekey: target })
      expect(blob[0]).toBe(KekBlob.VERSION_PREKEY)
      const parsed = yield* KekBlob.parse(blob, { storeId: "s1", versionId: "kv1", recipient: bobPublic })
      expect(Option.getOrNull(parsed.prekey)).toEqual({ kind: "one-time", prekeyId: oneTime[1]!.prekeyId })
      const entry = Prekeys.entries.of("one-time", oneTime[1]!.prekeyId)
      expect(Option.isSome(yield* bob.vault.get(entry))).toBe(true)

      // Without the prekey, even with Bob's identity key, it does not open.
      const withoutPrekey = yield* Effect.either(KekBlob.open({ blob, storeId: "s1", versionId: "kv1", recipient: yield* bob.identity, sender: alicePublic }))
      expect(reasonOf(withoutPrekey)).toBe("not-for-this-context")
      // Another of Bob's prekeys does not open it either.
      const other = Option.getOrThrow(yield* Prekeys.handle(bob.vault, "one-time", oneTime[2]!.prekeyId))
      const wrongKey = yield* Effect.either(KekBlob.open({ blob, storeId: "s1", versionId: "kv1", recipient: yield* bob.identity, sender: alicePublic, prekey: other }))
      expect(reasonOf(wrongKey)).toBe("not-for-this-context")

      yield* KekBlob.accept(bob, { storeId: "s1", versionId: "kv1", blob, sender: alicePublic, status: "active" })
      expect(Bytes.toBase64Url(yield* bob.exportKek("s1", "kv1"))).toBe(Bytes.toBase64Url(yield* alice.exportKek("s1", "kv1")))
      // Forward secrecy: the one-time secret is gone from the vault; the others remain.
      expect(Option.isNone(yield* bob.vault.get(entry))).toBe(true)
      expect(Option.isNone(yield* Prekeys.handle(bob.vault, "one-time", oneTime[1]!.prekeyId))).toBe(true)
      expect((yield* Prekeys.secrets(bob.vault, "one-time")).map((s) => s.prekeyId).sort()).toEqual([oneTime[0]!.prekeyId, oneTime[2]!.prekeyId].sort())
      // A second delivery of the same blob cannot be opened any more.
      const again = yield* Effect.flip(KekBlob.accept(bob, { storeId: "s1", versionId: "kv1", blob, sender: alicePublic, status: "active" }))
      expect(again._tag === "KekBlobRefused" ? again.reason : again._tag).toBe("prekey-not-held")
    }).pipe(Effect.provide(layer)))

  it.effect("a KEK sealed to the signed prekey opens and keeps the signed prekey; every altered byte is refused", () =>
    Effect.gen(function*() {
      const { alice, alicePublic, bob, bobPublic, signed } = yield* people
      const target = yield* Prekeys.verifyBundle(bobPublic, { userId: "bob", signedPrekey: signed, oneTimePrekey: Option.none() }, NOW)
      const blob = yield* KekBlob.provision(alice, { storeId: "s1", versionId: "kv1", recipient: bobPublic, prekey: target })
      const key = Option.getOrThrow(yield* Prekeys.handle(bob.vault, "signed", signed.prekeyId))
      const recipient = yield* bob.identity
      const open = (b: Uint8Array, storeId = "s1") => Effect.either(KekBlob.open({ blob: b, storeId, versionId: "kv1", recipient, sender: alicePublic, prekey: key }))
      expect(reasonOf(yield* open(blob))).toBe("ok")
      expect(reasonOf(yield* open(blob, "s2"))).toBe("not-for-this-context")
      for (let i = 0; i < blob.length; i++) {
        const altered = blob.slice()
        altered[i]! ^= 0x01
        expect(reasonOf(yield* open(altered)), `byte ${i}`).not.toBe("ok")
      }
      yield* KekBlob.accept(bob, { storeId: "s1", versionId: "kv1", blob, sender: alicePublic, status: "active" })
      expect(Option.isSome(yield* Prekeys.handle(bob.vault, "signed", signed.prekeyId))).toBe(true)
    }).pipe(Effect.provide(layer)))

  it.effect("mutant: a sender that skips bundle verification seals the KEK to a key the server substituted, and the server reads it", () =>
    Effect.gen(function*() {
      const { alice, bobPublic, signed } = yield* people
      const crypto = yield* Crypto.Crypto
      // The server hands out a "one-time prekey" of its own, with a made-up signature.
      const server = yield* crypto.x25519.generate()
      const substituted: Prekeys.OneTimePrekey = { userId: "bob", prekeyId: "otk_server", publicKey: server.key.publicKey, signature: new Uint8Array(64) }
      const bundle: Prekeys.Bundle = { userId: "bob", signedPrekey: signed, oneTimePrekey: Option.some(substituted) }
      // The real client refuses it ...
      expect(reasonOf(yield* Effect.either(Prekeys.verifyBundle(bobPublic, bundle, NOW)))).toBe("bad-signature")
      // ... a client that takes the bundle's key unverified hands the KEK to the server.
      const unverified: Prekeys.SealTarget = { kind: "one-time", prekeyId: substituted.prekeyId, publicKey: substituted.publicKey }
      const blob = yield* KekBlob.provision(alice, { storeId: "s1", versionId: "kv1", recipient: bobPublic, prekey: unverified })
      const parsed = yield* KekBlob.parse(blob, { storeId: "s1", versionId: "kv1", recipient: bobPublic })
      const fakeBob: Identity.Identity = { ...(yield* alice.identity), userId: "bob", public: bobPublic }
      const stolen = yield* KekBlob.open({ blob, storeId: "s1", versionId: "kv1", recipient: fakeBob, sender: (yield* alice.identity).public, prekey: server.key })
      expect(Bytes.toBase64Url(stolen.kek)).toBe(Bytes.toBase64Url(yield* alice.exportKek("s1", "kv1")))
      expect(Option.getOrNull(parsed.prekey)).toEqual({ kind: "one-time", prekeyId: "otk_server" })
    }).pipe(Effect.provide(layer)))

  it.effect("rotation: a new signed prekey retires the old one, whose secret is erased after the grace window", () =>
    Effect.gen(function*() {
      const { bob, signed } = yield* people
      expect(Option.getOrNull(yield* Prekeys.currentSigned(bob.vault))).toEqual({ prekeyId: signed.prekeyId, createdAt: NOW })
      const later = NOW + 30 * DAY
      const next = yield* Prekeys.newSignedPrekey(bob.vault, yield* bob.identity, later)
      expect(Option.getOrNull(yield* Prekeys.currentSigned(bob.vault))).toEqual({ prekeyId: next.prekeyId, createdAt: later })
      expect(yield* Prekeys.prune(bob.vault, later + 6 * DAY)).toEqual([])
      expect(Option.isSome(yield* Prekeys.handle(bob.vault, "signed", signed.prekeyId))).toBe(true)
      expect(yield* Prekeys.prune(bob.vault, later + 7 * DAY)).toEqual([signed.prekeyId])
      expect(Option.isNone(yield* Prekeys.handle(bob.vault, "signed", signed.prekeyId))).toBe(true)
      expect(Option.isSome(yield* Prekeys.handle(bob.vault, "signed", next.prekeyId))).toBe(true)
    }).pipe(Effect.provide(layer)))

  it("plan: publish a signed prekey when none, not held here, or 30 days old; replenish to 100 below 10", () => {
    const local = Option.some({ prekeyId: "spk_a", createdAt: NOW })
    const server = (id: string | undefined, createdAt: number, oneTimeCount: number): Prekeys.ServerStatus => ({
      signedPrekeyId: Option.fromNullable(id), signedCreatedAt: id === undefined ? Option.none() : Option.some(createdAt), oneTimeCount
    })
    expect(Prekeys.plan(server(undefined, 0, 0), Option.none(), NOW)).toEqual({ publishSigned: true, oneTime: 100 })
    expect(Prekeys.plan(server("spk_a", NOW, 10), local, NOW + 29 * DAY)).toEqual({ publishSigned: false, oneTime: 0 })
    expect(Prekeys.plan(server("spk_a", NOW, 9), local, NOW + 30 * DAY)).toEqual({ publishSigned: true, oneTime: 91 })
    expect(Prekeys.plan(server("spk_b", NOW, 50), local, NOW)).toEqual({ publishSigned: true, oneTime: 0 })
  })
})
