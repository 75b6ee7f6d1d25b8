/**
 * Sharing a store between users, over the sync server's HTTP API (the
 * typed client of {@link HttpTransport.make}) and the core keyring and KEK
 * blobs (`@cipherlog/keys`): the client side of docs/http-api.md's members
 * and KEK endpoints.
 *
 * - {@link lookUpUser}: a user's public keys as the server reports them,
 *   with their safety number (`Identity.fingerprint`);
 *   {@link verifyUser} accepts them only when they match the safety number
 *   compared out of band. The server is not trusted with identities: every
 *   identity this module seals a KEK to, or accepts a KEK from, is one the
 *   caller verified.
 * - {@link addMember} (admin): makes a verified user a member with a role
 *   and provisions every live KEK version the admin holds to them.
 * - {@link rotate} (admin): a new KEK version, sealed to every remaining
 *   member, made active on the server in one step (`POST …/kek/rotate`)
 *   together with the removal of `remove` — so a removed member never
 *   receives it (INV-015) and every current member does (INV-009).
 *   {@link removeMember} is a rotation that removes one user.
 * - {@link acceptOwnBlobs} (any member): opens the caller's KEK blobs whose
 *   sender is a trusted identity and imports the versions with the status
 *   the server lists.
 *
 * Blobs for another user are sealed to a prekey of theirs when the server
 * hands out a bundle that verifies against their verified identity
 * (`PrekeyClient.claimFor`: a one-time prekey while any remain, else the
 * signed prekey), and to their identity key otherwise; blobs for the caller
 * itself always to its identity key (its other devices open them too).
 * Opening a prekey-sealed blob erases the one-time prekey it used.
 *
 * The new KEK of a rotation is random bytes sealed to the recipients before
 * anything is sent and imported into the admin's keyring only once the
 * server accepted the rotation: a refused rotation leaves no local version
 * the members do not have.
 *
 * Errors: {@link SharingRefused} (a typed reason, ids only, what to do
 * next); the server's 403 is `SyncTransport.AccessDenied` (e.g. a member
 * that is not an admin); network problems are `TransportUnavailable`.
 *
 * @since 0.1.0
 */
import { Crypto, type InvalidKey, type UnsupportedSuite, zeroize } from "@cipherlog/crypto"
import { Bytes, type KeyId, type StoreId, type UserId } from "@cipherlog/domain"
import { Identity, KekBlob, type Keyring, type KeyStoreError } from "@cipherlog/keys"
import { SyncTransport } from "@cipherlog/sync"
import type { Models } from "@cipherlog/sync-api"
import { Clock, Effect, Option, Schema } from "effect"
import type { SyncClient } from "./HttpTransport.js"
import { common, type Failure, unavailable } from "./internal/error.js"
import * as PrekeyClient from "./PrekeyClient.js"

/**
 * Why a sharing operation was refused.
 *
 * - `unknown-user`: the server has no user with that id.
 * - `safety-number-mismatch`: the server's keys for the user do not match
 *   the safety number compared out of band.
 * - `unverified-member`: a member whose identity the caller has not
 *   verified would have to receive a KEK version.
 * - `not-a-member`: the user is not a member of the store.
 * - `last-admin`: the operation would leave the store without an admin.
 * - `version-exists`: the KEK version id is taken.
 * - `membership-changed`: the members changed while rotating; retry.
 *
 * @since 0.1.0
 * @category errors
 */
export const SharingRefusedReason = Schema.Literal(
  "unknown-user",
  "safety-number-mismatch",
  "unverified-member",
  "not-a-member",
  "last-admin",
  "version-exists",
  "membership-changed"
)
/** @since 0.1.0 */
export type SharingRefusedReason = typeof SharingRefusedReason.Type

/**
 * A sharing operation that was refused; holds ids only, never a key.
 *
 * @since 0.1.0
 * @category errors
 */
