/**
 * A store directory (docs/cli.md, "The store directory"):
 *
 * ```
 * DIR/cipherlog.json   ids and settings (no secret)
 * DIR/keys/            the key store (@cipherlog/key-store-file), under the passphrase
 * DIR/events.db        the local event log (@cipherlog/event-store-sqlite-node)
 * DIR/peers.json       other users' verified public identities (public keys only; Peers.ts)
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { badInput, type CliError, unexpected } from "./CliError.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const FORMAT = "cipherlog-cli-store"

/**
 * @since 0.1.0
 * @category constants
 */
export const STORE_ENV = "CIPHERLOG_STORE"

/**
 * `cipherlog.json`: which store, user and device this directory is; the
 * recovery material (sealed under the phrase's master KEK, so not secret —
 * it is what the server keeps) until it is published on a server.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Config = Schema.Struct({
  format: Schema.Literal(FORMAT),
  v: Schema.Literal(1),
  storeId: Schema.String,
  userId: Schema.String,
  deviceId: Schema.String,
  createdAt: Schema.Number,
  /** A database copy restored without keys (`restore --db` alone): the store is locked until `restore --keys`. */
  locked: Schema.optional(Schema.Literal(true)),
  recovery: Schema.optional(Schema.Struct({ locator: Schema.String, blob: Schema.String, publishedTo: Schema.Array(Schema.String) }))
})
/** @since 0.1.0 */
export type Config = typeof Config.Type

const ConfigJson = Schema.parseJson(Config, { space: 2 })

/**
 * @since 0.1.0
 * @category models
 */
export interface Paths {
  readonly dir: string
  readonly config: string
  readonly keys: string
  readonly events: string
  readonly peers: string
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const paths = (dir: string): Paths => {
  const abs = path.resolve(dir)
  return { dir: abs, config: path.join(abs, "cipherlog.json"), keys: path.join(abs, "keys"), events: path.join(abs, "events.db"), peers: path.join(abs, "peers.json") }
}

/**
 * True when the directory holds a store (its `cipherlog.json`).
 *
 * @since 0.1.0
 * @category queries
 */
export const exists = (p: Paths): boolean => fs.existsSync(p.config)

/**
 * Reads `cipherlog.json`; a missing one means "no store here".
 *
 * @since 0.1.0
 * @category io
 */
export const readConfig = (p: Paths): Effect.Effect<Config, CliError> =>
  Effect.gen(function*() {
    if (!exists(p)) return yield* Effect.fail(badInput(`No Cipherlog store in ${p.dir}. Run \`cipherlog init --store ${p.dir}\` first, or pass the right --store.`, "NoStore"))
    const text = yield* Effect.try({ try: () => fs.readFileSync(p.config, "utf8"), catch: () => unexpected(`${p.config} could not be read; check its permissions.`, "Io") })
    const decoded = Schema.decodeUnknownEither(ConfigJson)(text)
    return Either.isRight(decoded) ? decoded.right : yield* Effect.fail(unexpected(`${p.config} is not a Cipherlog store file (v1).`, "BadStoreFile"))
  })

/**
 * Writes `cipherlog.json` atomically (temporary file, then rename), mode 0600.
 *
 * @since 0.1.0
 * @category io
 */
export const writeConfig = (p: Paths, config: Config): Effect.Effect<void, CliError> =>
  Effect.try({
    try: () => {
      const tmp = `${p.config}.tmp-${process.pid}`
      fs.writeFileSync(tmp, Schema.encodeSync(ConfigJson)(config) + "\n", { mode: 0o600 })
      fs.renameSync(tmp, p.config)
    },
    catch: () => unexpected(`${p.config} could not be written; check free space and permissions.`, "Io")
  })
