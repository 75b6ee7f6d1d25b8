/**
 * Registered users and stores over HTTP, host-free (the Node tests and the
 * Chromium suite both use them, each with its own Crypto adapter).
 */
import type { Crypto } from "@cipherlog/crypto"
import type { StoreId, UserId } from "@cipherlog/domain"
import { FetchHttpClient } from "@effect/platform"
import { Effect } from "effect"
import { HttpTransport } from "../src/index.js"

/** A registered user with a client (fetch). */
export const user = (crypto: Crypto.Crypto, baseUrl: string, userId: string) =>
  Effect.gen(function*() {
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
    return { userId, client, signing, encryptionPublicKey: encryption.key.publicKey }
  })

let n = 0
/** A fresh store of `admin` with `members` as writers. */
export const store = (admin: Effect.Effect.Success<ReturnType<typeof user>>, members: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const storeId = `s${Date.now().toString(36)}${n++}` as StoreId
    yield* admin.client.authenticated((api) => api.stores.create({ payload: { storeId } }))
    for (const m of members) {
      yield* admin.client.authenticated((api) =>
        api.stores.putMember({ path: { storeId, userId: m as UserId }, payload: { role: "member" } }))
    }
    return storeId
  })
