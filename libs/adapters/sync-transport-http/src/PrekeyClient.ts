/**
 * Prekeys over the sync server's HTTP API (docs/http-api.md, "Prekeys"),
 * on top of the core `Prekeys` module of `@cipherlog/keys`:
 *
 * - {@link maintain}: what a device runs on every sync — publishes a signed
 *   prekey when the server has none (first sync after registration), when
 *   the published one is not held by this device, or when it is 30 days
 *   old; replenishes one-time prekeys to 100 when fewer than 10 remain;
 *   erases retired signed prekeys after their grace window. The clock is
 *   Effect's `Clock` (inject a `TestClock` in tests) unless `now` is given.
 * - {@link claimFor}: an admin claims a member's bundle and verifies it
 *   against the member's identity, verified out of band. Answers the prekey
 *   to seal to, or none — no bundle on the server (the member never synced
 *   since prekeys existed), an older server without the endpoints, or a
 *   bundle that does not verify (logged as a warning, never sealed to) —
 *   in which case the caller seals to the identity key, as before.
 *
 * @since 0.1.0
 */
import type { Crypto, InvalidKey } from "@cipherlog/crypto"
import { type StoreId, type UserId } from "@cipherlog/domain"
import { type Identity, type Keyring, type KeyStoreError, Prekeys } from "@cipherlog/keys"
import { SyncTransport } from "@cipherlog/sync"
import type { Models } from "@cipherlog/sync-api"
import { Clock, Effect, Option } from "effect"
import type { SyncClient } from "./HttpTransport.js"
import { common, type Failure, unavailable } from "./internal/error.js"

const uid = (s: string) => s as UserId

const fail = (storeId: string | undefined, what: string) => (error: Failure | SyncTransport.TransportError) =>
  Effect.fail(
    error instanceof SyncTransport.AccessDenied || error instanceof SyncTransport.TransportUnavailable
      ? error
      : common(storeId, error) ?? unavailable("bad-response", `${what} failed (${error._tag})`)
  )

/**
 * What {@link maintain} did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Maintained {
  /** The id of the signed prekey published now, if one was. */
  readonly publishedSigned: Option.Option<string>
  /** One-time prekeys uploaded now. */
  readonly uploaded: number
  /** Retired signed prekeys erased from this device now. */
  readonly erased: ReadonlyArray<string>
  /** One-time prekeys waiting on the server afterwards. */
  readonly oneTimeOnServer: number
}

/**
 * Publishes and replenishes the keyring's user's prekeys as the policy says
 * (see the module description).
 *
 * @since 0.1.0
 * @category maintenance
 */
export const maintain = (
  client: SyncClient,
  keyring: Keyring.Keyring,
  options: { readonly now?: number; readonly policy?: Prekeys.PrekeyPolicy } = {}
): Effect.Effect<Maintained, SyncTransport.TransportError | KeyStoreError | InvalidKey, Crypto.Crypto> =>
  Effect.gen(function*() {
    const policy = options.policy ?? Prekeys.defaultPolicy
    const now = options.now ?? (yield* Clock.currentTimeMillis)
    const identity = yield* keyring.identity
    const path = { userId: uid(identity.userId) }
    const status = yield* client.authenticated((api) => api.prekeys.status({ path })).pipe(Effect.catchAll(fail(undefined, "reading the prekey status")))
    const plan = Prekeys.plan(
      {
        signedPrekeyId: Option.fromNullable(status.signedPrekey?.prekeyId),
        signedCreatedAt: Option.fromNullable(status.signedPrekey?.createdAt),
        oneTimeCount: status.oneTimeCount
      },
      yield* Prekeys.currentSigned(keyring.vault),
      now,
      policy
    )
    let publishedSigned = Option.none<string>()
    if (plan.publishSigned) {
      const { userId: _, ...signed } = yield* Prekeys.newSignedPrekey(keyring.vault, identity, now)
      yield* client.authenticated((api) => api.prekeys.publishSigned({ path, payload: signed })).pipe(
        Effect.catchAll(fail(undefined, "publishing the signed prekey"))
      )
      publishedSigned = Option.some(signed.prekeyId)
    }
    let oneTimeOnServer = status.oneTimeCount
    for (let left = plan.oneTime; left > 0;) {
      const batch = Math.min(left, 100)
      const prekeys = (yield* Prekeys.newOneTimePrekeys(keyring.vault, identity, batch, now)).map(({ userId: _, ...p }) => p)
      const after = yield* client.authenticated((api) => api.prekeys.uploadOneTime({ path, payload: { prekeys } })).pipe(
        Effect.catchAll(fail(undefined, "uploading one-time prekeys"))
      )
      oneTimeOnServer = after.oneTimeCount
      left -= batch
    }
    const erased = yield* Prekeys.prune(keyring.vault, now, policy)
    return { publishedSigned, uploaded: plan.oneTime, erased, oneTimeOnServer }
  })

/**
 * The bundle as `Prekeys` reads it: the wire form carries the user once.
 *
 * @since 0.1.0
 * @category claims
 */
export const fromWire = (bundle: Models.PrekeyBundle): Prekeys.Bundle => ({
  userId: bundle.userId,
  signedPrekey: { ...bundle.signedPrekey, userId: bundle.userId },
  oneTimePrekey: Option.map(Option.fromNullable(bundle.oneTimePrekey), (p) => ({ ...p, userId: bundle.userId }))
})

/**
 * Claims `recipient`'s bundle in `storeId` (the caller must be an admin of
 * it, the recipient a member) and verifies it against `recipient` (an
 * identity the caller verified). Answers the prekey to seal to, or none
 * (seal to the identity key then).
 *
 * @since 0.1.0
 * @category claims
 */
export const claimFor = (
  client: SyncClient,
  storeId: string,
  recipient: Identity.PublicIdentity,
  options: { readonly now?: number; readonly policy?: Prekeys.PrekeyPolicy } = {}
): Effect.Effect<Option.Option<Prekeys.SealTarget>, SyncTransport.TransportError, Crypto.Crypto> =>
  Effect.gen(function*() {
    const now = options.now ?? (yield* Clock.currentTimeMillis)
    const claimed = yield* client.authenticated((api) =>
      api.prekeys.claim({ path: { storeId: storeId as StoreId, userId: uid(recipient.userId) } })
    ).pipe(
      Effect.map(Option.some),
      Effect.catchAll((error) =>
        error._tag === "NotFound" || error._tag === "RouteNotFound" ? Effect.succeed(Option.none()) : fail(storeId, "claiming prekeys")(error)
      )
    )
    if (Option.isNone(claimed)) return Option.none()
    return yield* Prekeys.verifyBundle(recipient, fromWire(claimed.value), now, options.policy).pipe(
      Effect.map(Option.some),
      Effect.catchTag("PrekeyBundleRefused", (refused) =>
        Effect.as(
          Effect.logWarning("a prekey bundle from the server was refused; sealing to the identity key").pipe(
            Effect.annotateLogs({ userId: refused.userId, reason: refused.reason })
          ),
          Option.none()
        ))
    )
  })
