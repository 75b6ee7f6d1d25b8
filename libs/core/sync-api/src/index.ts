/**
 * The sync server's HTTP contract, schema first: one `HttpApi` definition
 * (`SyncApi`) from which the server, the OpenAPI description and a typed
 * client (`HttpApiClient.make(SyncApi, { baseUrl })`) are all derived.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * from "./ApiError.js"
/** @since 0.1.0 */
export * as Auth from "./Auth.js"
/** @since 0.1.0 */
export { Authentication, CurrentUser } from "./Auth.js"
/** @since 0.1.0 */
export * as Models from "./Models.js"
/** @since 0.1.0 */
export * from "./SyncApi.js"
/** @since 0.1.0 */
export * as PullLines from "./PullLines.js"
/** @since 0.1.0 */
export * as Utf8Writer from "./Utf8Writer.js"
