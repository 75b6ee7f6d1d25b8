/**
 * The bodies, parameters and answers of the sync API, as `effect/Schema`s.
 * Binary values travel as unpadded base64url text (docs/formats.md).
 *
 * @since 0.1.0
 */
import { Bytes, EventId, KeyId, StoreId, SyncRecord, UserId } from "@cipherlog/domain"
import { Schema } from "effect"
import { StoredRecord } from "./ApiError.js"

export {
  /** @since 0.1.0 */
  StoredRecord
}

/**
 * Most records one push may carry, and most one pull returns.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_BATCH = 1000

/**
 * Most characters of record text one pull page holds: a page ends before
 * the record that would take it past this, but always holds one record.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_PAGE_CHARACTERS = 8 * 1024 * 1024

/**
 * Longest long-poll wait, in milliseconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_WAIT_MS = 30_000

/**
 * Largest KEK blob, in base64url characters (8 KiB).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_BLOB_LENGTH = 8192

/**
 * Largest recovery blob, in base64url characters (64 KiB).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_RECOVERY_BLOB_LENGTH = 65_536

/**
 * Longest `reason` of a KEK operation, in characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_REASON_LENGTH = 500

/**
 * A member's role in a store: `admin` manages members and KEKs and writes;
 * `member` reads and writes records; `reader` only reads.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Role = Schema.Literal("admin", "member", "reader").annotations({
  identifier: "Role",
  message: () => "a role is admin, member or reader"
})
/** @since 0.1.0 */
export type Role = typeof Role.Type

/**
 * Roles that may push records.
 *
 * @since 0.1.0
 * @category constants
 */
export const writerRoles: ReadonlyArray<Role> = ["admin", "member"]

/**
 * A KEK version's status (seed 001): `active` (the one that encrypts),
 * `decrypt-only`, `deprecated`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const KekStatus = Schema.Literal("active", "decrypt-only", "deprecated").annotations({
  identifier: "KekStatus",
  message: () => "a KEK status is active, decrypt-only or deprecated"
})
/** @since 0.1.0 */
export type KekStatus = typeof KekStatus.Type

/**
 * A KEK version id (the alphabet of key ids).
 *
 * @since 0.1.0
 * @category schemas
 */
export const KekVersionId = KeyId
/** @since 0.1.0 */
export type KekVersionId = typeof KekVersionId.Type

const canonicalBase64Url = (what: string, maxLength: number) =>
  Schema.String.pipe(
    Schema.maxLength(maxLength, { message: () => `${what} is at most ${maxLength} characters` }),
    Schema.filter((s) => Bytes.fromBase64Url(s) !== undefined || `${what} must be canonical unpadded base64url`)
  )

/**
 * An Ed25519 or X25519 public key: 32 bytes.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PublicKey = Bytes.Base64UrlOfLength(32).annotations({ identifier: "PublicKey" })

/**
 * An Ed25519 signature: 64 bytes.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Signature = Bytes.Base64UrlOfLength(64).annotations({ identifier: "Signature" })

/**
 * A KEK blob: opaque base64url text (at most 8 KiB) that only its user can
 * open. The server never interprets it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Blob = canonicalBase64Url("a blob", MAX_BLOB_LENGTH).annotations({ identifier: "Blob" })

/**
 * Recovery material: opaque base64url text (at most 64 KiB).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RecoveryBlob = canonicalBase64Url("a recovery blob", MAX_RECOVERY_BLOB_LENGTH).annotations({
  identifier: "RecoveryBlob"
})

/**
 * A recovery locator: 32 bytes in base64url (43 characters), derived on the
 * client from the recovery phrase — an address, not a key.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Locator = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]{43}$/, { message: () => "a locator is 32 bytes in unpadded base64url (43 characters)" }),
  Schema.filter((s) => Bytes.fromBase64Url(s) !== undefined || "a locator must be canonical base64url"),
  Schema.brand("Locator")
).annotations({ identifier: "Locator" })
/** @since 0.1.0 */
export type Locator = typeof Locator.Type

