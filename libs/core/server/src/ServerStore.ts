/**
 * The `ServerStore` port: everything the sync server persists — users,
 * login challenges, sessions (token hashes only), stores and members,
 * records, KEK versions and blobs, the audit log, prekeys and recovery
 * material.
 *
 * The record rules are enforced atomically inside the adapter
 * (docs/invariants.md): `append` assigns a per-store, strictly increasing,
 * gapless global sequence (INV-003), requires every aggregate to continue
 * by exactly one version (INV-002), acknowledges an identical re-sent event
 * with its original sequence and refuses the same id with other bytes
 * (INV-005), and stores the exact text (INV-004). There is no operation
 * that updates or deletes a record (INV-001).
 *
 * Every mutating operation of members, KEK versions and blobs writes its
 * audit entry in the same transaction.
 *
 * Adapters: {@link layerMemory} (here, for tests), `SqlServerStore` (the
 * SQL implementation shared by `@cipherlog/server-store-sqlite` and
 * `@cipherlog/server-store-postgres`).
 *
 * @since 0.1.0
 */
import type { StoreId, UserId } from "@cipherlog/domain"
import {
  type DuplicateEventMismatch,
  type InvalidRecord,
  type Forbidden,
  type InvalidRotation,
  type KekVersionExists,
  type LastAdmin,
  Models,
  type NotFound,
  PullLines,
  type RotationConflict,
  type ServiceUnavailable,
  type StoredRecord,
  type StoreExists,
  type Unprocessable,
  type UserKeysMismatch,
  type VersionConflict
} from "@cipherlog/sync-api"
import { Context, type Effect, Layer, type Option, type Queue, type Scope } from "effect"
import type { IncomingRecord } from "./internal/rules.js"
import * as internal from "./internal/memoryStore.js"

export type {
  /** @since 0.1.0 */
  IncomingRecord
}

/**
 * A user's registration.
 *
 * @since 0.1.0
 * @category models
 */
export type UserRecord = Models.UserKeys

/**
 * A pending login challenge.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChallengeRecord {
  readonly challengeId: string
  readonly userId: UserId
  readonly nonce: Uint8Array
  readonly expiresAt: number
}

/**
 * A session: the SHA-256 of its token (base64url), never the token.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionRecord {
  readonly tokenHash: string
  readonly userId: UserId
  readonly createdAt: number
  readonly expiresAt: number
}

/**
 * A store's head changed (records were appended).
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreHead {
  readonly storeId: string
  readonly head: number
}

/**
 * The outcome of an append: one result per pushed record, in order, and
 * the store's head afterwards.
 *
 * @since 0.1.0
 * @category models
 */
export type AppendOutcome = Models.PushResponse

/**
 * Who performs an audited operation, and when.
 *
 * @since 0.1.0
 * @category models
 */
export interface Actor {
  readonly actor: UserId
  readonly at: number
}

/**
 * A pull page read as record lines (`readLinesAfter`): the records' lines
 * and the store's head.
 *
 * @since 0.1.0
 * @category models
 */
export interface LinesPage {
  readonly records: PullLines.RecordLines
  readonly head: number
}

