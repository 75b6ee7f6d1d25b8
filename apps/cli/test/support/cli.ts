/**
 * The built binary as a subprocess: `node apps/cli/dist/main.js …` (built
 * by `nx test`, which depends on `build`), and a real sync server started
 * through the binary's own `server` command on a free loopback port.
 * Every output of every run is kept, so a test can scan all of it for
 * secrets at the end.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export const mainJs = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "main.js")

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Everything any run printed, for the secret scans. */
export const transcript: Array<string> = []

/** A minimal environment: no CIPHERLOG_* variable leaks in from the caller's shell. */
const baseEnv = (): Record<string, string> => ({ PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp" })

export const run = (args: ReadonlyArray<string>, options: { readonly env?: Record<string, string>; readonly stdin?: string } = {}): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainJs, ...args], {
      env: { ...baseEnv(), ...options.env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")))
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")))
    child.on("error", reject)
    child.on("close", (code) => {
      transcript.push(stdout, stderr)
      resolve({ code: code ?? -1, stdout, stderr })
    })
    child.stdin.end(options.stdin ?? "")
  })

/** Runs and parses stdout as JSON, failing with the output when the exit code is not 0. */
export const runJson = async <A = Record<string, unknown>>(args: ReadonlyArray<string>, env: Record<string, string>): Promise<A> => {
  const r = await run([...args, "--json"], { env })
  if (r.code !== 0) throw new Error(`cipherlog ${args.join(" ")} exited ${r.code}:\n${r.stderr}`)
  return JSON.parse(r.stdout) as A
}

export const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface Server {
  readonly url: string
  /** The server's SQLite directory (`cipherlog.db` inside). */
  readonly dataDir: string
  readonly process: ChildProcess
  readonly output: () => string
  readonly stop: () => Promise<void>
}

/** `cipherlog server --port 0` with a temporary SQLite directory; resolves once it listens. */
export const startServer = async (): Promise<Server> => {
  const data = tempDir("cipherlog-cli-server-")
  const child = spawn(process.execPath, [mainJs, "server", "--port", "0", "--host", "127.0.0.1", "--data-dir", data.dir], {
    env: {
      ...baseEnv(),
      RATE_LIMIT_IP_PER_SECOND: "100000",
      RATE_LIMIT_IP_BURST: "100000",
      RATE_LIMIT_USER_PER_SECOND: "100000",
      RATE_LIMIT_USER_BURST: "100000"
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  let code: number | null = null
  child.stdout!.on("data", (c: Buffer) => (output += c.toString("utf8")))
  child.stderr!.on("data", (c: Buffer) => (output += c.toString("utf8")))
  const exited = new Promise<void>((resolve) => child.on("exit", (c) => {
    code = c ?? -1
    resolve()
  }))
  const deadline = Date.now() + 30_000
  let url: string | undefined
  while (url === undefined) {
    const match = /"message":"listening".*?"url":"(http:\/\/[^"]+)"/.exec(output)
    if (match) url = match[1]
    else if (code !== null) throw new Error(`server exited (${code}) before listening:\n${output}`)
    else if (Date.now() > deadline) throw new Error(`server did not listen within 30 s:\n${output}`)
    else await new Promise((r) => setTimeout(r, 25))
  }
  return {
    url,
    dataDir: data.dir,
    process: child,
    output: () => output,
    stop: async () => {
      if (code === null) child.kill("SIGTERM")
      await exited
      data.cleanup()
    }
  }
}
