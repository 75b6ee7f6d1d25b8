/**
 * An in-process sync server on a loopback port (the real handlers, the
 * server's memory store, Node crypto), and users that log in to it.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import { ServerConfig, ServerStore, SyncServer } from "@cipherlog/server"
import { FetchHttpClient, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Identity, Keyring, KeyStore, Vault } from "@cipherlog/keys"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { createServer } from "node:http"
import { HttpTransport } from "../src/index.js"
import * as Users from "./users.js"

const generous = { ratePerSecond: 100_000, burst: 100_000 }

export const serverRuntime = (options: { readonly corsOrigins?: ReadonlyArray<string> } = {}) =>
  ManagedRuntime.make(
    SyncServer.serve.pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { host: "127.0.0.1", port: 0 })),
      Layer.provide(Layer.mergeAll(
        ServerStore.layerMemory,
        NodeCrypto.layer,
        ServerConfig.layer({ perIpLimit: generous, perUserLimit: generous, longPollRecheckMs: 200, corsOrigins: options.corsOrigins ?? [] })
      ))
    )
  )

export const urlOf = Effect.map(HttpServer.HttpServer, (server) => {
  const a = server.address
  if (a._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return `http://127.0.0.1:${a.port}`
})

const crypto = NodeCrypto.make()

/** A registered user with a client (fetch), keys from Node's crypto. */
export const user = (baseUrl: string, userId: string) => Users.user(crypto, baseUrl, userId)

export const store = Users.store

let people = 0
/** A registered user with a keyring in memory (its own identity) and a client of `baseUrl`. */
export const keyringUser = (baseUrl: string, name: string) =>
  Effect.gen(function*() {
    const userId = `${name}${Date.now().toString(36)}${people++}`
    const vault = yield* Effect.provide(
      Vault.create(Redacted.make(`${userId} passphrase`), { policy: Vault.insecureTestPolicy }),
      Layer.merge(KeyStore.layerMemory(), NodeCrypto.layer)
    )
    const keyring = yield* Effect.provide(Keyring.initialize(vault, { userId, deviceId: `${userId}-d` }), NodeCrypto.layer)
    const identity = yield* keyring.identity
    const client = yield* HttpTransport.forKeyring(keyring, { baseUrl }).pipe(Effect.provide(Layer.merge(FetchHttpClient.layer, NodeCrypto.layer)))
    yield* client.register
    const safetyNumber = yield* Effect.provide(Identity.fingerprint(identity.public), NodeCrypto.layer)
    return { userId, keyring, client, public: identity.public, safetyNumber }
  })
