/**
 * Errors of the local event store. They name stores, aggregates, versions
 * and event ids, never record contents (INV-016).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Another writer holds the local store (another process or tab) and did not
 * release it in time (INV-011).
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreLocked extends Schema.TaggedError<StoreLocked>("@cipherlog/event-store/StoreLocked")("StoreLocked", {
  location: Schema.String
}) {
  override get message(): string {
    return `The local store at ${this.location} is in use by another process or tab. Close it, or wait and retry.`
  }
}

/**
 * The database was written by a newer Cipherlog than this one: refused, untouched.
 *
 * @since 0.1.0
 * @category errors
 */
export class SchemaTooNew extends Schema.TaggedError<SchemaTooNew>("@cipherlog/event-store/SchemaTooNew")("SchemaTooNew", {
  location: Schema.String,
  found: Schema.Number,
  supported: Schema.Number
}) {
  override get message(): string {
    return `The local store at ${this.location} has schema version ${this.found}, newer than this build supports ` +
      `(${this.supported}). Nothing was changed; upgrade Cipherlog to open it.`
  }
}

/**
 * The storage host failed (disk full, I/O error, corruption reported by SQLite).
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageFailure extends Schema.TaggedError<StorageFailure>("@cipherlog/event-store/StorageFailure")("StorageFailure", {
  location: Schema.String,
  operation: Schema.String,
  code: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `The local store at ${this.location} failed to ${this.operation} (${this.code}). ` +
      `Check free space and permissions; if it persists, restore from a backup.`
  }
}