/**
 * Most records a {@link VersionConflict} carries.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_MISSING = 1000

/**
 * Most characters of record text a pull page holds: a page ends before the
 * record that would take it past this (but holds at least one record,
 * however long). Pages of ordinary records end at their `limit` long before
 * (1000 records of 1 KiB are about 1.8 M characters); this bounds what a
 * page of long records costs the server in memory (1000 records of 1.5 M
 * characters would be 1.5 G). The same as `Models.MAX_PAGE_CHARACTERS` in
 * `@cipherlog/sync-api`, which the API description states.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_PAGE_CHARACTERS: number = Models.MAX_PAGE_CHARACTERS

/**
 * The service.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerStore {
  /** Succeeds when the storage is reachable and migrated. */
  readonly ping: Effect.Effect<void, ServiceUnavailable>

  // Users, challenges, sessions ----------------------------------------------------
  /** Registers a user; idempotent for identical keys. */
  readonly registerUser: (
    user: UserRecord
  ) => Effect.Effect<{ readonly user: UserRecord; readonly created: boolean }, UserKeysMismatch | ServiceUnavailable>
  readonly getUser: (userId: UserId) => Effect.Effect<Option.Option<UserRecord>, ServiceUnavailable>
  /** Stores a challenge, and forgets challenges and sessions that expired before `now`. */
  readonly putChallenge: (challenge: ChallengeRecord, now: number) => Effect.Effect<void, ServiceUnavailable>
  /** Removes and returns a challenge: each is usable once. */
  readonly takeChallenge: (challengeId: string) => Effect.Effect<Option.Option<ChallengeRecord>, ServiceUnavailable>
  readonly putSession: (session: SessionRecord) => Effect.Effect<void, ServiceUnavailable>
  readonly getSession: (tokenHash: string) => Effect.Effect<Option.Option<SessionRecord>, ServiceUnavailable>
  /** Ends one session (a logout): `true` when it existed. The user's other sessions stay. */
  readonly endSession: (tokenHash: string) => Effect.Effect<boolean, ServiceUnavailable>

  // Identity rotations ----------------------------------------------------------------
  /**
   * Appends a rotation to a user's chain, atomically: its old key must be
   * the user's current signing key (else `RotationConflict`: `replayed`,
   * `forked` or `stale`) and it must not be older than the last rotation.
   * The user's keys become the new ones; an emergency rotation deletes
   * every session of the user, a planned one ends them at
   * `migrationUntil`; an `identity.rotate` audit entry is written in every
   * store the user is a member of. Signatures are checked by the caller
   * (the store has no crypto).
   */
  readonly rotateIdentity: (
    input: { readonly statement: Models.IdentityRotation; readonly at: number }
  ) => Effect.Effect<{ readonly user: UserRecord; readonly seq: number }, RotationConflict | InvalidRotation | NotFound | ServiceUnavailable>
  /** A user's genesis keys and accepted rotations, in order; none for an unknown user. */
  readonly identityChain: (userId: UserId) => Effect.Effect<Option.Option<Models.IdentityChain>, ServiceUnavailable>

  // Stores and members ---------------------------------------------------------------
  /** Creates a store with its creator as admin. */
  readonly createStore: (
    input: { readonly storeId: StoreId } & Actor
  ) => Effect.Effect<Models.Member, StoreExists | ServiceUnavailable>
  /** The role of a user in a store; none when not a member or no such store. */
  readonly getRole: (storeId: StoreId, userId: UserId) => Effect.Effect<Option.Option<Models.Role>, ServiceUnavailable>
  readonly listMembers: (storeId: StoreId) => Effect.Effect<ReadonlyArray<Models.Member>, ServiceUnavailable>
  /** Adds a member or changes a role; the user must be registered; an admin must remain. */
  readonly putMember: (
    input: { readonly storeId: StoreId; readonly userId: UserId; readonly role: Models.Role } & Actor
  ) => Effect.Effect<Models.Member, LastAdmin | Unprocessable | ServiceUnavailable>
  /** Removes a member and deletes their KEK blobs; an admin must remain. */
  readonly removeMember: (
    input: { readonly storeId: StoreId; readonly userId: UserId } & Actor
  ) => Effect.Effect<void, LastAdmin | NotFound | ServiceUnavailable>

  // Records --------------------------------------------------------------------------
  /** Appends a batch atomically (the rules in the module description). */
  readonly append: (input: {
    readonly storeId: StoreId
    readonly records: ReadonlyArray<IncomingRecord>
    readonly receivedAt: number
  }) => Effect.Effect<AppendOutcome, VersionConflict | DuplicateEventMismatch | InvalidRecord | ServiceUnavailable>
  /**
   * At most `limit` records after `after`, in order, and the store's head.
   * The page ends early rather than hold more than {@link MAX_PAGE_CHARACTERS}
   * of record text (always at least one record): a short page does not mean
   * the end of the log, the head does.
   */
  readonly readAfter: (input: {
    readonly storeId: StoreId
    readonly after: number
    readonly limit: number
  }) => Effect.Effect<{ readonly records: ReadonlyArray<StoredRecord>; readonly head: number }, ServiceUnavailable>
  /**
   * What `readAfter` reads, with the records as the lines of a record-lines
   * pull answer (`PullLines.RecordLines`): the body a pull sends. A database
   * can build it in one piece, without a string per record (SQLite does; see
   * `SqlServerStore`). Decoded, it is the page `readAfter` returns: the
   * conformance suite holds the two together. {@link linesOf} derives it
   * from `readAfter` for adapters that do not build it themselves.
   */
  readonly readLinesAfter: (input: {
    readonly storeId: StoreId
    readonly after: number
    readonly limit: number
  }) => Effect.Effect<LinesPage, ServiceUnavailable>
  /** An aggregate's records from a version on, in version order. */
  readonly readAggregate: (input: {
    readonly storeId: StoreId
    readonly aggregateType: string
    readonly aggregateId: string
    readonly fromVersion: number
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<StoredRecord>, ServiceUnavailable>
  readonly findEvent: (storeId: StoreId, eventId: string) => Effect.Effect<Option.Option<StoredRecord>, ServiceUnavailable>
  /**
   * Notifications of new heads, from this process and (PostgreSQL) from
   * other processes over the same database. Subscribe before reading, so
   * that nothing appended in between is missed.
   */
  readonly subscribe: Effect.Effect<Queue.Dequeue<StoreHead>, never, Scope.Scope>

  // KEK versions, blobs, audit ------------------------------------------------------
  readonly listKekVersions: (storeId: StoreId) => Effect.Effect<ReadonlyArray<Models.KekVersion>, ServiceUnavailable>
  readonly activeKekVersion: (storeId: StoreId) => Effect.Effect<Option.Option<Models.KekVersion>, ServiceUnavailable>
  /** Creates the active version (others active become decrypt-only) with blobs for members. */
  readonly createKekVersion: (
    input: {
      readonly storeId: StoreId
      readonly versionId: string
      readonly reason: string
      readonly blobs: ReadonlyArray<Models.UserBlob>
    } & Actor
  ) => Effect.Effect<Models.KekVersion, KekVersionExists | Unprocessable | ServiceUnavailable>
  /** Sets a status, moving forward only (`rules.checkStatusChange`): `decrypt-only` ⇄ `deprecated`; never to or from `active`. */
  readonly setKekStatus: (
    input: { readonly storeId: StoreId; readonly versionId: string; readonly status: Models.KekStatus } & Actor
  ) => Effect.Effect<Models.KekVersion, NotFound | Unprocessable | ServiceUnavailable>
  /** Atomically removes members (deleting their blobs), creates the version and stores blobs for exactly the remaining members. */
  readonly rotateKek: (
    input: {
      readonly storeId: StoreId
      readonly versionId: string
      readonly reason: string
      readonly removeUserIds: ReadonlyArray<UserId>
      readonly blobs: ReadonlyArray<Models.UserBlob>
    } & Actor
  ) => Effect.Effect<
    { readonly version: Models.KekVersion; readonly removedUserIds: ReadonlyArray<UserId> },
    KekVersionExists | Unprocessable | LastAdmin | ServiceUnavailable
  >
  /** Provisions (or replaces) a user's blob of a version; the user must be a member. */
  readonly putBlob: (
    input: { readonly storeId: StoreId; readonly versionId: string; readonly userId: UserId; readonly blob: string } & Actor
  ) => Effect.Effect<Models.KekBlob, NotFound | Unprocessable | ServiceUnavailable>
  /** A user's blobs (audited as a read by `actor`). */
  readonly listBlobs: (
    input: { readonly storeId: StoreId; readonly userId: UserId } & Actor
  ) => Effect.Effect<ReadonlyArray<Models.KekBlob>, ServiceUnavailable>
  /** One blob (audited as a read by `actor`). */
  readonly getBlob: (
    input: { readonly storeId: StoreId; readonly userId: UserId; readonly versionId: string } & Actor
  ) => Effect.Effect<Option.Option<Models.KekBlob>, ServiceUnavailable>
  readonly deleteBlob: (
    input: { readonly storeId: StoreId; readonly userId: UserId; readonly versionId: string } & Actor
  ) => Effect.Effect<void, NotFound | ServiceUnavailable>
  readonly listAudit: (input: {
    readonly storeId: StoreId
    readonly after: number
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<Models.AuditEntry>, ServiceUnavailable>

  // Prekeys --------------------------------------------------------------------------
  /** Publishes (or replaces) a user's signed prekey. */
  readonly putSignedPrekey: (input: {
    readonly userId: UserId
    readonly prekey: Models.SignedPrekey
    readonly at: number
  }) => Effect.Effect<Models.PrekeyStatus, ServiceUnavailable>
  /**
   * Adds one-time prekeys. Refused (nothing added) when an id was ever
   * uploaded before for the user (claimed ones included: an id is usable
   * once, ever) or when more than `max` would then wait unclaimed.
   */
  readonly addOneTimePrekeys: (input: {
    readonly userId: UserId
    readonly prekeys: ReadonlyArray<Models.OneTimePrekey>
    readonly at: number
    readonly max: number
  }) => Effect.Effect<Models.PrekeyStatus, Unprocessable | ServiceUnavailable>
  readonly prekeyStatus: (userId: UserId) => Effect.Effect<Models.PrekeyStatus, ServiceUnavailable>
  /**
   * Claims `userId`'s bundle for `actor`, an admin of `storeId` (checked by
   * the caller): the signed prekey and, unless `actor` was handed `perWindow`
   * of this user's one-time prekeys in the last `windowMs`, the oldest
   * unclaimed one-time prekey, marked claimed in the same transaction — it
   * is never handed out again, to anyone, even by another process on the
   * same database. Writes a `prekey.claim` audit entry in the store. None
   * when the user has no signed prekey.
   */
  readonly claimPrekeys: (
    input: {
      readonly storeId: StoreId
      readonly userId: UserId
      readonly perWindow: number
      readonly windowMs: number
    } & Actor
  ) => Effect.Effect<Option.Option<Models.PrekeyBundle>, ServiceUnavailable>

  // Recovery -------------------------------------------------------------------------
  /** Stores recovery material; the first writer owns the locator, only it can replace. */
  readonly putRecovery: (input: {
    readonly locator: string
    readonly userId: UserId
    readonly blob: string
    readonly at: number
  }) => Effect.Effect<void, Forbidden | ServiceUnavailable>
  readonly getRecovery: (locator: string) => Effect.Effect<Option.Option<string>, ServiceUnavailable>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const ServerStore: Context.Tag<ServerStore, ServerStore> = Context.GenericTag<ServerStore>(
  "@cipherlog/server/ServerStore"
)

/**
 * An in-memory store with the same rules as the SQL adapters: for tests and
 * examples. Everything is lost when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<ServerStore> = internal.make

/**
 * `readLinesAfter`'s answer from `readAfter`'s: the records encoded as record
 * lines (`PullLines.recordLines`). For adapters whose database does not
 * build the lines itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const linesOf = (
  page: { readonly records: ReadonlyArray<StoredRecord>; readonly head: number }
): LinesPage => ({
  records: PullLines.recordLines(page.records),
  head: page.head
})

/**
 * {@link makeMemory} as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ServerStore> = Layer.effect(ServerStore, makeMemory)
