/**
 * The endpoint implementations and the bearer-token authentication,
 * against the ports: ServerStore, Crypto, the clock.
 */
import { Crypto } from "@cipherlog/crypto"
import { Bytes, type StoreId, SyncRecord, type UserId } from "@cipherlog/domain"
import {
  Auth,
  Authentication,
  CurrentUser,
  Forbidden,
  InvalidRecord,
  InvalidRotation,
  Models,
  NotFound,
  PullLines,
  ServiceUnavailable,
  SyncApi,
  TooManyRequests,
  Unauthorized
} from "@cipherlog/sync-api"
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Clock, Context, Effect, Layer, Option, Queue, Redacted, Stream } from "effect"
import { Metrics } from "../Metrics.js"
import * as RateLimiter from "../RateLimiter.js"
import { ServerConfig } from "../ServerConfig.js"
import { type IncomingRecord, ServerStore } from "../ServerStore.js"
import { pullBody } from "./pullBody.js"
import { loginKeys } from "./rules.js"

const ALL_ROLES: ReadonlyArray<Models.Role> = ["admin", "member", "reader"]
const WRITERS: ReadonlyArray<Models.Role> = ["admin", "member"]
const ADMINS: ReadonlyArray<Models.Role> = ["admin"]

const now = Clock.currentTimeMillis

/**
 * Answers below this size are copied into one buffer rather than sent as a
 * stream of their chunks: a streamed answer cost about 1 ms more of server
 * CPU than one buffer (a 1-record pull: 2.1 ms against 1.0 ms), and copying
 * costs about 0.2 ms a MiB. Pull pages of 1000 records (about 1.8 MB) stay
 * streamed: no page-sized copy (see `Utf8Writer`).
 */
const COPY_BELOW = 1024 * 1024

/** A body written as its chunks (see `Utf8Writer`), with its length, so it is not sent chunk-encoded. */
const chunked = (chunks: ReadonlyArray<Uint8Array>, contentType: string) => {
  if (chunks.length === 1) return HttpServerResponse.uint8Array(chunks[0]!, { contentType })
  let length = 0
  for (const c of chunks) length += c.length
  if (length < COPY_BELOW) return HttpServerResponse.uint8Array(Bytes.concat(...chunks), { contentType })
  return HttpServerResponse.stream(Stream.fromIterable(chunks), { contentType }).pipe(
    HttpServerResponse.setHeader("content-length", String(length))
  )
}

/** The current user's role in a store, or 403. */
const requireRole = (storeId: StoreId, allowed: ReadonlyArray<Models.Role>, what: string) =>
  Effect.gen(function*() {
    const { userId } = yield* CurrentUser
    const store = yield* ServerStore
    const role = yield* store.getRole(storeId, userId)
    if (Option.isNone(role)) {
      return yield* Effect.fail(Forbidden.of(`You are not a member of store ${storeId} (or it does not exist)`))
    }
    if (!allowed.includes(role.value)) {
      return yield* Effect.fail(Forbidden.of(`${what} needs the role ${allowed.join(" or ")} in store ${storeId}; yours is ${role.value}`))
    }
    return { userId, role: role.value }
  })

/** Admins, or the user themself, may read a user's blobs; the caller must be a member (a removed member's blobs are deleted with the membership). */
const requireSelfOrAdmin = (storeId: StoreId, target: UserId) =>
  Effect.flatMap(requireRole(storeId, ALL_ROLES, "Reading blobs"), (me) =>
    me.userId === target || me.role === "admin"
      ? Effect.succeed(me)
      : Effect.fail(Forbidden.of(`Only admins of store ${storeId} read other users' blobs`)))

/**
 * Milliseconds a cached session is trusted before it is read again from the
 * store: an identity rotation in another server process (PostgreSQL) ends
 * or shortens sessions there; this process sees it within this delay. In
 * the process that accepted the rotation it takes effect at once.
 */
export const SESSION_RECHECK_MS = 1000

interface CachedSession {
  readonly userId: UserId
  readonly expiresAt: number
  readonly checkedAt: number
}

