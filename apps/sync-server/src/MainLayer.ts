/**
 * The composition of the sync server: the only place Layers meet.
 *
 * - HTTP: `NodeHttpServer` on HOST:PORT, serving `SyncServer.serve`.
 * - Store: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR.
 * - Crypto: the Node adapter (Ed25519 verification, CSPRNG, SHA-256).
 * - Logs: one JSON object per line on stdout, at LOG_LEVEL.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import { type ServerStore, SyncServer } from "@cipherlog/server"
import { PgServerStore } from "@cipherlog/server-store-postgres"
import { SqliteServerStore } from "@cipherlog/server-store-sqlite"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, Logger, Option } from "effect"
import { mkdirSync } from "node:fs"
import { createServer } from "node:http"
import { join, resolve } from "node:path"
import * as AppConfig from "./AppConfig.js"
import { holdEarlyRequests } from "./HoldEarlyRequests.js"

/** The database file inside DATA_DIR. */
export const SQLITE_FILE = "cipherlog.db"

/** PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR. */
export const StoreLive: Layer.Layer<ServerStore.ServerStore, unknown> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* AppConfig.storage
    if (Option.isSome(config.databaseUrl)) {
      yield* Effect.logInfo("store: PostgreSQL")
      return PgServerStore.layer({ url: config.databaseUrl.value, maxConnections: config.pgMaxConnections })
    }
    const dir = resolve(config.dataDir)
    mkdirSync(dir, { recursive: true })
    yield* Effect.logInfo("store: SQLite").pipe(Effect.annotateLogs("file", join(dir, SQLITE_FILE)))
    return SqliteServerStore.layer({ filename: join(dir, SQLITE_FILE) })
  })
)

const HttpLive = Layer.unwrapEffect(
  Effect.map(AppConfig.listen, ({ host, port }) => NodeHttpServer.layer(() => holdEarlyRequests(createServer()), { host, port }))
)

/** Logs the URL once listening and serving (tests read it: PORT=0 picks a free port). */
const Announce = Layer.effectDiscard(
  Effect.flatMap(HttpServer.HttpServer, (server) => {
    const address = server.address
    const url = address._tag === "TcpAddress" ? `http://${address.hostname}:${address.port}` : `unix:${address.path}`
    return Effect.logInfo("listening").pipe(Effect.annotateLogs("url", url))
  })
)

const LoggerLive = Layer.unwrapEffect(
  Effect.map(AppConfig.logLevel, (level) => Layer.merge(Logger.json, Logger.minimumLogLevel(level)))
)

/** Everything. */
export const MainLayer = Announce.pipe(
  Layer.provide(SyncServer.serve),
  Layer.provide(HttpLive),
  Layer.provide(Layer.mergeAll(StoreLive, NodeCrypto.layer, AppConfig.layer)),
  Layer.provide(LoggerLive)
)
