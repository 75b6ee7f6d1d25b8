import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { CryptoConformance } from "@cipherlog/crypto-conformance"
import { WebCryptoCrypto } from "../src/index.js"

CryptoConformance.suite("webcrypto (Chromium)", WebCryptoCrypto.layer)

describe("WebCryptoCrypto in Chromium", () => {
  it.effect("uses the browser's own Ed25519 and X25519, not the noble fallback", () =>
    Effect.gen(function*() {
      expect(yield* WebCryptoCrypto.probe).toEqual({ ed25519: true, x25519: true })
    }))
})
