import "fake-indexeddb/auto"
import { WebCryptoCrypto } from "@cipherlog/crypto-webcrypto"
import { KeyStoreConformance } from "@cipherlog/key-store-conformance"
import { describe, expect, it } from "vitest"
import { IndexedDbKeyStore } from "../src/index.js"
import { harness } from "./harness.js"

KeyStoreConformance.suite(harness("indexeddb (fake-indexeddb in Node.js)"), WebCryptoCrypto.layer)

describe("IndexedDbKeyStore in Node.js", () => {
  it("has no Web Locks here, so its lock is in-process only, and says so", () => {
    expect(IndexedDbKeyStore.lockScope()).toBe("in-process only")
  })
})
