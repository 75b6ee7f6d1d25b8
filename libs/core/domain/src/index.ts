/**
 * The event-sourcing vocabulary of Cipherlog: identifiers, event envelopes,
 * sync records, aggregate version rules, canonical byte encodings and the
 * tagged errors the whole system shares. Pure TypeScript: no host API.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Aad from "./Aad.js"
/** @since 0.1.0 */
export * as AggregateVersion from "./AggregateVersion.js"
/** @since 0.1.0 */
export * as Bytes from "./Bytes.js"
/** @since 0.1.0 */
export * as Dependency from "./Dependency.js"
/** @since 0.1.0 */
export * as Envelope from "./Envelope.js"
/** @since 0.1.0 */
export * as EventId from "./EventId.js"
/** @since 0.1.0 */
export * from "./Errors.js"
/** @since 0.1.0 */
export * from "./Identifiers.js"
/** @since 0.1.0 */
export * from "./Record.js"
/** @since 0.1.0 */
export * as SyncRecord from "./SyncRecord.js"
