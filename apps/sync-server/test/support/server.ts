/**
 * Real server processes for tests: `node dist/main.js` on a free loopback
 * port, with a temporary DATA_DIR (SQLite) or a fresh PostgreSQL database;
 * stdout and stderr are captured (the tests scan them for canaries).
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export const mainJs = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "main.js")

/** Generous limits: tests that are about limits set their own. */
export const testLimits: Record<string, string> = {
  RATE_LIMIT_IP_PER_SECOND: "100000",
  RATE_LIMIT_IP_BURST: "100000",
  RATE_LIMIT_USER_PER_SECOND: "100000",
  RATE_LIMIT_USER_BURST: "100000",
  RECOVERY_READS_PER_MINUTE: "100000"
}

export interface Server {
  readonly url: string
  readonly process: ChildProcess
  /** Everything the process wrote to stdout and stderr so far. */
  readonly output: () => string
  readonly exitCode: () => number | null
  /** SIGTERM, then wait for the exit. */
  readonly stop: () => Promise<void>
}

export const start = async (env: Record<string, string>): Promise<Server> => {
  const child = spawn(process.execPath, [mainJs], {
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", PORT: "0", HOST: "127.0.0.1", ...testLimits, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  let code: number | null = null
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
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
    process: child,
    output: () => output,
    exitCode: () => code,
    stop: async () => {
      if (code === null) child.kill("SIGTERM")
      await exited
    }
  }
}

/** A temporary directory, removed by `cleanup`. */
export const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export const startSqlite = async (env: Record<string, string> = {}) => {
  const data = tempDir("cipherlog-server-")
  const server = await start({ DATA_DIR: data.dir, ...env })
  return {
    ...server,
    dataDir: data.dir,
    stop: async () => {
      await server.stop()
      data.cleanup()
    }
  }
}

export const adminUrl = process.env["CIPHERLOG_TEST_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"

const onAdmin = (statement: string) =>
  Effect.runPromise(
    Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(statement)).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 }))
    )
  )

/** A fresh database `cipherlog_test_<random>`; `drop` removes it. */
export const freshDatabase = async () => {
  const name = `cipherlog_test_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e9).toString(36)}`
  await onAdmin(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { name, url: url.toString(), drop: () => onAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

/** A server process on a fresh PostgreSQL database; `stop` also drops the database. */
export const startPostgres = async (env: Record<string, string> = {}) => {
  const database = await freshDatabase()
  const server = await start({ DATABASE_URL: database.url, ...env }).catch(async (error: unknown) => {
    await database.drop()
    throw error
  })
  return {
    ...server,
    database: database.name,
    stop: async () => {
      await server.stop()
      await database.drop()
    }
  }
}

/** The two stores a server process runs on, by name: for `describe.each` over both. */
export const stores = [
  { store: "SQLite", start: startSqlite },
  { store: "PostgreSQL", start: startPostgres }
] as const
