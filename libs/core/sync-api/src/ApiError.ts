/**
 * Every error the sync server answers with, as `Schema.TaggedError`s
 * carrying their HTTP status (`HttpApiSchema` annotations), so that the
 * server, the OpenAPI description and the derived client agree on them.
 *
 * Each error has a `message` field that says what went wrong and what to
 * do. None carries record contents, blobs, tokens or other input values
 * (INV-016): only ids, counts and limits.
 *
 * @since 0.1.0
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/**
 * A record as the server holds it: its place in the store's log, when the
 * server received it and its exact text (INV-004).
 *
 * @since 0.1.0
 * @category models
 */
export const StoredRecord = Schema.Struct({
  globalSequence: Schema.Int,
  receivedAt: Schema.Int,
  recordJson: Schema.String
}).annotations({ identifier: "StoredRecord" })
/** @since 0.1.0 */
export type StoredRecord = typeof StoredRecord.Type

/**
 * One field that failed validation: where, and why (never the value).
 *
 * @since 0.1.0
 * @category models
 */
export const FieldIssue = Schema.Struct({ path: Schema.String, problem: Schema.String }).annotations({
  identifier: "FieldIssue"
})
/** @since 0.1.0 */
export type FieldIssue = typeof FieldIssue.Type

// 400 -------------------------------------------------------------------------

/**
 * The request does not match the endpoint's schema (path, query, headers or
 * body). `issues` names each failing field and why.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@cipherlog/sync-api/InvalidRequest")(
  "InvalidRequest",
  { message: Schema.String, issues: Schema.Array(FieldIssue) },
  HttpApiSchema.annotations({ status: 400 })
) {
  /** @since 0.1.0 */
  static of(issues: ReadonlyArray<FieldIssue>, summary = "The request is invalid"): InvalidRequest {
    const named = issues.slice(0, 5).map((i) => (i.path === "" ? i.problem : `${i.path}: ${i.problem}`)).join("; ")
    return new InvalidRequest({
      message: `${summary}${named === "" ? "" : ` (${named})`}. Nothing was changed; fix the request and retry.`,
      issues
    })
  }
}

/**
 * A pushed record is not a valid `record_json` v1, or does not belong to
 * the store or the authenticated user. `index` is its position in the batch.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRecord extends Schema.TaggedError<InvalidRecord>("@cipherlog/sync-api/InvalidRecord")(
  "InvalidRecord",
  { message: Schema.String, index: Schema.Int, problem: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {
  /** @since 0.1.0 */
  static of(index: number, problem: string): InvalidRecord {
    return new InvalidRecord({
      index,
      problem,
      message: `Record ${index} of the batch is refused: ${problem}. Nothing in the batch was stored; fix that record and push the batch again.`
    })
  }
}

// 401 / 403 -------------------------------------------------------------------

/**
 * No bearer token, or one that is unknown or expired; or a failed login.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("@cipherlog/sync-api/Unauthorized")(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {
  /** @since 0.1.0 */
  static of(problem: string, next = "Log in again: POST /v1/auth/challenge, then POST /v1/auth/session."): Unauthorized {
    return new Unauthorized({ message: `${problem}. ${next}` })
  }
}

/**
 * Authenticated, but not allowed: not a member of the store, a role too
 * weak for the operation, someone else's blobs or recovery locator.
 *
 * @since 0.1.0
 * @category errors
 */
export class Forbidden extends Schema.TaggedError<Forbidden>("@cipherlog/sync-api/Forbidden")(
  "Forbidden",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {
  /** @since 0.1.0 */
  static of(problem: string): Forbidden {
    return new Forbidden({ message: `${problem}. Ask an admin of the store for access if you need it.` })
  }
}

// 404 / 405 -------------------------------------------------------------------

/**
 * The thing asked for does not exist (a user, a KEK version, a blob, a
 * recovery locator).
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>("@cipherlog/sync-api/NotFound")(
  "NotFound",
  { message: Schema.String, resource: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  /** @since 0.1.0 */
  static of(resource: string): NotFound {
    return new NotFound({ resource, message: `No ${resource} here. Check the id.` })
  }
}

/**
 * No endpoint has this path.
 *
 * @since 0.1.0
 * @category errors
 */
export class RouteNotFound extends Schema.TaggedError<RouteNotFound>("@cipherlog/sync-api/RouteNotFound")(
  "RouteNotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  /** @since 0.1.0 */
  static readonly instance = new RouteNotFound({
    message: "No endpoint has this path. See GET /openapi.json for the endpoints of this server."
  })
}

/**
 * The path exists, but not with this method.
 *
 * @since 0.1.0
 * @category errors
 */
export class MethodNotAllowed extends Schema.TaggedError<MethodNotAllowed>("@cipherlog/sync-api/MethodNotAllowed")(
  "MethodNotAllowed",
  { message: Schema.String, allowed: Schema.Array(Schema.String) },
  HttpApiSchema.annotations({ status: 405 })
) {
  /** @since 0.1.0 */
  static of(allowed: ReadonlyArray<string>): MethodNotAllowed {
    return new MethodNotAllowed({ allowed, message: `This path accepts ${allowed.join(", ")} only.` })
  }
}