/**
 * A `record_json` text as pushed: validated by the server with
 * `SyncRecord.decodeJson` and stored exactly as received.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RecordJson = Schema.String.pipe(
  Schema.maxLength(SyncRecord.MAX_RECORD_JSON_LENGTH, {
    message: () => `a record is at most ${SyncRecord.MAX_RECORD_JSON_LENGTH} characters`
  })
).annotations({ identifier: "RecordJson" })

const Reason = Schema.String.pipe(
  Schema.maxLength(MAX_REASON_LENGTH, { message: () => `a reason is at most ${MAX_REASON_LENGTH} characters` })
)

const Millis = Schema.Int.annotations({ description: "milliseconds since the Unix epoch" })

// Users and sessions -----------------------------------------------------------

/**
 * `POST /v1/users`.
 *
 * @since 0.1.0
 * @category users
 */
export const RegisterRequest = Schema.Struct({
  userId: UserId,
  signingPublicKey: PublicKey,
  encryptionPublicKey: PublicKey,
  proof: Signature
}).annotations({ identifier: "RegisterRequest" })

/**
 * A user's public keys.
 *
 * @since 0.1.0
 * @category users
 */
export const UserKeys = Schema.Struct({
  userId: UserId,
  signingPublicKey: PublicKey,
  encryptionPublicKey: PublicKey,
  registeredAt: Millis
}).annotations({ identifier: "UserKeys" })
/** @since 0.1.0 */
export type UserKeys = typeof UserKeys.Type

/**
 * Answer of `POST /v1/users`: `created` is false when the same keys were
 * registered before (registration is idempotent).
 *
 * @since 0.1.0
 * @category users
 */
export const Registered = Schema.Struct({ user: UserKeys, created: Schema.Boolean }).annotations({
  identifier: "Registered"
})

/**
 * `POST /v1/auth/challenge`.
 *
 * @since 0.1.0
 * @category auth
 */
export const ChallengeRequest = Schema.Struct({ userId: UserId }).annotations({ identifier: "ChallengeRequest" })

/**
 * A login challenge: single use, valid for 60 s.
 *
 * @since 0.1.0
 * @category auth
 */
export const Challenge = Schema.Struct({
  challengeId: Schema.String,
  nonce: Bytes.Base64UrlOfLength(32),
  expiresAt: Millis
}).annotations({ identifier: "Challenge" })
/** @since 0.1.0 */
export type Challenge = typeof Challenge.Type

/**
 * `POST /v1/auth/session`.
 *
 * @since 0.1.0
 * @category auth
 */
export const SessionRequest = Schema.Struct({
  challengeId: Schema.String.pipe(Schema.maxLength(64, { message: () => "a challenge id is at most 64 characters" })),
  signature: Signature
}).annotations({ identifier: "SessionRequest" })

/**
 * A session: send `Authorization: Bearer <token>` until `expiresAt`.
 *
 * @since 0.1.0
 * @category auth
 */
export const Session = Schema.Struct({
  userId: UserId,
  token: Schema.String,
  expiresAt: Millis
}).annotations({ identifier: "Session" })
/** @since 0.1.0 */
export type Session = typeof Session.Type

// Identity rotations ---------------------------------------------------------------

/**
 * Longest migration window of a planned identity rotation: 30 days.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_MIGRATION_MS = 30 * 24 * 3600 * 1000

/**
 * Largest difference between a rotation's `rotatedAt` and the server's clock: 5 minutes.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ROTATION_SKEW_MS = 5 * 60 * 1000

/**
 * An identity rotation statement (`Identity.RotationStatement` of
 * `@cipherlog/keys`, docs/formats.md "Identities and devices"): signed by
 * the old signing key (continuity) and the new one (possession) over
 * `Auth.rotationMessage`.
 *
 * @since 0.1.0
 * @category users
 */
export const IdentityRotation = Schema.Struct({
  userId: UserId,
  kind: Schema.Literal("planned", "emergency"),
  oldSigningPublicKey: PublicKey,
  newSigningPublicKey: PublicKey,
  newEncryptionPublicKey: PublicKey,
  rotatedAt: Millis,
  migrationUntil: Millis,
  oldSignature: Signature,
  newSignature: Signature
}).annotations({ identifier: "IdentityRotation" })
/** @since 0.1.0 */
export type IdentityRotation = typeof IdentityRotation.Type

