/**
 * `SyncTransport` over the sync server's HTTP API, through the typed client
 * derived from `SyncApi` (`HttpApiClient`), on any `HttpClient` (fetch in
 * browsers and Node).
 *
 * Sessions: the client logs in by Ed25519 challenge–response — it asks for
 * a challenge, signs `cipherlog/auth/v1 ‖ lp(userId) ‖ lp(challengeId) ‖
 * nonce` with the identity's signing key (through the `sign` function it is
 * given; the key itself never reaches this module) and receives a
 * short-lived bearer token. The token is renewed before it expires and once
 * more when the server answers 401. No passphrase or decrypting key is ever
 * sent (INV-017).
 *
 * @since 0.1.0
 */
import { Crypto } from "@cipherlog/crypto"
import { Bytes, type StoreId, type UserId } from "@cipherlog/domain"
import type { Keyring, KeyStoreError } from "@cipherlog/keys"
import { SyncTransport } from "@cipherlog/sync"
import { Auth, Models, PullLines, SyncApi, Unauthorized } from "@cipherlog/sync-api"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Clock, Duration, Effect, Either, Layer, Option, Ref, Stream } from "effect"
import { common, type Failure, unavailable } from "./internal/error.js"

/**
 * Who the client is: the user's id, public keys, and a signer for the
 * identity's signing key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Credentials {
  readonly userId: string
  readonly signingPublicKey: Uint8Array
  readonly encryptionPublicKey: Uint8Array
  /** Signs with the identity's Ed25519 key. */
  readonly sign: (message: Uint8Array) => Effect.Effect<Uint8Array, unknown>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The server's base URL, e.g. `http://127.0.0.1:8787`. */
  readonly baseUrl: string
  readonly credentials: Credentials
  /** Longest a request may take, beyond a long poll's wait. Default 30 000 ms. */
  readonly requestTimeoutMs?: number
  /** Most records per push. Default 1000 (the server's limit). */
  readonly maxBatch?: number
}

/**
 * The typed client of the whole API.
 *
 * @since 0.1.0
 * @category models
 */
export type ApiClient = Effect.Effect.Success<ReturnType<typeof makeApiClient>>

const makeApiClient = (baseUrl: string) => HttpApiClient.make(SyncApi, { baseUrl })

/**
 * A connected client: the transport, plus the typed API with the session
 * applied (stores, members, KEK versions and blobs, audit, recovery).
 *
 * @since 0.1.0
 * @category models
 */
export interface SyncClient {
  readonly transport: SyncTransport.SyncTransport
  /** Registers the credentials' public keys (idempotent for the same keys). */
  readonly register: Effect.Effect<{ readonly created: boolean }, SyncTransport.TransportError>
  /**
   * Runs `f` with the authenticated client, logging in first when needed
   * and once more on a 401. API errors other than 401 pass through.
   */
  readonly authenticated: <A, E>(f: (api: ApiClient) => Effect.Effect<A, E>) => Effect.Effect<A, Exclude<E, { readonly _tag: "Unauthorized" }> | SyncTransport.TransportError>
  /** The client without a session (health, challenge, recovery reads). */
  readonly anonymous: ApiClient
  /**
   * Ends the session this client holds, if any (`DELETE /v1/auth/session`):
   * its token stops working on the server at once. A later request logs in
   * again. A session the server no longer knows counts as ended.
   */
  readonly logout: Effect.Effect<void, SyncTransport.TransportError>
}

/**
 * The credentials of a keyring's user: its identity's public keys, and its
 * signing key to answer login challenges (the key stays in its handle).
 *
 * @since 0.1.0
 * @category constructors
 */
export const credentialsOf = (keyring: Keyring.Keyring): Effect.Effect<Credentials, KeyStoreError, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const identity = yield* keyring.identity
    return {
      userId: keyring.userId,
      signingPublicKey: identity.public.signingPublicKey,
      encryptionPublicKey: identity.public.encryptionPublicKey,
      sign: (message) => crypto.ed25519.sign(identity.signing, message)
    }
  })