/** The per-process session cache, shared by the authentication and the rotation handler. */
export class SessionCache extends Context.Tag("@cipherlog/server/internal/SessionCache")<SessionCache, {
  readonly get: (hash: string) => CachedSession | undefined
  readonly remember: (hash: string, session: CachedSession) => void
  readonly forget: (hash: string) => void
  /** Drops every cached session of a user (after an identity rotation). */
  readonly forgetUser: (userId: string) => void
}>() {}

/** A fresh {@link SessionCache}, bounded to 10 000 sessions. */
export const SessionCacheLive = Layer.sync(SessionCache, () => {
  const cache = new Map<string, CachedSession>()
  return {
    get: (hash) => cache.get(hash),
    remember: (hash, session) => {
      if (cache.size >= 10_000) {
        const oldest = cache.keys().next()
        if (oldest.done !== true) cache.delete(oldest.value)
      }
      cache.set(hash, session)
    },
    forget: (hash) => void cache.delete(hash),
    forgetUser: (userId) => {
      for (const [hash, session] of cache) if (session.userId === userId) cache.delete(hash)
    }
  }
})

/** Bearer tokens: SHA-256 looked up in the sessions, a small per-process cache, the per-user limit. */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function*() {
    const store = yield* ServerStore
    const crypto = yield* Crypto.Crypto
    const metrics = yield* Metrics
    const config = yield* ServerConfig
    const cache = yield* SessionCache
    const perUser = RateLimiter.make(config.perUserLimit)
    return {
      bearer: (token) =>
        Effect.gen(function*() {
          // The platform takes whatever follows the header's first seven characters: check they are the scheme.
          const header = (yield* HttpServerRequest.HttpServerRequest).headers["authorization"]
          if (header !== undefined && !/^bearer /i.test(header)) {
            metrics.authFailure("bad-token")
            return yield* Effect.fail(Unauthorized.of("The Authorization header must use the Bearer scheme (Authorization: Bearer <token>)"))
          }
          const text = Redacted.value(token)
          if (text === "") {
            metrics.authFailure("missing-token")
            return yield* Effect.fail(Unauthorized.of("This endpoint needs Authorization: Bearer <token>"))
          }
          const bytes = Bytes.fromBase64Url(text)
          if (bytes === undefined || bytes.length !== 32) {
            metrics.authFailure("bad-token")
            return yield* Effect.fail(Unauthorized.of("The bearer token is malformed"))
          }
          const hash = Bytes.toBase64Url(yield* crypto.sha256(bytes))
          const at = yield* now
          // Sessions end early only by an identity rotation: re-read a cached one after SESSION_RECHECK_MS.
          let session = cache.get(hash)
          if (session === undefined || at - session.checkedAt >= SESSION_RECHECK_MS) {
            const found = yield* store.getSession(hash)
            session = Option.isSome(found) ? { userId: found.value.userId, expiresAt: found.value.expiresAt, checkedAt: at } : undefined
            if (session === undefined) cache.forget(hash)
            else cache.remember(hash, session)
          }
          if (session === undefined || session.expiresAt <= at) {
            if (session !== undefined) cache.forget(hash)
            metrics.authFailure("bad-token")
            return yield* Effect.fail(Unauthorized.of("The bearer token is unknown or expired"))
          }
          const wait = perUser.take(session.userId, at)
          if (wait > 0) {
            metrics.rateLimited("user")
            return yield* Effect.fail(TooManyRequests.of(wait))
          }
          return { userId: session.userId, sessionHash: hash }
        })
    }
  })
)

