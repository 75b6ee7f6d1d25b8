/**
 * Sync server benchmarks against a real server process (`node
 * apps/sync-server/dist/main.js`) over HTTP on loopback, on each store
 * (SQLite file, PostgreSQL), each beside raw inserts and selects of the same
 * rows into the same schema (the adapter's own migration) in the same run:
 * - push n records of 1 KiB in batches of 1000, one client (raw: SQLite
 *   better-sqlite3 inserts in transactions of 1000, WAL, synchronous FULL as
 *   the server sets; PostgreSQL `pg` multi-row INSERTs of 1000);
 * - pull them back in pages of 1000 as record lines, decoded as HttpTransport
 *   does, asking for the next page while one is checked as SyncEngine does
 *   (`pullAhead` 1), and, shown without a target, one page at a time; raw:
 *   the server's SELECT, paged, on the server's own database, in turns with
 *   the pulls over 3 rounds (medians); then once as the JSON answer;
 * - load: 200 clients (200 users, 10 shared stores) each pushing 10 records
 *   and pulling from its cursor (record lines) in a loop; afterwards every acknowledged
 *   record must be stored exactly once, with its acknowledged sequence, in a
 *   gapless 1..N sequence per store.
 *
 * Environment, for profiling one part: CIPHERLOG_BENCH_SERVER_STORES
 * (`sqlite`, `postgres` or both, comma-separated; default both),
 * CIPHERLOG_BENCH_SERVER_LOAD=0 skips the load test,
 * CIPHERLOG_BENCH_SERVER_CPU_PROF=<dir> runs the server with `--cpu-prof`
 * into that directory (the profile is written when the server stops),
 * CIPHERLOG_BENCH_SERVER_LOG=<file> appends the server's log (one line per
 * request with its duration inside the server) to that file,
 * CIPHERLOG_BENCH_SERVER_TRACE=<dir> traces every load request at both ends
 * (client: sent, answered, read; server, through trace-hook.mjs: connection
 * accepted, request seen, body read, response finished; event-loop delay)
 * into <dir>/<store>/ and prints where the slowest 1% spent their time.
 *
 * Rate limits: every client is on 127.0.0.1, so the per-address limit is
 * raised for the bench (RATE_LIMIT_IP_*); the per-user limits stay at their
 * defaults (100/s, burst 200) and each load client is its own user.
 */
import { PgServerStore } from "@cipherlog/server-store-postgres"
import { SqliteServerStore } from "@cipherlog/server-store-sqlite"
import { Models } from "@cipherlog/sync-api"
import Database from "better-sqlite3"
import * as nodeCrypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import pg from "pg"
import type { Row } from "./harness.ts"
import {
  type Built,
  buildServer,
  call,
  callLines,
  type ClientTrace,
  expectStatus,
  freshDatabase,
  type PullAnswer,
  type PushAnswer,
  type Server,
  signUp,
  startServer,
  traceRequests,
  writer
} from "./server-support.ts"

const BATCH = Models.MAX_BATCH
/** Pages asked for ahead by the measured pull: SyncEngine's default `pullAhead`. */
const PULL_AHEAD = 1
const benchSrc = path.dirname(fileURLToPath(import.meta.url))
const AGGREGATES = 1000
const STORE = "bench-store"
const USER = "bench-user"
const INSERT_COLUMNS = "store_id, global_seq, event_id, aggregate_type, aggregate_id, version, received_at, record_json"
const SELECT_PAGE = "SELECT global_seq, received_at, record_json FROM records WHERE store_id = $1 AND global_seq > $2 ORDER BY global_seq LIMIT $3"

/** The limits the bench runs under: the per-address one raised (all clients are 127.0.0.1), per-user ones default. */
const serverEnv = { RATE_LIMIT_IP_PER_SECOND: "1000000", RATE_LIMIT_IP_BURST: "1000000" }

const timed = async (f: () => Promise<unknown> | unknown) => {
  const start = performance.now()
  await f()
  return (performance.now() - start) / 1000
}