// 409 -------------------------------------------------------------------------

/**
 * The user id is registered with other keys. Registration is idempotent
 * only for identical keys.
 *
 * @since 0.1.0
 * @category errors
 */
export class UserKeysMismatch extends Schema.TaggedError<UserKeysMismatch>("@cipherlog/sync-api/UserKeysMismatch")(
  "UserKeysMismatch",
  { message: Schema.String, userId: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  /** @since 0.1.0 */
  static of(userId: string): UserKeysMismatch {
    return new UserKeysMismatch({
      userId,
      message: `User ${userId} is already registered with different keys; nothing was changed. Choose another user id.`
    })
  }
}

/**
 * A store with this id exists already.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreExists extends Schema.TaggedError<StoreExists>("@cipherlog/sync-api/StoreExists")(
  "StoreExists",
  { message: Schema.String, storeId: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  /** @since 0.1.0 */
  static of(storeId: string): StoreExists {
    return new StoreExists({ storeId, message: `Store ${storeId} exists already. Choose another store id.` })
  }
}

/**
 * A pushed record does not continue its aggregate (INV-002): `expected` is
 * the version the writer expected the aggregate to be at (the record's
 * version − 1), `actual` where it is. `missing` holds the stored records of
 * that aggregate from the record's version on (at most 1000; the rest by
 * pulling), so the writer can rebase. Nothing of the batch was stored.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Schema.TaggedError<VersionConflict>("@cipherlog/sync-api/VersionConflict")(
  "VersionConflict",
  {
    message: Schema.String,
    storeId: Schema.String,
    aggregateType: Schema.String,
    aggregateId: Schema.String,
    expected: Schema.Int,
    actual: Schema.Int,
    missing: Schema.Array(StoredRecord)
  },
  HttpApiSchema.annotations({ status: 409 })
) {
  /** @since 0.1.0 */
  static of(fields: {
    readonly storeId: string
    readonly aggregateType: string
    readonly aggregateId: string
    readonly expected: number
    readonly actual: number
    readonly missing: ReadonlyArray<StoredRecord>
  }): VersionConflict {
    return new VersionConflict({
      ...fields,
      message: `Version conflict on ${fields.aggregateType}/${fields.aggregateId} in store ${fields.storeId}: the record ` +
        `expects the aggregate at version ${fields.expected}, but it is at ${fields.actual}. Nothing of the batch was ` +
        `stored; apply the missing records, rebase your events and push again.`
    })
  }
}

/**
 * An event id already stored with different bytes (INV-005). The stored
 * record stands; nothing of the batch was stored.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateEventMismatch extends Schema.TaggedError<DuplicateEventMismatch>(
  "@cipherlog/sync-api/DuplicateEventMismatch"
)(
  "DuplicateEventMismatch",
  { message: Schema.String, storeId: Schema.String, eventId: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  /** @since 0.1.0 */
  static of(storeId: string, eventId: string): DuplicateEventMismatch {
    return new DuplicateEventMismatch({
      storeId,
      eventId,
      message: `Event ${eventId} in store ${storeId} is already stored with different content; nothing of the batch was ` +
        `stored. Never reuse an event id for different content.`
    })
  }
}

/**
 * A KEK version with this id exists already in the store.
 *
 * @since 0.1.0
 * @category errors
 */
