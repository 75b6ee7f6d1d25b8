/**
 * The sync API: one `HttpApi` definition. The server implements it
 * (`@cipherlog/server`), `OpenApi.fromApi(SyncApi)` describes it and
 * `HttpApiClient.make(SyncApi, { baseUrl })` is its typed client.
 *
 * Groups: `users`, `auth`, `stores`, `records`, `kek`, `audit`, `prekeys`, `recovery`
 * under `/v1`, and `ops` (`/healthz`, `/metrics`) at the root.
 *
 * @since 0.1.0
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import {
  DuplicateEventMismatch,
  Forbidden,
  InternalError,
  InvalidRecord,
  InvalidRequest,
  InvalidRotation,
  KekVersionExists,
  LastAdmin,
  MethodNotAllowed,
  NotFound,
  PayloadTooLarge,
  RotationConflict,
  RouteNotFound,
  ServiceUnavailable,
  StoreExists,
  TooManyRequests,
  Unauthorized,
  Unprocessable,
  UnsupportedMediaType,
  UserKeysMismatch,
  VersionConflict
} from "./ApiError.js"
import { Authentication } from "./Auth.js"
import * as M from "./Models.js"

/**
 * `POST /v1/users`, `GET /v1/users/:userId`, identity rotations
 * (`POST /v1/users/:userId/rotations`, `GET /v1/users/:userId/identity`).
 *
 * @since 0.1.0
 * @category groups
 */
export class UsersGroup extends HttpApiGroup.make("users")
  .add(
    HttpApiEndpoint.post("register", "/users")
      .setPayload(M.RegisterRequest)
      .setHeaders(M.RegistrationHeaders)
      .addSuccess(M.Registered)
      .addError(UserKeysMismatch)
      .addError(Unauthorized)
      .annotate(OpenApi.Description, "Registers a user's public keys, proven by a signature of the signing key.")
  )
  .add(
    HttpApiEndpoint.get("get", "/users/:userId")
      .setPath(M.UserPath)
      .addSuccess(M.UserKeys)
      .addError(NotFound)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("rotate", "/users/:userId/rotations")
      .setPath(M.UserPath)
      .setPayload(M.IdentityRotation)
      .addSuccess(M.IdentityRotated, { status: 201 })
      .addError(InvalidRotation)
      .addError(RotationConflict)
      .addError(NotFound)
      .middleware(Authentication)
      .annotate(
        OpenApi.Description,
        "Moves the authenticated user's identity to new keys: the statement must be signed by the current signing key " +
          "and the new one. A planned rotation keeps the old key usable for login until migrationUntil; an emergency " +
          "rotation stops it at once and ends every session."
      )
  )
  .add(
    HttpApiEndpoint.get("identity", "/users/:userId/identity")
      .setPath(M.UserPath)
      .addSuccess(M.IdentityChain)
      .addError(NotFound)
      .middleware(Authentication)
      .annotate(OpenApi.Description, "The user's genesis keys and every accepted rotation, for peers to verify themselves.")
  )
  .prefix("/v1")
{}

/**
 * `POST /v1/auth/challenge`, `POST /v1/auth/session` (log in),
 * `DELETE /v1/auth/session` (log out: ends the session of the presented token).
 *
 * @since 0.1.0
 * @category groups
 */
export class AuthGroup extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("challenge", "/auth/challenge")
      .setPayload(M.ChallengeRequest)
      .addSuccess(M.Challenge)
  )
  .add(
    HttpApiEndpoint.post("session", "/auth/session")
      .setPayload(M.SessionRequest)
      .addSuccess(M.Session)
      .addError(Unauthorized)
  )
  .add(
    HttpApiEndpoint.del("logout", "/auth/session")
      .addSuccess(HttpApiSchema.NoContent)
      .middleware(Authentication)
      .annotate(OpenApi.Description, "Ends the session of the bearer token presented; the user's other sessions stay valid.")
  )
  .prefix("/v1")
{}

/**
 * Stores and their members.
 *
 * @since 0.1.0
 * @category groups
 */
