import { NodeCrypto } from "@cipherlog/crypto-node"
import type { UserId } from "@cipherlog/domain"
import { Identity } from "@cipherlog/keys"
import { Auth, type Models } from "@cipherlog/sync-api"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { IdentityRotation } from "../src/index.js"

/** A user's chain as the server would serve it, after `kinds` rotations. */
const chainOf = (kinds: ReadonlyArray<"planned" | "emergency">) =>
  Effect.gen(function*() {
    let secrets = yield* Identity.generate("alice", 1)
    const genesis = secrets.genesis
    for (const [i, kind] of kinds.entries()) secrets = (yield* Identity.rotate(secrets, kind, 10 * (i + 1), 5)).secrets
    const chain: Models.IdentityChain = {
      userId: "alice" as UserId,
      genesis: { signingPublicKey: genesis.signingPublicKey, encryptionPublicKey: genesis.encryptionPublicKey, registeredAt: 1 },
      rotations: secrets.chain.map((s) => ({ ...s, userId: s.userId as UserId }))
    }
    return { genesis, chain, secrets }
  })

describe("IdentityRotation", () => {
  it.effect("the server's rotation message is byte for byte the one Identity.rotate signs", () =>
    Effect.gen(function*() {
      const { secrets } = yield* chainOf(["planned", "emergency"])
      for (const { newSignature: _n, oldSignature: _o, ...unsigned } of secrets.chain) {
        expect(Auth.rotationMessage(unsigned)).toEqual(Identity.rotationMessage(unsigned))
      }
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it.effect("INV-007 a chain verifies from a pin at any position; a link altered after the pin is a broken link", () =>
    Effect.gen(function*() {
      const { chain, genesis } = yield* chainOf(["planned", "planned", "emergency"])
      const fromGenesis = yield* IdentityRotation.verifyChainFrom(IdentityRotation.pin(genesis), chain)
      expect(fromGenesis.pinned.rotations).toBe(3)
      expect(fromGenesis.rotations.map((r) => r.kind)).toEqual(["planned", "planned", "emergency"])
      const middle = IdentityRotation.pin({ userId: "alice", signingPublicKey: chain.rotations[0]!.newSigningPublicKey, encryptionPublicKey: chain.rotations[0]!.newEncryptionPublicKey }, 1)
      const fromMiddle = yield* IdentityRotation.verifyChainFrom(middle, chain)
      expect(fromMiddle.pinned.current).toEqual(fromGenesis.pinned.current)
      expect(fromMiddle.rotations).toHaveLength(2)
      const altered = { ...chain, rotations: chain.rotations.map((r, i) => (i === 2 ? { ...r, migrationUntil: r.migrationUntil + 1 } : r)) }
      const refused = yield* Effect.either(IdentityRotation.verifyChainFrom(middle, altered))
      expect(Either.isLeft(refused) && refused.left.reason).toBe("broken-link")
    }).pipe(Effect.provide(NodeCrypto.layer)))
})