const UsersLive = HttpApiBuilder.group(SyncApi, "users", (handlers) =>
  handlers
    .handle("register", ({ headers, payload }) =>
      Effect.gen(function*() {
        const config = yield* ServerConfig
        const crypto = yield* Crypto.Crypto
        const store = yield* ServerStore
        if (Option.isSome(config.registrationToken)) {
          const given = Bytes.utf8(headers["x-registration-token"] ?? "")
          const expected = Bytes.utf8(Redacted.value(config.registrationToken.value))
          if (!crypto.timingSafeEqual(given, expected)) {
            return yield* Effect.fail(Unauthorized.of("Registration on this server needs a valid x-registration-token header", "Ask the server's operator for the registration token."))
          }
        }
        const message = Auth.registrationMessage(payload.userId, payload.signingPublicKey, payload.encryptionPublicKey)
        if (!(yield* crypto.ed25519.verify(payload.signingPublicKey, message, payload.proof))) {
          return yield* Effect.fail(Unauthorized.of("The registration proof does not verify with the signing key", "Sign the registration message (Auth.registrationMessage) with the signing key being registered."))
        }
        return yield* store.registerUser({
          userId: payload.userId,
          signingPublicKey: payload.signingPublicKey,
          encryptionPublicKey: payload.encryptionPublicKey,
          registeredAt: yield* now
        })
      }))
    .handle("get", ({ path }) =>
      Effect.flatMap(ServerStore, (store) =>
        Effect.flatMap(
          store.getUser(path.userId),
          Option.match({ onNone: () => Effect.fail(NotFound.of(`user ${path.userId}`)), onSome: Effect.succeed })
        )))
    .handle("rotate", ({ path, payload }) =>
      Effect.gen(function*() {
        const { userId } = yield* CurrentUser
        const crypto = yield* Crypto.Crypto
        const store = yield* ServerStore
        const cache = yield* SessionCache
        const at = yield* now
        if (path.userId !== userId) return yield* Effect.fail(Forbidden.of(`Only user ${path.userId} rotates its own identity`))
        const invalid = (problem: string) => Effect.fail(InvalidRotation.of(userId, problem))
        if (payload.userId !== userId) return yield* invalid("the statement names another user")
        if (Math.abs(payload.rotatedAt - at) > Models.MAX_ROTATION_SKEW_MS) {
          return yield* invalid(`its rotatedAt is more than ${Models.MAX_ROTATION_SKEW_MS / 60_000} minutes from the server's clock`)
        }
        if (payload.kind === "emergency" ? payload.migrationUntil !== payload.rotatedAt : payload.migrationUntil < payload.rotatedAt) {
          return yield* invalid("its migration window is inconsistent with its kind (emergency: migrationUntil = rotatedAt)")
        }
        if (payload.migrationUntil - payload.rotatedAt > Models.MAX_MIGRATION_MS) {
          return yield* invalid(`its migration window is longer than ${Models.MAX_MIGRATION_MS / 86_400_000} days`)
        }
        if (Bytes.equalsPublic(payload.oldSigningPublicKey, payload.newSigningPublicKey)) return yield* invalid("its new key is its old key")
        const message = Auth.rotationMessage(payload)
        if (!(yield* crypto.ed25519.verify(payload.oldSigningPublicKey, message, payload.oldSignature))) {
          return yield* invalid("the old key's continuity signature does not verify")
        }
        if (!(yield* crypto.ed25519.verify(payload.newSigningPublicKey, message, payload.newSignature))) {
          return yield* invalid("the new key's signature does not verify")
        }
        const rotated = yield* store.rotateIdentity({ statement: payload, at })
        cache.forgetUser(userId)
        yield* Effect.logInfo("identity rotated").pipe(Effect.annotateLogs({ kind: payload.kind, seq: rotated.seq }))
        return rotated
      }))
    .handle("identity", ({ path }) =>
      Effect.flatMap(ServerStore, (store) =>
        Effect.flatMap(
          store.identityChain(path.userId),
          Option.match({ onNone: () => Effect.fail(NotFound.of(`user ${path.userId}`)), onSome: Effect.succeed })
        )))
)

