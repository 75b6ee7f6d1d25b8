/**
 * Authentication of the sync API (INV-017: a login never involves a key
 * that decrypts data). A user proves possession of its Ed25519 identity
 * signing key; the server keeps only public keys and SHA-256 of session
 * tokens. The exact signed byte strings are here, shared by server and
 * clients (docs/http-api.md, "Authentication").
 *
 * @since 0.1.0
 */
import { Bytes, type UserId } from "@cipherlog/domain"
import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context, Schema } from "effect"
import { ServiceUnavailable, TooManyRequests, Unauthorized } from "./ApiError.js"

/**
 * Domain separation prefix of a registration proof.
 *
 * @since 0.1.0
 * @category constants
 */
export const REGISTER_CONTEXT = "cipherlog/register/v1"

/**
 * Domain separation prefix of a login signature.
 *
 * @since 0.1.0
 * @category constants
 */
export const AUTH_CONTEXT = "cipherlog/auth/v1"

/**
 * Seconds a challenge stays valid.
 *
 * @since 0.1.0
 * @category constants
 */
export const CHALLENGE_TTL_SECONDS = 60

const lp = (bytes: Uint8Array) => Bytes.concat(Bytes.u32(bytes.length), bytes)

/**
 * What a registration proof signs:
 * `"cipherlog/register/v1" ‖ lp(userId) ‖ signingPublicKey ‖ encryptionPublicKey`.
 *
 * @since 0.1.0
 * @category messages
 */
export const registrationMessage = (
  userId: string,
  signingPublicKey: Uint8Array,
  encryptionPublicKey: Uint8Array
): Uint8Array =>
  Bytes.concat(Bytes.utf8(REGISTER_CONTEXT), lp(Bytes.utf8(userId)), signingPublicKey, encryptionPublicKey)

/**
 * What a login signs: `"cipherlog/auth/v1" ‖ lp(userId) ‖ lp(challengeId) ‖ nonce`.
 *
 * @since 0.1.0
 * @category messages
 */
export const sessionMessage = (userId: string, challengeId: string, nonce: Uint8Array): Uint8Array =>
  Bytes.concat(Bytes.utf8(AUTH_CONTEXT), lp(Bytes.utf8(userId)), lp(Bytes.utf8(challengeId)), nonce)

/**
 * What an identity rotation statement signs (the same bytes as
 * `Identity.rotationMessage` of `@cipherlog/keys`):
 * `"cipherlog/identity-rotation" ‖ 0x01 ‖ lp(userId) ‖ lp(kind) ‖
 * lp(oldSigningPublicKey) ‖ lp(newSigningPublicKey) ‖
 * lp(newEncryptionPublicKey) ‖ lp(u64(rotatedAt)) ‖ lp(u64(migrationUntil))`.
 *
 * @since 0.1.0
 * @category messages
 */
export const rotationMessage = (s: {
  readonly userId: string
  readonly kind: string
  readonly oldSigningPublicKey: Uint8Array
  readonly newSigningPublicKey: Uint8Array
  readonly newEncryptionPublicKey: Uint8Array
  readonly rotatedAt: number
  readonly migrationUntil: number
}): Uint8Array => {
  const u64 = (n: number) => Bytes.u64(Math.max(0, Math.floor(n)))
  return Bytes.concat(
    Bytes.utf8("cipherlog/identity-rotation"),
    Uint8Array.of(1),
    ...[Bytes.utf8(s.userId), Bytes.utf8(s.kind), s.oldSigningPublicKey, s.newSigningPublicKey, s.newEncryptionPublicKey, u64(s.rotatedAt), u64(s.migrationUntil)]
      .map(lp)
  )
}

/**
 * The authenticated user of a request, provided by {@link Authentication}.
 *
 * @since 0.1.0
 * @category context
 */
export class CurrentUser extends Context.Tag("@cipherlog/sync-api/CurrentUser")<
  CurrentUser,
  {
    readonly userId: UserId
    /** The session's id on the server: the SHA-256 of its token (base64url), never the token. */
    readonly sessionHash: string
  }
>() {}

/**
 * The bearer-token security of authenticated endpoints. The server
 * implements it; a client supplies the token (`Authorization: Bearer …`).
 *
 * @since 0.1.0
 * @category middleware
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@cipherlog/sync-api/Authentication", {
  failure: Schema.Union(Unauthorized, TooManyRequests, ServiceUnavailable),
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}
