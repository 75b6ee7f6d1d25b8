/**
 * The SyncTransport conformance suite for the HTTP transport inside
 * Chromium: the browser's own fetch, cross-origin to a sync server on
 * loopback (CORS), identities and signatures through WebCrypto.
 */
import { WebCryptoCrypto } from "@cipherlog/crypto-webcrypto"
import { SyncTransportConformance } from "@cipherlog/sync-transport-conformance"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import * as Users from "./users.js"

const baseUrl = inject("syncServerUrl")

let n = 0
const setup = Effect.gen(function*() {
  const crypto = yield* WebCryptoCrypto.make
  const tag = `${Date.now().toString(36)}b${n++}`
  const [alice, bob, mallory] = yield* Effect.all(["alice", "bob", "mallory"].map((name) => Users.user(crypto, baseUrl, `${name}${tag}`)))
  const storeId = yield* Users.store(alice, [bob.userId])
  const actor = (u: typeof alice) => ({ userId: u.userId, transport: u.client.transport })
  return { storeId, alice: actor(alice), bob: actor(bob), outsider: actor(mallory) }
})

SyncTransportConformance.suite({ name: "HTTP from Chromium (fetch, CORS, WebCrypto)", setup })

describe("HTTP transport in Chromium", () => {
  it.live("runs on the page's origin, not the server's: every answer above crossed origins", () =>
    Effect.sync(() => {
      expect(new URL(baseUrl).origin).not.toBe(globalThis.location.origin)
    }))
})
