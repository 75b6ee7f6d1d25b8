import { SyncTransport } from "@cipherlog/sync"
import { Records, SyncTransportConformance } from "@cipherlog/sync-transport-conformance"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpTransport } from "../src/index.js"
import { serverRuntime, store, urlOf, user } from "./support.js"

const crypto = NodeCrypto.make()
const runtime = serverRuntime()
afterAll(() => runtime.dispose())
const baseUrl = Effect.promise(() => runtime.runPromise(urlOf))

/** Client credentials that sign as the test user `u` (its real signing key). */
const signingAs = (u: Effect.Effect.Success<ReturnType<typeof user>>): HttpTransport.Credentials => ({
  userId: u.userId,
  signingPublicKey: u.signing.key.publicKey,
  encryptionPublicKey: u.encryptionPublicKey,
  sign: (m) => crypto.ed25519.sign(u.signing.key, m)
})

let n = 0
const setup = Effect.gen(function*() {
  const url = yield* baseUrl
  const tag = `${Date.now().toString(36)}${n++}`
  const alice = yield* user(url, `alice${tag}`)
  const bob = yield* user(url, `bob${tag}`)
  const mallory = yield* user(url, `mallory${tag}`)
  const storeId = yield* store(alice, [bob.userId])
  const actor = (u: typeof alice) => ({ userId: u.userId, transport: u.client.transport })
  return { storeId, alice: actor(alice), bob: actor(bob), outsider: actor(mallory) }
})

SyncTransportConformance.suite({ name: "HTTP over loopback (in-process server, memory store)", setup })

