/**
 * The SyncTransport conformance suite for the HTTP transport inside
 * Chromium: the browser's own fetch, cross-origin to a sync server on
 * loopback (CORS), identities and signatures through WebCrypto.
 */
import { WebCryptoCrypto } from "@cipherlog/crypto-webcrypto"
import type { StoreId, UserId } from "@cipherlog/domain"
import { SyncTransportConformance } from "@cipherlog/sync-transport-conformance"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { HttpTransport } from "../src/index.js"

const baseUrl = inject("syncServerUrl")

const user = (userId: string) =>
  Effect.gen(function*() {
    const crypto = yield* WebCryptoCrypto.make
    const signing = yield* crypto.ed25519.generate()
    const encryption = yield* crypto.x25519.generate()
    const client = yield* HttpTransport.make({
      baseUrl,
      credentials: {
        userId,
        signingPublicKey: signing.key.publicKey,
        encryptionPublicKey: encryption.key.publicKey,
        sign: (message) => crypto.ed25519.sign(signing.key, message)
      }
    }).pipe(Effect.provide(FetchHttpClient.layer))
    yield* client.register
    return { userId, client }
  })

let n = 0
const setup = Effect.gen(function*() {
  const tag = `${Date.now().toString(36)}b${n++}`
  const [alice, bob, mallory] = yield* Effect.all([user(`alice${tag}`), user(`bob${tag}`), user(`mallory${tag}`)])
  const storeId = `s${tag}` as StoreId
  yield* alice.client.authenticated((api) => api.stores.create({ payload: { storeId } }))
  yield* alice.client.authenticated((api) =>
    api.stores.putMember({ path: { storeId, userId: bob.userId as UserId }, payload: { role: "member" } }))
  const actor = (u: typeof alice) => ({ userId: u.userId, transport: u.client.transport })
  return { storeId, alice: actor(alice), bob: actor(bob), outsider: actor(mallory) }
}).pipe(Effect.orDie)

SyncTransportConformance.suite({ name: "HTTP from Chromium (fetch, CORS, WebCrypto)", setup })

describe("HTTP transport in Chromium", () => {
  it.live("runs on the page's origin, not the server's: every answer above crossed origins", () =>
    Effect.sync(() => {
      expect(new URL(baseUrl).origin).not.toBe(globalThis.location.origin)
    }))
})
