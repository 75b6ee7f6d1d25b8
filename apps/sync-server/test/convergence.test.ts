/**
 * Multi-client convergence over HTTP against real server processes, for
 * both stores (PostgreSQL: two server processes on one database, clients
 * split between them): random interleavings of pushes (in any valid
 * spelling), retries and pulls by several clients, some racing on shared
 * aggregates. Afterwards every client holds the same log, sequences are
 * 1..head without gap or duplicate (INV-003), every acknowledged record is
 * stored once (INV-005) and byte for byte (INV-004), and every aggregate is
 * 1..n (INV-002).
 */
import { Records } from "@cipherlog/server-store-conformance"
import { FastCheck as fc } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { call, device, signUp } from "./support/client.js"
import * as Servers from "./support/server.js"

interface Stored {
  readonly globalSequence: number
  readonly recordJson: string
}

type Action =
  | { readonly _tag: "push"; readonly count: number; readonly shared: boolean; readonly spelling: Records.Spelling }
  | { readonly _tag: "retry" }
  | { readonly _tag: "pull"; readonly limit: number }

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("push" as const), count: fc.integer({ min: 1, max: 4 }), shared: fc.boolean(), spelling: Records.spellingArb }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("retry" as const) }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("pull" as const), limit: fc.integer({ min: 1, max: 7 }) }) }
)

const pullAll = async (base: string, token: string, storeId: string, after: number, limit: number) => {
  const out: Array<Stored> = []
  let cursor = after
  for (;;) {
    const page = await call<{ records: Array<Stored>; hasMore: boolean; head: number }>(base, "GET", `/v1/stores/${storeId}/records?after=${cursor}&limit=${limit}`, { token })
    expect(page.status).toBe(200)
    out.push(...page.body.records)
    if (page.body.records.length > 0) cursor = page.body.records[page.body.records.length - 1]!.globalSequence
    if (!page.body.hasMore) return out
  }
}

const scenario = (name: string, servers: () => ReadonlyArray<string>, runs: number) =>
  it(`INV-003 INV-004 INV-005 ${name}: random push/retry/pull interleavings of several clients converge to one log`, async () => {
    const bases = servers()
    const tag = Math.random().toString(36).slice(2, 7)
    const users = await Promise.all([0, 1, 2, 3].map((i) => signUp(bases[i % bases.length]!, `c${i}-${tag}`)))
    let runIndex = 0
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(actionArb, { minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 4 }), async (scripts) => {
        const storeId = `conv-${tag}-${runIndex++}`
        const owner = users[0]!
        expect((await call(bases[0]!, "POST", "/v1/stores", { token: owner.token, body: { storeId } })).status).toBe(201)
        for (const u of users.slice(1)) {
          expect((await call(bases[0]!, "PUT", `/v1/stores/${storeId}/members/${u.user.userId}`, { token: owner.token, body: { role: "member" } })).status).toBe(200)
        }
        const acknowledged = new Map<string, { seq: number; text: string }>()
        const problems: Array<string> = []
        const client = async (i: number, script: ReadonlyArray<Action>) => {
          const base = bases[i % bases.length]!
          const { token, user } = users[i]!
          const writer = await device(user.userId, `d${i}`, storeId)
          const known = new Map<string, number>()
          let lastBatch: Array<string> = []
          let lastSeqs: Array<number> = []
          let cursor = 0
          for (const action of script) {
            if (action._tag === "push") {
              const aggregateId = action.shared ? "shared" : `own${i}`
              const from = (known.get(aggregateId) ?? 0) + 1
              const texts: Array<string> = []
              for (let k = 0; k < action.count; k++) {
                const r = await writer.record({ aggregateId, version: from + k, payload: { i, k } })
                texts.push(Records.respell(r.text, action.spelling))
              }
              const res = await call(base, "POST", `/v1/stores/${storeId}/records`, { token, body: { records: texts } })
              if (res.status === 200) {
                known.set(aggregateId, from + action.count - 1)
                lastBatch = texts
                lastSeqs = (res.body.results ?? []).map((r) => r.globalSequence)
                texts.forEach((t, k) => acknowledged.set(Records.eventIdOf(t), { seq: lastSeqs[k]!, text: t }))
              } else if (res.status === 409 && res.body._tag === "VersionConflict") {
                const missing = res.body.missing ?? []
                if (missing.some((m, k) => Records.versionOf(m.recordJson) !== from + k)) problems.push(`client ${i}: conflict without the missing records`)
                known.set(aggregateId, res.body.actual ?? 0)
              } else {
                problems.push(`client ${i}: push answered ${res.status} ${res.text.slice(0, 200)}`)
              }
            } else if (action._tag === "retry") {
              if (lastBatch.length === 0) continue
              const res = await call(base, "POST", `/v1/stores/${storeId}/records`, { token, body: { records: lastBatch } })
              const seqs = res.status === 200 ? (res.body.results ?? []).map((r) => (r.duplicate ? r.globalSequence : -1)) : []
              if (JSON.stringify(seqs) !== JSON.stringify(lastSeqs)) problems.push(`client ${i}: retry answered ${res.status} ${JSON.stringify(seqs)} for ${JSON.stringify(lastSeqs)}`)
            } else {
              const got = await pullAll(base, token, storeId, cursor, action.limit)
              if (got.some((r, k) => r.globalSequence !== cursor + k + 1)) problems.push(`client ${i}: pull after ${cursor} is not contiguous`)
              if (got.length > 0) cursor = got[got.length - 1]!.globalSequence
            }
          }
        }
        await Promise.all(scripts.map((script, i) => client(i, script)))
        expect(problems).toEqual([])
        // Every client (on either server) pulls the whole log: the same log everywhere.
        const logs = await Promise.all(users.map((u, i) => pullAll(bases[i % bases.length]!, u.token, storeId, 0, 1000)))
        for (const log of logs.slice(1)) expect(log).toEqual(logs[0])
        const log = logs[0]!
        expect(log.map((r) => r.globalSequence)).toEqual(log.map((_, k) => k + 1))
        expect(new Set(log.map((r) => Records.eventIdOf(r.recordJson))).size).toBe(log.length)
        expect(log.length).toBe(acknowledged.size)
        for (const { seq, text } of acknowledged.values()) expect(log[seq - 1]?.recordJson).toBe(text)
        const versions = new Map<string, Array<number>>()
        for (const r of log) {
          const key = Records.aggregateOf(r.recordJson)
          versions.set(key, [...(versions.get(key) ?? []), Records.versionOf(r.recordJson)])
        }
        for (const vs of versions.values()) expect(vs).toEqual(vs.map((_, k) => k + 1))
      }),
      { numRuns: runs }
    )
  })