/**
 * A user's identity chain as the server holds it: the keys first
 * registered, then every accepted rotation in order. The server is not
 * trusted with it: a peer verifies each link from the genesis it pinned.
 *
 * @since 0.1.0
 * @category users
 */
export const IdentityChain = Schema.Struct({
  userId: UserId,
  genesis: Schema.Struct({ signingPublicKey: PublicKey, encryptionPublicKey: PublicKey, registeredAt: Millis }),
  rotations: Schema.Array(IdentityRotation)
}).annotations({ identifier: "IdentityChain" })
/** @since 0.1.0 */
export type IdentityChain = typeof IdentityChain.Type

/**
 * Answer of `POST /v1/users/:userId/rotations`: the user's keys now, and
 * the rotation's position in the chain (1 for the first).
 *
 * @since 0.1.0
 * @category users
 */
export const IdentityRotated = Schema.Struct({ user: UserKeys, seq: Schema.Int }).annotations({ identifier: "IdentityRotated" })
/** @since 0.1.0 */
export type IdentityRotated = typeof IdentityRotated.Type

// Stores and members -----------------------------------------------------------

/**
 * `POST /v1/stores`.
 *
 * @since 0.1.0
 * @category stores
 */
export const CreateStoreRequest = Schema.Struct({ storeId: StoreId }).annotations({ identifier: "CreateStoreRequest" })

/**
 * A store's member.
 *
 * @since 0.1.0
 * @category stores
 */
export const Member = Schema.Struct({ userId: UserId, role: Role, addedAt: Millis }).annotations({ identifier: "Member" })
/** @since 0.1.0 */
export type Member = typeof Member.Type

/**
 * Answer of `POST /v1/stores`.
 *
 * @since 0.1.0
 * @category stores
 */
export const StoreCreated = Schema.Struct({ storeId: StoreId, createdAt: Millis, admin: Member }).annotations({
  identifier: "StoreCreated"
})

/**
 * `PUT /v1/stores/:storeId/members/:userId`.
 *
 * @since 0.1.0
 * @category stores
 */
export const PutMemberRequest = Schema.Struct({ role: Role }).annotations({ identifier: "PutMemberRequest" })

// Records ------------------------------------------------------------------------

/**
 * `POST /v1/stores/:storeId/records`: 1 to 1000 `record_json` texts.
 *
 * @since 0.1.0
 * @category records
 */
export const PushRequest = Schema.Struct({
  records: Schema.Array(RecordJson).pipe(
    Schema.minItems(1, { message: () => "a push carries at least one record" }),
    Schema.maxItems(MAX_BATCH, { message: () => `a push carries at most ${MAX_BATCH} records` })
  )
}).annotations({ identifier: "PushRequest" })

/**
 * One pushed record's outcome: its global sequence, and whether it was
 * stored before (a retry; INV-005).
 *
 * @since 0.1.0
 * @category records
 */
export const PushResult = Schema.Struct({
  eventId: EventId.EventId,
  globalSequence: Schema.Int,
  duplicate: Schema.Boolean
}).annotations({ identifier: "PushResult" })
/** @since 0.1.0 */
export type PushResult = typeof PushResult.Type

/**
 * Answer of a push: one result per pushed record, in order, and the store's
 * head (its highest global sequence) after the push.
 *
 * @since 0.1.0
 * @category records
 */
export const PushResponse = Schema.Struct({
  results: Schema.Array(PushResult),
  head: Schema.Int
}).annotations({ identifier: "PushResponse" })
/** @since 0.1.0 */
export type PushResponse = typeof PushResponse.Type

const IntFromString = (what: string, min: number, max: number) =>
  Schema.NumberFromString.pipe(
    Schema.int({ message: () => `${what} is an integer` }),
    Schema.between(min, max, { message: () => `${what} is between ${min} and ${max}` })
  )

