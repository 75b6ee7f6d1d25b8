import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { CryptoConformance } from "@cipherlog/crypto-conformance"
import { WebCryptoCrypto } from "../src/index.js"

CryptoConformance.suite("webcrypto (Node.js)", WebCryptoCrypto.layer)

describe("WebCryptoCrypto on Node.js", () => {
  it.effect("uses the host's own Ed25519 and X25519 (Node.js 20 has both), not the noble fallback", () =>
    Effect.gen(function*() {
      expect(yield* WebCryptoCrypto.probe).toEqual({ ed25519: true, x25519: true })
    }))
})