describe("HTTP transport", () => {
  it.live("an unregistered user gets AccessDenied 401, with no key material in the message", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const client = yield* HttpTransport.make({
        baseUrl: url,
        credentials: {
          userId: "ghost",
          signingPublicKey: new Uint8Array(32),
          encryptionPublicKey: new Uint8Array(32),
          sign: () => Effect.succeed(new Uint8Array(64))
        }
      }).pipe(Effect.provide(FetchHttpClient.layer))
      const error = yield* Effect.flip(client.transport.pull("whatever", { after: 0 }))
      expect(error).toBeInstanceOf(SyncTransport.AccessDenied)
      expect(error).toMatchObject({ status: 401 })
    }))

  it.live("a server that is not there is TransportUnavailable (network), which the engine retries", () =>
    Effect.gen(function*() {
      const u = yield* user(yield* baseUrl, `net${Date.now()}`)
      const client = yield* HttpTransport.make({
        baseUrl: "http://127.0.0.1:9",
        credentials: { userId: u.userId, signingPublicKey: u.signing.key.publicKey, encryptionPublicKey: u.encryptionPublicKey, sign: () => Effect.succeed(new Uint8Array(64)) }
      }).pipe(Effect.provide(FetchHttpClient.layer))
      const error = yield* Effect.flip(client.transport.push("s", [Records.text({ storeId: "s", userId: u.userId, aggregateId: "a", version: 1 })]))
      expect(error).toMatchObject({ _tag: "TransportUnavailable", reason: "network" })
      expect(SyncTransport.isRetryable(error)).toBe(true)
    }))

  it.live("a refused token is renewed once, transparently", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const alice = yield* user(url, `renew${Date.now()}`)
      const storeId = yield* store(alice, [])
      // A fetch that spoils the first bearer token it carries, and counts logins.
      let spoiled = false
      let logins = 0
      const spoilingFetch: typeof globalThis.fetch = (input, init) => {
        const target = input instanceof Request ? input.url : String(input)
        if (target.endsWith("/v1/auth/session")) logins++
        const headers = new Headers(init?.headers)
        if (!spoiled && headers.has("authorization")) {
          spoiled = true
          headers.set("authorization", "Bearer not-a-token")
        }
        return globalThis.fetch(input, { ...init, headers })
      }
      const spoiling = FetchHttpClient.layer.pipe(Layer.provide(Layer.succeed(FetchHttpClient.Fetch, spoilingFetch)))
      const client = yield* HttpTransport.make({
        baseUrl: url,
        credentials: signingAs(alice)
      }).pipe(Effect.provide(spoiling))
      const page = yield* client.transport.pull(storeId, { after: 0 })
      expect(page.records).toEqual([])
      expect(spoiled).toBe(true)
      expect(logins).toBe(2)
    }))

  it.live("pull asks for record lines; a text with line breaks comes back exactly, as through the JSON answer", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const alice = yield* user(url, `lines${Date.now()}`)
      const storeId = yield* store(alice, [])
      const compact = Records.text({ storeId, userId: alice.userId, aggregateId: "a", version: 1 })
      // Another JSON spelling of a record (indented: line breaks inside): stored and served as sent (INV-004).
      const pretty = JSON.stringify(JSON.parse(Records.text({ storeId, userId: alice.userId, aggregateId: "b", version: 1 })), null, 2)
      yield* alice.client.transport.push(storeId, [compact, pretty])
      const credentials = signingAs(alice)
      const types: Array<string> = []
      const watching = (accept?: string) =>
        Layer.effect(
          HttpClient.HttpClient,
          Effect.map(HttpClient.HttpClient, (client) =>
            HttpClient.tap(
              accept === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.setHeader("accept", accept)),
              (response) =>
                Effect.sync(() => {
                  if (response.request.url.includes("/records")) types.push(response.headers["content-type"] ?? "")
                })
            ))
        ).pipe(Layer.provide(FetchHttpClient.layer))
      const viaLines = yield* HttpTransport.make({ baseUrl: url, credentials }).pipe(Effect.provide(watching()))
      const lines = yield* viaLines.transport.pull(storeId, { after: 0 })
      // A client whose requests lose the Accept header gets the JSON answer and reads it too.
      const viaJson = yield* HttpTransport.make({ baseUrl: url, credentials }).pipe(Effect.provide(watching("application/json")))
      const json = yield* viaJson.transport.pull(storeId, { after: 0 })
      expect(lines.records.map((r) => r.recordJson)).toEqual([compact, pretty])
      expect(json).toEqual(lines)
      expect(types.map((t) => t.split(";")[0])).toEqual(["application/x-ndjson", "application/json"])
    }))

  it.live("logout ends the session on the server (its token is refused), and the next request logs in again", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const alice = yield* user(url, `logout${Date.now()}`)
      const storeId = yield* store(alice, [])
      // A fetch that remembers the bearer tokens it carries and counts logins and logouts.
      const tokens = new Set<string>()
      const calls = { logins: 0, logouts: 0 }
      const watching: typeof globalThis.fetch = (input, init) => {
        const target = input instanceof Request ? input.url : String(input)
        const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase()
        if (target.endsWith("/v1/auth/session")) {
          if (method === "DELETE") calls.logouts++
          else calls.logins++
        }
        const bearer = new Headers(init?.headers).get("authorization")
        if (bearer !== null) tokens.add(bearer)
        return globalThis.fetch(input, init)
      }
      const client = yield* HttpTransport.make({
        baseUrl: url,
        credentials: signingAs(alice)
      }).pipe(Effect.provide(FetchHttpClient.layer.pipe(Layer.provide(Layer.succeed(FetchHttpClient.Fetch, watching)))))
      // Nothing held yet: nothing to end, no request.
      yield* client.logout
      expect(calls).toEqual({ logins: 0, logouts: 0 })
      yield* client.transport.pull(storeId, { after: 0 })
      const [first] = [...tokens]
      yield* client.logout
      expect(calls).toEqual({ logins: 1, logouts: 1 })
      const reused = yield* Effect.promise(() => fetch(`${url}/v1/stores/${storeId}/records`, { headers: { authorization: first! } }))
      expect(reused.status).toBe(401)
      // The client logs in afresh for its next request, with another token.
      expect((yield* client.transport.pull(storeId, { after: 0 })).records).toEqual([])
      expect(calls.logins).toBe(2)
      expect(tokens.size).toBe(2)
    }))
})
