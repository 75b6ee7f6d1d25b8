/**
 * Tagged errors shared by the whole system. Each says what went wrong and
 * what to do, names things by id (store, aggregate, version, event id, key
 * reference) and never carries secret material, payloads or input values
 * (INV-016).
 *
 * @since 0.1.0
 */
import { ParseResult, Schema } from "effect"

const issueLines = (error: ParseResult.ParseError): ReadonlyArray<string> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => {
    const where = issue.path.length === 0 ? "" : `${issue.path.map(String).join(".")}: `
    // Drop the offending value that default messages append ("…, actual <value>"):
    // input may hold secrets, and an error must never repeat them.
    const message = issue.message.replace(/,?\s*actual\b[\s\S]*$/, "")
    return `${where}${message}`
  })

/**
 * Input that does not match its schema or rules. `problem` lists each
 * failing field and why, never the offending value.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>("@cipherlog/domain/InvalidInput")("InvalidInput", {
  what: Schema.String,
  problem: Schema.String
}) {
  /** @since 0.1.0 */
  static fromParseError(what: string, error: ParseResult.ParseError): InvalidInput {
    return new InvalidInput({ what, problem: issueLines(error).join("; ") })
  }
  override get message(): string {
    return `Invalid ${this.what}: ${this.problem}. Nothing was changed; correct the input and try again.`
  }
}

/**
 * Data in a format version this code does not know (too new or too old).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedFormat extends Schema.TaggedError<UnsupportedFormat>("@cipherlog/domain/UnsupportedFormat")(
  "UnsupportedFormat",
  {
    format: Schema.String,
    found: Schema.String,
    supported: Schema.Array(Schema.Number)
  }
) {
  override get message(): string {
    return `Unsupported ${this.format} version ${this.found} (this build reads ${this.supported.join(", ")}). ` +
      `Upgrade Cipherlog if the data is newer than this build.`
  }
}

/**
 * An append whose expected aggregate version is stale (INV-002). Carries
 * how far the aggregate really is, so the caller can fetch what it is
 * missing and rebase; nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Schema.TaggedError<VersionConflict>("@cipherlog/domain/VersionConflict")("VersionConflict", {
  storeId: Schema.String,
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `Version conflict on ${this.aggregateType}/${this.aggregateId} in store ${this.storeId}: expected version ` +
      `${this.expected}, but it is at ${this.actual}. Nothing was written; load the missing events, then retry.`
  }
}

/**
 * The same event id arrived again with different bytes (INV-005). The first
 * record stands; this one was refused. A sign of a bug or of tampering.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateEventMismatch extends Schema.TaggedError<DuplicateEventMismatch>(
  "@cipherlog/domain/DuplicateEventMismatch"
)("DuplicateEventMismatch", {
  storeId: Schema.String,
  eventId: Schema.String
}) {
  override get message(): string {
    return `Event ${this.eventId} in store ${this.storeId} already exists with different content; the new record was ` +
      `refused and the stored one kept. Never reuse an event id for different content.`
  }
}

/**
 * An attempt to change or remove a record that is already part of the log
 * (INV-001). Nothing was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ImmutableRecord extends Schema.TaggedError<ImmutableRecord>("@cipherlog/domain/ImmutableRecord")("ImmutableRecord", {
  storeId: Schema.String,
  operation: Schema.String,
  target: Schema.String
}) {
  override get message(): string {
    return `Refused to ${this.operation} ${this.target} in store ${this.storeId}: synced records are immutable. ` +
      `Append a new event that supersedes it instead.`
  }
}

/**
 * Why a record failed its integrity checks.
 *
 * @since 0.1.0
 * @category models
 */
export const IntegrityReason = Schema.Literal(
  "format", // record_json does not parse or validate
  "tag", // AEAD authentication failed: ciphertext, nonce, AAD or key differ from what was sealed
  "signature", // the author's device signature does not verify
  "chain", // the device hash chain is broken (gap, fork, or re-ordering)
  "author" // the signing device is unknown, revoked, or not certified by the user's identity
)
/** @since 0.1.0 */
export type IntegrityReason = typeof IntegrityReason.Type

/**
 * A record that failed authentication, named by its coordinates (never its
 * contents). The rest of the log is unaffected.
 *
 * @since 0.1.0
 * @category errors
 */
export class RecordIntegrityError extends Schema.TaggedError<RecordIntegrityError>(
  "@cipherlog/domain/RecordIntegrityError"
)("RecordIntegrityError", {
  reason: IntegrityReason,
  storeId: Schema.String,
  aggregateType: Schema.String,
  aggregateId: Schema.String,
  version: Schema.Number,
  eventId: Schema.String
}) {
  override get message(): string {
    return `Record failed its ${this.reason} check: store ${this.storeId}, ${this.aggregateType}/${this.aggregateId} ` +
      `v${this.version}, event ${this.eventId}. It was not applied; the rest of the log stays readable. ` +
      `This means tampering, corruption or a revoked author: keep the record for investigation.`
  }
}

/**
 * Keys needed to decrypt some records are not present on this device: the
 * store is (partly) locked. Restore a key backup or recover from the
 * recovery phrase to unlock.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeysMissing extends Schema.TaggedError<KeysMissing>("@cipherlog/domain/KeysMissing")("KeysMissing", {
  storeId: Schema.String,
  missing: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const shown = this.missing.slice(0, 5).join(", ")
    const more = this.missing.length > 5 ? ` and ${this.missing.length - 5} more` : ""
    return `Store ${this.storeId} is locked: keys ${shown}${more} are not on this device. ` +
      `Restore a key backup or recover from the recovery phrase, then unlock again.`
  }
}
