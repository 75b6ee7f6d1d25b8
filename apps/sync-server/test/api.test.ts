/**
 * The typed client derived from `SyncApi` (`HttpApiClient.make`) against a
 * real server process: the whole flow, long polls woken by pushes, typed
 * errors, and the OpenAPI description served by the server.
 */
import { Auth, openApi, SyncApi } from "@cipherlog/sync-api"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { crypto, device, newIdentity } from "./support/client.js"
import * as Servers from "./support/server.js"

let server: Awaited<ReturnType<typeof Servers.startSqlite>>
beforeAll(async () => {
  server = await Servers.startSqlite()
})
afterAll(async () => {
  await server?.stop()
})

const clientFor = (token?: string) =>
  HttpApiClient.make(SyncApi, {
    baseUrl: server.url,
    ...(token === undefined ? {} : { transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token)) })
  }).pipe(Effect.provide(FetchHttpClient.layer))

const runWith = <A, E>(effect: Effect.Effect<A, E, never>) => Effect.runPromise(effect)

/** Registers and logs in through the typed client. */
const signUpTyped = (userId: string) =>
  Effect.gen(function*() {
    const user = yield* Effect.promise(() => newIdentity(userId))
    const anonymous = yield* clientFor()
    const proof = yield* crypto.ed25519.sign(user.signing.key, Auth.registrationMessage(userId, user.signing.key.publicKey, user.encryptionPublicKey))
    const registered = yield* anonymous.users.register({
      payload: { userId: userId as never, signingPublicKey: user.signing.key.publicKey, encryptionPublicKey: user.encryptionPublicKey, proof },
      headers: {}
    })
    expect(registered.created).toBe(true)
    const challenge = yield* anonymous.auth.challenge({ payload: { userId: userId as never } })
    const signature = yield* crypto.ed25519.sign(user.signing.key, Auth.sessionMessage(userId, challenge.challengeId, challenge.nonce))
    const session = yield* anonymous.auth.session({ payload: { challengeId: challenge.challengeId, signature } })
    return { user, session, client: yield* clientFor(session.token) }
  })

