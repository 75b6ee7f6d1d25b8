/**
 * The CLI's one error type and its exit codes (docs/cli.md, "Exit codes").
 *
 * Every failure of a command ends here: library errors are mapped by their
 * tag to a `kind`, which decides the exit code. The text shown is the
 * library's own message (written to name ids and never secrets, INV-016)
 * or ours; it never carries a passphrase, a phrase, a key or a payload.
 * Failures this module does not know are shown by name only.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * What went wrong, as far as a script needs to know.
 *
 * @since 0.1.0
 * @category models
 */
export const Kind = Schema.Literal("unexpected", "bad-input", "wrong-passphrase", "locked", "conflict", "network")
/** @since 0.1.0 */
export type Kind = typeof Kind.Type

/**
 * Exit code per kind; 0 is success.
 *
 * @since 0.1.0
 * @category constants
 */
export const exitCodes: Readonly<Record<Kind, number>> = {
  unexpected: 1,
  "bad-input": 2,
  "wrong-passphrase": 3,
  locked: 4,
  conflict: 5,
  network: 6
}

/**
 * A failed command: its kind, the error it came from (a tag, never a
 * value), what happened and what to do next.
 *
 * @since 0.1.0
 * @category errors
 */
export class CliError extends Schema.TaggedError<CliError>("@cipherlog/cli/CliError")("CliError", {
  kind: Kind,
  code: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
  get exitCode(): number {
    return exitCodes[this.kind]
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const badInput = (detail: string, code = "BadInput") => new CliError({ kind: "bad-input", code, detail })

/**
 * @since 0.1.0
 * @category constructors
 */
export const conflict = (detail: string, code = "Conflict") => new CliError({ kind: "conflict", code, detail })

/**
 * @since 0.1.0
 * @category constructors
 */
export const unexpected = (detail: string, code = "Unexpected") => new CliError({ kind: "unexpected", code, detail })

const kindByTag: Readonly<Record<string, Kind>> = {
  // The input is wrong: correct it.
  InvalidInput: "bad-input",
  WeakPassphrase: "bad-input",
  InvalidRecoveryPhrase: "bad-input",
  KeyStoreMissing: "bad-input",
  UnsupportedFormat: "bad-input",
  // The passphrase does not open what it should.
  WrongPassphrase: "wrong-passphrase",
  // Someone else holds the store, or keys are not on this device.
  KeyStoreLocked: "locked",
  StoreLocked: "locked",
  KeysMissing: "locked",
  // The state is not what the command expected.
  VersionConflict: "conflict",
  DuplicateEventMismatch: "conflict",
  PushConflict: "conflict",
  PushRefused: "conflict",
  KeyStoreExists: "conflict",
  KeyConflict: "conflict",
  ImmutableRecord: "conflict",
  IdentityRotationFailed: "conflict",
  IdentityChainRefused: "conflict",
  IdentityVerificationFailed: "conflict",
  // The server could not be reached or refused the session.
  TransportUnavailable: "network",
  AccessDenied: "network"
}

/** Tags whose messages are written for users (ids only, no secrets) and shown as they are. */
const nextStep: Readonly<Record<string, string>> = {
  VersionConflict: " Read the aggregate (`cipherlog read --aggregate TYPE/ID`) and retry with its current version.",
  TransportUnavailable: " Check the server URL and that the server is running, then run the same command again; it is safe to re-run.",
  AccessDenied: " Check that this device's user may use the store on that server.",
  PushConflict: " Run `cipherlog sync` again; it pulls, rebases and pushes.",
  StoreLocked: "",
  KeyStoreLocked: ""
}

const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string" ? error._tag : undefined

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string" ? error.message : ""

/**
 * Maps any failure to a CliError. Known library errors keep their message
 * (which names ids, never secrets) plus a next step; anything else is
 * `unexpected` and shown by its tag only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUnknown = (error: unknown): CliError => {
  if (error instanceof CliError) return error
  const tag = tagOf(error)
  if (tag === "BackupRejected") {
    const reason = typeof error === "object" && error !== null && "reason" in error ? String(error.reason) : ""
    return new CliError({
      kind: reason === "passphrase-or-tampered" ? "wrong-passphrase" : "bad-input",
      code: tag,
      detail: `${messageOf(error)} Check CIPHERLOG_BACKUP_PASSPHRASE and the file.`
    })
  }
  if (tag === "SharingRefused") {
    const reason = typeof error === "object" && error !== null && "reason" in error ? String(error.reason) : ""
    const kind: Kind = reason === "last-admin" || reason === "version-exists" || reason === "membership-changed" ? "conflict" : "bad-input"
    return new CliError({ kind, code: tag, detail: messageOf(error) })
  }
  if (tag === "RecoveryFailed") return new CliError({ kind: "wrong-passphrase", code: tag, detail: messageOf(error) })
  if (tag !== undefined && tag in kindByTag) {
    return new CliError({ kind: kindByTag[tag]!, code: tag, detail: `${messageOf(error)}${nextStep[tag] ?? ""}` })
  }
  if (tag === "StorageFailure" || tag === "KeyStoreError" || tag === "SchemaTooNew" || tag === "LocalStoreError" || tag === "KekBlobRefused") {
    return new CliError({ kind: "unexpected", code: tag, detail: messageOf(error) })
  }
  return unexpected(
    `An unexpected ${tag ?? "error"} occurred; nothing secret is shown here. Run \`cipherlog diagnose\` and report it with that output.`,
    tag ?? "Unexpected"
  )
}
