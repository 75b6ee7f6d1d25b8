/**
 * INV-006 (server part) and INV-016 on a real server: clients send only
 * ciphertext (real AES-256-GCM, AAD v1), so a plaintext canary never
 * reaches the server; and what the server must never log — bearer tokens,
 * blobs, recovery material, record_json and values of refused input — never
 * appears in its stdout/stderr or metrics, at the most verbose log level,
 * on success and error paths alike. Storage holds record_json exactly as
 * sent, token hashes but not tokens, and no plaintext.
 */
import { Bytes } from "@cipherlog/domain"
import { Effect, FastCheck as fc } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { call, crypto, device, login, signUp } from "./support/client.js"
import { found, pgDump, sqliteBytes } from "./support/scan.js"
import * as Servers from "./support/server.js"

const REGISTRATION = "REGISTRATION-CANARY-31cc"

interface Canaries {
  readonly PLAINTEXT: string
  readonly BLOB: string
  readonly RECOVERY: string
  readonly INPUT: string
}

/** Fresh canaries per property run. */
const canariesArb: fc.Arbitrary<Canaries> = fc.record({
  PLAINTEXT: fc.stringMatching(/^[a-z0-9]{12}$/).map((s) => `PLAINTEXT-CANARY-${s}`),
  BLOB: fc.stringMatching(/^[a-z0-9]{12}$/).map((s) => `BLOB-CANARY-${s}`),
  RECOVERY: fc.stringMatching(/^[a-z0-9]{12}$/).map((s) => `RECOVERY-CANARY-${s}`),
  INPUT: fc.stringMatching(/^[a-z0-9]{12}$/).map((s) => `INPUT-CANARY-${s}`)
})