const AuthLive = HttpApiBuilder.group(SyncApi, "auth", (handlers) =>
  handlers
    .handle("challenge", ({ payload }) =>
      Effect.gen(function*() {
        const crypto = yield* Crypto.Crypto
        const store = yield* ServerStore
        const at = yield* now
        // Unknown users get a challenge too: the answer does not tell who is registered.
        const challenge = {
          challengeId: Bytes.toBase64Url(yield* crypto.randomBytes(16)),
          userId: payload.userId,
          nonce: yield* crypto.randomBytes(32),
          expiresAt: at + Auth.CHALLENGE_TTL_SECONDS * 1000
        }
        yield* store.putChallenge(challenge, at)
        return { challengeId: challenge.challengeId, nonce: challenge.nonce, expiresAt: challenge.expiresAt }
      }))
    .handle("session", ({ payload }) =>
      Effect.gen(function*() {
        const crypto = yield* Crypto.Crypto
        const store = yield* ServerStore
        const config = yield* ServerConfig
        const metrics = yield* Metrics
        const at = yield* now
        const refuse = (problem: string) => {
          metrics.authFailure("login")
          return Effect.fail(Unauthorized.of(problem))
        }
        const challenge = yield* store.takeChallenge(payload.challengeId)
        if (Option.isNone(challenge)) return yield* refuse("The challenge is unknown or was used already")
        if (challenge.value.expiresAt <= at) return yield* refuse("The challenge expired")
        const user = yield* store.getUser(challenge.value.userId)
        const message = Auth.sessionMessage(challenge.value.userId, payload.challengeId, challenge.value.nonce)
        if (Option.isNone(user)) return yield* refuse("The login signature does not verify")
        // The current key, or a key a planned rotation replaced whose migration window is open.
        let until: number | undefined
        if (yield* crypto.ed25519.verify(user.value.signingPublicKey, message, payload.signature)) until = Number.POSITIVE_INFINITY
        else {
          const chain = yield* store.identityChain(user.value.userId)
          const older = Option.isNone(chain) ? [] : loginKeys(user.value.signingPublicKey, chain.value.rotations, at).slice(1)
          for (const key of older) {
            if (yield* crypto.ed25519.verify(key.signingPublicKey, message, payload.signature)) {
              until = key.until
              break
            }
          }
        }
        if (until === undefined) return yield* refuse("The login signature does not verify")
        const token = yield* crypto.randomBytes(32)
        const expiresAt = Math.min(at + config.tokenTtlSeconds * 1000, until)
        yield* store.putSession({
          tokenHash: Bytes.toBase64Url(yield* crypto.sha256(token)),
          userId: user.value.userId,
          createdAt: at,
          expiresAt
        })
        return { userId: user.value.userId, token: Bytes.toBase64Url(token), expiresAt }
      }))
    .handle("logout", () =>
      Effect.gen(function*() {
        const { sessionHash } = yield* CurrentUser
        const store = yield* ServerStore
        const cache = yield* SessionCache
        yield* store.endSession(sessionHash)
        // Forgotten here at once (after the store, so no request re-reads it in between); another server
        // process (PostgreSQL) trusts its cached copy for at most SESSION_RECHECK_MS.
        cache.forget(sessionHash)
      }))
)

const StoresLive = HttpApiBuilder.group(SyncApi, "stores", (handlers) =>
  handlers
    .handle("create", ({ payload }) =>
      Effect.gen(function*() {
        const { userId } = yield* CurrentUser
        const store = yield* ServerStore
        const at = yield* now
        const admin = yield* store.createStore({ storeId: payload.storeId, actor: userId, at })
        return { storeId: payload.storeId, createdAt: at, admin }
      }))
    .handle("members", ({ path }) =>
      Effect.zipRight(
        requireRole(path.storeId, ALL_ROLES, "Listing members"),
        Effect.flatMap(ServerStore, (store) => store.listMembers(path.storeId))
      ))
    .handle("putMember", ({ path, payload }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireRole(path.storeId, ADMINS, "Changing members")
        const store = yield* ServerStore
        return yield* store.putMember({ storeId: path.storeId, userId: path.userId, role: payload.role, actor: userId, at: yield* now })
      }))
    .handle("removeMember", ({ path }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireRole(path.storeId, ADMINS, "Removing members")
        const store = yield* ServerStore
        yield* store.removeMember({ storeId: path.storeId, userId: path.userId, actor: userId, at: yield* now })
      }))
)

