import { NodeCrypto } from "@cipherlog/crypto-node"
import { Bytes } from "@cipherlog/domain"
import { KeyStore } from "@cipherlog/keys"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Option } from "effect"
import { KeyStoreConformance } from "../src/index.js"

// The in-memory KeyStore of @cipherlog/keys runs the suite like any adapter.
const stores = new Map<string, KeyStore.MemoryContents>()
const contents = (id: string) => {
  const existing = stores.get(id)
  if (existing) return existing
  const created = KeyStore.memoryContents()
  stores.set(id, created)
  return created
}

const memoryHarness: KeyStoreConformance.Harness = {
  name: "memory",
  open: (id) => KeyStore.layerMemory(id, contents(id)),
  persisted: (id) => Effect.sync(() => {
    const c = contents(id)
    return [...(c.header ? [{ name: "header", bytes: c.header }] : []), ...[...c.entries].map(([name, bytes]) => ({ name, bytes }))]
  }),
  corrupt: (id, entry) => Effect.sync(() => {
    const bytes = contents(id).entries.get(entry)!
    bytes[bytes.length - 1]! ^= 0xff
  })
}

KeyStoreConformance.suite(memoryHarness, NodeCrypto.layer)

describe("KeyStore conformance checks catch broken adapters", () => {
  it.effect("INV-014 mutant: an adapter that keeps a plaintext copy of what the vault hands it is caught", () =>
    Effect.gen(function*() {
      // A broken "adapter": it logs every write's plaintext into a side entry. (It sees ciphertext only — so we
      // simulate the worst case directly: a store that persists the vault's input before encryption.)
      const leaky: KeyStoreConformance.Harness = {
        ...memoryHarness,
        name: "leaky",
        persisted: (id) => Effect.map(memoryHarness.persisted(id), (all) => [...all, ...leakedPlaintext.map((bytes) => ({ name: "leak", bytes }))])
      }
      const secrets = fc.sample(fc.uint8Array({ minLength: 32, maxLength: 32 }), { numRuns: 2, seed: 3 })
      const leakedPlaintext = [Bytes.concat(Uint8Array.of(0), secrets[0]!)]
      expect(yield* KeyStoreConformance.checks.plaintextWindows(leaky, NodeCrypto.layer, secrets)).toBeGreaterThan(0)
      expect(yield* KeyStoreConformance.checks.plaintextWindows(memoryHarness, NodeCrypto.layer, secrets)).toBe(0)
      expect(Option.isNone(Option.none())).toBe(true)
    }))
})