/**
 * Query of `GET /v1/stores/:storeId/records`: `after` (cursor, default 0),
 * `limit` (1..1000, default 1000), `wait` (long-poll ms, 0..30000, default 0).
 *
 * @since 0.1.0
 * @category records
 */
export const PullParams = Schema.Struct({
  after: Schema.optional(IntFromString("after", 0, Number.MAX_SAFE_INTEGER)),
  limit: Schema.optional(IntFromString("limit", 1, MAX_BATCH)),
  wait: Schema.optional(IntFromString("wait", 0, MAX_WAIT_MS))
}).annotations({ identifier: "PullParams" })

/**
 * Answer of a pull: the records after the cursor, in order (at most
 * `limit`, and fewer when they are long: a page holds at most 8 Mi
 * characters of record text, but always one record); `head` is the store's
 * highest sequence; `hasMore` says whether more follow, so a short page is
 * not the end.
 *
 * @since 0.1.0
 * @category records
 */
export const PullResponse = Schema.Struct({
  records: Schema.Array(StoredRecord),
  head: Schema.Int,
  hasMore: Schema.Boolean
}).annotations({
  identifier: "PullResponse",
  description: `The records after the cursor, in order: at most \`limit\`, and fewer when they are long (a page holds at most ` +
    `${MAX_PAGE_CHARACTERS} characters of record text, but always one record). \`hasMore\` says whether more follow: a short page is not the end.`
})
/** @since 0.1.0 */
export type PullResponse = typeof PullResponse.Type

// KEK versions, blobs, audit -----------------------------------------------------

/**
 * A KEK version of a store.
 *
 * @since 0.1.0
 * @category kek
 */
export const KekVersion = Schema.Struct({
  versionId: KekVersionId,
  status: KekStatus,
  reason: Schema.String,
  createdAt: Millis,
  createdBy: UserId
}).annotations({ identifier: "KekVersion" })
/** @since 0.1.0 */
export type KekVersion = typeof KekVersion.Type

/**
 * A blob for one user.
 *
 * @since 0.1.0
 * @category kek
 */
export const UserBlob = Schema.Struct({ userId: UserId, blob: Blob }).annotations({ identifier: "UserBlob" })
/** @since 0.1.0 */
export type UserBlob = typeof UserBlob.Type

const Blobs = Schema.Array(UserBlob).pipe(
  Schema.maxItems(10_000, { message: () => "at most 10000 blobs per request" })
)

/**
 * `POST /v1/stores/:storeId/kek/versions`.
 *
 * @since 0.1.0
 * @category kek
 */
export const CreateKekVersionRequest = Schema.Struct({
  versionId: KekVersionId,
  reason: Reason,
  blobs: Blobs
}).annotations({ identifier: "CreateKekVersionRequest" })

/**
 * `PUT /v1/stores/:storeId/kek/versions/:versionId/status`.
 *
 * @since 0.1.0
 * @category kek
 */
export const SetKekStatusRequest = Schema.Struct({ status: KekStatus }).annotations({ identifier: "SetKekStatusRequest" })

/**
 * `POST /v1/stores/:storeId/kek/rotate`.
 *
 * @since 0.1.0
 * @category kek
 */
export const RotateRequest = Schema.Struct({
  versionId: KekVersionId,
  reason: Reason,
  removeUserIds: Schema.Array(UserId).pipe(Schema.maxItems(10_000)),
  blobs: Blobs
}).annotations({ identifier: "RotateRequest" })

/**
 * Answer of a rotation.
 *
 * @since 0.1.0
 * @category kek
 */
export const Rotated = Schema.Struct({
  version: KekVersion,
  removedUserIds: Schema.Array(UserId)
}).annotations({ identifier: "Rotated" })

/**
 * `POST /v1/stores/:storeId/kek/blobs`.
 *
 * @since 0.1.0
 * @category kek
 */
export const ProvisionBlobRequest = Schema.Struct({
  versionId: KekVersionId,
  userId: UserId,
  blob: Blob
}).annotations({ identifier: "ProvisionBlobRequest" })

