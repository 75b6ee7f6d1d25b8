// `npm start`: the main job. Builds the sync server (and the libraries it
// bundles), starts it on SQLite with no configuration, waits until it is
// healthy, prints how to talk to it, then runs the demo if there is one.
//
// Environment: every variable of apps/sync-server/README.md passes through
// (PORT, HOST, DATA_DIR, DATABASE_URL, …). Defaults here: PORT=8787,
// DATA_DIR=<repository>/data.
//
// Demo hook: if tools/demo/index.mjs exists it is run once the server is
// healthy, with CIPHERLOG_SERVER_URL set; the server keeps running until
// Ctrl-C (SIGINT/SIGTERM stop it gracefully).
import { spawn, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const main = join(root, "apps/sync-server/dist/main.js")
const demo = join(root, "tools/demo/index.mjs")
const say = (text) => process.stdout.write(`\x1b[1m[start]\x1b[0m ${text}\n`)

// The demo runs the client libraries from their dist/ builds.
const demoLibraries = ["crypto-node", "event-store-sqlite-node", "key-store-file", "sync", "sync-transport-http"]
say("building the sync server and the demo's client libraries (nx builds what they depend on first)")
const projects = ["@cipherlog/sync-server", ...demoLibraries.map((name) => `@cipherlog/${name}`)].join(",")
const build = spawnSync("npx", ["nx", "run-many", "-t", "build", "-p", projects, "--outputStyle=static"], {
  cwd: root,
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, NX_DAEMON: "false" }
})
if (build.status !== 0 || !existsSync(main)) {
  process.stderr.write("The build failed; see above. Run `bash tools/setup.sh` first on a fresh machine.\n")
  process.exit(build.status ?? 1)
}

const env = { ...process.env, PORT: process.env.PORT ?? "8787", DATA_DIR: process.env.DATA_DIR ?? join(root, "data") }
const server = spawn(process.execPath, [main], { cwd: root, env, stdio: ["ignore", "pipe", "inherit"] })
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal))
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 0 : 1)))

let announced = false
let buffered = ""
server.stdout.on("data", (chunk) => {
  process.stdout.write(chunk)
  if (announced) return
  buffered += chunk.toString("utf8")
  const match = /"message":"listening".*?"url":"([^"]+)"/.exec(buffered)
  if (match) {
    announced = true
    void ready(match[1])
  }
})

const ready = async (url) => {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break
    } catch (_) {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const store = env.DATABASE_URL ? "PostgreSQL (DATABASE_URL)" : `SQLite in ${env.DATA_DIR}`
  process.stdout.write(`
Cipherlog sync server — ${url}  (store: ${store})

  curl -s ${url}/healthz
  curl -s ${url}/openapi.json | head -c 400
  curl -s ${url}/metrics | head
  curl -s -X POST ${url}/v1/auth/challenge -H 'content-type: application/json' -d '{"userId":"alice"}'

Every endpoint, the signed login byte strings and the errors: docs/http-api.md.
Ctrl-C stops the server.
`)
  if (existsSync(demo)) {
    say(`running the demo (${demo})`)
    spawn(process.execPath, [demo], { cwd: root, stdio: "inherit", env: { ...process.env, CIPHERLOG_SERVER_URL: url } })
  }
}