const decodeRecords = (storeId: StoreId, userId: UserId, texts: ReadonlyArray<string>) =>
  Effect.suspend(() => {
    const records: Array<IncomingRecord> = []
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i]!
      // Validated as fully as decodeJson does, without decoding the ciphertext (see SyncRecord.checkJson).
      const decoded = SyncRecord.checkJson(text)
      if (decoded._tag === "Left") {
        const error = decoded.left
        return Effect.fail(InvalidRecord.of(
          i,
          error._tag === "InvalidInput" ? error.problem : "unsupported record format version (this server reads v1)"
        ))
      }
      const r = decoded.right
      if (r.storeId !== storeId) return Effect.fail(InvalidRecord.of(i, "its storeId is not the store of the URL"))
      if (r.author.userId !== userId) {
        return Effect.fail(InvalidRecord.of(i, "its author.userId is not the authenticated user"))
      }
      records.push({
        eventId: r.eventId,
        aggregateType: r.aggregateType,
        aggregateId: r.aggregateId,
        version: r.version,
        recordJson: text
      })
    }
    return Effect.succeed(records)
  })

/**
 * Reads a page; with `wait` > 0 and nothing after `after`, reads again when
 * the store's head moves (or every `longPollRecheckMs`) until `wait` ms passed.
 */
const longPoll = <P, E>(read: Effect.Effect<P, E>, count: (page: P) => number, storeId: StoreId, after: number, wait: number) =>
  wait === 0 ? read : Effect.scoped(Effect.gen(function*() {
    const store = yield* ServerStore
    const config = yield* ServerConfig
    // Subscribe before reading: an append between the read and the wait still wakes us.
    const heads = yield* store.subscribe
    const deadline = (yield* now) + wait
    const moved = Effect.iterate(false, {
      while: (found) => !found,
      body: () => Effect.map(Queue.take(heads), (h) => h.storeId === storeId && h.head > after)
    })
    let page = yield* read
    while (count(page) === 0) {
      const remaining = deadline - (yield* now)
      if (remaining <= 0) break
      yield* Effect.timeoutOption(moved, Math.min(remaining, config.longPollRecheckMs))
      page = yield* read
    }
    return page
  }))

const RecordsLive = HttpApiBuilder.group(SyncApi, "records", (handlers) =>
  handlers
    .handle("push", ({ path, payload }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireRole(path.storeId, WRITERS, "Pushing records")
        const store = yield* ServerStore
        const metrics = yield* Metrics
        const records = yield* decodeRecords(path.storeId, userId, payload.records)
        const outcome = yield* store.append({ storeId: path.storeId, records, receivedAt: yield* now }).pipe(
          Effect.tapErrorTag("VersionConflict", () => Effect.sync(() => metrics.versionConflict())),
          Effect.tapErrorTag("DuplicateEventMismatch", () => Effect.sync(() => metrics.duplicateMismatch()))
        )
        const duplicates = outcome.results.filter((r) => r.duplicate).length
        metrics.recordsAppended(outcome.results.length - duplicates, duplicates)
        return outcome
      }))
    .handle("pull", ({ path, urlParams }) =>
      Effect.gen(function*() {
        yield* requireRole(path.storeId, ALL_ROLES, "Reading records")
        const store = yield* ServerStore
        const metrics = yield* Metrics
        const storeId = path.storeId
        const after = urlParams.after ?? 0
        const wait = urlParams.wait ?? 0
        const input = { storeId, after, limit: urlParams.limit ?? 1000 }
        // Record lines on request: each stored text as it is, not escaped into a JSON string (docs/http-api.md).
        const request = yield* HttpServerRequest.HttpServerRequest
        if (PullLines.accepts(request.headers["accept"])) {
          const page = yield* longPoll(store.readLinesAfter(input), (p) => p.records.sequences.length, storeId, after, wait)
          const { sequences } = page.records
          metrics.pull(sequences.length)
          const last = sequences.length === 0 ? after : sequences[sequences.length - 1]!
          return chunked(PullLines.encodeLines({ records: page.records, head: page.head, hasMore: last < page.head }), PullLines.CONTENT_TYPE)
        }
        const page = yield* longPoll(store.readAfter(input), (p) => p.records.length, storeId, after, wait)
        metrics.pull(page.records.length)
        const last = page.records.length === 0 ? after : page.records[page.records.length - 1]!.globalSequence
        // The answer's bytes are written directly (the endpoint's schema still describes it): encoding up to
        // 1000 records through the schema and then JSON was most of a pull's cost.
        return chunked(pullBody({ records: page.records, head: page.head, hasMore: last < page.head }), "application/json")
      }))
)

