/**
 * Event store benchmarks, each beside a raw pipeline measured in the same run:
 * - append: JSON + node:crypto AES-256-GCM + better-sqlite3 INSERT, transactions of 1000;
 * - read: SELECT + AES-256-GCM decrypt + JSON.parse + the same fold into a Map;
 * - rebuild: peak RSS at two log sizes (memory must not grow with the log).
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import { LocalStore, Projections } from "@cipherlog/event-store"
import { SqliteNodeEventStore } from "@cipherlog/event-store-sqlite-node"
import { Keyring, KeyStore, Vault } from "@cipherlog/keys"
import Database from "better-sqlite3"
import { Effect, Option, Redacted, Stream } from "effect"
import { execFileSync } from "node:child_process"
import * as nodeCrypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Row } from "./harness.ts"

const payload = (i: number) => ({ title: `goal ${i}`, notes: "x".repeat(1024 - 40), n: i })
const BATCH = 1000

const timed = async (f: () => Promise<unknown> | unknown) => {
  const start = performance.now()
  await f()
  return (performance.now() - start) / 1000
}

/** The raw pipeline at the same batch size: what an application could do without Cipherlog. */
const rawAppend = (file: string, n: number) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.exec("CREATE TABLE events (id TEXT PRIMARY KEY, aggregate TEXT, version INTEGER, nonce BLOB, data BLOB)")
  const insert = db.prepare("INSERT INTO events VALUES (?, ?, ?, ?, ?)")
  const key = nodeCrypto.randomBytes(32)
  const tx = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const nonce = nodeCrypto.randomBytes(12)
      const cipher = nodeCrypto.createCipheriv("aes-256-gcm", key, nonce)
      const ct = Buffer.concat([cipher.update(JSON.stringify(payload(i))), cipher.final(), cipher.getAuthTag()])
      insert.run(nodeCrypto.randomUUID(), `g${i % 100}`, Math.floor(i / 100) + 1, nonce, ct)
    }
  })
  for (let i = 0; i < n; i += BATCH) tx(i, Math.min(n, i + BATCH))
  return { db, key }
}

/** The raw read, folding each event into the same projection state as the Cipherlog read below. */
const rawRead = (db: Database.Database, key: Buffer) => {
  let count = 0
  const state = new Map<string, unknown>()
  for (const row of db.prepare("SELECT aggregate, nonce, data FROM events ORDER BY rowid").iterate() as Iterable<{ aggregate: string; nonce: Buffer; data: Buffer }>) {
    const decipher = nodeCrypto.createDecipheriv("aes-256-gcm", key, row.nonce)
    decipher.setAuthTag(row.data.subarray(row.data.length - 16))
    const plain = Buffer.concat([decipher.update(row.data.subarray(0, row.data.length - 16)), decipher.final()])
    const payload = JSON.parse(plain.toString("utf8")) as { title: string; n: number }
    state.set(row.aggregate, { title: payload.title, n: payload.n })
    count++
  }
  return count
}

const device = (file: string) =>
  Effect.gen(function*() {
    const vault = yield* Vault.create(Redacted.make("benchmark passphrase"), { policy: Vault.insecureTestPolicy }).pipe(Effect.provide(KeyStore.layerMemory()))
    const keyring = yield* Keyring.initialize(vault, { userId: "u1", deviceId: "d1" })
    yield* keyring.createKek("s1", "kv1")
    const events = yield* SqliteNodeEventStore.make(file)
    return yield* LocalStore.make({ storeId: "s1", eventStore: events, keyring: Option.some(keyring) })
  })

/** Appends n events through Cipherlog: 1000 per call, 10 events for each of 100 aggregates. */
const cipherlogAppend = (store: LocalStore.LocalStore, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i += BATCH) {
      const commands = Array.from({ length: 100 }, (_, a) => ({
        aggregateType: "Goal",
        aggregateId: `g${a}`,
        events: Array.from({ length: BATCH / 100 }, (_, k) => ({ eventType: "GoalUpdated", payload: payload(i + a * 10 + k) }))
      }))
      yield* store.append(commands)
    }
  })

const goals: Projections.Projection<{ title: string; n: number }> = {
  name: "goals",
  version: 1,
  key: (e) => e.aggregateId,
  apply: (_, e) => ({ title: (e.payload as { title: string }).title, n: (e.payload as { n: number }).n })
}
const applyGoal = goals.apply

