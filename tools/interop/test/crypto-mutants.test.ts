/**
 * Each crypto invariant check of the conformance kit, run against a
 * deliberately broken adapter: the check must report the breakage. (The kit
 * itself requires the same checks to pass on every real adapter.)
 */
import { Crypto, DecryptionFailed } from "@cipherlog/crypto"
import { CryptoConformance } from "@cipherlog/crypto-conformance"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

const real = NodeCrypto.primitives

describe("crypto invariant checks catch broken adapters", () => {
  it.effect("INV-008 mutant: an adapter with a stuck random generator repeats nonces", () =>
    Effect.gen(function*() {
      const stuck = Crypto.make({ ...real, name: "stuck-rng", randomBytes: (n) => new Uint8Array(n).fill(7) })
      const { distinct } = yield* CryptoConformance.checks.distinctNonces(stuck, 1000)
      expect(distinct).toBe(1)
      const { distinct: fine } = yield* CryptoConformance.checks.distinctNonces(NodeCrypto.make(), 1000)
      expect(fine).toBe(1000)
    }))

  it.effect("INV-008 mutant: a service that silently renews an exhausted key encrypts past the limit", () =>
    Effect.gen(function*() {
      const base = NodeCrypto.make()
      const renewing: Crypto.Crypto = {
        ...base,
        // The bug: on exhaustion, re-import the same key with a fresh counter instead of rotating.
        seal: (key, plaintext, aad) =>
          base.seal(key, plaintext, aad).pipe(
            Effect.catchTag("KeyUsageExhausted", () =>
              Effect.flatMap(base.randomBytes(32), (raw) =>
                Effect.flatMap(Effect.orDie(base.importKey(key.purpose, raw)), (fresh) => base.seal(fresh, plaintext, aad))
              ))
          )
      }
      expect(yield* CryptoConformance.checks.encryptionsPastLimit(renewing)).toBe(5)
      expect(yield* CryptoConformance.checks.encryptionsPastLimit(base)).toBe(3)
    }))

  it.effect("INV-013 mutant: an adapter that drops the AAD accepts every AAD flip", () =>
    Effect.gen(function*() {
      const aadBlind = Crypto.make({
        ...real,
        name: "aad-blind",
        aead: {
          ...real.aead,
          sealSync: (alg, key, nonce, plaintext) => real.aead.sealSync!(alg, key, nonce, plaintext, new Uint8Array(0)),
          openSync: (alg, key, nonce, ciphertext) => real.aead.openSync!(alg, key, nonce, ciphertext, new Uint8Array(0))
        }
      })
      const { accepted } = yield* CryptoConformance.checks.acceptedFlips(aadBlind, "A256GCM")
      expect(accepted).toBe("context: store/agg/v1".length * 8)
      expect((yield* CryptoConformance.checks.acceptedFlips(NodeCrypto.make(), "A256GCM")).accepted).toBe(0)
    }))

  it.effect("INV-016 mutant: an adapter whose decryption error names the key is caught", () =>
    Effect.gen(function*() {
      const { openSync: _dropped, ...asyncOnly } = real.aead
      const leaky = Crypto.make({
        ...real,
        name: "leaky",
        aead: {
          ...asyncOnly,
          open: (alg, key, nonce, ciphertext, aad) =>
            Effect.suspend(() => {
              const plaintext = real.aead.openSync!(alg, key, nonce, ciphertext, aad)
              return plaintext === undefined
                ? Effect.fail(new DecryptionFailed({ algorithm: `${alg} with key ${Buffer.from(key).toString("hex")}` }))
                : Effect.succeed(plaintext)
            })
        }
      })
      const leaks = yield* CryptoConformance.checks.leaks(leaky)
      expect(leaks.length).toBeGreaterThan(0)
      expect(leaks[0]).toMatch(/DecryptionFailed shows/)
      expect(yield* CryptoConformance.checks.leaks(NodeCrypto.make())).toEqual([])
    }))
})