export class StoresGroup extends HttpApiGroup.make("stores")
  .add(
    HttpApiEndpoint.post("create", "/stores")
      .setPayload(M.CreateStoreRequest)
      .addSuccess(M.StoreCreated, { status: 201 })
      .addError(StoreExists)
  )
  .add(
    HttpApiEndpoint.get("members", "/stores/:storeId/members")
      .setPath(M.StorePath)
      .addSuccess(Schema.Array(M.Member))
  )
  .add(
    HttpApiEndpoint.put("putMember", "/stores/:storeId/members/:userId")
      .setPath(M.MemberPath)
      .setPayload(M.PutMemberRequest)
      .addSuccess(M.Member)
      .addError(LastAdmin)
      .addError(Unprocessable)
  )
  .add(
    HttpApiEndpoint.del("removeMember", "/stores/:storeId/members/:userId")
      .setPath(M.MemberPath)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(LastAdmin)
      .addError(NotFound)
  )
  .middleware(Authentication)
  .prefix("/v1")
{}

/**
 * The sync core: push and pull records.
 *
 * @since 0.1.0
 * @category groups
 */
export class RecordsGroup extends HttpApiGroup.make("records")
  .add(
    HttpApiEndpoint.post("push", "/stores/:storeId/records")
      .setPath(M.StorePath)
      .setPayload(M.PushRequest)
      .addSuccess(M.PushResponse)
      .addError(InvalidRecord)
      .addError(VersionConflict)
      .addError(DuplicateEventMismatch)
      .annotate(
        OpenApi.Description,
        "Appends a batch atomically: versions continue each aggregate contiguously, a re-sent identical record is " +
          "acknowledged with its original sequence, the same event id with other bytes is refused."
      )
  )
  .add(
    HttpApiEndpoint.get("pull", "/stores/:storeId/records")
      .setPath(M.StorePath)
      .setUrlParams(M.PullParams)
      .addSuccess(M.PullResponse)
      .annotate(OpenApi.Description, "The records after a cursor, in order; with `wait`, a long poll.")
  )
  .middleware(Authentication)
  .prefix("/v1")
{}

/**
 * KEK versions and blobs (seed 001's API, scoped per store).
 *
 * @since 0.1.0
 * @category groups
 */
export class KekGroup extends HttpApiGroup.make("kek")
  .add(
    HttpApiEndpoint.get("versions", "/stores/:storeId/kek/versions")
      .setPath(M.StorePath)
      .addSuccess(Schema.Array(M.KekVersion))
  )
  .add(
    HttpApiEndpoint.get("activeVersion", "/stores/:storeId/kek/versions/active")
      .setPath(M.StorePath)
      .addSuccess(M.KekVersion)
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.post("createVersion", "/stores/:storeId/kek/versions")
      .setPath(M.StorePath)
      .setPayload(M.CreateKekVersionRequest)
      .addSuccess(M.KekVersion, { status: 201 })
      .addError(KekVersionExists)
      .addError(Unprocessable)
  )
  .add(
    HttpApiEndpoint.put("setVersionStatus", "/stores/:storeId/kek/versions/:versionId/status")
      .setPath(M.KekVersionPath)
      .setPayload(M.SetKekStatusRequest)
      .addSuccess(M.KekVersion)
      .addError(NotFound)
      .addError(Unprocessable)
  )
  .add(
    HttpApiEndpoint.post("rotate", "/stores/:storeId/kek/rotate")
      .setPath(M.StorePath)
      .setPayload(M.RotateRequest)
      .addSuccess(M.Rotated, { status: 201 })
      .addError(KekVersionExists)
      .addError(Unprocessable)
      .addError(LastAdmin)
  )
  .add(
    HttpApiEndpoint.post("provisionBlob", "/stores/:storeId/kek/blobs")
      .setPath(M.StorePath)
      .setPayload(M.ProvisionBlobRequest)
      .addSuccess(M.KekBlob, { status: 201 })
      .addError(NotFound)
      .addError(Unprocessable)
  )
  .add(
    HttpApiEndpoint.get("myBlobs", "/stores/:storeId/kek/blobs/me")
      .setPath(M.StorePath)
      .addSuccess(Schema.Array(M.KekBlob))
  )
  .add(
    HttpApiEndpoint.get("userBlobs", "/stores/:storeId/kek/blobs/users/:userId")
      .setPath(M.UserBlobsPath)
      .addSuccess(Schema.Array(M.KekBlob))
  )
  .add(
    HttpApiEndpoint.get("userBlob", "/stores/:storeId/kek/blobs/users/:userId/versions/:versionId")
      .setPath(M.UserBlobPath)
      .addSuccess(M.KekBlob)
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.del("deleteBlob", "/stores/:storeId/kek/blobs/users/:userId/versions/:versionId")
      .setPath(M.UserBlobPath)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(NotFound)
  )
  .middleware(Authentication)
  .prefix("/v1")
{}

/**
 * The audit log of a store (admins).
 *
 * @since 0.1.0
 * @category groups
 */
