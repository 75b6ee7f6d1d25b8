/**
 * The sync server's logic, host-free: the ServerStore port, HTTP handlers,
 * authentication, authorization, rate limits and metrics
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ServerStore from "./ServerStore.js"
/** @since 0.1.0 */
export * as SqlServerStore from "./SqlServerStore.js"
/** @since 0.1.0 */
export * as Metrics from "./Metrics.js"
/** @since 0.1.0 */
export * as RateLimiter from "./RateLimiter.js"
/** @since 0.1.0 */
export * as ServerConfig from "./ServerConfig.js"
/** @since 0.1.0 */
export * as SyncServer from "./SyncServer.js"
/** @since 0.1.0 */
export * as GroupCommit from "./GroupCommit.js"
