/**
 * `cipherlog`: runs one command and exits with its code (docs/cli.md,
 * "Exit codes"). Errors are printed to stderr as one line that says what
 * happened and what to do next; stdout holds only a command's result.
 * `CIPHERLOG_DEBUG=1` adds the internal cause of unexpected failures.
 *
 * @since 0.1.0
 */
import { ValidationError } from "@effect/cli"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Option } from "effect"
import * as Cli from "./Cli.js"
import * as CliError from "./CliError.js"
import { MainLayer } from "./MainLayer.js"

const report = (cause: Cause.Cause<unknown>): Effect.Effect<number> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.succeed(130)
  const failure = Cause.failureOption(cause)
  // @effect/cli has printed the usage problem already.
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) return Effect.succeed(CliError.exitCodes["bad-input"])
  const error = CliError.fromUnknown(Option.isSome(failure) ? failure.value : Cause.squash(cause))
  const debug = process.env["CIPHERLOG_DEBUG"] === "1" && error.kind === "unexpected" ? `\n${Cause.pretty(cause)}` : ""
  return Console.error(`cipherlog: error [${error.code}]: ${error.message}${debug}`).pipe(Effect.as(error.exitCode))
}

const program = Effect.suspend(() => Cli.run(process.argv)).pipe(
  Effect.scoped,
  Effect.as(0),
  Effect.catchAllCause(report),
  Effect.provide(MainLayer)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) && typeof exit.value === "number" ? exit.value : 1)
})
