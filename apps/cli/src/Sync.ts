/**
 * `sync`: this device against a sync server over HTTP. The identity logs
 * in by challenge–response (no passphrase or key leaves the device),
 * registers its public keys and creates the store on first contact (both
 * idempotent), publishes the recovery material once per server, then runs
 * rounds of the sync engine (pull, push, rebase) until nothing is pending.
 * Every step is safe to interrupt and re-run: pushes are idempotent by
 * event id and the pull cursor is stored.
 *
 * @since 0.1.0
 */
import { Crypto } from "@cipherlog/crypto"
import { StoreId } from "@cipherlog/domain"
import { SyncEngine, SyncTransport } from "@cipherlog/sync"
import { Models } from "@cipherlog/sync-api"
import { HttpTransport } from "@cipherlog/sync-transport-http"
import { FetchHttpClient } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import { badInput, CliError } from "./CliError.js"
import type { Device } from "./Device.js"
import * as StoreDir from "./StoreDir.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const SERVER_ENV = "CIPHERLOG_SERVER"

/** Rounds before giving up on a store that keeps changing under us. */
const MAX_ROUNDS = 5

/**
 * An http(s) URL without a trailing slash.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseUrl = (text: string): Effect.Effect<string, CliError> => {
  try {
    const url = new URL(text)
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("protocol")
    if (url.username !== "" || url.password !== "") return Effect.fail(badInput("--server must not contain credentials.", "InvalidInput"))
    return Effect.succeed(url.toString().replace(/\/+$/, ""))
  } catch (_) {
    return Effect.fail(badInput("--server must be an http:// or https:// URL, e.g. http://127.0.0.1:8787.", "InvalidInput"))
  }
}

/**
 * The report of `sync --json` (docs/cli.md).
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly storeId: string
  readonly server: string
  readonly pushed: number
  readonly pulled: number
  readonly rebased: number
  readonly parked: number
  readonly rejected: number
  readonly cursor: number
  readonly pending: number
  readonly rounds: number
  /** Every record of the store that failed its checks here (now or before), by coordinates. */
  readonly rejectedRecords: ReadonlyArray<{
    readonly eventId: string
    readonly aggregateType: string
    readonly aggregateId: string
    readonly version: number
    readonly reason: string | null
  }>
}

/**
 * Syncs the device with the server at `url`.
 *
 * @since 0.1.0
 * @category sync
 */
export const run = (device: Device, url: string, onRound: (round: number, report: SyncEngine.SyncReport) => Effect.Effect<void> = () => Effect.void) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { storeId } = device.config
    const identity = yield* device.keyring.identity
    const client = yield* HttpTransport.make({
      baseUrl: url,
      credentials: {
        userId: device.keyring.userId,
        signingPublicKey: identity.public.signingPublicKey,
        encryptionPublicKey: identity.public.encryptionPublicKey,
        sign: (message) => crypto.ed25519.sign(identity.signing, message)
      }
    }).pipe(Effect.provide(FetchHttpClient.layer))
    yield* client.register
    yield* client.authenticated((api) => api.stores.create({ payload: { storeId: Schema.decodeSync(StoreId)(storeId) } })).pipe(
      Effect.catchTag("StoreExists", () => Effect.void)
    )
    yield* publishRecovery(device, url, client)
    const engine = yield* SyncEngine.make(device.store, { retry: { baseMs: 100, maxMs: 2_000 } }).pipe(
      Effect.provideService(SyncTransport.SyncTransport, client.transport)
    )
    let total = { pushed: 0, pulled: 0, rebased: 0, parked: 0, rejected: 0 }
    let rounds = 0
    let last: SyncEngine.SyncReport | undefined
    while (rounds < MAX_ROUNDS && (last === undefined || !SyncEngine.isSettled(last))) {
      last = yield* engine.syncOnce
      rounds++
      yield* onRound(rounds, last)
      total = {
        pushed: total.pushed + last.pushed,
        pulled: total.pulled + last.pulled,
        rebased: total.rebased + last.rebased,
        parked: total.parked + last.parked,
        rejected: total.rejected + last.rejected
      }
    }
    const cursor = yield* device.store.eventStore.cursor(storeId)
    const { pending } = yield* device.store.eventStore.counts(storeId)
    const rejectedRecords = yield* Effect.forEach(yield* device.store.eventStore.withStatus(storeId, "rejected"), ({ eventId, reason }) =>
      Effect.map(device.store.eventStore.byEventId(storeId, eventId), (r) =>
        Option.match(r, {
          onNone: () => [],
          onSome: ({ header: h }) => [{ eventId, aggregateType: h.aggregateType, aggregateId: h.aggregateId, version: h.version, reason }]
        })))
    return { storeId, server: url, ...total, cursor, pending, rounds, rejectedRecords: rejectedRecords.flat() } satisfies Report
  })

/** Puts the recovery material under its locator on this server, once. */
const publishRecovery = (device: Device, url: string, client: HttpTransport.SyncClient) =>
  Effect.gen(function*() {
    const recovery = device.config.recovery
    if (recovery === undefined || recovery.publishedTo.includes(url)) return
    yield* client.authenticated((api) =>
      api.recovery.put({
        path: { locator: Schema.decodeSync(Models.Locator)(recovery.locator) },
        payload: { blob: Schema.decodeSync(Models.RecoveryBlob)(recovery.blob) }
      })
    ).pipe(
      Effect.catchAll((error): Effect.Effect<never, CliError | SyncTransport.TransportError> =>
        error instanceof SyncTransport.TransportUnavailable || error instanceof SyncTransport.AccessDenied
          ? Effect.fail(error)
          : Effect.fail(new CliError({ kind: "network", code: error._tag, detail: `The server refused the recovery material (${error._tag}).` })))
    )
    yield* StoreDir.writeConfig(device.paths, { ...device.config, recovery: { ...recovery, publishedTo: [...recovery.publishedTo, url] } })
  })