/**
 * A stored KEK blob.
 *
 * @since 0.1.0
 * @category kek
 */
export const KekBlob = Schema.Struct({
  versionId: KekVersionId,
  userId: UserId,
  blob: Blob,
  createdAt: Millis
}).annotations({ identifier: "KekBlob" })
/** @since 0.1.0 */
export type KekBlob = typeof KekBlob.Type

/**
 * What an audit entry records.
 *
 * @since 0.1.0
 * @category audit
 */
export const AuditAction = Schema.Literal(
  "store.create",
  "member.put",
  "member.remove",
  "kek.version.create",
  "kek.version.status",
  "kek.rotate",
  "kek.blob.provision",
  "kek.blob.read",
  "kek.blob.delete",
  "prekey.claim",
  "identity.rotate"
).annotations({ identifier: "AuditAction" })
/** @since 0.1.0 */
export type AuditAction = typeof AuditAction.Type

/**
 * One audit entry: who did what, when (never blob contents).
 *
 * @since 0.1.0
 * @category audit
 */
export const AuditEntry = Schema.Struct({
  seq: Schema.Int,
  at: Millis,
  actorUserId: UserId,
  action: AuditAction,
  versionId: Schema.optionalWith(KekVersionId, { exact: true }),
  targetUserId: Schema.optionalWith(UserId, { exact: true }),
  role: Schema.optionalWith(Role, { exact: true }),
  status: Schema.optionalWith(KekStatus, { exact: true }),
  reason: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "AuditEntry" })
/** @since 0.1.0 */
export type AuditEntry = typeof AuditEntry.Type

/**
 * Query of `GET /v1/stores/:storeId/audit`.
 *
 * @since 0.1.0
 * @category audit
 */
export const AuditParams = Schema.Struct({
  after: Schema.optional(IntFromString("after", 0, Number.MAX_SAFE_INTEGER)),
  limit: Schema.optional(IntFromString("limit", 1, MAX_BATCH))
}).annotations({ identifier: "AuditParams" })

/**
 * A page of the audit log.
 *
 * @since 0.1.0
 * @category audit
 */
export const AuditPage = Schema.Struct({
  entries: Schema.Array(AuditEntry),
  hasMore: Schema.Boolean
}).annotations({ identifier: "AuditPage" })

// Prekeys ------------------------------------------------------------------------

/**
 * Most one-time prekeys one upload may carry.
 *
 * @since 0.1.0
 * @category prekeys
 */
export const MAX_ONE_TIME_PREKEYS_PER_UPLOAD = 100

/**
 * Most one-time prekeys the server keeps for a user; an upload beyond is refused (422).
 *
 * @since 0.1.0
 * @category prekeys
 */
export const MAX_ONE_TIME_PREKEYS = 200

/**
 * Most one-time prekeys of one user a claimer is handed per {@link PREKEY_CLAIM_WINDOW_MS};
 * beyond, claims answer the signed prekey alone (one user cannot drain another's one-time prekeys).
 *
 * @since 0.1.0
 * @category prekeys
 */
export const PREKEY_CLAIMS_PER_WINDOW = 10

/**
 * The window of {@link PREKEY_CLAIMS_PER_WINDOW}: one hour.
 *
 * @since 0.1.0
 * @category prekeys
 */
export const PREKEY_CLAIM_WINDOW_MS = 3600 * 1000

/**
 * A prekey id: 1–64 characters of `[A-Za-z0-9_-]`.
 *
 * @since 0.1.0
 * @category prekeys
 */
export const PrekeyId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/, { message: () => "a prekey id is 1 to 64 characters of [A-Za-z0-9_-]" })
).annotations({ identifier: "PrekeyId" })

/**
 * A signed prekey as published (`PUT /v1/users/:userId/prekeys/signed`) and
 * handed out: the signature is the user's identity key's over
 * docs/formats.md's "signed prekey" message, verified by the clients (not
 * by the server).
 *
 * @since 0.1.0
 * @category prekeys
 */
