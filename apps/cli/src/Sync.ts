/**
 * `sync`: this device against a sync server over HTTP. The identity logs
 * in by challenge–response (no passphrase or key leaves the device),
 * registers its public keys and creates the store on first contact (both
 * idempotent), publishes the recovery material once per server, exchanges
 * KEK versions as KEK blobs sealed to the user's own identity (so the
 * recovery phrase recovers them; `recover`), publishes and replenishes the
 * user's prekeys (so admins can provision to it while it is offline), then runs rounds of the sync
 * engine (pull, push, rebase) until nothing is pending.
 * Every step is safe to interrupt and re-run: pushes are idempotent by
 * event id and the pull cursor is stored.
 *
 * @since 0.1.0
 */
import { Bytes, KeyId, StoreId, UserId } from "@cipherlog/domain"
import { type Identity, KekBlob } from "@cipherlog/keys"
import { type Signals, SyncEngine, SyncTransport } from "@cipherlog/sync"
import { Models, SyncApi } from "@cipherlog/sync-api"
import { HttpTransport, PrekeyClient, Sharing } from "@cipherlog/sync-transport-http"
import { FetchHttpClient, HttpApiClient } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import { badInput, CliError } from "./CliError.js"
import type { Device } from "./Device.js"
import * as Peers from "./Peers.js"
import type * as Progress from "./Progress.js"
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
  /**
   * KEK versions taken from own KEK blobs on the server (sealed by this
   * user or by a verified peer, e.g. the admin who added this user) / sealed
   * to the own identity and uploaded, this run; `skipped`: blobs not taken
   * (from a sender not verified here, or refused).
   */
  readonly keys: {
    readonly accepted: number
    readonly provisioned: number
    readonly skipped: ReadonlyArray<{ readonly versionId: string; readonly sender: string; readonly reason: string }>
  }
  /**
   * Prekey maintenance this run (`PrekeyClient.maintain`): whether a signed
   * prekey was published (first sync, rotation after 30 days, or the
   * published one is another device's), one-time prekeys uploaded (to 100
   * when fewer than 10 were left) and how many wait on the server.
   */
  readonly prekeys: {
    readonly publishedSigned: boolean
    readonly uploaded: number
    readonly oneTimeOnServer: number
  }
  /** Compromise signals met this run (rejected records, duplicate event ids with other bytes, identity rotations seen). */
  readonly signals: ReadonlyArray<Signals.SecuritySignal>
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
export const run = (
  device: Device,
  url: string,
  onRound: (round: number, report: SyncEngine.SyncReport) => Effect.Effect<void> = () => Effect.void,
  progress?: Progress.Progress
) =>
  Effect.gen(function*() {
    const { storeId } = device.config
    const client = yield* connect(device, url)
    yield* client.register
    yield* client.authenticated((api) => api.stores.create({ payload: { storeId: Schema.decodeSync(StoreId)(storeId) } })).pipe(
      Effect.catchTag("StoreExists", () => Effect.void)
    )
    yield* publishRecovery(device, url, client)
    const keys = yield* exchangeKeys(device, client)
    const maintained = yield* PrekeyClient.maintain(client, device.keyring)
    const prekeys = { publishedSigned: Option.isSome(maintained.publishedSigned), uploaded: maintained.uploaded, oneTimeOnServer: maintained.oneTimeOnServer }
    // Records parked earlier may open now: keys taken from blobs above, or a peer verified since (members trust, join).
    yield* device.store.retryParked
    // Pulled pages move the bar: the last global sequence out of the server's head.
    const transport: SyncTransport.SyncTransport = progress === undefined ? client.transport : {
      ...client.transport,
      pull: (id, options) =>
        Effect.tap(client.transport.pull(id, options), (page) =>
          progress.update(page.records.length > 0 ? page.records[page.records.length - 1]!.globalSequence : options.after, page.head))
    }
    const engine = yield* SyncEngine.make(device.store, { retry: { baseMs: 100, maxMs: 2_000 } }).pipe(
      Effect.provideService(SyncTransport.SyncTransport, transport)
    )
    let total = { pushed: 0, pulled: 0, rebased: 0, parked: 0, rejected: 0 }
    let rounds = 0
    const signals: Array<Signals.SecuritySignal> = []
    let last: SyncEngine.SyncReport | undefined
    while (rounds < MAX_ROUNDS && (last === undefined || !SyncEngine.isSettled(last))) {
      last = yield* engine.syncOnce
      rounds++
      signals.push(...last.signals)
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
    return { storeId, server: url, ...total, cursor, pending, rounds, signals, rejectedRecords: rejectedRecords.flat(), keys, prekeys } satisfies Report
  })

/**
 * A client of the server at `url` that logs in as this device's identity
 * (no request is made until one is needed). The session it opens is ended
 * (logged out) when the command's scope closes, so a CLI run leaves no
 * live token behind on the server.
 *
 * @since 0.1.0
 * @category sync
 */
export const connect = (device: Pick<Device, "keyring">, url: string) =>
  Effect.acquireRelease(
    HttpTransport.forKeyring(device.keyring, { baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer)),
    // Best effort: a server that cannot be reached lets the token expire on its own.
    (client) => Effect.ignore(client.logout)
  )

const refused = (what: string) => (error: { readonly _tag: string }): Effect.Effect<never, CliError | SyncTransport.TransportError> =>
  error instanceof SyncTransport.TransportUnavailable || error instanceof SyncTransport.AccessDenied
    ? Effect.fail(error)
    : error._tag === "Forbidden"
    ? Effect.fail(new CliError({
      kind: "network", code: "AccessDenied",
      detail: `The server refused ${what}: this user is not a member of the store (never added, or removed). Ask an admin of the store.`
    }))
    : Effect.fail(new CliError({ kind: "network", code: error._tag, detail: `The server refused ${what} (${error._tag}).` }))

/**
 * The KEK versions as KEK blobs sealed to this user's own identity (so the
 * recovery phrase, which recovers the identity, recovers them too; the
 * server never holds a key that opens data):
 *
 * 1. every own blob of a version this device lacks is opened (its sender:
 *    this same identity, or a peer verified by safety number — the admin
 *    who added this user) and imported; the newest by its signed creation
 *    time becomes active, not whichever the server lists as active
 *    (`Sharing.acceptOwnBlobs`) — how a recovered device, or a member that
 *    joined, gets its keys;
 * 2. every live version this device has and the server has no own blob of
 *    is sealed to the identity: a new version (`createVersion`, with that
 *    blob) or a blob for an existing one (`provisionBlob`). Once per
 *    version: the server's list is the record, so re-runs do nothing. An
 *    own blob sealed to a prekey (KEK blob v2, opened in step 1 by the
 *    device holding the prekey) is replaced the same way.
 */
const exchangeKeys = (device: Device, client: HttpTransport.SyncClient) =>
  Effect.gen(function*() {
    const { storeId } = device.config
    const path = { storeId: Schema.decodeSync(StoreId)(storeId) }
    const identity = yield* device.keyring.identity
    const self = identity.public
    const versions = yield* client.authenticated((api) => api.kek.versions({ path })).pipe(Effect.catchAll(refused("to list the KEK versions")))
    const blobs = yield* client.authenticated((api) => api.kek.myBlobs({ path })).pipe(Effect.catchAll(refused("to list your KEK blobs")))
    const taken = yield* Sharing.acceptOwnBlobs({ client, keyring: device.keyring, storeId }, Peers.lookup(device.peers)).pipe(
      Effect.catchTag("SharingRefused", (e) => Effect.fail(new CliError({ kind: "network", code: e._tag, detail: e.message })))
    )
    const accepted = taken.accepted.length
    let provisioned = 0
    const live = (yield* device.keyring.kekVersions(storeId)).filter((v) => v.status === "active" || v.status === "decrypt-only")
      .sort((a, b) => a.createdAt - b.createdAt)
    for (const v of live) {
      // An own blob sealed to a prekey (an admin provisioned it while this user was offline) opens only on the device
      // holding that prekey: it is replaced by one sealed to the identity, for the user's other devices and recovery.
      const own = blobs.find((b) => b.versionId === v.versionId)
      if (own !== undefined && !(yield* sealedToPrekey(own.blob, storeId, self))) continue
      const blob = Bytes.toBase64Url(yield* KekBlob.provision(device.keyring, { storeId, versionId: v.versionId, recipient: self }))
      const versionId = Schema.decodeSync(KeyId)(v.versionId)
      const userId = Schema.decodeSync(UserId)(self.userId)
      if (versions.some((s) => s.versionId === v.versionId)) {
        yield* client.authenticated((api) => api.kek.provisionBlob({ path, payload: { versionId, userId, blob } })).pipe(
          Effect.catchAll(refused(`the KEK blob of version ${v.versionId}`))
        )
      } else {
        yield* client.authenticated((api) => api.kek.createVersion({ path, payload: { versionId, reason: "cipherlog sync", blobs: [{ userId, blob }] } })).pipe(
          Effect.catchAll(refused(`KEK version ${v.versionId}`))
        )
      }
      provisioned++
    }
    return { accepted, provisioned, skipped: taken.skipped }
  })

/** True for a KEK blob v2 (sealed to one of the recipient's prekeys). */
const sealedToPrekey = (blob: string, storeId: string, self: Identity.PublicIdentity) =>
  Effect.map(
    Effect.either(KekBlob.parse(Bytes.fromBase64Url(blob) ?? new Uint8Array(0), { storeId, versionId: "", recipient: self })),
    (parsed) => parsed._tag === "Right" && Option.isSome(parsed.right.prekey)
  )

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

/**
 * The recovery material a server keeps under `locator` (no login: the
 * locator is derived from the phrase). None there means the phrase is not
 * this store's, or no device of the store has synced with this server.
 *
 * @since 0.1.0
 * @category recovery
 */
export const fetchRecovery = (url: string, storeId: string, locator: string): Effect.Effect<string, CliError> =>
  Effect.gen(function*() {
    const api = yield* HttpApiClient.make(SyncApi, { baseUrl: url })
    const found = yield* api.recovery.get({ path: { locator: Schema.decodeSync(Models.Locator)(locator) } })
    return found.blob
  }).pipe(
    Effect.provide(FetchHttpClient.layer),
    Effect.timeoutFail({
      duration: "30 seconds",
      onTimeout: () => new CliError({ kind: "network", code: "TransportUnavailable", detail: `${url} did not answer in time. Check the server, then run the same command again.` })
    }),
    Effect.catchAll((error): Effect.Effect<never, CliError> => {
      if (error instanceof CliError) return Effect.fail(error)
      switch (error._tag) {
        case "NotFound":
          return Effect.fail(new CliError({
            kind: "wrong-passphrase",
            code: "RecoveryNotFound",
            detail: `${url} has no recovery material for store ${storeId} under this phrase: the phrase is not this store's ` +
              "(check each word and the --store-id), or no device of the store has run `cipherlog sync` against this server yet " +
              "(run it on a device that has the store, then try again). Nothing was created."
          }))
        case "TooManyRequests":
          return Effect.fail(new CliError({
            kind: "network", code: "RateLimited",
            detail: `${url} limits recovery attempts per address; wait a minute and run the same command again.`
          }))
        default:
          return Effect.fail(new CliError({
            kind: "network", code: "TransportUnavailable",
            detail: `${url} could not be reached or answered badly (${error._tag}). Check the server URL and that the server is running, then run the same command again.`
          }))
      }
    })
  )
