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

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Reads the whole store, verified, folding each event into `state`: page by page, or with one effect per event. */
const cipherlogRead = (s: LocalStore.LocalStore, state: Map<string, unknown>, perEvent: boolean) => {
  let projected = 0
  const fold = (item: LocalStore.Item) => {
    if (item._tag !== "Event") return
    state.set(item.event.aggregateId, applyGoal(undefined, item.event))
    projected++
  }
  const items = s.readAll({ verify: true })
  return Effect.zipRight(
    perEvent
      ? Stream.runForEach(items, (item) => Effect.sync(() => fold(item)))
      // The fold as Projections.rebuild does it: a plain loop over each page of events.
      : Stream.runForEachChunk(items, (chunk) =>
        Effect.sync(() => {
          for (const item of chunk) fold(item)
        })),
    Effect.sync(() => projected)
  )
}

export const run = async (options: { quick: boolean }): Promise<ReadonlyArray<Row>> => {
  const n = options.quick ? 20_000 : 100_000
  // Each round measures raw and Cipherlog back to back; figures are medians over the rounds, and each
  // ratio is the median of the rounds' own ratios (the machine's load drifts between rounds, not within one).
  const rounds = 3
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cipherlog-bench-events-"))
  const rows: Array<Row> = []
  const times = { rawAppend: [] as Array<number>, append: [] as Array<number>, rawRead: [] as Array<number>, read: [] as Array<number>, readPerEvent: [] as Array<number> }
  try {
    const layer = NodeCrypto.layer
    for (let round = 0; round < rounds; round++) {
      let raw: { db: Database.Database; key: Buffer } | undefined
      times.rawAppend.push(await timed(() => {
        raw = rawAppend(path.join(dir, `raw-${round}.db`), n)
      }))
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const s = yield* device(path.join(dir, `cipherlog-${round}.db`))
        times.append.push(yield* Effect.promise(() => timed(() => Effect.runPromise(cipherlogAppend(s, n)))))
        // Read phase in the same scope (the store holds its file exclusively).
        times.rawRead.push(yield* Effect.promise(() => timed(() => rawRead(raw!.db, raw!.key))))
        const state = new Map<string, unknown>()
        const read = (perEvent: boolean) =>
          Effect.promise(() =>
            timed(async () => {
              const projected = await Effect.runPromise(cipherlogRead(s, state, perEvent).pipe(Effect.provide(layer)))
              if (projected !== n) throw new Error(`read ${projected} events, expected ${n}`)
            })
          )
        // Whichever read goes first may pay for warming up (the second was faster in two full runs): the folds take turns.
        for (const perEvent of round % 2 === 0 ? [false, true] : [true, false]) {
          ;(perEvent ? times.readPerEvent : times.read).push(yield* read(perEvent))
        }
      })).pipe(Effect.provide(layer)))
      raw?.db.close()
      // Only one round's files on disk at a time.
      for (const name of fs.readdirSync(dir)) if (name.startsWith(`raw-${round}.`) || name.startsWith(`cipherlog-${round}.`)) fs.rmSync(path.join(dir, name))
    }
    const row = (title: string, name: string, seconds: ReadonlyArray<number>, base?: ReadonlyArray<number>, target?: { min: number; note: string }) => {
      const t = median(seconds)
      const ratio = base === undefined ? 1 : median(seconds.map((x, i) => base[i]! / x))
      rows.push({
        title, name, opsPerSec: n / t, msPerOp: (t * 1000) / n, ratio,
        ...(target ? { target: target.note, pass: ratio >= target.min } : {})
      })
    }
    const medians = `median of ${rounds} rounds`
    const appendTitle = `Append ${n.toLocaleString("en")} events of ~1 KiB, 1000 per transaction (vs raw JSON + node:crypto AES-GCM + better-sqlite3; ${medians})`
    row(appendTitle, "raw pipeline", times.rawAppend)
    row(appendTitle, "Cipherlog LocalStore.append (seal, sign, chain, insert)", times.append, times.rawAppend, { min: 0.6, note: "≥ 0.6×" })
    const readTitle = `Read + verify + decrypt + project ${n.toLocaleString("en")} events (vs raw SELECT + AES-GCM decrypt + JSON.parse + the same fold; ${medians})`
    row(readTitle, "raw read + decrypt + parse + fold", times.rawRead)
    row(readTitle, "Cipherlog readAll({ verify: true }) + fold", times.read, times.rawRead, { min: 0.5, note: "≥ 0.5×" })
    // How this benchmark folded before (one effect per event): shown, not a target.
    row(readTitle, "  same, folded with one Effect per event", times.readPerEvent, times.rawRead)

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