export class KekVersionExists extends Schema.TaggedError<KekVersionExists>("@cipherlog/sync-api/KekVersionExists")(
  "KekVersionExists",
  { message: Schema.String, storeId: Schema.String, versionId: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  /** @since 0.1.0 */
  static of(storeId: string, versionId: string): KekVersionExists {
    return new KekVersionExists({
      storeId,
      versionId,
      message: `KEK version ${versionId} exists already in store ${storeId}; nothing was changed. Use a new version id.`
    })
  }
}

/**
 * The operation would leave the store without an admin.
 *
 * @since 0.1.0
 * @category errors
 */
export class LastAdmin extends Schema.TaggedError<LastAdmin>("@cipherlog/sync-api/LastAdmin")(
  "LastAdmin",
  { message: Schema.String, storeId: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  /** @since 0.1.0 */
  static of(storeId: string): LastAdmin {
    return new LastAdmin({
      storeId,
      message: `Store ${storeId} would be left without an admin; nothing was changed. Make another member admin first.`
    })
  }
}

/**
 * An identity rotation that does not continue the user's chain as the
 * server holds it: `replayed` (this exact statement was accepted before),
 * `forked` (another statement already rotated away from the same old key),
 * `stale` (the old key is no longer the user's current key).
 *
 * @since 0.1.0
 * @category errors
 */
export class RotationConflict extends Schema.TaggedError<RotationConflict>("@cipherlog/sync-api/RotationConflict")(
  "RotationConflict",
  { message: Schema.String, userId: Schema.String, reason: Schema.Literal("replayed", "forked", "stale") },
  HttpApiSchema.annotations({ status: 409 })
) {
  /** @since 0.1.0 */
  static of(userId: string, reason: RotationConflict["reason"]): RotationConflict {
    const what = reason === "replayed"
      ? "this rotation statement was accepted before"
      : reason === "forked"
      ? "another rotation already replaced the same old key (a fork of the identity chain)"
      : "its old key is not the user's current signing key"
    return new RotationConflict({
      userId,
      reason,
      message: `Identity rotation of user ${userId} refused: ${what}; nothing was changed. ` +
        "Fetch the user's chain (GET /v1/users/:userId/identity) and rotate from its current key; " +
        "if you did not make the rotation that is there, the identity is compromised: see docs/threat-model.md."
    })
  }
}

// 413 / 415 -------------------------------------------------------------------

/**
 * The request body is larger than the server accepts.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>("@cipherlog/sync-api/PayloadTooLarge")(
  "PayloadTooLarge",
  { message: Schema.String, limitBytes: Schema.Int },
  HttpApiSchema.annotations({ status: 413 })
) {
  /** @since 0.1.0 */
  static of(limitBytes: number): PayloadTooLarge {
    return new PayloadTooLarge({
      limitBytes,
      message: `The request body is larger than ${limitBytes} bytes. Split it (e.g. push smaller batches).`
    })
  }
}

/**
 * A request body that is not JSON.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>(
  "@cipherlog/sync-api/UnsupportedMediaType"
)(
  "UnsupportedMediaType",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 415 })
) {
  /** @since 0.1.0 */
  static readonly instance = new UnsupportedMediaType({
    message: "Request bodies must be JSON: send Content-Type: application/json."
  })
}

// 422 -------------------------------------------------------------------------

/**
 * Well-formed, but not applicable to the store as it is: a user who is not
 * registered or not a member, or a rotation whose blobs do not cover exactly
 * the remaining members.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unprocessable extends Schema.TaggedError<Unprocessable>("@cipherlog/sync-api/Unprocessable")(
  "Unprocessable",
  {
    message: Schema.String,
    reason: Schema.Literal("unknown-user", "not-a-member", "blobs-mismatch", "duplicate-user", "status-transition", "prekey-limit", "duplicate-prekey"),
    userIds: Schema.Array(Schema.String)
  },
  HttpApiSchema.annotations({ status: 422 })
) {
  /** @since 0.1.0 */
  static of(reason: Unprocessable["reason"], userIds: ReadonlyArray<string>, detail: string): Unprocessable {
    return new Unprocessable({ reason, userIds, message: `${detail}; nothing was changed.` })
  }
}

/**
 * An identity rotation statement that does not verify: a signature, its
 * user, its times or its migration window.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRotation extends Schema.TaggedError<InvalidRotation>("@cipherlog/sync-api/InvalidRotation")(
  "InvalidRotation",
  { message: Schema.String, userId: Schema.String, problem: Schema.String },
  HttpApiSchema.annotations({ status: 422 })
) {
  /** @since 0.1.0 */
  static of(userId: string, problem: string): InvalidRotation {
    return new InvalidRotation({
      userId,
      problem,
      message: `Identity rotation of user ${userId} refused: ${problem}; nothing was changed. ` +
        "Build the statement with Identity.rotate from the current identity secrets and send it unchanged."
    })
  }
}

// 429 / 503 -------------------------------------------------------------------

/**
 * A rate limit was hit (per client address, per user, or the strict limit
 * of recovery reads). The response also has a `Retry-After` header.
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyRequests extends Schema.TaggedError<TooManyRequests>("@cipherlog/sync-api/TooManyRequests")(
  "TooManyRequests",
  { message: Schema.String, retryAfterSeconds: Schema.Int },
  HttpApiSchema.annotations({ status: 429 })
) {
  /** @since 0.1.0 */
  static of(retryAfterSeconds: number): TooManyRequests {
    return new TooManyRequests({
      retryAfterSeconds,
      message: `Too many requests; retry in ${retryAfterSeconds} s.`
    })
  }
}

/**
 * The server's database cannot be reached or failed; nothing was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>("@cipherlog/sync-api/ServiceUnavailable")(
  "ServiceUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {
  /** @since 0.1.0 */
  static readonly instance = new ServiceUnavailable({
    message: "The server's storage is unavailable; nothing was changed. Retry later."
  })
}

/**
 * An unexpected server failure (a bug). Details are in the server's log,
 * never in the response.
 *
 * @since 0.1.0
 * @category errors
 */
export class InternalError extends Schema.TaggedError<InternalError>("@cipherlog/sync-api/InternalError")(
  "InternalError",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 500 })
) {
  /** @since 0.1.0 */
  static readonly instance = new InternalError({
    message: "The server failed unexpectedly; the operation may not have completed. Retry; report it if it persists."
  })
}
