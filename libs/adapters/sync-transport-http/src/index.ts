/**
 * `SyncTransport` over the sync server's HTTP API.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as HttpTransport from "./HttpTransport.js"

/**
 * Sharing a store: members, KEK rotation, KEK blobs (client side).
 *
 * @since 0.1.0
 */
export * as Sharing from "./Sharing.js"

/**
 * Prekeys: maintenance (publish, replenish, rotate) and verified claims.
 *
 * @since 0.1.0
 */
export * as PrekeyClient from "./PrekeyClient.js"

/**
 * Identity rotation through the server: the own identity (planned,
 * emergency, device revocation that takes keys away) and peers' chains.
 *
 * @since 0.1.0
 */
export * as IdentityRotation from "./IdentityRotation.js"
