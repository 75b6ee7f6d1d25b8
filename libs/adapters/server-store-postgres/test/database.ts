/**
 * Fresh PostgreSQL databases for tests: created on a local server
 * (`CIPHERLOG_TEST_PG_URL`, default postgres://postgres@127.0.0.1:5432/postgres)
 * and dropped when the scope closes.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"

export const adminUrl = process.env["CIPHERLOG_TEST_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"

const admin = PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 })

const urlFor = (name: string) => {
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** Creates `cipherlog_test_<random>`; returns its URL; drops it (forcibly) at scope end. */
export const freshDatabase = Effect.acquireRelease(
  Effect.gen(function*() {
    const name = `cipherlog_test_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e9).toString(36)}`
    const sql = yield* PgClient.PgClient
    yield* sql.unsafe(`CREATE DATABASE ${name}`)
    return { name, url: urlFor(name) }
  }).pipe(Effect.provide(admin)),
  ({ name }) =>
    Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).pipe(
      Effect.provide(admin),
      Effect.orDie
    )
)

/** A layer of a fresh database's URL, for tests. */
export const layerFresh = <A, E, R>(use: (url: string) => Layer.Layer<A, E, R>) =>
  Layer.unwrapScoped(Effect.map(freshDatabase, ({ url }) => use(url)))
