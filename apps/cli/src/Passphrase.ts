/**
 * Where passphrases come from — never argv (docs/cli.md, "Passphrases"):
 *
 * 1. `--passphrase-stdin`: the first line of standard input;
 * 2. the environment: `CIPHERLOG_PASSPHRASE` (the key store's),
 *    `CIPHERLOG_BACKUP_PASSPHRASE` (a key backup's);
 * 3. a prompt without echo when standard input is a terminal.
 *
 * Passphrases are `Redacted` from the moment they are read.
 *
 * @since 0.1.0
 */
import { Prompt } from "@effect/cli"
import type { Terminal } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { badInput, type CliError } from "./CliError.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const ENV = { store: "CIPHERLOG_PASSPHRASE", backup: "CIPHERLOG_BACKUP_PASSPHRASE", phrase: "CIPHERLOG_RECOVERY_PHRASE" } as const

/** Standard input to its end, read once per process. */
let stdinText: Promise<string> | undefined
const readStdin = () => {
  stdinText ??= new Promise<string>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    process.stdin.on("data", (chunk: Buffer) => chunks.push(chunk))
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    process.stdin.on("error", reject)
  })
  return stdinText
}

const stdinLine = (index: number) =>
  Effect.map(
    Effect.tryPromise({ try: readStdin, catch: () => badInput("Standard input could not be read.") }),
    (text) => text.split(/\r?\n/)[index] ?? ""
  )

const fromEnv = (name: string) => {
  const value = process.env[name]
  return value === undefined || value === "" ? undefined : Redacted.make(value)
}

const prompt = (message: string, confirm: boolean): Effect.Effect<Redacted.Redacted<string>, CliError, Terminal.Terminal> =>
  Effect.gen(function*() {
    const first = yield* Prompt.password({ message }).pipe(Effect.mapError(() => badInput("No passphrase was entered.")))
    if (!confirm) return first
    const second = yield* Prompt.password({ message: "Repeat it" }).pipe(Effect.mapError(() => badInput("No passphrase was entered.")))
    if (Redacted.value(first) !== Redacted.value(second)) return yield* Effect.fail(badInput("The two passphrases differ. Nothing was changed."))
    return first
  })

/**
 * The key store's passphrase.
 *
 * @since 0.1.0
 * @category sources
 */
export const store = (options: {
  readonly stdin: boolean
  readonly confirm?: boolean
  /** Which line of stdin (0-based; `recover` reads the phrase from line 0 when both come from stdin). */
  readonly line?: number
}): Effect.Effect<Redacted.Redacted<string>, CliError, Terminal.Terminal> =>
  Effect.gen(function*() {
    if (options.stdin) {
      const line = yield* stdinLine(options.line ?? 0)
      if (line === "") return yield* Effect.fail(badInput(`--passphrase-stdin was given but line ${(options.line ?? 0) + 1} of standard input is empty.`))
      return Redacted.make(line)
    }
    const env = fromEnv(ENV.store)
    if (env !== undefined) return env
    if (process.stdin.isTTY === true) return yield* prompt("Passphrase of the key store", options.confirm ?? false)
    return yield* Effect.fail(badInput(`No passphrase: set ${ENV.store}, pass --passphrase-stdin, or run in a terminal to be asked.`))
  })

/**
 * A key backup's passphrase (must differ from the key store's).
 *
 * @since 0.1.0
 * @category sources
 */
export const backup = (options: { readonly confirm?: boolean } = {}): Effect.Effect<Redacted.Redacted<string>, CliError, Terminal.Terminal> =>
  Effect.gen(function*() {
    const env = fromEnv(ENV.backup)
    if (env !== undefined) return env
    if (process.stdin.isTTY === true) return yield* prompt("Passphrase of the key backup", options.confirm ?? false)
    return yield* Effect.fail(badInput(`No backup passphrase: set ${ENV.backup}, or run in a terminal to be asked.`))
  })

/**
 * The 24-word recovery phrase (`recover`, `identity rotate --emergency`,
 * `devices revoke`): line `line` of stdin (default the first) with
 * `--phrase-stdin`, else `CIPHERLOG_RECOVERY_PHRASE`, else a prompt
 * without echo. Never argv, never printed.
 *
 * @since 0.1.0
 * @category sources
 */
export const phrase = (options: { readonly stdin: boolean; readonly line?: number }): Effect.Effect<Redacted.Redacted<string>, CliError, Terminal.Terminal> =>
  Effect.gen(function*() {
    if (options.stdin) {
      const line = yield* stdinLine(options.line ?? 0)
      if (line.trim() === "") return yield* Effect.fail(badInput(`--phrase-stdin was given but line ${(options.line ?? 0) + 1} of standard input is empty.`))
      return Redacted.make(line)
    }
    const env = fromEnv(ENV.phrase)
    if (env !== undefined) return env
    if (process.stdin.isTTY === true) {
      return yield* Prompt.password({ message: "Recovery phrase (24 words)" }).pipe(Effect.mapError(() => badInput("No recovery phrase was entered.")))
    }
    return yield* Effect.fail(badInput(`No recovery phrase: set ${ENV.phrase}, pass --phrase-stdin, or run in a terminal to be asked.`))
  })