export class SharingRefused extends Schema.TaggedError<SharingRefused>("@cipherlog/sync-transport-http/SharingRefused")("SharingRefused", {
  reason: SharingRefusedReason,
  method: Schema.String,
  storeId: Schema.optional(Schema.String),
  userIds: Schema.Array(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

/**
 * What the operations of a store work with: the connected client, the
 * caller's keyring and the store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly client: SyncClient
  readonly keyring: Keyring.Keyring
  readonly storeId: string
}

/**
 * Verified identities by user id (the caller's trust store). The caller's
 * own identity need not be in it.
 *
 * @since 0.1.0
 * @category models
 */
export type Identities = (userId: string) => Option.Option<Identity.PublicIdentity>

/**
 * A user as the server reports them.
 *
 * @since 0.1.0
 * @category models
 */
export interface LookedUp {
  readonly identity: Identity.PublicIdentity
  /** `Identity.fingerprint` of the identity: compare it out of band. */
  readonly safetyNumber: string
  readonly registeredAt: number
}

const uid = (s: string) => s as UserId
const sid = (s: string) => s as StoreId
const vid = (s: string) => s as KeyId

/** Safety numbers compare on their digits only (spaces and line breaks are presentation). */
const digits = (safetyNumber: string) => safetyNumber.replace(/\D/g, "")

/** Transport-level and access failures of one call, with the store for context; `other` maps the endpoint's own errors. */
const mapFailure = <E extends Failure>(
  storeId: string | undefined,
  what: string,
  other: (error: E) => SharingRefused | undefined = () => undefined
) =>
(error: E | SyncTransport.TransportError): Effect.Effect<never, SharingRefused | SyncTransport.TransportError> => {
  if (error instanceof SyncTransport.AccessDenied || error instanceof SyncTransport.TransportUnavailable) return Effect.fail(error)
  const own = other(error as E)
  if (own !== undefined) return Effect.fail(own)
  if (error._tag === "Forbidden") {
    return Effect.fail(new SyncTransport.AccessDenied(storeId === undefined
      ? { status: 403, detail: `this user may not ${what}` }
      : { status: 403, storeId, detail: `this user may not ${what} (only an admin of the store may)` }))
  }
  return Effect.fail(common(storeId, error) ?? unavailable("bad-response", `${what} failed (${error._tag})`))
}

/**
 * A user's public keys as the server holds them, and their safety number.
 *
 * @since 0.1.0
 * @category users
 */
export const lookUpUser = (client: SyncClient, userId: string): Effect.Effect<LookedUp, SharingRefused | SyncTransport.TransportError, Crypto.Crypto> =>
  Effect.gen(function*() {
    const keys: Models.UserKeys = yield* client.authenticated((api) => api.users.get({ path: { userId: uid(userId) } })).pipe(
      Effect.catchAll(mapFailure(undefined, "look up users", (e) =>
        e._tag === "NotFound"
          ? new SharingRefused({
            reason: "unknown-user",
            method: "lookUpUser",
            userIds: [userId],
            detail: `The server has no user ${userId}. Check the id (its owner sees it in \`cipherlog whoami\`) and that they ` +
              "have run a command against this server (which registers their public keys)."
          })
          : undefined))
    )
    const identity: Identity.PublicIdentity = { userId, signingPublicKey: keys.signingPublicKey, encryptionPublicKey: keys.encryptionPublicKey }
    return { identity, safetyNumber: yield* Identity.fingerprint(identity), registeredAt: keys.registeredAt }
  })

/**
 * A user's identity from the server, accepted only if its safety number is
 * `safetyNumber` (compared on digits; the one its owner sees, obtained over
 * a channel the caller trusts).
 *
 * @since 0.1.0
 * @category users
 */
export const verifyUser = (
  client: SyncClient,
  userId: string,
  safetyNumber: string
): Effect.Effect<LookedUp, SharingRefused | SyncTransport.TransportError, Crypto.Crypto> =>
  Effect.gen(function*() {
    const found = yield* lookUpUser(client, userId)
    const expected = digits(safetyNumber)
    if (expected.length === 0 || digits(found.safetyNumber) !== expected) {
      return yield* Effect.fail(
        new SharingRefused({
          reason: "safety-number-mismatch",
          method: "verifyUser",
          userIds: [userId],
          detail: `The keys the server holds for user ${userId} do not match the safety number given; nothing was changed. ` +
            `Ask ${userId} for their safety number again over a channel you trust (they see it in \`cipherlog whoami\`). ` +
            "If it still differs, the server or the network may be substituting keys: do not share with this user."
        })
      )
    }
    return found
  })

/**
 * The store's members as the server lists them (any member may list).
 *
 * @since 0.1.0
 * @category members
 */
export const members = (ctx: Context): Effect.Effect<ReadonlyArray<Models.Member>, SharingRefused | SyncTransport.TransportError> =>
  ctx.client.authenticated((api) => api.stores.members({ path: { storeId: sid(ctx.storeId) } })).pipe(
    Effect.catchAll(mapFailure(ctx.storeId, "list the members"))
  )

/** What to seal `recipient`'s blob to: a verified prekey of theirs (one claim per blob), none for the caller itself or without a bundle. */
const prekeyFor = (ctx: Context, recipient: Identity.PublicIdentity) =>
  recipient.userId === ctx.keyring.userId
    ? Effect.succeed({})
    : Effect.map(PrekeyClient.claimFor(ctx.client, ctx.storeId, recipient), Option.match({ onNone: () => ({}), onSome: (prekey) => ({ prekey }) }))

/** KEK versions this keyring holds with their key (not destroyed), oldest first. */
const liveVersions = (ctx: Context) =>
  Effect.map(ctx.keyring.kekVersions(ctx.storeId), (vs) => vs.filter((v) => v.status !== "destroyed").sort((a, b) => a.createdAt - b.createdAt))

/**
 * Seals every live KEK version the caller holds and the server lists to
 * `identity` and stores the blobs (admin). Returns the version ids.
 *
 * @since 0.1.0
 * @category members
 */
export const provisionAll = (
  ctx: Context,
  identity: Identity.PublicIdentity
): Effect.Effect<ReadonlyArray<string>, SharingRefused | SyncTransport.TransportError | KeyStoreError | InvalidKey | UnsupportedSuite, Crypto.Crypto> =>
  Effect.gen(function*() {
    const path = { storeId: sid(ctx.storeId) }
    const onServer = yield* ctx.client.authenticated((api) => api.kek.versions({ path })).pipe(
      Effect.catchAll(mapFailure(ctx.storeId, "list the KEK versions"))
    )
    const provisioned: Array<string> = []
    for (const v of yield* liveVersions(ctx)) {
      if (!onServer.some((s) => s.versionId === v.versionId)) continue
      const prekey = yield* prekeyFor(ctx, identity)
      const blob = yield* KekBlob.provision(ctx.keyring, { storeId: ctx.storeId, versionId: v.versionId, recipient: identity, ...prekey }).pipe(
        Effect.catchTag("KeysMissing", () => Effect.succeed(undefined))
      )
      if (blob === undefined) continue
      yield* ctx.client.authenticated((api) =>
        api.kek.provisionBlob({ path, payload: { versionId: vid(v.versionId), userId: uid(identity.userId), blob: Bytes.toBase64Url(blob) } })
      ).pipe(Effect.catchAll(mapFailure(ctx.storeId, "provision KEK blobs", (e) =>
        e._tag === "Unprocessable"
          ? new SharingRefused({
            reason: "not-a-member", method: "provisionAll", storeId: ctx.storeId, userIds: [identity.userId],
            detail: `User ${identity.userId} is not a member of store ${ctx.storeId}; add them first.`
          })
          : undefined)))
      provisioned.push(v.versionId)
    }
    return provisioned
  })

/**
 * Adds (or changes the role of) a member whose identity the caller
 * verified, and provisions every live KEK version the caller holds to
 * them (admin only: others get `AccessDenied` 403).
 *
 * @since 0.1.0
 * @category members
 */
export const addMember = (
  ctx: Context,
  input: { readonly identity: Identity.PublicIdentity; readonly role: Models.Role }
): Effect.Effect<
  { readonly userId: string; readonly role: Models.Role; readonly provisioned: ReadonlyArray<string> },
  SharingRefused | SyncTransport.TransportError | KeyStoreError | InvalidKey | UnsupportedSuite,
  Crypto.Crypto
> =>
  Effect.gen(function*() {
    const { userId } = input.identity
    const member = yield* ctx.client.authenticated((api) =>
      api.stores.putMember({ path: { storeId: sid(ctx.storeId), userId: uid(userId) }, payload: { role: input.role } })
    ).pipe(Effect.catchAll(mapFailure(ctx.storeId, "add members", (e) =>
      e._tag === "LastAdmin"
        ? new SharingRefused({
          reason: "last-admin", method: "addMember", storeId: ctx.storeId, userIds: [userId],
          detail: `User ${userId} is the store's last admin; make another member an admin first.`
        })
        : e._tag === "Unprocessable"
        ? new SharingRefused({
          reason: "unknown-user", method: "addMember", storeId: ctx.storeId, userIds: [userId],
          detail: `The server has no user ${userId}; they must run a command against this server first.`
        })
        : undefined)))
    const provisioned = yield* provisionAll(ctx, input.identity)
    return { userId, role: member.role, provisioned }
  })

/**
 * A test-only hook that breaks a rotation on purpose, so that the checks of
 * INV-015 can be shown to fail: the new version is created for everyone,
 * the removed users included, `beforeRemoval` runs (e.g. the removed user
 * fetches their blobs), and only then are they removed. Never use it
 * outside a test.
 *
 * @since 0.1.0
 * @category testing
 */
export interface RotationMutant {
  readonly sealToRemoved: true
  readonly beforeRemoval: Effect.Effect<void, unknown>
}

/**
 * The outcome of a rotation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rotated {
  readonly versionId: string
  readonly removedUserIds: ReadonlyArray<string>
  /** Who received the new version: every remaining member, the caller included. */
  readonly provisionedTo: ReadonlyArray<string>
}

/** `kv<n>` with n one more than any `kv<number>` id known here or on the server. */
const nextVersionId = (ids: ReadonlyArray<string>) => {
  const n = ids.reduce((max, id) => {
    const m = /^kv(\d+)$/.exec(id)
    return m ? Math.max(max, Number(m[1])) : max
  }, 0)
  return `kv${n + 1}`
}

/**
 * Rotates the store's KEK (admin): a new random KEK version, sealed to
 * every member that remains once `remove` is removed (their identities
 * from `identities`, the caller's own from its keyring), stored on the
 * server with the removal in one step; then imported as the caller's
 * active version. New writes use new data-key epochs under it; older
 * versions stay decrypt-only, so old data stays readable (INV-009).
 *
 * Refused (nothing changed) when a remaining member's identity is not
 * verified here (`unverified-member`), a user to remove is not a member,
 * or the members changed meanwhile (`membership-changed`: retry).
 *
 * @since 0.1.0
 * @category rotation
 */
export const rotate = (
  ctx: Context,
  input: {
    readonly remove?: ReadonlyArray<string>
    readonly identities: Identities
    readonly reason?: string
    readonly versionId?: string
  },
  mutant?: RotationMutant
): Effect.Effect<Rotated, SharingRefused | SyncTransport.TransportError | KeyStoreError | InvalidKey | UnsupportedSuite, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { storeId } = ctx
    const path = { storeId: sid(storeId) }
    const self = yield* ctx.keyring.identity
    const remove = [...new Set(input.remove ?? [])]
    const current = yield* members(ctx)
    const strangers = remove.filter((u) => !current.some((m) => m.userId === u))
    if (strangers.length > 0) {
      return yield* Effect.fail(new SharingRefused({
        reason: "not-a-member", method: "rotate", storeId, userIds: strangers,
        detail: `${strangers.join(", ")} ${strangers.length === 1 ? "is" : "are"} not a member of store ${storeId}; nothing was changed. ` +
          "See the members with `cipherlog members list`."
      }))
    }
    if (remove.includes(self.public.userId)) {
      return yield* Effect.fail(new SharingRefused({
        reason: "last-admin", method: "rotate", storeId, userIds: [self.public.userId],
        detail: "An admin cannot remove themselves by rotation; make another member an admin and let them remove you."
      }))
    }
    const remaining = current.filter((m) => !remove.includes(m.userId))
    const recipients: Array<Identity.PublicIdentity> = []
    const unverified: Array<string> = []
    for (const m of remaining) {
      if (m.userId === self.public.userId) recipients.push(self.public)
      else Option.match(input.identities(m.userId), { onNone: () => unverified.push(m.userId), onSome: (i) => recipients.push(i) })
    }
    if (unverified.length > 0) {
      return yield* Effect.fail(new SharingRefused({
        reason: "unverified-member", method: "rotate", storeId, userIds: unverified,
        detail: `The new KEK version would go to ${unverified.join(", ")}, whose identity this device has not verified; nothing was changed. ` +
          "Verify each with their safety number first (`cipherlog members add USER_ID --safety-number …` with their current role)."
      }))
    }
    const toRemove = mutant?.sealToRemoved ? current.filter((m) => remove.includes(m.userId)) : []
    for (const m of toRemove) {
      const identity = input.identities(m.userId)
      if (Option.isSome(identity)) recipients.push(identity.value)
    }

    const onServer = yield* ctx.client.authenticated((api) => api.kek.versions({ path })).pipe(
      Effect.catchAll(mapFailure(storeId, "list the KEK versions"))
    )
    const versionId = input.versionId ?? nextVersionId([...onServer.map((v) => v.versionId), ...(yield* ctx.keyring.kekVersions(storeId)).map((v) => v.versionId)])
    const reason = input.reason ?? (remove.length > 0 ? `remove ${remove.join(", ")}` : "rotation")
    // After every version held here (members make the newest version they hold active, whatever the clocks say).
    const createdAt = Math.max(yield* Clock.currentTimeMillis, ...(yield* ctx.keyring.kekVersions(storeId)).map((v) => v.createdAt + 1))
    const raw = yield* crypto.randomBytes(32)
    return yield* Effect.gen(function*() {
      const blobs = yield* Effect.forEach(recipients, (recipient) =>
        Effect.map(
          Effect.flatMap(prekeyFor(ctx, recipient), (prekey) =>
            KekBlob.seal({ target: { storeId, versionId, recipient }, sender: self, kek: raw, createdAt, ...prekey })),
          (bytes) => ({ userId: uid(recipient.userId), blob: Bytes.toBase64Url(bytes) })
        ))
      const refusedBy = (method: string) => (e: Failure) =>
        e._tag === "KekVersionExists"
          ? new SharingRefused({
            reason: "version-exists", method, storeId, userIds: [],
            detail: `KEK version ${versionId} already exists in store ${storeId}; nothing was changed. Choose another version id.`
          })
          : e._tag === "LastAdmin"
          ? new SharingRefused({ reason: "last-admin", method, storeId, userIds: remove, detail: "The store must keep an admin; nothing was changed." })
          : e._tag === "Unprocessable"
          ? new SharingRefused({
            reason: "membership-changed", method, storeId, userIds: "userIds" in e && Array.isArray(e.userIds) ? e.userIds.map(String) : [],
            detail: `The members of store ${storeId} changed during the rotation; nothing was changed. Run it again.`
          })
          : undefined
      let removedUserIds: ReadonlyArray<string>
      if (mutant?.sealToRemoved) {
        yield* ctx.client.authenticated((api) => api.kek.createVersion({ path, payload: { versionId: vid(versionId), reason, blobs } })).pipe(
          Effect.catchAll(mapFailure(storeId, "create KEK versions", refusedBy("rotate")))
        )
        yield* ctx.keyring.importKek(storeId, { versionId, raw, status: "active", createdAt }).pipe(Effect.orDie)
        yield* Effect.orDie(mutant.beforeRemoval)
        for (const u of remove) {
          yield* ctx.client.authenticated((api) => api.stores.removeMember({ path: { storeId: path.storeId, userId: uid(u) } })).pipe(
            Effect.catchAll(mapFailure(storeId, "remove members", refusedBy("rotate")))
          )
        }
        removedUserIds = remove
      } else {
        const rotated = yield* ctx.client.authenticated((api) =>
          api.kek.rotate({ path, payload: { versionId: vid(versionId), reason, removeUserIds: remove.map(uid), blobs } })
        ).pipe(Effect.catchAll(mapFailure(storeId, "rotate the KEK", refusedBy("rotate"))))
        removedUserIds = rotated.removedUserIds
        yield* ctx.keyring.importKek(storeId, { versionId, raw, status: "active", createdAt }).pipe(
          // A version id this keyring already had with other bytes: the server accepted it as new, so the local one was never published.
          Effect.catchTag("KeyConflict", () => Effect.dieMessage(`KEK version ${versionId} exists locally with other bytes`))
        )
      }
      return { versionId, removedUserIds, provisionedTo: recipients.map((r) => r.userId) } satisfies Rotated
    }).pipe(Effect.ensuring(Effect.sync(() => zeroize(raw))))
  })