/**
 * A client for a keyring's user ({@link credentialsOf}, then {@link make}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const forKeyring = (
  keyring: Keyring.Keyring,
  options: Omit<Options, "credentials">
): Effect.Effect<SyncClient, KeyStoreError, Crypto.Crypto | HttpClient.HttpClient> =>
  Effect.flatMap(credentialsOf(keyring), (credentials) => make({ ...options, credentials }))

/**
 * Connects a client (no request is made until one is needed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<SyncClient, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const { credentials } = options
    const timeout = Duration.millis(options.requestTimeoutMs ?? 30_000)
    const maxBatch = Math.max(1, Math.min(options.maxBatch ?? 1000, 1000))
    const token = yield* Ref.make(Option.none<{ readonly token: string; readonly expiresAt: number }>())
    const loginLock = yield* Effect.makeSemaphore(1)
    const anonymous = yield* makeApiClient(options.baseUrl)
    const http = yield* HttpClient.HttpClient
    const baseUrl = options.baseUrl.replace(/\/+$/, "")

    const login = Effect.gen(function*() {
      const challenge = yield* anonymous.auth.challenge({ payload: { userId: credentials.userId as UserId } })
      const signature = yield* credentials.sign(Auth.sessionMessage(credentials.userId, challenge.challengeId, challenge.nonce)).pipe(
        Effect.mapError(() => new SyncTransport.AccessDenied({ status: 401, detail: "the identity could not sign the login challenge" }))
      )
      const session = yield* anonymous.auth.session({ payload: { challengeId: challenge.challengeId, signature } })
      yield* Ref.set(token, Option.some({ token: session.token, expiresAt: session.expiresAt }))
      return session.token
    }).pipe(
      Effect.timeoutFail({ duration: timeout, onTimeout: () => unavailable("timeout", "logging in timed out") }),
      Effect.catchAll((e: Failure) =>
        Effect.fail(
          e._tag === "Unauthorized"
            ? new SyncTransport.AccessDenied({ status: 401, detail: `user ${credentials.userId} could not log in (not registered, or other keys)` })
            : (e as unknown) instanceof SyncTransport.AccessDenied || (e as unknown) instanceof SyncTransport.TransportUnavailable
            ? (e as unknown as SyncTransport.TransportError)
            : common(undefined, e) ?? unavailable("bad-response", `logging in failed (${e._tag})`)
        )
      )
    )

    /** A valid token: the current one unless it expires within 30 s, else a new login (one at a time). */
    const currentToken = loginLock.withPermits(1)(Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const held = yield* Ref.get(token)
      if (Option.isSome(held) && held.value.expiresAt - 30_000 > now) return held.value.token
      return yield* login
    }))

    const authedClient = yield* HttpApiClient.make(SyncApi, {
      baseUrl: options.baseUrl,
      transformClient: HttpClient.mapRequestEffect((request) =>
        Effect.map(currentToken, (t) => HttpClientRequest.bearerToken(request, t)).pipe(Effect.orDie)
      )
    })

    const authenticated: SyncClient["authenticated"] = <A, E>(f: (api: ApiClient) => Effect.Effect<A, E>) =>
      Effect.gen(function*() {
        // Log in outside the request (so login failures are typed), then run.
        yield* currentToken
        const first = yield* Effect.either(f(authedClient))
        if (first._tag === "Right") return first.right
        if ((first.left as Failure)._tag !== "Unauthorized") return yield* Effect.fail(first.left)
        // The token was refused (expired, or the server restarted): once more with a fresh login.
        yield* Ref.set(token, Option.none())
        yield* currentToken
        return yield* f(authedClient)
      }) as Effect.Effect<A, Exclude<E, { readonly _tag: "Unauthorized" }> | SyncTransport.TransportError>

    const register = Effect.gen(function*() {
      const proof = yield* credentials.sign(
        Auth.registrationMessage(credentials.userId, credentials.signingPublicKey, credentials.encryptionPublicKey)
      ).pipe(Effect.mapError(() => new SyncTransport.AccessDenied({ status: 401, detail: "the identity could not sign its registration" })))
      return yield* anonymous.users.register({
        payload: {
          userId: credentials.userId as UserId,
          signingPublicKey: credentials.signingPublicKey,
          encryptionPublicKey: credentials.encryptionPublicKey,
          proof
        },
        headers: {}
      })
    }).pipe(
      Effect.map((r) => ({ created: r.created })),
      Effect.timeoutFail({ duration: timeout, onTimeout: () => unavailable("timeout", "registering timed out") }),
      Effect.catchAll((e: Failure) =>
        e._tag === "UserKeysMismatch"
          // The user rotated its identity: keys a planned rotation replaced still log in during its window.
          ? Effect.mapError(
            Effect.as(currentToken, { created: false }),
            () => new SyncTransport.AccessDenied({ status: 401, detail: `user ${credentials.userId} is registered with other keys` })
          )
          : Effect.fail(
            (e as unknown) instanceof SyncTransport.TransportUnavailable || (e as unknown) instanceof SyncTransport.AccessDenied
              ? (e as unknown as SyncTransport.TransportError)
              : common(undefined, e) ?? unavailable("bad-response", `registering failed (${e._tag})`)
          )
      )
    )

    const push: SyncTransport.SyncTransport["push"] = (storeId, texts) =>
      authenticated((api) =>
        api.records.push({ path: { storeId: storeId as StoreId }, payload: { records: texts } }).pipe(
          Effect.timeoutFail({ duration: timeout, onTimeout: () => unavailable("timeout", "the push timed out") })
        )
      ).pipe(
        Effect.map((r) => ({ results: r.results, head: r.head })),
        Effect.catchAll((e): Effect.Effect<never, SyncTransport.PushConflict | SyncTransport.PushRefused | SyncTransport.TransportError> => {
          if (e instanceof SyncTransport.AccessDenied || e instanceof SyncTransport.TransportUnavailable) return Effect.fail(e)
          switch (e._tag) {
            case "VersionConflict":
              return Effect.fail(new SyncTransport.PushConflict({
                storeId, aggregateType: e.aggregateType, aggregateId: e.aggregateId, expected: e.expected, actual: e.actual,
                missing: e.missing.map((m) => ({ globalSequence: m.globalSequence, recordJson: m.recordJson }))
              }))
            case "DuplicateEventMismatch":
              return Effect.fail(new SyncTransport.PushRefused({
                storeId, reason: "duplicate-mismatch", eventId: e.eventId, detail: "the event id is stored with other bytes"
              }))
            case "InvalidRecord":
              return Effect.fail(new SyncTransport.PushRefused({ storeId, reason: "invalid-record", detail: `record ${e.index} of the batch: ${e.problem}` }))
            case "InvalidRequest":
              return Effect.fail(new SyncTransport.PushRefused({ storeId, reason: "invalid-record", detail: "the server refused the request's shape" }))
            case "PayloadTooLarge":
              return Effect.fail(new SyncTransport.PushRefused({ storeId, reason: "too-large", detail: "the batch is larger than the server accepts" }))
            case "Forbidden":
              return Effect.fail(new SyncTransport.AccessDenied({ status: 403, storeId, detail: "this user may not write to the store" }))
            default:
              return Effect.fail(common(storeId, e) ?? unavailable("bad-response", `the push failed (${e._tag})`))
          }
        })
      )

    const pull: SyncTransport.SyncTransport["pull"] = (storeId, { after, limit, waitMs }) =>
      authenticated((api) => {
        const urlParams = {
          after,
          limit: Math.max(1, Math.min(limit ?? 1000, 1000)),
          ...(waitMs !== undefined && waitMs > 0 ? { wait: Math.min(waitMs, 30_000) } : {})
        }
        // Record lines (docs/http-api.md): each record's text arrives as stored, with no JSON string to
        // unescape. Any other answer (an error, or a server that answers JSON) is read as the API describes it.
        return Effect.gen(function*() {
          const request = HttpClientRequest.get(`${baseUrl}/v1/stores/${encodeURIComponent(storeId)}/records`).pipe(
            HttpClientRequest.setUrlParams({
              after: String(urlParams.after),
              limit: String(urlParams.limit),
              ...(urlParams.wait === undefined ? {} : { wait: String(urlParams.wait) })
            }),
            HttpClientRequest.setHeader("accept", PullLines.CONTENT_TYPE),
            HttpClientRequest.bearerToken(yield* Effect.orDie(currentToken))
          )
          const response = yield* http.execute(request)
          if (response.status === 200) {
            const type = (response.headers["content-type"] ?? "").toLowerCase()
            if (type.startsWith(PullLines.CONTENT_TYPE)) {
              // Read chunk by chunk, line by line: a page-sized string or buffer costs more than the rest of
              // the read (see Utf8Writer in @cipherlog/sync-api).
              const lines = PullLines.reader()
              const refused = (why: string) => unavailable("bad-response", `the pull's record lines could not be read: ${why}`)
              yield* Stream.runForEach(response.stream, (chunk) => Either.match(lines.push(chunk), { onLeft: (why) => Effect.fail(refused(why)), onRight: () => Effect.void }))
              return yield* Either.match(lines.end(), { onLeft: (why) => Effect.fail(refused(why)), onRight: Effect.succeed })
            }
            return yield* HttpClientResponse.schemaBodyJson(Models.PullResponse)(response)
          }
          // A refused session: the caller logs in again and retries (as for the typed calls).
          if (response.status === 401) return yield* Effect.fail(Unauthorized.of("the session was refused"))
          return yield* api.records.pull({ path: { storeId: storeId as StoreId }, urlParams })
        }).pipe(
          Effect.timeoutFail({
            duration: Duration.sum(timeout, Duration.millis(waitMs ?? 0)),
            onTimeout: () => unavailable("timeout", "the pull timed out")
          })
        )
      }).pipe(
        Effect.map((page) => ({
          records: page.records.map((r) => ({ globalSequence: r.globalSequence, recordJson: r.recordJson })),
          head: page.head,
          hasMore: page.hasMore
        })),
        Effect.catchAll((e: Failure) =>
          Effect.fail(
            (e as unknown) instanceof SyncTransport.AccessDenied || (e as unknown) instanceof SyncTransport.TransportUnavailable
              ? (e as unknown as SyncTransport.TransportError)
              : common(storeId, e) ?? unavailable("bad-response", `the pull failed (${e._tag})`)
          )
        )
      )

    const logout = loginLock.withPermits(1)(Effect.gen(function*() {
      const held = yield* Ref.getAndSet(token, Option.none())
      if (Option.isNone(held)) return
      const response = yield* http.execute(HttpClientRequest.bearerToken(HttpClientRequest.del(`${baseUrl}/v1/auth/session`), held.value.token)).pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => unavailable("timeout", "logging out timed out") }),
        Effect.catchTags({
          RequestError: (e) => Effect.fail(unavailable("network", `logging out failed: ${e.reason}`)),
          ResponseError: (e) => Effect.fail(unavailable("bad-response", `logging out failed: ${e.reason}`))
        }),
        Effect.scoped
      )
      // 204: ended; 401: the server had already forgotten it (expired, ended elsewhere, or a restart).
      if (response.status !== 204 && response.status !== 401) {
        return yield* Effect.fail(unavailable("bad-response", `logging out answered HTTP ${response.status}`))
      }
    }))

    const transport: SyncTransport.SyncTransport = { describe: `http ${options.baseUrl} (user ${credentials.userId})`, push, pull, maxBatch }
    return { transport, register, authenticated, anonymous, logout }
  })

/**
 * The transport as a Layer, on the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<SyncTransport.SyncTransport, never, HttpClient.HttpClient> =>
  Layer.effect(SyncTransport.SyncTransport, Effect.map(make(options), (c) => c.transport))

/**
 * The transport as a Layer over `fetch`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFetch = (options: Options): Layer.Layer<SyncTransport.SyncTransport> =>
  Layer.provide(layer(options), FetchHttpClient.layer)

/**
 * The base64url form of bytes (re-exported for apps building requests).
 *
 * @since 0.1.0
 * @category encoding
 */
export const toBase64Url = Bytes.toBase64Url
