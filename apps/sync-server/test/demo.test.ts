/**
 * The `npm start` demo (tools/demo/index.mjs) against a real server process:
 * it must run to the end, show both devices converged and find no plaintext
 * in what the server stored. Keeps the README's main job honest.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Servers from "./support/server.js"

const demo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "tools", "demo", "index.mjs")

describe("the npm start demo", () => {
  let server: Servers.Server
  const dataDir = mkdtempSync(join(tmpdir(), "cipherlog-demo-test-"))
  beforeAll(async () => {
    server = await Servers.startSqlite()
  })
  afterAll(async () => {
    await server.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it("runs to the end: two devices converge and the server holds no plaintext", () => {
    const run = spawnSync(process.execPath, [demo], {
      env: { ...process.env, CIPHERLOG_SERVER_URL: server.url, DATA_DIR: dataDir },
      encoding: "utf8",
      timeout: 60_000
    })
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
    expect(run.stdout).toContain("both devices hold the same history")
    expect(run.stdout).toContain("it saw ciphertext only")
    expect(run.stdout).toMatch(/laptop reads: v1 oat milk \(by laptop\) \| v2 coffee beans \(by laptop\) \| v3 bread \(by phone\)/)
  }, 90_000)
})