/**
 * Removes a member by rotation (admin): {@link rotate} with `remove:
 * [userId]`. The removed user keeps what they already held, but nothing
 * written after this is encrypted under a key they ever receive (INV-015).
 *
 * @since 0.1.0
 * @category members
 */
export const removeMember = (ctx: Context, userId: string, identities: Identities, mutant?: RotationMutant) =>
  rotate(ctx, { remove: [userId], identities }, mutant)

/** How far ahead of this device's clock a KEK version's signed creation time may be (clock skew between devices). */
const FUTURE_TOLERANCE_MS = 24 * 3600 * 1000

/** The user's own identities before its current one, newest first (from its own, trusted, rotation chain). */
const ownEarlierIdentities = (self: Identity.Identity): ReadonlyArray<Identity.PublicIdentity> =>
  [self.genesis, ...self.chain.slice(0, -1).map((s) => ({ userId: self.userId, signingPublicKey: s.newSigningPublicKey, encryptionPublicKey: s.newEncryptionPublicKey }))]
    .slice(0, self.chain.length)
    .reverse()

/**
 * What {@link acceptOwnBlobs} did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Accepted {
  readonly accepted: ReadonlyArray<{ readonly versionId: string; readonly status: string; readonly sender: string }>
  /**
   * Blobs not imported: from a sender not trusted here, dated more than a day ahead of this device's clock
   * (`future-dated`: such a version would stay active past later rotations), or refused by `KekBlob.open`
   * (altered, or not for this user).
   */
  readonly skipped: ReadonlyArray<{ readonly versionId: string; readonly sender: string; readonly reason: "untrusted-sender" | "future-dated" | KekBlob.KekBlobRefusedReason }>
}