/** Record k: aggregate k mod 1000 at version ⌊k / 1000⌋ + 1, so each batch of 1000 touches 1000 aggregates once. */
const buildLog = (n: number): ReadonlyArray<Built> => {
  const write = writer(STORE, USER, "bench-device")
  return Array.from({ length: n }, (_, k) => write(`a${k % AGGREGATES}`, Math.floor(k / AGGREGATES) + 1))
}

/** Rounds of the pull measurements, each a raw SELECT beside the server's pulls: medians are reported. */
const PULL_ROUNDS = 3

interface Rates {
  readonly pushSeconds: number
}

interface PullRates {
  /** The raw paged SELECT of the whole log, from the server's own database (median of the rounds). */
  readonly rawSeconds: number
  /** Record lines, one page ahead as SyncEngine (median). */
  readonly pullSeconds: number
  /** The same pull (record lines), one page at a time (median). */
  readonly pullOneByOneSeconds: number
  /** The same pull answered as JSON (`PullResponse`) instead of record lines, one page at a time (once). */
  readonly pullJsonSeconds: number
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const rawSqlite = async (file: string, log: ReadonlyArray<Built>): Promise<Rates> => {
  const db = new Database(file)
  try {
    db.pragma("journal_mode = WAL")
    for (const p of SqliteServerStore.pragmas) db.exec(p)
    for (const statement of SqliteServerStore.schemaV1) db.exec(statement)
    db.prepare("INSERT INTO stores (store_id, created_by, created_at) VALUES (?, ?, ?)").run(STORE, USER, Date.now())
    const insert = db.prepare(`INSERT INTO records (${INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
    const tx = db.transaction((from: number, to: number) => {
      const at = Date.now()
      for (let i = from; i < to; i++) {
        const r = log[i]!
        insert.run(STORE, i + 1, r.eventId, r.aggregateType, r.aggregateId, r.version, at, r.text)
      }
    })
    const pushSeconds = await timed(() => {
      for (let i = 0; i < log.length; i += BATCH) tx(i, Math.min(log.length, i + BATCH))
    })
    return { pushSeconds }
  } finally {
    db.close()
  }
}

/** The pull baseline on SQLite: the server's SELECT, paged, on the server's own database file (read-only, beside it). */
const selectSqlite = (file: string, n: number) => async (): Promise<number> => {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const select = db.prepare(SELECT_PAGE.replace(/\$\d/g, "?"))
    let read = 0
    const seconds = await timed(() => {
      let after = 0
      for (;;) {
        const rows = select.all(STORE, after, BATCH) as Array<{ global_seq: number; received_at: number; record_json: string }>
        if (rows.length === 0) break
        read += rows.length
        after = rows[rows.length - 1]!.global_seq
      }
    })
    if (read !== n) throw new Error(`raw SQLite read ${read} rows, expected ${n}`)
    return seconds
  } finally {
    db.close()
  }
}

const rawPostgres = async (url: string, log: ReadonlyArray<Built>): Promise<Rates> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    for (const statement of PgServerStore.schemaV1) await client.query(statement)
    await client.query("INSERT INTO stores (store_id, created_by, created_at) VALUES ($1, $2, $3)", [STORE, USER, Date.now()])
    const statement = (rows: number) =>
      `INSERT INTO records (${INSERT_COLUMNS}) VALUES ` +
      Array.from({ length: rows }, (_, r) => `(${Array.from({ length: 8 }, (_, c) => `$${r * 8 + c + 1}`).join(", ")})`).join(", ")
    const full = statement(BATCH)
    const pushSeconds = await timed(async () => {
      for (let i = 0; i < log.length; i += BATCH) {
        const to = Math.min(log.length, i + BATCH)
        const at = Date.now()
        const params: Array<string | number> = []
        for (let k = i; k < to; k++) {
          const r = log[k]!
          params.push(STORE, k + 1, r.eventId, r.aggregateType, r.aggregateId, r.version, at, r.text)
        }
        await client.query(to - i === BATCH ? full : statement(to - i), params)
      }
    })
    return { pushSeconds }
  } finally {
    await client.end()
  }
}

/** The pull baseline on PostgreSQL: the server's SELECT, paged, with `pg`, on the server's own database. */
const selectPostgres = (url: string, n: number) => async (): Promise<number> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    let read = 0
    const seconds = await timed(async () => {
      let after = 0
      for (;;) {
        const { rows } = await client.query<{ global_seq: string; received_at: string; record_json: string }>(SELECT_PAGE, [STORE, after, BATCH])
        if (rows.length === 0) break
        read += rows.length
        after = Number(rows[rows.length - 1]!.global_seq)
      }
    })
    if (read !== n) throw new Error(`raw PostgreSQL read ${read} rows, expected ${n}`)
    return seconds
  } finally {
    await client.end()
  }
}

/** Pushes the log through the server in batches of 1000 from one client, then pulls it back in pages of 1000. */
const throughServer = async (
  server: Server,
  log: ReadonlyArray<Built>,
  rawSelect: () => Promise<number>
): Promise<Rates & PullRates> => {
  const token = await signUp(server.url, USER)
  expectStatus("create store", await call(server.url, "POST", "/v1/stores", { body: { storeId: STORE }, token }), [201])
  const route = `/v1/stores/${STORE}/records`
  const pushSeconds = await timed(async () => {
    for (let i = 0; i < log.length; i += BATCH) {
      const batch = log.slice(i, i + BATCH)
      const answer = expectStatus("push", await call(server.url, "POST", route, { body: { records: batch.map((r) => r.text) }, token })) as PushAnswer
      answer.results.forEach((r, k) => {
        if (r.duplicate || r.globalSequence !== i + k + 1 || r.eventId !== batch[k]!.eventId) {
          throw new Error(`push of record ${i + k}: ${JSON.stringify(r)}`)
        }
      })
    }
  })
  /**
   * Pulls the whole log from cursor 0. With `ahead` > 0, as SyncEngine does: while a page is checked, the
   * next `ahead` pages (whose cursors are known, sequences being gapless below the head) are already asked for.
   */
  const pullAll = (how: "lines" | "json", ahead: number) =>
    timed(async () => {
      const fetchPage = (after: number) => {
        const pageRoute = `${route}?after=${after}&limit=${BATCH}`
        return how === "lines" ? callLines(server.url, pageRoute, { token }) : call(server.url, "GET", pageRoute, { token })
      }
      const pending: Array<{ after: number; answer: ReturnType<typeof fetchPage> }> = []
      let after = 0
      let read = 0
      for (;;) {
        while (pending.length > 0 && pending[0]!.after !== after) void pending.shift()!.answer.catch(() => undefined)
        const answer = pending.length > 0 ? await pending.shift()!.answer : await fetchPage(after)
        const page = expectStatus("pull", answer) as PullAnswer
        const n = page.records.length
        if (page.hasMore && n > 0) {
          let next = pending.length > 0 ? pending[pending.length - 1]!.after + n : page.records[n - 1]!.globalSequence
          while (pending.length < ahead && next < page.head) {
            pending.push({ after: next, answer: fetchPage(next) })
            next += n
          }
        }
        page.records.forEach((r, k) => {
          if (r.globalSequence !== after + k + 1) throw new Error(`pull after ${after}: sequence ${r.globalSequence} at ${k}`)
          if (r.recordJson !== log[after + k]!.text) throw new Error(`pull after ${after}: record ${k} differs from the pushed text`)
        })
        read += n
        if (n > 0) after = page.records[n - 1]!.globalSequence
        if (!page.hasMore) break
      }
      if (pending.length > 0) throw new Error(`pulled past the head with ${pending.length} pages still asked for`)
      if (read !== log.length) throw new Error(`pulled ${read} records through the server (${how}), expected ${log.length}`)
    })
  // Untimed first: whichever pull goes first pays for warming up (measured: 20–30% slower).
  await pullAll("lines", 0)
  await rawSelect()
  // The baseline and the pulls read the same rows of the same database, in turns: a ratio of medians from the
  // same rounds (a raw SELECT measured once, apart, moved between 175k and 414k rows/s from run to run).
  const raws: Array<number> = []
  const aheads: Array<number> = []
  const oneByOnes: Array<number> = []
  for (let round = 0; round < PULL_ROUNDS; round++) {
    raws.push(await rawSelect())
    aheads.push(await pullAll("lines", PULL_AHEAD))
    oneByOnes.push(await pullAll("lines", 0))
  }
  const pullJsonSeconds = await pullAll("json", 0)
  return { pushSeconds, rawSeconds: median(raws), pullSeconds: median(aheads), pullOneByOneSeconds: median(oneByOnes), pullJsonSeconds }
}

// Load ------------------------------------------------------------------------------------------

const LOAD_STORES = 10
const PUSH_SIZE = 10
const OWN_AGGREGATES = 5
const PUSH_ATTEMPTS = 3

const percentile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

const digest = (text: string) => nodeCrypto.createHash("sha1").update(text).digest("base64")

interface LoadResult {
  readonly seconds: number
  readonly push: ReadonlyArray<number>
  readonly pull: ReadonlyArray<number>
  readonly errors: number
  readonly errorSamples: ReadonlyArray<string>
  readonly recordsPushed: number
  /** Distinct records acknowledged by the server. */
  readonly acknowledged: number
  readonly recordsPulled: number
  /** A client's pull page that did not continue its cursor by one. */
  readonly clientGaps: number
  readonly stored: number
  readonly lost: number
  readonly duplicated: number
  readonly wrongSequence: number
  readonly altered: number
  readonly unacknowledged: number
  readonly sequenceGaps: number
  readonly versionGaps: number
  /** The load's requests as the client saw them, when tracing. */
  readonly trace?: ReadonlyArray<ClientTrace>
}

/** Runs `f` over `items` with at most `width` at a time. */
const pool = async <A>(items: ReadonlyArray<A>, width: number, f: (a: A, i: number) => Promise<void>) => {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      await f(items[i]!, i)
    }
  }))
}

/** A request during verification: waits out a 429 instead of failing. */
const patiently = async (base: string, method: string, route: string, token: string) => {
  for (let attempt = 0;; attempt++) {
    const answer = await call(base, method, route, { token })
    if (answer.status !== 429 || attempt >= 20) return answer
    await new Promise((r) => setTimeout(r, 1000))
  }
}

const load = async (server: Server, clients: number, seconds: number, label: string, tracing: boolean): Promise<LoadResult> => {
  const base = server.url
  const users = Array.from({ length: clients }, (_, i) => ({
    userId: `load-${label}-u${i}`,
    storeId: `load-${label}-s${i % LOAD_STORES}`,
    token: ""
  }))
  const tokens = new Map<string, string>()
  await pool(users, 16, async (u) => {
    tokens.set(u.userId, await signUp(base, u.userId))
  })
  const owners = new Map<string, string>()
  for (const u of users) {
    const token = tokens.get(u.userId)!
    const owner = owners.get(u.storeId)
    if (owner === undefined) {
      expectStatus("create store", await call(base, "POST", "/v1/stores", { body: { storeId: u.storeId }, token }), [201])
      owners.set(u.storeId, u.userId)
    } else {
      expectStatus(
        "add member",
        await call(base, "PUT", `/v1/stores/${u.storeId}/members/${u.userId}`, { body: { role: "member" }, token: tokens.get(owner)! })
      )
    }
  }

  const pushLatency: Array<number> = []
  const pullLatency: Array<number> = []
  const errorSamples: Array<string> = []
  let errors = 0
  let recordsPushed = 0
  let recordsPulled = 0
  let clientGaps = 0
  /** Per store: event id → acknowledged sequence and text digest. */
  const acknowledged = new Map<string, Map<string, { readonly seq: number; readonly digest: string }>>()
  for (const storeId of owners.keys()) acknowledged.set(storeId, new Map())
  const fail = (what: string) => {
    errors++
    if (errorSamples.length < 5) errorSamples.push(what)
  }
  const timedCall = async (latencies: Array<number>, method: string, route: string, token: string, body?: unknown) => {
    const start = performance.now()
    try {
      const answer = await call(base, method, route, { token, ...(body === undefined ? {} : { body }) })
      latencies.push(performance.now() - start)
      return answer
    } catch (error) {
      latencies.push(performance.now() - start)
      return { status: 0, body: String(error) }
    }
  }

  const timedPull = async (route: string, token: string) => {
    const start = performance.now()
    try {
      const answer = await callLines(base, route, { token })
      pullLatency.push(performance.now() - start)
      return answer
    } catch (error) {
      pullLatency.push(performance.now() - start)
      return { status: 0, body: String(error) }
    }
  }

  const traced = tracing ? traceRequests() : undefined
  const tracedFrom = traced?.length ?? 0
  const started = performance.now()
  const deadline = Date.now() + seconds * 1000
  await Promise.all(users.map(async (u) => {
    const token = tokens.get(u.userId)!
    const write = writer(u.storeId, u.userId, `${u.userId}-d1`)
    const versions = new Array<number>(OWN_AGGREGATES).fill(0)
    const acks = acknowledged.get(u.storeId)!
    const route = `/v1/stores/${u.storeId}/records`
    let cursor = 0
    let turn = 0
    while (Date.now() < deadline) {
      const batch = Array.from({ length: PUSH_SIZE }, () => {
        const a = turn++ % OWN_AGGREGATES
        const version = (versions[a] ?? 0) + 1
        versions[a] = version
        return write(`${u.userId}-g${a}`, version)
      })
      let pushed = false
      // A failed push is retried with the same bytes (idempotent: a stored record is acknowledged as a duplicate).
      for (let attempt = 0; attempt < PUSH_ATTEMPTS && !pushed; attempt++) {
        const answer = await timedCall(pushLatency, "POST", route, token, { records: batch.map((r) => r.text) })
        if (answer.status !== 200) {
          fail(`push ${u.userId}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`)
          continue
        }
        const results = (answer.body as PushAnswer).results
        results.forEach((r, k) => acks.set(r.eventId, { seq: r.globalSequence, digest: digest(batch[k]!.text) }))
        recordsPushed += results.length
        pushed = true
      }
      if (!pushed) return // this client stops: its next versions would conflict; the failures are counted
      const answer = await timedPull(`${route}?after=${cursor}&limit=${BATCH}`, token)
      if (answer.status !== 200) {
        fail(`pull ${u.userId}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`)
        continue
      }
      const page = answer.body as PullAnswer
      page.records.forEach((r, k) => {
        if (r.globalSequence !== cursor + k + 1) clientGaps++
      })
      recordsPulled += page.records.length
      if (page.records.length > 0) cursor = page.records[page.records.length - 1]!.globalSequence
    }
  }))
  const elapsed = (performance.now() - started) / 1000
  const loadTrace = traced?.slice(tracedFrom)

  // Verification: everything each store holds, read back by its owner.
  let stored = 0
  let lost = 0
  let duplicated = 0
  let wrongSequence = 0
  let altered = 0
  let unacknowledged = 0
  let sequenceGaps = 0
  let versionGaps = 0
  for (const [storeId, owner] of owners) {
    const acks = acknowledged.get(storeId)!
    const seen = new Set<string>()
    const versions = new Map<string, number>()
    let after = 0
    for (;;) {
      const answer = await patiently(base, "GET", `/v1/stores/${storeId}/records?after=${after}&limit=${BATCH}`, tokens.get(owner)!)
      const page = expectStatus("verification pull", answer) as PullAnswer
      for (const r of page.records) {
        stored++
        if (r.globalSequence !== after + 1) sequenceGaps++
        after = r.globalSequence
        const record = JSON.parse(r.recordJson) as { eventId: string; aggregateId: string; version: number }
        if (seen.has(record.eventId)) duplicated++
        seen.add(record.eventId)
        const v = versions.get(record.aggregateId) ?? 0
        if (record.version !== v + 1) versionGaps++
        versions.set(record.aggregateId, record.version)
        const ack = acks.get(record.eventId)
        if (ack === undefined) unacknowledged++
        else {
          if (ack.seq !== r.globalSequence) wrongSequence++
          if (ack.digest !== digest(r.recordJson)) altered++
        }
      }
      if (!page.hasMore) break
    }
    for (const eventId of acks.keys()) if (!seen.has(eventId)) lost++
  }
  return {
    seconds: elapsed,
    push: pushLatency.sort((a, b) => a - b),
    pull: pullLatency.sort((a, b) => a - b),
    errors,
    errorSamples,
    recordsPushed,
    acknowledged: [...acknowledged.values()].reduce((sum, m) => sum + m.size, 0),
    recordsPulled,
    clientGaps,
    stored,
    lost,
    duplicated,
    wrongSequence,
    altered,
    unacknowledged,
    sequenceGaps,
    versionGaps,
    ...(loadTrace === undefined ? {} : { trace: loadTrace })
  }
}

interface ServerTrace {
  readonly id: string
  readonly accepted: number
  readonly nth: number
  readonly request: number
  readonly bodyRead?: number
  readonly finished?: number
  readonly closed: number
}

/** Where the slowest 1% of the load's requests waited: joins the client's and the server's timestamps. */
const explainTail = (dir: string, client: ReadonlyArray<ClientTrace>): string => {
  const server = new Map<string, ServerTrace>()
  const seconds: Array<{ loopDelayMaxMs: number; accepted: number }> = []
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".jsonl"))) {
    for (const line of fs.readFileSync(path.join(dir, file), "utf8").split("\n")) {
      if (line === "") continue
      const r = JSON.parse(line) as ServerTrace | { loopDelayMaxMs: number; accepted: number }
      if ("id" in r) server.set(r.id, r)
      else seconds.push(r)
    }
  }
  const rows = client.flatMap((c) => {
    const s = server.get(c.id)
    return s === undefined || c.read === undefined ? [] : [{ c, s, total: c.read - c.sent }]
  }).sort((a, b) => b.total - a.total)
  const tail = rows.slice(0, Math.max(1, Math.ceil(rows.length / 100)))
  const median = (xs: ReadonlyArray<number>) => percentile([...xs].sort((a, b) => a - b), 0.5)
  const fresh = tail.filter((r) => r.s.nth === 1)
  const delays = seconds.map((s) => s.loopDelayMaxMs).sort((a, b) => a - b)
  return [
    `slowest ${tail.length} of ${rows.length} traced requests (≥ ${ms(tail[tail.length - 1]?.total ?? Number.NaN)} ms):`,
    `  ${fresh.length} were the first request of a new connection; for those, sent → accepted by the server: median ${
      ms(median(fresh.map((r) => r.s.accepted - r.c.sent)))
    } ms`,
    `  median sent → request seen by the server ${ms(median(tail.map((r) => r.s.request - r.c.sent)))} ms, ` +
    `in the server ${ms(median(tail.map((r) => (r.s.finished ?? r.s.closed) - r.s.request)))} ms, ` +
    `finished → read by the client ${ms(median(tail.map((r) => (r.c.read ?? 0) - (r.s.finished ?? r.s.closed))))} ms`,
    `  server event-loop delay, max per second: median ${ms(percentile(delays, 0.5))} ms, max ${ms(delays[delays.length - 1] ?? Number.NaN)} ms`
  ].join("\n")
}

const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1))

export const run = async (options: { quick: boolean }): Promise<ReadonlyArray<Row>> => {
  const n = options.quick ? 10_000 : 100_000
  const clients = 200
  const seconds = options.quick ? 10 : 60
  buildServer()
  const log = buildLog(n)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cipherlog-bench-server-"))
  const drops: Array<() => Promise<unknown>> = []
  const servers: Array<Server> = []
  const pushTitle = `Push ${n.toLocaleString("en")} records of 1 KiB over HTTP on loopback, batches of ${BATCH}, one client (vs raw inserts, same schema)`
  const pullTitle = `Pull ${n.toLocaleString("en")} records over HTTP on loopback, pages of ${BATCH}, one client (vs raw paged SELECT)`
  const loadTitle =
    `Load: ${clients} clients (users) on ${LOAD_STORES} stores, each pushing ${PUSH_SIZE} records then pulling from its cursor, ${seconds} s ` +
    `(per-IP limit raised, per-user limits default)`
  const rates: Array<Row> = []
  const loads: Array<Row> = []
  const rate = (title: string, name: string, seconds: number, base?: number, min?: number) => {
    const opsPerSec = n / seconds
    const ratio = base === undefined ? 1 : opsPerSec / base
    rates.push({
      title, name, opsPerSec, msPerOp: (seconds * 1000) / n, ratio,
      ...(min === undefined ? {} : { target: `≥ ${min}×`, pass: ratio >= min })
    })
    return opsPerSec
  }
  try {
    const stores: ReadonlyArray<{
      readonly label: string
      readonly raw: string
      readonly baseline: () => Promise<Rates>
      readonly env: () => Promise<Record<string, string>>
      /** The pull baseline, on the server's database (after `env`). */
      readonly select: (env: Record<string, string>) => () => Promise<number>
    }> = [
      {
        label: "SQLite",
        raw: "better-sqlite3 INSERT, tx of 1000",
        baseline: () => rawSqlite(path.join(dir, "raw.db"), log),
        env: async () => ({ DATA_DIR: path.join(dir, "server") }),
        select: (env) => selectSqlite(path.join(env["DATA_DIR"]!, "cipherlog.db"), n)
      },
      {
        label: "PostgreSQL",
        raw: "pg multi-row INSERT of 1000",
        baseline: async () => {
          const db = await freshDatabase("raw")
          drops.push(db.drop)
          return rawPostgres(db.url, log)
        },
        env: async () => {
          const db = await freshDatabase("server")
          drops.push(db.drop)
          return { DATABASE_URL: db.url }
        },
        select: (env) => selectPostgres(env["DATABASE_URL"]!, n)
      }
    ]
    const only = (process.env["CIPHERLOG_BENCH_SERVER_STORES"] ?? "sqlite,postgres").split(",").map((s) => s.trim().toLowerCase())
    const withLoad = process.env["CIPHERLOG_BENCH_SERVER_LOAD"] !== "0"
    const profDir = process.env["CIPHERLOG_BENCH_SERVER_CPU_PROF"]
    const traceDir = process.env["CIPHERLOG_BENCH_SERVER_TRACE"]
    const tracing = withLoad && traceDir !== undefined && traceDir !== ""
    for (const store of stores.filter((s) => only.includes(s.label === "SQLite" ? "sqlite" : "postgres"))) {
      const raw = await store.baseline()
      const storeTrace = tracing ? path.resolve(traceDir, store.label.toLowerCase()) : undefined
      if (storeTrace !== undefined) fs.mkdirSync(storeTrace, { recursive: true })
      const nodeArgs = [
        ...(profDir === undefined || profDir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${path.resolve(profDir)}`]),
        ...(storeTrace === undefined ? [] : ["--import", path.join(benchSrc, "trace-hook.mjs")])
      ]
      const storeEnv = await store.env()
      const server = await startServer(
        { ...serverEnv, ...storeEnv, ...(storeTrace === undefined ? {} : { CIPHERLOG_BENCH_SERVER_TRACE: storeTrace }) },
        nodeArgs
      )
      servers.push(server)
      const measured = await throughServer(server, log, store.select(storeEnv)).catch((error: unknown) => {
        throw new Error(`${String(error)}\nserver output:\n${server.output()}`)
      })
      const rawPush = rate(pushTitle, `${store.label}: raw ${store.raw}`, raw.pushSeconds)
      rate(pushTitle, `${store.label}: server push (HTTP)`, measured.pushSeconds, rawPush, 0.3)
      const rawPull = rate(pullTitle, `${store.label}: raw SELECT … LIMIT 1000, paged, same database (median of ${PULL_ROUNDS})`, measured.rawSeconds)
      rate(pullTitle, `${store.label}: server pull (HTTP, record lines, ${PULL_AHEAD} page ahead as SyncEngine)`, measured.pullSeconds, rawPull)
      rate(pullTitle, `${store.label}:   same, one page at a time`, measured.pullOneByOneSeconds, rawPull)
      rate(pullTitle, `${store.label}:   JSON answer, parsed, one page at a time (once)`, measured.pullJsonSeconds, rawPull)
      // The issue's target is against its one stated baseline, the raw inserts ("≥ 0.3× the raw rate for push and
      // ≥ 0.5× for pull"); the ratios to the raw SELECT above are the stricter comparison, reported without a target.
      rate(pullTitle, `${store.label}: server pull (as SyncEngine) vs the raw INSERT rate above`, measured.pullSeconds, rawPush, 0.5)