export const run = async (options: { quick: boolean }): Promise<ReadonlyArray<Row>> => {
  const n = options.quick ? 20_000 : 100_000
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cipherlog-bench-events-"))
  const rows: Array<Row> = []
  const row = (title: string, name: string, ops: number, seconds: number, base: number | undefined, target?: { min: number; note: string }) => {
    const opsPerSec = ops / seconds
    const ratio = base === undefined ? 1 : opsPerSec / base
    rows.push({
      title, name, opsPerSec, msPerOp: (seconds * 1000) / ops, ratio,
      ...(target ? { target: target.note, pass: ratio >= target.min } : {})
    })
    return opsPerSec
  }
  try {
    const layer = NodeCrypto.layer
    let raw: { db: Database.Database; key: Buffer } | undefined
    const rawAppendTime = await timed(() => {
      raw = rawAppend(path.join(dir, "raw.db"), n)
    })
    const appendTitle = `Append ${n.toLocaleString("en")} events of ~1 KiB, 1000 per transaction (vs raw JSON + node:crypto AES-GCM + better-sqlite3)`
    const rawAppendRate = row(appendTitle, "raw pipeline", n, rawAppendTime, undefined)
    let store: LocalStore.LocalStore | undefined
    const cipherlogTime = await timed(() =>
      Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const s = yield* device(path.join(dir, "cipherlog.db"))
        store = s
        yield* cipherlogAppend(s, n)
        // Read phase in the same scope (the store holds its file exclusively).
        const readTitle = `Read + verify + decrypt + project ${n.toLocaleString("en")} events (vs raw SELECT + AES-GCM decrypt + JSON.parse + the same fold)`
        const rawReadTime = yield* Effect.promise(() => timed(() => rawRead(raw!.db, raw!.key)))
        const rawReadRate = row(readTitle, "raw read + decrypt + parse", n, rawReadTime, undefined)
        // The fold as Projections.rebuild does it: a plain loop over each page of events.
        let projected = 0
        const state = new Map<string, unknown>()
        const readTime = yield* Effect.promise(() =>
          timed(() =>
            Effect.runPromise(s.readAll({ verify: true }).pipe(
              Stream.runForEachChunk((items) =>
                Effect.sync(() => {
                  for (const item of items) {
                    if (item._tag !== "Event") continue
                    state.set(item.event.aggregateId, applyGoal(undefined, item.event))
                    projected++
                  }
                })
              ),
              Effect.provide(layer)
            ))
          ))
        if (projected !== n) throw new Error(`read ${projected} events, expected ${n}`)
        row(readTitle, "Cipherlog readAll({ verify: true }) + fold", n, readTime, rawReadRate, { min: 0.5, note: "≥ 0.5×" })
        // The same read folded with one effect per event (how this benchmark folded before): shown, not a target.
        let perEvent = 0
        const perEventTime = yield* Effect.promise(() =>
          timed(() =>
            Effect.runPromise(s.readAll({ verify: true }).pipe(
              Stream.runForEach((item) =>
                Effect.sync(() => {
                  if (item._tag === "Event") {
                    state.set(item.event.aggregateId, applyGoal(undefined, item.event))
                    perEvent++
                  }
                })
              ),
              Effect.provide(layer)
            ))
          ))
        if (perEvent !== n) throw new Error(`read ${perEvent} events, expected ${n}`)
        row(readTitle, "  same, folded with one Effect per event", n, perEventTime, rawReadRate)
      })).pipe(Effect.provide(layer)))
    )
    void store
    // The append figure excludes the read phase measured inside the same scope.
    const appendOnly = await timed(() =>
      Effect.runPromise(Effect.scoped(Effect.flatMap(device(path.join(dir, "cipherlog2.db")), (s) => cipherlogAppend(s, n))).pipe(Effect.provide(layer))))
    void cipherlogTime
    row(appendTitle, "Cipherlog LocalStore.append (seal, sign, chain, insert)", n, appendOnly, rawAppendRate, { min: 0.6, note: "≥ 0.6×" })
    raw?.db.close()

    // Rebuild memory: a child process per size, so each peak RSS is its own.
    const sizes = options.quick ? [10_000, 50_000] : [100_000, 1_000_000]
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "rebuild-child.ts")
    for (const size of sizes) {
      const out = execFileSync(process.execPath, ["--import", "tsx", script, path.join(dir, `rebuild-${size}.db`), String(size)], {
        encoding: "utf8", maxBuffer: 1 << 20, stdio: ["ignore", "pipe", "inherit"]
      })
      const result = JSON.parse(out.trim().split("\n").pop()!) as { size: number; seconds: number; rssBeforeMb: number; peakRssMb: number }
      rows.push({
        title: "Rebuild a projection from the log, streamed (peak RSS must not grow with the log)",
        name: `${size.toLocaleString("en")} events: peak RSS ${result.peakRssMb.toFixed(0)} MB (${result.rssBeforeMb.toFixed(0)} MB before)`,
        opsPerSec: size / result.seconds,
        msPerOp: (result.seconds * 1000) / size,
        ratio: 1
      })
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return rows
}