describe("typed client (HttpApiClient of SyncApi) against a server process", () => {
  it("register, log in, create a store, push, pull, long poll, KEK versions, blobs, audit", async () => {
    await runWith(Effect.gen(function*() {
      const tag = Math.random().toString(36).slice(2, 8)
      const alice = yield* signUpTyped(`alice-${tag}`)
      const bob = yield* signUpTyped(`bob-${tag}`)
      const storeId = `notes-${tag}` as never
      const created = yield* alice.client.stores.create({ payload: { storeId } })
      expect(created.admin.role).toBe("admin")
      yield* alice.client.stores.putMember({ path: { storeId, userId: bob.user.userId as never }, payload: { role: "member" } })
      expect((yield* bob.client.users.get({ path: { userId: alice.user.userId as never } })).signingPublicKey).toEqual(alice.user.signing.key.publicKey)

      const aliceDevice = yield* Effect.promise(() => device(alice.user.userId, "laptop", storeId))
      const first = yield* Effect.promise(() => aliceDevice.record({ aggregateId: "n1", version: 1, payload: { text: "hello" } }))
      const pushed = yield* alice.client.records.push({ path: { storeId }, payload: { records: [first.text] } })
      expect(pushed.results.map((r) => [r.globalSequence, r.duplicate])).toEqual([[1, false]])

      // Bob long-polls after the head; Alice's next push wakes him early.
      const started = Date.now()
      const waiting = yield* Effect.fork(bob.client.records.pull({ path: { storeId }, urlParams: { after: 1, wait: 20_000 } }))
      yield* Effect.sleep("300 millis")
      const second = yield* Effect.promise(() => aliceDevice.record({ aggregateId: "n1", version: 2, payload: { text: "world" } }))
      yield* alice.client.records.push({ path: { storeId }, payload: { records: [second.text] } })
      const woke = yield* waiting.await.pipe(Effect.flatten)
      expect(Date.now() - started).toBeLessThan(5000)
      expect(woke.records.map((r) => [r.globalSequence, r.recordJson])).toEqual([[2, second.text]])

      // A long poll with nothing new ends after its wait, empty.
      const idle = yield* bob.client.records.pull({ path: { storeId }, urlParams: { after: 2, wait: 300 } })
      expect([idle.records.length, idle.head, idle.hasMore]).toEqual([0, 2, false])

      // Bob is behind on n1: his version 2 conflicts, with Alice's records to rebase on, as a typed error.
      const bobDevice = yield* Effect.promise(() => device(bob.user.userId, "phone", storeId))
      const stale = yield* Effect.promise(() => bobDevice.record({ aggregateId: "n1", version: 2, payload: { text: "mine" } }))
      const conflict = yield* Effect.flip(bob.client.records.push({ path: { storeId }, payload: { records: [stale.text] } }))
      expect(conflict._tag).toBe("VersionConflict")
      if (conflict._tag === "VersionConflict") {
        expect([conflict.expected, conflict.actual, conflict.missing.map((r) => r.recordJson)]).toEqual([1, 2, [second.text]])
      }
      // Retry of an acknowledged push: same sequence, flagged duplicate.
      const retry = yield* alice.client.records.push({ path: { storeId }, payload: { records: [first.text, second.text] } })
      expect(retry.results.map((r) => [r.globalSequence, r.duplicate])).toEqual([[1, true], [2, true]])
      // The same event id with other bytes is refused (INV-005) and counted as a compromise signal.
      const forged = JSON.parse(first.text) as { ciphertext: string }
      const otherBytes = JSON.stringify({ ...forged, ciphertext: (forged.ciphertext[0] === "A" ? "B" : "A") + forged.ciphertext.slice(1) })
      const refused = yield* Effect.flip(alice.client.records.push({ path: { storeId }, payload: { records: [otherBytes] } }))
      expect(refused._tag).toBe("DuplicateEventMismatch")
      const metrics = yield* Effect.promise(() => fetch(`${server.url}/metrics`).then((r) => r.text()))
      expect(metrics).toContain("cipherlog_duplicate_mismatches_total 1")
      const page = yield* bob.client.records.pull({ path: { storeId }, urlParams: { after: 0, limit: 1 } })
      expect([page.records.length, page.hasMore, page.head]).toEqual([1, true, 2])

      // KEK versions and blobs.
      const blobA = new Uint8Array(40).fill(1)
      const version = yield* alice.client.kek.createVersion({
        path: { storeId },
        payload: { versionId: "kv1" as never, reason: "initial", blobs: [{ userId: alice.user.userId as never, blob: toB64(blobA) }] }
      })
      expect(version.status).toBe("active")
      yield* alice.client.kek.provisionBlob({ path: { storeId }, payload: { versionId: "kv1" as never, userId: bob.user.userId as never, blob: toB64(new Uint8Array(40).fill(2)) } })
      expect((yield* bob.client.kek.activeVersion({ path: { storeId } })).versionId).toBe("kv1")
      expect((yield* bob.client.kek.myBlobs({ path: { storeId } })).map((b) => b.versionId)).toEqual(["kv1"])
      const forbidden = yield* Effect.flip(bob.client.kek.userBlobs({ path: { storeId, userId: alice.user.userId as never } }))
      expect(forbidden._tag).toBe("Forbidden")
      const audit = yield* alice.client.audit.list({ path: { storeId }, urlParams: {} })
      expect(audit.entries.map((e) => e.action)).toEqual(["store.create", "member.put", "kek.version.create", "kek.blob.provision", "kek.blob.provision", "kek.blob.read"])
      expect(JSON.stringify(audit)).not.toContain(toB64(blobA))
    }))
  })

  it("a batch whose records repeat a version is refused as InvalidRecord naming that record, not as a conflict; nothing is stored", async () => {
    await runWith(Effect.gen(function*() {
      const tag = Math.random().toString(36).slice(2, 8)
      const alice = yield* signUpTyped(`alice-${tag}`)
      const storeId = `notes-${tag}` as never
      yield* alice.client.stores.create({ payload: { storeId } })
      const laptop = yield* Effect.promise(() => device(alice.user.userId, "laptop", storeId))
      const one = yield* Effect.promise(() => laptop.record({ aggregateId: "n1", version: 1, payload: { text: "a" } }))
      const again = yield* Effect.promise(() => laptop.record({ aggregateId: "n1", version: 1, payload: { text: "b" } }))
      const refused = yield* Effect.flip(alice.client.records.push({ path: { storeId }, payload: { records: [one.text, again.text] } }))
      expect(refused._tag).toBe("InvalidRecord")
      if (refused._tag === "InvalidRecord") {
        expect(refused.index).toBe(1)
        expect(refused.problem).toContain("does not follow version 1")
      }
      const page = yield* alice.client.records.pull({ path: { storeId }, urlParams: { after: 0 } })
      expect([page.records.length, page.head]).toEqual([0, 0])
    }))
  })

  it("logout ends exactly the session of its token: that token is refused at once, the user's other session goes on", async () => {
    await runWith(Effect.gen(function*() {
      const tag = Math.random().toString(36).slice(2, 8)
      const alice = yield* signUpTyped(`alice-${tag}`)
      // A second session of the same user (another device logged in).
      const anonymous = yield* clientFor()
      const challenge = yield* anonymous.auth.challenge({ payload: { userId: alice.user.userId as never } })
      const signature = yield* crypto.ed25519.sign(alice.user.signing.key, Auth.sessionMessage(alice.user.userId, challenge.challengeId, challenge.nonce))
      const other = yield* clientFor((yield* anonymous.auth.session({ payload: { challengeId: challenge.challengeId, signature } })).token)
      const storeId = `notes-${tag}` as never
      yield* alice.client.stores.create({ payload: { storeId } })
      yield* alice.client.auth.logout()
      const refused = yield* Effect.flip(alice.client.stores.members({ path: { storeId } }))
      expect(refused._tag).toBe("Unauthorized")
      expect((yield* Effect.flip(alice.client.auth.logout()))._tag).toBe("Unauthorized")
      expect((yield* other.stores.members({ path: { storeId } })).map((m) => m.userId)).toEqual([alice.user.userId])
      // Without a token there is nothing to end.
      expect((yield* Effect.flip(anonymous.auth.logout()))._tag).toBe("Unauthorized")
    }))
  })

  it("serves the OpenAPI description derived from the same definition", async () => {
    const served = await (await fetch(`${server.url}/openapi.json`)).json()
    expect(served).toEqual(JSON.parse(JSON.stringify(openApi())))
    const paths = Object.keys(served.paths)
    for (const p of ["/v1/stores/{storeId}/records", "/v1/stores/{storeId}/kek/rotate", "/v1/recovery/{locator}", "/healthz", "/metrics"]) {
      expect(paths).toContain(p)
    }
    expect(served.components.securitySchemes).toHaveProperty("bearer")
  })
})

const toB64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url")