/**
 * Opens the caller's KEK blobs of versions it does not hold yet: each is
 * accepted only if its sender (named in the blob, checked by its
 * signature) is the caller or a trusted identity in `senders`. The status
 * is not taken from the server: a version whose creation time (signed in
 * the blob) is newer than every version held becomes the active one; any
 * other is imported decrypt-only, or deprecated when the server lists it
 * so. A server can therefore not make the device encrypt under an older
 * version than the newest it received (it can still withhold the newest:
 * docs/threat-model.md). A blob dated more than a day ahead of this
 * device's clock is not taken (`future-dated`). A blob the caller's user sealed before an identity
 * rotation (signed by an earlier key of its own chain) is accepted too, but
 * never as the active version.
 *
 * @since 0.1.0
 * @category provisioning
 */
export const acceptOwnBlobs = (
  ctx: Context,
  senders: Identities
): Effect.Effect<Accepted, SharingRefused | SyncTransport.TransportError | KeyStoreError, Crypto.Crypto> =>
  Effect.gen(function*() {
    const { storeId } = ctx
    const path = { storeId: sid(storeId) }
    const self = yield* ctx.keyring.identity
    const versions = yield* ctx.client.authenticated((api) => api.kek.versions({ path })).pipe(
      Effect.catchAll(mapFailure(storeId, "list the KEK versions"))
    )
    const blobs = yield* ctx.client.authenticated((api) => api.kek.myBlobs({ path })).pipe(
      Effect.catchAll(mapFailure(storeId, "read KEK blobs"))
    )
    const holding = yield* ctx.keyring.kekVersions(storeId)
    const held = new Set(holding.map((v) => v.versionId))
    /** The newest creation time among the versions held: signed by their senders (or made here). */
    let newest = holding.reduce((max, v) => Math.max(max, v.createdAt), Number.NEGATIVE_INFINITY)
    const accepted: Array<Accepted["accepted"][number]> = []
    const skipped: Array<Accepted["skipped"][number]> = []
    // Oldest first, so the newest active version ends up active.
    const ordered = [...blobs].sort((a, b) =>
      (versions.find((v) => v.versionId === a.versionId)?.createdAt ?? 0) - (versions.find((v) => v.versionId === b.versionId)?.createdAt ?? 0))
    for (const b of ordered) {
      const version = versions.find((v) => v.versionId === b.versionId)
      if (held.has(b.versionId) || version === undefined) continue
      const bytes = Bytes.fromBase64Url(b.blob) ?? new Uint8Array(0)
      const target = { storeId, versionId: b.versionId, recipient: self.public }
      const parsed = yield* Effect.either(KekBlob.parse(bytes, target))
      if (parsed._tag === "Left") {
        skipped.push({ versionId: b.versionId, sender: "", reason: parsed.left.reason })
        continue
      }
      const senderId = parsed.right.senderUserId
      const sender = senderId === self.public.userId ? Option.some(self.public) : senders(senderId)
      if (Option.isNone(sender)) {
        skipped.push({ versionId: b.versionId, sender: senderId, reason: "untrusted-sender" })
        continue
      }
      if (parsed.right.createdAt > (yield* Clock.currentTimeMillis) + FUTURE_TOLERANCE_MS) {
        skipped.push({ versionId: b.versionId, sender: senderId, reason: "future-dated" })
        continue
      }
      // The status is not the server's to choose: a server that lists an older version as active (or the newest one
      // as deprecated) would have this device wrap new keys under a version a removed member holds (INV-015). The
      // version whose signed creation time is the newest this device holds is the active one; the others are
      // decrypt-only, or deprecated when the server says so (which only restricts them).
      const status: Keyring.KekStatus = parsed.right.createdAt > newest ? "active" : version.status === "deprecated" ? "deprecated" : "decrypt-only"
      let result = yield* Effect.either(
        KekBlob.accept(ctx.keyring, { storeId, versionId: b.versionId, blob: bytes, sender: sender.value, status })
      )
      // A blob the user sealed to itself before an identity rotation is signed by an earlier own key (from the
      // own chain, which this keyring holds). Never made active from such a blob: a revoked device holds those keys.
      if (result._tag === "Left" && result.left._tag === "KekBlobRefused" && senderId === self.public.userId) {
        for (const earlier of ownEarlierIdentities(self)) {
          result = yield* Effect.either(KekBlob.accept(ctx.keyring, {
            storeId, versionId: b.versionId, blob: bytes, sender: earlier, status: status === "active" ? "decrypt-only" : status
          }))
          if (result._tag === "Right" || result.left._tag !== "KekBlobRefused") break
        }
      }
      if (result._tag === "Left") {
        if (result.left._tag === "KekBlobRefused") skipped.push({ versionId: b.versionId, sender: senderId, reason: result.left.reason })
        else if (result.left._tag === "KeyConflict") skipped.push({ versionId: b.versionId, sender: senderId, reason: "not-for-this-context" })
        else return yield* Effect.fail(result.left)
        continue
      }
      held.add(b.versionId)
      newest = Math.max(newest, parsed.right.createdAt)
      accepted.push({ versionId: b.versionId, status, sender: senderId })
    }
    // The statuses as they ended up (a version imported active is decrypt-only once a newer one arrived).
    const now = yield* ctx.keyring.kekVersions(storeId)
    return { accepted: accepted.map((a) => ({ ...a, status: now.find((v) => v.versionId === a.versionId)?.status ?? a.status })), skipped }
  })
