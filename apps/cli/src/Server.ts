/**
 * `server`: runs the sync server app (apps/sync-server's built
 * `dist/main.js`) as a child process in the foreground, for a one-binary
 * quickstart. Apps do not import apps (the layer rules), so the CLI starts
 * the server's own entry point with its environment (PORT, HOST, DATA_DIR,
 * DATABASE_URL, … as in apps/sync-server/README.md) and passes Ctrl-C on.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { unexpected } from "./CliError.js"

/** The server's built entry point, found through the workspace's node_modules. */
const serverMain = (): string | undefined => {
  try {
    const pkg = createRequire(import.meta.url).resolve("@cipherlog/sync-server/package.json")
    const main = path.join(path.dirname(pkg), "dist", "main.js")
    return fs.existsSync(main) ? main : undefined
  } catch (_) {
    return undefined
  }
}

/**
 * Starts the server and waits until it exits; its exit code becomes ours.
 *
 * @since 0.1.0
 * @category commands
 */
export const start = (options: {
  readonly port: Option.Option<number>
  readonly host: Option.Option<string>
  readonly dataDir: Option.Option<string>
}) =>
  Effect.gen(function*() {
    const main = serverMain()
    if (main === undefined) {
      return yield* Effect.fail(unexpected("The sync server is not built. Run `npx nx run @cipherlog/sync-server:build` in the repository, then try again.", "ServerMissing"))
    }
    const env: Record<string, string | undefined> = { ...process.env }
    if (Option.isSome(options.port)) env["PORT"] = String(options.port.value)
    if (Option.isSome(options.host)) env["HOST"] = options.host.value
    if (Option.isSome(options.dataDir)) env["DATA_DIR"] = options.dataDir.value
    const code = yield* Effect.async<number>((resume) => {
      const child = spawn(process.execPath, [main], { env, stdio: "inherit" })
      const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
      const onInt = forward("SIGINT")
      const onTerm = forward("SIGTERM")
      process.on("SIGINT", onInt)
      process.on("SIGTERM", onTerm)
      const exited = new Promise<number>((done) =>
        child.on("exit", (c) => {
          process.off("SIGINT", onInt)
          process.off("SIGTERM", onTerm)
          done(c ?? 0)
        }))
      void exited.then((c) => resume(Effect.succeed(c)))
      // Interrupted (Ctrl-C, SIGTERM): stop the server and wait until it has closed its store.
      return Effect.promise(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
        return exited
      })
    })
    if (code !== 0) return yield* Effect.fail(unexpected(`The sync server exited with code ${code}; see its log above.`, "ServerExited"))
  })
