import { WebCryptoCrypto } from "@cipherlog/crypto-webcrypto"
import { KeyStoreConformance } from "@cipherlog/key-store-conformance"
import { describe, expect, it } from "vitest"
import { IndexedDbKeyStore } from "../src/index.js"
import { harness } from "./harness.js"

KeyStoreConformance.suite(harness("indexeddb (Chromium)"), WebCryptoCrypto.layer)

describe("IndexedDbKeyStore in Chromium", () => {
  it("locks with Web Locks, across every tab and worker of the origin", () => {
    expect(IndexedDbKeyStore.lockScope()).toBe("web-locks (all tabs and workers of the origin)")
  })
})