const exercise = async (base: string, { BLOB, INPUT, PLAINTEXT, RECOVERY }: Canaries) => {
  const tag = Math.random().toString(36).slice(2, 7)
  const alice = await signUp(base, `alice-${tag}`)
  const bob = await signUp(base, `bob-${tag}`)
  const tokens = [alice.token, bob.token, await login(base, alice.user)]
  const storeId = `zk-${tag}`
  expect((await call(base, "POST", "/v1/stores", { token: alice.token, body: { storeId } })).status).toBe(201)
  expect((await call(base, "PUT", `/v1/stores/${storeId}/members/${bob.user.userId}`, { token: alice.token, body: { role: "member" } })).status).toBe(200)
  const writer = await device(alice.user.userId, "laptop", storeId)
  const texts: Array<string> = []
  const binaries: Array<string> = []
  for (let v = 1; v <= 6; v++) {
    const r = await writer.record({ aggregateId: "secret-note", version: v, payload: { text: `${PLAINTEXT} #${v}`, more: "x".repeat(200) } })
    texts.push(r.text)
    binaries.push(Bytes.toBase64Url(r.sealed.ciphertext), Bytes.toBase64Url(r.sealed.nonce))
  }
  expect((await call(base, "POST", `/v1/stores/${storeId}/records`, { token: alice.token, body: { records: texts.slice(0, 3) } })).status).toBe(200)
  expect((await call(base, "POST", `/v1/stores/${storeId}/records`, { token: alice.token, body: { records: texts } })).status).toBe(200)
  expect((await call(base, "GET", `/v1/stores/${storeId}/records?after=0&wait=100`, { token: bob.token })).status).toBe(200)
  const blob = Bytes.toBase64Url(Bytes.utf8(BLOB))
  const recovery = Bytes.toBase64Url(Bytes.utf8(RECOVERY))
  expect((await call(base, "POST", `/v1/stores/${storeId}/kek/versions`, { token: alice.token, body: { versionId: "v1", reason: "r", blobs: [{ userId: alice.user.userId, blob }] } })).status).toBe(201)
  expect((await call(base, "GET", `/v1/stores/${storeId}/kek/blobs/me`, { token: alice.token })).text).toContain(blob)
  const locator = Bytes.toBase64Url(Effect.runSync(crypto.randomBytes(32)))
  expect((await call(base, "PUT", `/v1/recovery/${locator}`, { token: alice.token, body: { blob: recovery } })).status).toBe(204)
  expect((await call(base, "GET", `/v1/recovery/${locator}`)).status).toBe(200)

  // Error paths with canaries in the input: none may come back or be logged.
  const forged = texts[0]!.replace("\"v\":1", `"v":1,"x":"${INPUT}"`)
  const refused = [
    await call(base, "POST", `/v1/stores/${storeId}/records`, { token: alice.token, body: { records: [forged] } }),
    await call(base, "POST", `/v1/stores/${storeId}/records`, { token: alice.token, body: { records: [texts[0]!.replace(/"storeId":"[^"]+"/, `"storeId":"${INPUT}"`)] } }),
    await call(base, "POST", `/v1/stores/${storeId}/records`, { token: alice.token, body: { records: [`{"v":1,"nonce":"${INPUT}"}`] } }),
    await call(base, "POST", `/v1/stores/${storeId}/records`, { token: alice.token, body: { records: texts[1]!.replace("NoteWritten", INPUT) } }),
    await call(base, "POST", `/v1/stores/${storeId}/records`, { token: alice.token, raw: `{"records":["${INPUT}`, headers: { "content-type": "application/json" } }),
    await call(base, "POST", `/v1/stores/${storeId}/records`, { token: alice.token, body: { records: [texts[0]!.replace(/"version":1/, `"version":"${INPUT}"`)] } }),
    await call(base, "GET", `/v1/stores/${storeId}/records?after=${INPUT}`, { token: alice.token }),
    await call(base, "GET", `/v1/stores/${storeId}/records`, { token: INPUT }),
    await call(base, "PUT", `/v1/stores/${storeId}/members/bob`, { token: alice.token, body: { role: INPUT } }),
    await call(base, "POST", `/v1/stores/${storeId}/kek/blobs`, { token: alice.token, body: { versionId: "v1", userId: bob.user.userId, blob: `${INPUT}!` } }),
    await call(base, "POST", "/v1/auth/session", { body: { challengeId: INPUT, signature: INPUT } }),
    await call(base, "POST", "/v1/users", { body: { userId: INPUT, signingPublicKey: INPUT }, headers: { "x-registration-token": REGISTRATION } })
  ]
  for (const r of refused) {
    expect(r.status).toBeGreaterThanOrEqual(400)
    expect(r.status).toBeLessThan(500)
    expect(r.text).not.toContain(INPUT)
  }
  const metrics = (await call(base, "GET", "/metrics")).text
  return {
    texts, binaries, tokens, blob, recovery, metrics, locator, userIds: [alice.user.userId, bob.user.userId],
    canaries: [PLAINTEXT, BLOB, RECOVERY, INPUT, REGISTRATION]
  }
}
type Exercised = Awaited<ReturnType<typeof exercise>>

/** Runs the exercise for several random sets of canaries; returns everything that must stay secret. */
const exerciseAll = async (base: string, runs: number) => {
  const all: Array<Exercised> = []
  await fc.assert(fc.asyncProperty(canariesArb, async (c) => void all.push(await exercise(base, c))), { numRuns: runs })
  return {
    neverLogged: all.flatMap((x) => [...x.canaries, x.blob, x.recovery, x.locator, ...x.tokens, ...x.binaries, ...x.texts]),
    neverStored: all.flatMap((x) => [x.canaries[0]!, x.canaries[3]!, REGISTRATION, ...x.tokens]),
    stored: all.flatMap((x) => x.texts),
    userIds: all.flatMap((x) => x.userIds),
    metrics: all[all.length - 1]!.metrics
  }
}

describe("INV-006 the server never sees plaintext and never logs secrets", () => {
  let database: Awaited<ReturnType<typeof Servers.freshDatabase>> | undefined
  afterAll(async () => {
    await database?.drop()
  })

  it("INV-006 SQLite: canaries never appear in logs or metrics; storage holds record_json as sent, no plaintext, no token", async () => {
    const server = await Servers.startSqlite({ LOG_LEVEL: "All" })
    let x: Awaited<ReturnType<typeof exerciseAll>>
    try {
      x = await exerciseAll(server.url, 3)
    } finally {
      server.process.kill("SIGTERM")
    }
    await new Promise((r) => server.process.once("exit", r))
    const storage = sqliteBytes(server.dataDir)
    const output = server.output()
    expect(output).toContain("\"message\":\"http\"")
    expect(found(output, x.neverLogged)).toEqual([])
    expect(found(x.metrics, [...x.neverLogged, ...x.userIds])).toEqual([])
    expect(found(storage, x.neverStored)).toEqual([])
    expect(found(storage, x.stored)).toEqual(x.stored)
    await server.stop()
  })

  it("INV-006 PostgreSQL: the same scans over logs, metrics and a pg_dump", async () => {
    database = await Servers.freshDatabase()
    const server = await Servers.start({ DATABASE_URL: database.url, LOG_LEVEL: "All" })
    let x: Awaited<ReturnType<typeof exerciseAll>>
    try {
      x = await exerciseAll(server.url, 2)
    } finally {
      await server.stop()
    }
    const dump = pgDump(database.url)
    expect(found(server.output(), x.neverLogged)).toEqual([])
    expect(found(x.metrics, [...x.neverLogged, ...x.userIds])).toEqual([])
    expect(found(dump, x.neverStored)).toEqual([])
    expect(found(dump, x.stored)).toEqual(x.stored)
  })
})