const KekLive = HttpApiBuilder.group(SyncApi, "kek", (handlers) =>
  handlers
    .handle("versions", ({ path }) =>
      Effect.zipRight(
        requireRole(path.storeId, ALL_ROLES, "Listing KEK versions"),
        Effect.flatMap(ServerStore, (store) => store.listKekVersions(path.storeId))
      ))
    .handle("activeVersion", ({ path }) =>
      Effect.gen(function*() {
        yield* requireRole(path.storeId, ALL_ROLES, "Reading the active KEK version")
        const store = yield* ServerStore
        const active = yield* store.activeKekVersion(path.storeId)
        if (Option.isNone(active)) return yield* Effect.fail(NotFound.of(`active KEK version in store ${path.storeId}`))
        return active.value
      }))
    .handle("createVersion", ({ path, payload }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireRole(path.storeId, ADMINS, "Creating a KEK version")
        const store = yield* ServerStore
        return yield* store.createKekVersion({ storeId: path.storeId, ...payload, actor: userId, at: yield* now })
      }))
    .handle("setVersionStatus", ({ path, payload }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireRole(path.storeId, ADMINS, "Changing a KEK version's status")
        const store = yield* ServerStore
        return yield* store.setKekStatus({ ...path, status: payload.status, actor: userId, at: yield* now })
      }))
    .handle("rotate", ({ path, payload }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireRole(path.storeId, ADMINS, "Rotating the KEK")
        const store = yield* ServerStore
        return yield* store.rotateKek({ storeId: path.storeId, ...payload, actor: userId, at: yield* now })
      }))
    .handle("provisionBlob", ({ path, payload }) =>
      Effect.gen(function*() {
        // A member may replace their own blob (re-sealing a prekey-sealed one to their identity for their other devices).
        const me = yield* CurrentUser
        const { userId } = yield* requireRole(path.storeId, payload.userId === me.userId ? ALL_ROLES : ADMINS, "Provisioning a blob for another user")
        const store = yield* ServerStore
        return yield* store.putBlob({ storeId: path.storeId, ...payload, actor: userId, at: yield* now })
      }))
    .handle("myBlobs", ({ path }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireRole(path.storeId, ALL_ROLES, "Reading your blobs")
        const store = yield* ServerStore
        return yield* store.listBlobs({ storeId: path.storeId, userId, actor: userId, at: yield* now })
      }))
    .handle("userBlobs", ({ path }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireSelfOrAdmin(path.storeId, path.userId)
        const store = yield* ServerStore
        return yield* store.listBlobs({ storeId: path.storeId, userId: path.userId, actor: userId, at: yield* now })
      }))
    .handle("userBlob", ({ path }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireSelfOrAdmin(path.storeId, path.userId)
        const store = yield* ServerStore
        const blob = yield* store.getBlob({ ...path, actor: userId, at: yield* now })
        if (Option.isNone(blob)) return yield* Effect.fail(NotFound.of(`blob of ${path.userId} for KEK version ${path.versionId}`))
        return blob.value
      }))
    .handle("deleteBlob", ({ path }) =>
      Effect.gen(function*() {
        const { userId } = yield* requireRole(path.storeId, ADMINS, "Deleting a blob")
        const store = yield* ServerStore
        yield* store.deleteBlob({ ...path, actor: userId, at: yield* now })
      }))
)

