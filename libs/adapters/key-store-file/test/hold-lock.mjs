// A second process for the lock test: takes the key store's lock, writes an entry, holds it, exits.
import lockfile from "proper-lockfile"
import * as fs from "node:fs"
import * as path from "node:path"

const [dir, holdMs] = process.argv.slice(2)
fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
const release = await lockfile.lock(dir, { lockfilePath: path.join(dir, "keystore.lock"), realpath: false, stale: 10_000, update: 2_000 })
fs.writeFileSync(path.join(dir, "written-by-other.enc"), "x", { mode: 0o600 })
process.stdout.write("locked\n")
setTimeout(async () => {
  await release()
  process.exit(0)
}, Number(holdMs))