export const SignedPrekey = Schema.Struct({
  prekeyId: PrekeyId,
  publicKey: PublicKey,
  createdAt: Millis,
  signature: Signature
}).annotations({ identifier: "SignedPrekey" })
/** @since 0.1.0 */
export type SignedPrekey = typeof SignedPrekey.Type

/**
 * A one-time prekey, signed by the user's identity key.
 *
 * @since 0.1.0
 * @category prekeys
 */
export const OneTimePrekey = Schema.Struct({
  prekeyId: PrekeyId,
  publicKey: PublicKey,
  signature: Signature
}).annotations({ identifier: "OneTimePrekey" })
/** @since 0.1.0 */
export type OneTimePrekey = typeof OneTimePrekey.Type

/**
 * `POST /v1/users/:userId/prekeys/one-time`.
 *
 * @since 0.1.0
 * @category prekeys
 */
export const UploadOneTimePrekeysRequest = Schema.Struct({
  prekeys: Schema.Array(OneTimePrekey).pipe(
    Schema.minItems(1, { message: () => "at least one prekey per upload" }),
    Schema.maxItems(MAX_ONE_TIME_PREKEYS_PER_UPLOAD, { message: () => `at most ${MAX_ONE_TIME_PREKEYS_PER_UPLOAD} prekeys per upload` })
  )
}).annotations({ identifier: "UploadOneTimePrekeysRequest" })

/**
 * A user's prekeys on the server, as their owner sees them.
 *
 * @since 0.1.0
 * @category prekeys
 */
export const PrekeyStatus = Schema.Struct({
  signedPrekey: Schema.optionalWith(Schema.Struct({ prekeyId: PrekeyId, createdAt: Millis }), { exact: true }),
  oneTimeCount: Schema.Int
}).annotations({ identifier: "PrekeyStatus" })
/** @since 0.1.0 */
export type PrekeyStatus = typeof PrekeyStatus.Type

/**
 * A claimed bundle: the signed prekey and, when one was left (and the
 * claimer is within its rate), a one-time prekey that the server will never
 * hand out again.
 *
 * @since 0.1.0
 * @category prekeys
 */
export const PrekeyBundle = Schema.Struct({
  userId: UserId,
  signedPrekey: SignedPrekey,
  oneTimePrekey: Schema.optionalWith(OneTimePrekey, { exact: true })
}).annotations({ identifier: "PrekeyBundle" })
/** @since 0.1.0 */
export type PrekeyBundle = typeof PrekeyBundle.Type

// Recovery -----------------------------------------------------------------------

/**
 * `PUT /v1/recovery/:locator` and the answer of `GET`.
 *
 * @since 0.1.0
 * @category recovery
 */
export const RecoveryMaterial = Schema.Struct({ blob: RecoveryBlob }).annotations({ identifier: "RecoveryMaterial" })

// Path parameters ----------------------------------------------------------------

/** @since 0.1.0 */
export const StorePath = Schema.Struct({ storeId: StoreId })
/** @since 0.1.0 */
export const UserPath = Schema.Struct({ userId: UserId })
/** @since 0.1.0 */
export const MemberPath = Schema.Struct({ storeId: StoreId, userId: UserId })
/** @since 0.1.0 */
export const KekVersionPath = Schema.Struct({ storeId: StoreId, versionId: KekVersionId })
/** @since 0.1.0 */
export const UserBlobsPath = Schema.Struct({ storeId: StoreId, userId: UserId })
/** @since 0.1.0 */
export const UserBlobPath = Schema.Struct({ storeId: StoreId, userId: UserId, versionId: KekVersionId })
/** @since 0.1.0 */
export const LocatorPath = Schema.Struct({ locator: Locator })

/**
 * Header of `POST /v1/users` when the server requires a registration token.
 *
 * @since 0.1.0
 * @category users
 */
export const RegistrationHeaders = Schema.Struct({
  "x-registration-token": Schema.optional(Schema.String)
})

/**
 * Answer of `GET /healthz`.
 *
 * @since 0.1.0
 * @category operations
 */
export const Health = Schema.Struct({ status: Schema.Literal("ok") }).annotations({ identifier: "Health" })