const AuditLive = HttpApiBuilder.group(SyncApi, "audit", (handlers) =>
  handlers.handle("list", ({ path, urlParams }) =>
    Effect.gen(function*() {
      yield* requireRole(path.storeId, ADMINS, "Reading the audit log")
      const store = yield* ServerStore
      const limit = urlParams.limit ?? 1000
      const entries = yield* store.listAudit({ storeId: path.storeId, after: urlParams.after ?? 0, limit: limit + 1 })
      return { entries: entries.slice(0, limit), hasMore: entries.length > limit }
    }))
)

/** Only the user themself publishes or reads their prekeys. */
const requireSelf = (userId: UserId, what: string) =>
  Effect.flatMap(CurrentUser, (me) =>
    me.userId === userId
      ? Effect.succeed(me.userId)
      : Effect.fail(Forbidden.of(`${what} is for the user themself; you are ${me.userId}, not ${userId}`)))

const PrekeysLive = HttpApiBuilder.group(SyncApi, "prekeys", (handlers) =>
  handlers
    .handle("publishSigned", ({ path, payload }) =>
      Effect.gen(function*() {
        const userId = yield* requireSelf(path.userId, "Publishing a signed prekey")
        const store = yield* ServerStore
        return yield* store.putSignedPrekey({ userId, prekey: payload, at: yield* now })
      }))
    .handle("uploadOneTime", ({ path, payload }) =>
      Effect.gen(function*() {
        const userId = yield* requireSelf(path.userId, "Uploading one-time prekeys")
        const store = yield* ServerStore
        return yield* store.addOneTimePrekeys({ userId, prekeys: payload.prekeys, at: yield* now, max: Models.MAX_ONE_TIME_PREKEYS })
      }))
    .handle("status", ({ path }) =>
      Effect.gen(function*() {
        const userId = yield* requireSelf(path.userId, "Reading prekey status")
        const store = yield* ServerStore
        return yield* store.prekeyStatus(userId)
      }))
    .handle("claim", ({ path }) =>
      Effect.gen(function*() {
        // Claiming is for provisioning, which only admins do: an admin of the store, for one of its members.
        const { userId } = yield* requireRole(path.storeId, ADMINS, "Claiming a member's prekeys")
        const store = yield* ServerStore
        if (Option.isNone(yield* store.getRole(path.storeId, path.userId))) {
          return yield* Effect.fail(NotFound.of(`member ${path.userId} of store ${path.storeId}`))
        }
        const bundle = yield* store.claimPrekeys({
          storeId: path.storeId,
          userId: path.userId,
          actor: userId,
          at: yield* now,
          perWindow: Models.PREKEY_CLAIMS_PER_WINDOW,
          windowMs: Models.PREKEY_CLAIM_WINDOW_MS
        })
        if (Option.isNone(bundle)) return yield* Effect.fail(NotFound.of(`signed prekey of ${path.userId} (seal to their identity key instead)`))
        return bundle.value
      }))
)

const RecoveryLive = HttpApiBuilder.group(SyncApi, "recovery", (handlers) =>
  handlers
    .handle("put", ({ path, payload }) =>
      Effect.gen(function*() {
        const { userId } = yield* CurrentUser
        const store = yield* ServerStore
        yield* store.putRecovery({ locator: path.locator, userId, blob: payload.blob, at: yield* now })
      }))
    .handle("get", ({ path }) =>
      Effect.gen(function*() {
        const store = yield* ServerStore
        const blob = yield* store.getRecovery(path.locator)
        if (Option.isNone(blob)) return yield* Effect.fail(NotFound.of("recovery material under this locator"))
        return { blob: blob.value }
      }))
)

const OpsLive = HttpApiBuilder.group(SyncApi, "ops", (handlers) =>
  handlers
    .handle("health", () =>
      Effect.flatMap(ServerStore, (store) =>
        Effect.as(
          Effect.mapError(store.ping, () => ServiceUnavailable.instance),
          { status: "ok" as const }
        )))
    .handle("metrics", () => Effect.map(Metrics, (metrics) => metrics.render()))
)

/** Every group's handlers. */
export const groups = Layer.mergeAll(UsersLive, AuthLive, StoresLive, RecordsLive, KekLive, AuditLive, PrekeysLive, RecoveryLive, OpsLive)
