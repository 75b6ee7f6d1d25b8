/**
 * `npm run bench [-- <suite>…] [--quick]`: runs the benchmark suites and
 * prints every figure beside its baseline as a ratio. Exits non-zero when a
 * suite throws; targets not met are reported, not hidden.
 */
import { parseArgs } from "node:util"
import { print, type Row } from "./harness.ts"

const suites: Record<string, (options: { quick: boolean }) => Promise<ReadonlyArray<Row>>> = {
  crypto: (o) => import("./crypto.ts").then((m) => m.run(o)),
  keys: (o) => import("./keys.ts").then((m) => m.run(o)),
  events: (o) => import("./events.ts").then((m) => m.run(o)),
  server: (o) => import("./server.ts").then((m) => m.run(o)),
  sync: (o) => import("./sync.ts").then((m) => m.run(o))
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { quick: { type: "boolean", default: false } } })
const chosen = positionals.length > 0 ? positionals : Object.keys(suites)
const unknown = chosen.filter((name) => !(name in suites))
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark suite(s): ${unknown.join(", ")}; available: ${Object.keys(suites).join(", ")}\n`)
  process.exit(2)
}
process.stdout.write(`Cipherlog benchmarks — Node ${process.version}, ${new Date().toISOString()}${values.quick ? " (quick)" : ""}\n`)
const all: Array<Row> = []
for (const name of chosen) {
  const rows = await suites[name]!({ quick: values.quick })
  print(rows)
  all.push(...rows)
}
const missed = all.filter((r) => r.pass === false)
process.stdout.write(`\n${all.filter((r) => r.pass !== undefined).length} targets checked, ${missed.length} not met${missed.length ? ": " + missed.map((r) => `${r.title.split(" (")[0]} / ${r.name}`).join("; ") : ""}\n`)
