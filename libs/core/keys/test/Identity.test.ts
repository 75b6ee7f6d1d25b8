import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { Effect, Either, FastCheck as fc } from "effect"
import { Identity } from "../src/index.js"

const rotations = fc.array(fc.record({ kind: fc.constantFrom("planned" as const, "emergency" as const), gap: fc.integer({ min: 1, max: 1000 }), window: fc.integer({ min: 0, max: 500 }) }), { minLength: 1, maxLength: 5 })

/** Builds a chain of rotations and returns the genesis, the chain and the keys used at each step. */
const buildChain = (steps: ReadonlyArray<{ kind: "planned" | "emergency"; gap: number; window: number }>) =>
  Effect.gen(function*() {
    let secrets = yield* Identity.generate("alice", 0)
    let at = 0
    for (const step of steps) {
      at += step.gap
      secrets = (yield* Identity.rotate(secrets, step.kind, at, step.window)).secrets
    }
    return secrets
  })

describe("Identity", () => {
  it.effect.prop("INV-007 any chain of planned and emergency rotations verifies and ends at the current keys", [rotations], ([steps]) =>
    Effect.gen(function*() {
      const secrets = yield* buildChain(steps)
      const view = yield* Identity.verifyChain(secrets.genesis, secrets.chain)
      const current = yield* Identity.load(secrets)
      expect(view.current.signingPublicKey).toEqual(current.signing.publicKey)
      expect(view.current.encryptionPublicKey).toEqual(current.encryption.publicKey)
      for (const [i, s] of secrets.chain.entries()) {
        const oldKey = s.oldSigningPublicKey
        // The old key verifies just before the rotation, and until the end of its migration window only.
        expect(Identity.validAt(view, oldKey, s.rotatedAt - 1) || i > 0).toBe(true)
        expect(Identity.validAt(view, oldKey, s.migrationUntil)).toBe(false)
        if (s.kind === "emergency") expect(Identity.validAt(view, oldKey, s.rotatedAt)).toBe(false)
        if (s.kind === "planned" && s.migrationUntil > s.rotatedAt) expect(Identity.validAt(view, oldKey, s.rotatedAt)).toBe(true)
        expect(Identity.validAt(view, s.newSigningPublicKey, s.rotatedAt)).toBe(true)
      }
    }).pipe(Effect.provide(NodeCrypto.layer)), { fastCheck: { numRuns: 20 } })

  it.effect.prop(
    "INV-007 mutant chains are rejected: a forged link, a swapped key, a re-ordered or re-attributed rotation",
    [rotations.filter((r) => r.length >= 2), fc.integer({ min: 0, max: 3 }), fc.nat()],
    ([steps, mutation, pick]) =>
      Effect.gen(function*() {
        const secrets = yield* buildChain(steps)
        const i = pick % secrets.chain.length
        const chain = [...secrets.chain]
        const link = chain[i]!
        const other = yield* Identity.generate("mallory", 0)
        switch (mutation) {
          case 0: chain[i] = { ...link, newSigningPublicKey: other.genesis.signingPublicKey }; break
          case 1: chain[i] = { ...link, oldSignature: link.newSignature }; break
          case 2: chain.reverse(); break
          case 3: chain[i] = { ...link, userId: "mallory" }; break
        }
        const result = yield* Effect.either(Identity.verifyChain(secrets.genesis, chain))
        expect(Either.isLeft(result)).toBe(true)
        expect(Either.isLeft(result) && result.left.message).toMatch(/alice|mallory/)
      }).pipe(Effect.provide(NodeCrypto.layer)),
    { fastCheck: { numRuns: 20 } }
  )

  it.effect("device certificates verify against the chain; forged or stale ones do not", () =>
    Effect.gen(function*() {
      const secrets = yield* Identity.generate("alice", 0)
      const identity = yield* Identity.load(secrets)
      const device = yield* Identity.newDevice(identity, "phone", 10)
      const view = yield* Identity.verifyChain(secrets.genesis, secrets.chain)
      yield* Identity.verifyCertificate(view, device.certificate)
      const forged = yield* Effect.either(Identity.verifyCertificate(view, { ...device.certificate, deviceId: "laptop" }))
      expect(Either.isLeft(forged)).toBe(true)
      // After an emergency rotation, a certificate issued later by the old key is refused.
      const rotated = yield* Identity.rotate(secrets, "emergency", 100, 0)
      const laterView = yield* Identity.verifyChain(rotated.secrets.genesis, rotated.secrets.chain)
      const stale = yield* Identity.newDevice(identity, "tablet", 200)
      const refused = yield* Effect.either(Identity.verifyCertificate(laterView, stale.certificate))
      expect(Either.isLeft(refused) && refused.left.detail).toMatch(/not valid then/)
      yield* Identity.verifyCertificate(laterView, device.certificate) // issued before the rotation: still good
      const revocation = yield* Identity.revokeDevice(yield* Identity.load(rotated.secrets), "phone", 300)
      yield* Identity.verifyRevocation(laterView, revocation)
      expect(Either.isLeft(yield* Effect.either(Identity.verifyRevocation(laterView, { ...revocation, deviceId: "tablet" })))).toBe(true)
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.effect("safety numbers: 12 groups of 5 digits, stable, different for different keys", () =>
    Effect.gen(function*() {
      const a = yield* Identity.generate("alice", 0)
      const b = yield* Identity.generate("alice", 0)
      const fa = yield* Identity.fingerprint(a.genesis)
      expect(fa).toMatch(/^(\d{5} ){11}\d{5}$/)
      expect(yield* Identity.fingerprint(a.genesis)).toBe(fa)
      expect(yield* Identity.fingerprint(b.genesis)).not.toBe(fa)
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.effect("safety numbers: the documented derivation (docs/formats.md), and every field of the identity changes them", () =>
    Effect.gen(function*() {
      const identity = {
        userId: "alice",
        signingPublicKey: Uint8Array.from({ length: 32 }, (_, i) => i + 1),
        encryptionPublicKey: Uint8Array.from({ length: 32 }, (_, i) => 100 + i)
      }
      // An independent implementation: SHA-256 of "cipherlog/fingerprint" ‖ 0x01 ‖ lp(userId) ‖ lp(signingKey) ‖ lp(encryptionKey),
      // group i = (d[2i]·2^16 + d[2i+1]·2^8 + d[24 + i mod 8]) mod 100000, five digits.
      const lp = (b: Uint8Array) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b])
      const d = createHash("sha256").update(Buffer.concat([
        Buffer.from("cipherlog/fingerprint"), Buffer.from([1]), lp(Buffer.from("alice")), lp(identity.signingPublicKey), lp(identity.encryptionPublicKey)
      ])).digest()
      const expected = Array.from({ length: 12 }, (_, i) => String((d[2 * i]! * 65536 + d[2 * i + 1]! * 256 + d[24 + (i % 8)]!) % 100000).padStart(5, "0")).join(" ")
      const actual = yield* Identity.fingerprint(identity)
      expect(actual).toBe(expected)
      const flip = (b: Uint8Array) => Uint8Array.from(b, (x, i) => (i === 31 ? x ^ 1 : x))
      expect(yield* Identity.fingerprint({ ...identity, userId: "alicf" })).not.toBe(actual)
      expect(yield* Identity.fingerprint({ ...identity, signingPublicKey: flip(identity.signingPublicKey) })).not.toBe(actual)
      expect(yield* Identity.fingerprint({ ...identity, encryptionPublicKey: flip(identity.encryptionPublicKey) })).not.toBe(actual)
    }).pipe(Effect.provide(NodeCrypto.layer)))
})