export class AuditGroup extends HttpApiGroup.make("audit")
  .add(
    HttpApiEndpoint.get("list", "/stores/:storeId/audit")
      .setPath(M.StorePath)
      .setUrlParams(M.AuditParams)
      .addSuccess(M.AuditPage)
  )
  .middleware(Authentication)
  .prefix("/v1")
{}

/**
 * Prekeys: a user publishes their own (signed prekey, one-time prekeys) and
 * reads their status; an admin of a store claims a member's bundle to seal
 * a KEK version to them while they are offline (docs/http-api.md, "Prekeys").
 *
 * @since 0.1.0
 * @category groups
 */
export class PrekeysGroup extends HttpApiGroup.make("prekeys")
  .add(
    HttpApiEndpoint.put("publishSigned", "/users/:userId/prekeys/signed")
      .setPath(M.UserPath)
      .setPayload(M.SignedPrekey)
      .addSuccess(M.PrekeyStatus)
      .annotate(OpenApi.Description, "Publishes (or replaces) the caller's signed prekey. Only the user themself.")
  )
  .add(
    HttpApiEndpoint.post("uploadOneTime", "/users/:userId/prekeys/one-time")
      .setPath(M.UserPath)
      .setPayload(M.UploadOneTimePrekeysRequest)
      .addSuccess(M.PrekeyStatus, { status: 201 })
      .addError(Unprocessable)
      .annotate(OpenApi.Description, "Adds a batch of the caller's one-time prekeys (at most 100 per upload, 200 kept).")
  )
  .add(
    HttpApiEndpoint.get("status", "/users/:userId/prekeys/status")
      .setPath(M.UserPath)
      .addSuccess(M.PrekeyStatus)
  )
  .add(
    HttpApiEndpoint.post("claim", "/stores/:storeId/members/:userId/prekeys/claim")
      .setPath(M.MemberPath)
      .addSuccess(M.PrekeyBundle)
      .addError(NotFound)
      .annotate(
        OpenApi.Description,
        "An admin of the store claims a member's prekey bundle; a one-time prekey is handed out at most once, ever."
      )
  )
  .middleware(Authentication)
  .prefix("/v1")
{}

/**
 * Recovery material under a client-derived locator.
 *
 * @since 0.1.0
 * @category groups
 */
export class RecoveryGroup extends HttpApiGroup.make("recovery")
  .add(
    HttpApiEndpoint.put("put", "/recovery/:locator")
      .setPath(M.LocatorPath)
      .setPayload(M.RecoveryMaterial)
      .addSuccess(HttpApiSchema.NoContent)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("get", "/recovery/:locator")
      .setPath(M.LocatorPath)
      .addSuccess(M.RecoveryMaterial)
      .addError(NotFound)
      .annotate(OpenApi.Description, "Unauthenticated; strictly rate limited per client address.")
  )
  .prefix("/v1")
{}

/**
 * Health and metrics.
 *
 * @since 0.1.0
 * @category groups
 */
export class OpsGroup extends HttpApiGroup.make("ops")
  .add(HttpApiEndpoint.get("health", "/healthz").addSuccess(M.Health))
  .add(
    HttpApiEndpoint.get("metrics", "/metrics").addSuccess(
      HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" })
    )
  )
{}

/**
 * The whole API.
 *
 * @since 0.1.0
 * @category api
 */
export class SyncApi extends HttpApi.make("cipherlog-sync")
  .add(UsersGroup)
  .add(AuthGroup)
  .add(StoresGroup)
  .add(RecordsGroup)
  .add(KekGroup)
  .add(AuditGroup)
  .add(PrekeysGroup)
  .add(RecoveryGroup)
  .add(OpsGroup)
  .addError(InvalidRequest)
  .addError(Forbidden)
  .addError(RouteNotFound)
  .addError(MethodNotAllowed)
  .addError(PayloadTooLarge)
  .addError(UnsupportedMediaType)
  .addError(TooManyRequests)
  .addError(ServiceUnavailable)
  .addError(InternalError)
  .annotate(OpenApi.Title, "Cipherlog sync API")
  .annotate(OpenApi.Version, "1")
  .annotate(
    OpenApi.Description,
    "Stores and orders end-to-end encrypted records it cannot read. See docs/http-api.md."
  )
{}

/**
 * The OpenAPI 3.1 description of {@link SyncApi}.
 *
 * @since 0.1.0
 * @category api
 */
export const openApi = (): OpenApi.OpenAPISpec => OpenApi.fromApi(SyncApi)