describe("convergence over HTTP: SQLite", () => {
  let server: Awaited<ReturnType<typeof Servers.startSqlite>>
  beforeAll(async () => {
    server = await Servers.startSqlite()
  })
  afterAll(async () => {
    await server?.stop()
  })
  scenario("(SQLite, one server)", () => [server.url], 12)
})

describe("convergence over HTTP: PostgreSQL, two server processes on one database", () => {
  let database: Awaited<ReturnType<typeof Servers.freshDatabase>>
  let a: Servers.Server
  let b: Servers.Server
  beforeAll(async () => {
    database = await Servers.freshDatabase()
    // Started together: both migrate the empty database at once. Long polls re-check only every 30 s,
    // so a quick wake-up below can only come from LISTEN/NOTIFY.
    const env = { DATABASE_URL: database.url, LONG_POLL_RECHECK_MS: "30000", PG_MAX_CONNECTIONS: "4" }
    ;[a, b] = await Promise.all([Servers.start(env), Servers.start(env)])
  })
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await database?.drop()
  })

  scenario("(PostgreSQL, two servers)", () => [a.url, b.url], 8)

  it("INV-003 eight clients pushing concurrently through two processes: 1..n, no gap, no duplicate", async () => {
    const tag = Math.random().toString(36).slice(2, 7)
    const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => signUp(i % 2 === 0 ? a.url : b.url, `p${i}-${tag}`)))
    const storeId = `race-${tag}`
    expect((await call(a.url, "POST", "/v1/stores", { token: clients[0]!.token, body: { storeId } })).status).toBe(201)
    for (const c of clients.slice(1)) {
      await call(a.url, "PUT", `/v1/stores/${storeId}/members/${c.user.userId}`, { token: clients[0]!.token, body: { role: "member" } })
    }
    const seqs = await Promise.all(clients.map(async (c, i) => {
      const base = i % 2 === 0 ? a.url : b.url
      const writer = await device(c.user.userId, "d", storeId)
      const mine: Array<number> = []
      for (let batch = 0; batch < 15; batch++) {
        const texts: Array<string> = []
        for (let k = 0; k < 10; k++) texts.push((await writer.record({ aggregateId: `c${i}`, version: batch * 10 + k + 1, payload: k })).text)
        const res = await call(base, "POST", `/v1/stores/${storeId}/records`, { token: c.token, body: { records: texts } })
        expect(res.status).toBe(200)
        mine.push(...(res.body.results ?? []).map((r) => r.globalSequence))
      }
      return mine
    }))
    const all = seqs.flat().sort((x, y) => x - y)
    expect(all).toEqual(Array.from({ length: 1200 }, (_, k) => k + 1))
    const log = await pullAll(b.url, clients[1]!.token, storeId, 0, 1000)
    expect(log.map((r) => r.globalSequence)).toEqual(all)
  })

  it("a long poll on one process is woken by a push through the other (LISTEN/NOTIFY)", async () => {
    const tag = Math.random().toString(36).slice(2, 7)
    const writer = await signUp(a.url, `w-${tag}`)
    const reader = await signUp(b.url, `r-${tag}`)
    const storeId = `wake-${tag}`
    await call(a.url, "POST", "/v1/stores", { token: writer.token, body: { storeId } })
    await call(a.url, "PUT", `/v1/stores/${storeId}/members/${reader.user.userId}`, { token: writer.token, body: { role: "reader" } })
    const started = Date.now()
    const waiting = call(b.url, "GET", `/v1/stores/${storeId}/records?after=0&wait=20000`, { token: reader.token })
    await new Promise((r) => setTimeout(r, 300))
    const d = await device(writer.user.userId, "d", storeId)
    const r = await d.record({ aggregateId: "x", version: 1, payload: "hi" })
    expect((await call(a.url, "POST", `/v1/stores/${storeId}/records`, { token: writer.token, body: { records: [r.text] } })).status).toBe(200)
    const woke = await waiting
    expect((woke.body.records ?? []).map((x) => x.recordJson)).toEqual([r.text])
    expect(Date.now() - started).toBeLessThan(5000)
  })
})