      if (!withLoad) {
        await server.stop()
        continue
      }
      const l = await load(server, clients, seconds, store.label.toLowerCase(), tracing)
      const all = [...l.push, ...l.pull].sort((a, b) => a - b)
      const requests = all.length
      const perSec = requests / l.seconds
      const latency = (xs: ReadonlyArray<number>) => `p50 ${ms(percentile(xs, 0.5))} ms, p99 ${ms(percentile(xs, 0.99))} ms`
      loads.push(
        {
          title: loadTitle, name: `${store.label}: all requests (${requests.toLocaleString("en")})`, opsPerSec: perSec, msPerOp: 1000 / perSec, ratio: 1,
          note: `${latency(all)}, max ${ms(all[all.length - 1] ?? Number.NaN)} ms, ${l.errors} errors`
        },
        {
          title: loadTitle, name: `${store.label}: push (${PUSH_SIZE} records each)`, opsPerSec: l.push.length / l.seconds, msPerOp: (l.seconds * 1000) / l.push.length,
          ratio: 1, note: `${latency(l.push)}; ${Math.round(l.recordsPushed / l.seconds).toLocaleString("en")} records/s`
        },
        {
          title: loadTitle, name: `${store.label}: pull (from cursor, ≤ ${BATCH})`, opsPerSec: l.pull.length / l.seconds, msPerOp: (l.seconds * 1000) / l.pull.length,
          ratio: 1, note: `${latency(l.pull)}; ${Math.round(l.recordsPulled / l.seconds).toLocaleString("en")} records/s`
        },
        {
          title: loadTitle, name: `${store.label}: verified ${l.stored.toLocaleString("en")} stored records`, opsPerSec: l.recordsPushed / l.seconds,
          msPerOp: (l.seconds * 1000) / Math.max(1, l.recordsPushed), ratio: 1,
          note: `${l.errors} errors, ${l.lost} lost, ${l.duplicated} duplicated, ${l.wrongSequence} with another sequence, ${l.altered} altered, ` +
            `${l.unacknowledged} unacknowledged, ${l.sequenceGaps} sequence gaps, ${l.versionGaps} version gaps, ${l.clientGaps} cursor gaps seen by clients`,
          target: "0 errors, 0 lost/duplicated, gapless 1..N",
          pass: l.errors === 0 && l.lost === 0 && l.duplicated === 0 && l.wrongSequence === 0 && l.altered === 0 && l.unacknowledged === 0 &&
            l.sequenceGaps === 0 && l.versionGaps === 0 && l.clientGaps === 0 && l.stored === l.acknowledged
        }
      )
      if (l.errorSamples.length > 0) process.stderr.write(`${store.label} load errors (first ${l.errorSamples.length}):\n  ${l.errorSamples.join("\n  ")}\n`)
      await server.stop()
      if (storeTrace !== undefined && l.trace !== undefined) process.stderr.write(`${store.label} load trace (${storeTrace}):\n${explainTail(storeTrace, l.trace)}\n`)
    }
  } finally {
    for (const server of servers) await server.stop()
    for (const drop of drops) await drop().catch((error: unknown) => process.stderr.write(`dropping a bench database failed: ${String(error)}\n`))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return [...rates.filter((r) => r.title === pushTitle), ...rates.filter((r) => r.title === pullTitle), ...loads]
}
