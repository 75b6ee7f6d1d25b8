/**
 * Authorization and limits over HTTP on a real server process: cross-store
 * and cross-user attempts are 403, missing or bad tokens 401, and the
 * limits answer 413, 415, 429 (with Retry-After) — never 5xx.
 */
import { Bytes } from "@cipherlog/domain"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { call, device, register, signUp } from "./support/client.js"
import * as Servers from "./support/server.js"

let server: Awaited<ReturnType<typeof Servers.startSqlite>>
const blob = (text: string) => Bytes.toBase64Url(Bytes.utf8(text))

beforeAll(async () => {
  server = await Servers.startSqlite()
})
afterAll(async () => {
  await server?.stop()
})

const setup = async () => {
  const base = server.url
  const tag = Math.random().toString(36).slice(2, 8)
  const alice = await signUp(base, `alice-${tag}`) // admin of A
  const bob = await signUp(base, `bob-${tag}`) // member of A
  const rita = await signUp(base, `rita-${tag}`) // reader of A
  const eve = await signUp(base, `eve-${tag}`) // admin of B only
  const storeA = `A-${tag}`
  const storeB = `B-${tag}`
  expect((await call(base, "POST", "/v1/stores", { token: alice.token, body: { storeId: storeA } })).status).toBe(201)
  expect((await call(base, "POST", "/v1/stores", { token: eve.token, body: { storeId: storeB } })).status).toBe(201)
  expect((await call(base, "PUT", `/v1/stores/${storeA}/members/${bob.user.userId}`, { token: alice.token, body: { role: "member" } })).status).toBe(200)
  expect((await call(base, "PUT", `/v1/stores/${storeA}/members/${rita.user.userId}`, { token: alice.token, body: { role: "reader" } })).status).toBe(200)
  const created = await call(base, "POST", `/v1/stores/${storeA}/kek/versions`, {
    token: alice.token,
    body: { versionId: "v1", reason: "initial", blobs: [{ userId: alice.user.userId, blob: blob("a") }, { userId: bob.user.userId, blob: blob("b") }] }
  })
  expect(created.status).toBe(201)
  return { base, alice, bob, rita, eve, storeA, storeB }
}

describe("access control over HTTP", () => {
  it("cross-store and cross-user attempts are refused with 403", async () => {
    const { alice, base, bob, eve, rita, storeA, storeB } = await setup()
    const ritaDevice = await device(rita.user.userId, "d1", storeA)
    const eveDevice = await device(eve.user.userId, "d1", storeA)
    const refused: Array<[string, number]> = []
    const expect403 = async (label: string, p: Promise<{ status: number; text: string }>) => {
      const r = await p
      if (r.status !== 403) refused.push([label, r.status])
      else expect(JSON.parse(r.text)._tag).toBe("Forbidden")
    }
    // A member of store A reading or writing store B.
    await expect403("member of A pulls B", call(base, "GET", `/v1/stores/${storeB}/records`, { token: alice.token }))
    await expect403("member of A lists B's members", call(base, "GET", `/v1/stores/${storeB}/members`, { token: alice.token }))
    await expect403("member of A reads B's KEK versions", call(base, "GET", `/v1/stores/${storeB}/kek/versions`, { token: alice.token }))
    await expect403("eve pushes to A", call(base, "POST", `/v1/stores/${storeA}/records`, { token: eve.token, body: { records: [(await eveDevice.record({ aggregateId: "x", version: 1, payload: 1 })).text] } }))
    await expect403("eve pulls A", call(base, "GET", `/v1/stores/${storeA}/records`, { token: eve.token }))
    await expect403("eve reads her own blobs of A", call(base, "GET", `/v1/stores/${storeA}/kek/blobs/me`, { token: eve.token }))
    await expect403("unknown store", call(base, "GET", `/v1/stores/nope-${storeA}/records`, { token: eve.token }))
    // A reader pushing.
    await expect403("reader pushes", call(base, "POST", `/v1/stores/${storeA}/records`, { token: rita.token, body: { records: [(await ritaDevice.record({ aggregateId: "x", version: 1, payload: 1 })).text] } }))
    // A member fetching another user's blobs.
    await expect403("member reads alice's blobs", call(base, "GET", `/v1/stores/${storeA}/kek/blobs/users/${alice.user.userId}`, { token: bob.token }))
    await expect403("member reads alice's v1 blob", call(base, "GET", `/v1/stores/${storeA}/kek/blobs/users/${alice.user.userId}/versions/v1`, { token: bob.token }))
    // Non-admins managing KEKs, members or reading the audit log.
    await expect403("member creates a KEK version", call(base, "POST", `/v1/stores/${storeA}/kek/versions`, { token: bob.token, body: { versionId: "v2", reason: "x", blobs: [] } }))
    await expect403("member rotates", call(base, "POST", `/v1/stores/${storeA}/kek/rotate`, { token: bob.token, body: { versionId: "v2", reason: "x", removeUserIds: [], blobs: [] } }))
    await expect403("member sets a status", call(base, "PUT", `/v1/stores/${storeA}/kek/versions/v1/status`, { token: bob.token, body: { status: "deprecated" } }))
    await expect403("member provisions a blob for another user", call(base, "POST", `/v1/stores/${storeA}/kek/blobs`, { token: bob.token, body: { versionId: "v1", userId: alice.user.userId, blob: blob("x") } }))
    await expect403("non-member provisions their own blob", call(base, "POST", `/v1/stores/${storeA}/kek/blobs`, { token: eve.token, body: { versionId: "v1", userId: eve.user.userId, blob: blob("x") } }))
    await expect403("member deletes a blob", call(base, "DELETE", `/v1/stores/${storeA}/kek/blobs/users/${alice.user.userId}/versions/v1`, { token: bob.token }))
    await expect403("member reads the audit log", call(base, "GET", `/v1/stores/${storeA}/audit`, { token: bob.token }))
    await expect403("reader reads the audit log", call(base, "GET", `/v1/stores/${storeA}/audit`, { token: rita.token }))
    await expect403("member adds a member", call(base, "PUT", `/v1/stores/${storeA}/members/${eve.user.userId}`, { token: bob.token, body: { role: "admin" } }))
    await expect403("member removes a member", call(base, "DELETE", `/v1/stores/${storeA}/members/${rita.user.userId}`, { token: bob.token }))
    await expect403("admin of B rotates A", call(base, "POST", `/v1/stores/${storeA}/kek/rotate`, { token: eve.token, body: { versionId: "v9", reason: "x", removeUserIds: [], blobs: [] } }))
    await expect403("admin of B reads A's audit", call(base, "GET", `/v1/stores/${storeA}/audit`, { token: eve.token }))
    expect(refused).toEqual([])

    // And what each may do (a member may replace their own blob: re-sealing a prekey-sealed one to their identity).
    expect((await call(base, "GET", `/v1/stores/${storeA}/kek/blobs/me`, { token: bob.token })).body).toHaveLength(1)
    expect((await call(base, "POST", `/v1/stores/${storeA}/kek/blobs`, { token: rita.token, body: { versionId: "v1", userId: rita.user.userId, blob: blob("r") } })).status).toBe(201)
    expect((await call(base, "GET", `/v1/stores/${storeA}/kek/blobs/users/${bob.user.userId}`, { token: bob.token })).status).toBe(200)
    expect((await call(base, "GET", `/v1/stores/${storeA}/kek/blobs/users/${bob.user.userId}`, { token: alice.token })).status).toBe(200)
    expect((await call(base, "GET", `/v1/stores/${storeA}/records`, { token: rita.token })).status).toBe(200)
    const audit = await call<{ entries: Array<{ action: string }> }>(base, "GET", `/v1/stores/${storeA}/audit`, { token: alice.token })
    expect(audit.body.entries.map((e) => e.action)).toContain("kek.blob.read")
  })

  it("missing, malformed, unknown and expired tokens are 401; logins with a wrong signature or a used challenge fail", async () => {
    const base = server.url
    for (const token of [undefined, "", "x", "A".repeat(43), Bytes.toBase64Url(new Uint8Array(32).fill(1))]) {
      const r = await call(base, "GET", "/v1/stores/s/records", token === undefined ? {} : { token })
      expect([token, r.status]).toEqual([token, 401])
    }
    // Only the Bearer scheme: another scheme with a well-formed token after its seventh character is refused.
    const { token: valid } = await signUp(base, `s-${Math.random().toString(36).slice(2, 8)}`)
    for (const authorization of [`Basic  ${valid}`, `Token: ${valid}`]) {
      const r = await call(base, "GET", "/v1/stores/s/records", { headers: { authorization } })
      expect([authorization.slice(0, 6), r.status, r.text]).toEqual([authorization.slice(0, 6), 401, expect.stringContaining("Bearer scheme")])
    }
    expect((await call(base, "GET", "/v1/stores/s/records", { headers: { authorization: `bearer ${valid}` } })).status).toBe(403)
    // 405 names the allowed methods in an Allow header.
    const wrongMethod = await call(base, "PATCH", "/v1/stores/s/records", { token: valid })
    expect([wrongMethod.status, wrongMethod.headers.get("allow")]).toEqual([405, "POST, GET"])
    const { user } = await signUp(base, `u-${Math.random().toString(36).slice(2, 8)}`)
    const challenge = await call<{ challengeId: string; nonce: string }>(base, "POST", "/v1/auth/challenge", { body: { userId: user.userId } })
    const wrong = await call(base, "POST", "/v1/auth/session", { body: { challengeId: challenge.body.challengeId, signature: Bytes.toBase64Url(new Uint8Array(64)) } })
    expect(wrong.status).toBe(401)
    // The challenge was consumed by the failed attempt.
    const again = await call(base, "POST", "/v1/auth/session", { body: { challengeId: challenge.body.challengeId, signature: Bytes.toBase64Url(new Uint8Array(64)) } })
    expect(again.status).toBe(401)
    // Unknown users get a challenge (no enumeration) but cannot log in.
    const ghost = await call(base, "POST", "/v1/auth/challenge", { body: { userId: "ghost-user" } })
    expect(ghost.status).toBe(200)
  })

  it("registration: idempotent for the same keys, 409 for others, 401 for a bad proof", async () => {
    const base = server.url
    const { user } = await signUp(base, `r-${Math.random().toString(36).slice(2, 8)}`)
    const again = await register(base, user)
    expect([again.status, (again.body as { created: boolean }).created]).toEqual([200, false])
    const other = await (await import("./support/client.js")).newIdentity(user.userId)
    expect((await register(base, other)).status).toBe(409)
    const bad = await call(base, "POST", "/v1/users", {
      body: { userId: "mallory", signingPublicKey: Bytes.toBase64Url(new Uint8Array(32)), encryptionPublicKey: Bytes.toBase64Url(new Uint8Array(32)), proof: Bytes.toBase64Url(new Uint8Array(64)) }
    })
    expect(bad.status).toBe(401)
  })

  it("the last admin cannot be removed; rotation refuses blobs that do not match the remaining members (422)", async () => {
    const { alice, base, bob, rita, storeA } = await setup()
    expect((await call(base, "DELETE", `/v1/stores/${storeA}/members/${alice.user.userId}`, { token: alice.token })).status).toBe(409)
    const missing = await call(base, "POST", `/v1/stores/${storeA}/kek/rotate`, { token: alice.token, body: { versionId: "v2", reason: "x", removeUserIds: [bob.user.userId], blobs: [] } })
    expect([missing.status, (missing.body as { reason: string }).reason]).toEqual([422, "blobs-mismatch"])
    const rotated = await call(base, "POST", `/v1/stores/${storeA}/kek/rotate`, {
      token: alice.token,
      body: { versionId: "v2", reason: "remove bob", removeUserIds: [bob.user.userId], blobs: [{ userId: alice.user.userId, blob: blob("a2") }, { userId: rita.user.userId, blob: blob("r2") }] }
    })
    expect(rotated.status).toBe(201)
    // Bob is out: everything of the store is now 403 for him.
    expect((await call(base, "GET", `/v1/stores/${storeA}/records`, { token: bob.token })).status).toBe(403)
    expect((await call(base, "GET", `/v1/stores/${storeA}/kek/blobs/me`, { token: bob.token })).status).toBe(403)
  })

  it("recovery material: the owner replaces, others get 403, anyone reads by locator", async () => {
    const base = server.url
    const owner = await signUp(base, `o-${Math.random().toString(36).slice(2, 8)}`)
    const other = await signUp(base, `x-${Math.random().toString(36).slice(2, 8)}`)
    const locator = Bytes.toBase64Url(new Uint8Array(32).map((_, i) => (i * 7 + Date.now()) & 255))
    expect((await call(base, "GET", `/v1/recovery/${locator}`)).status).toBe(404)
    expect((await call(base, "PUT", `/v1/recovery/${locator}`, { token: owner.token, body: { blob: blob("one") } })).status).toBe(204)
    expect((await call(base, "PUT", `/v1/recovery/${locator}`, { token: other.token, body: { blob: blob("two") } })).status).toBe(403)
    expect((await call(base, "PUT", `/v1/recovery/${locator}`, { token: owner.token, body: { blob: blob("three") } })).status).toBe(204)
    expect((await call(base, "GET", `/v1/recovery/${locator}`)).body).toEqual({ blob: blob("three") })
    expect((await call(base, "GET", `/v1/recovery/not-a-locator`)).status).toBe(400)
  })
})

describe("limits over HTTP", () => {
  it("behind a trusted proxy each forwarded client has its own per-address bucket; without TRUSTED_PROXIES the header changes nothing", async () => {
    const exhaust = async (base: string, client: string) => {
      let status = 0
      for (let i = 0; i < 30 && status !== 429; i++) {
        status = (await call(base, "POST", "/v1/auth/challenge", { body: { userId: "x" }, headers: { "x-forwarded-for": client } })).status
      }
      return status
    }
    const ask = async (base: string, client: string) =>
      (await call(base, "POST", "/v1/auth/challenge", { body: { userId: "x" }, headers: { "x-forwarded-for": client } })).status
    const limits = { RATE_LIMIT_IP_PER_SECOND: "0.01", RATE_LIMIT_IP_BURST: "5" }
    const proxied = await Servers.startSqlite({ ...limits, TRUSTED_PROXIES: "127.0.0.1,::1" })
    try {
      expect(await exhaust(proxied.url, "203.0.113.1")).toBe(429)
      expect(await ask(proxied.url, "203.0.113.2")).toBe(200)
      // A forged left part does not escape the limit: the proxy's own entry (the rightmost) decides.
      expect(await ask(proxied.url, "198.51.100.9, 203.0.113.1")).toBe(429)
    } finally {
      await proxied.stop()
    }
    const direct = await Servers.startSqlite(limits)
    try {
      expect(await exhaust(direct.url, "203.0.113.1")).toBe(429)
      expect(await ask(direct.url, "203.0.113.2")).toBe(429)
    } finally {
      await direct.stop()
    }
  })

  it("413 for a body over the limit, 415 for a non-JSON body, 429 with Retry-After per address, per user and for recovery reads", async () => {
    const limited = await Servers.startSqlite({
      MAX_BODY_BYTES: "4096",
      RATE_LIMIT_IP_PER_SECOND: "1",
      RATE_LIMIT_IP_BURST: "40",
      RATE_LIMIT_USER_PER_SECOND: "1",
      RATE_LIMIT_USER_BURST: "5",
      RECOVERY_READS_PER_MINUTE: "2"
    })
    try {
      const base = limited.url
      const big = await call(base, "POST", "/v1/auth/challenge", { raw: JSON.stringify({ userId: "a".repeat(5000) }), headers: { "content-type": "application/json" } })
      expect([big.status, (big.body as { _tag: string })._tag]).toEqual([413, "PayloadTooLarge"])
      const text = await call(base, "POST", "/v1/auth/challenge", { raw: "userId=a", headers: { "content-type": "application/x-www-form-urlencoded" } })
      expect(text.status).toBe(415)
      const { token } = await signUp(base, "limited-user")
      const statuses: Array<number> = []
      for (let i = 0; i < 8; i++) statuses.push((await call(base, "GET", "/v1/stores/none/records", { token })).status)
      expect(statuses.slice(0, 3)).toEqual([403, 403, 403])
      expect(statuses).toContain(429)
      const locator = Bytes.toBase64Url(new Uint8Array(32))
      const reads: Array<{ status: number; retry: string | null }> = []
      for (let i = 0; i < 4; i++) {
        const r = await call(base, "GET", `/v1/recovery/${locator}`)
        reads.push({ status: r.status, retry: r.headers.get("retry-after") })
      }
      expect(reads.slice(0, 2).map((r) => r.status)).toEqual([404, 404])
      expect(reads[2]!.status).toBe(429)
      expect(Number(reads[2]!.retry)).toBeGreaterThan(0)
      // HEAD is answered like GET, so it shares the recovery limit (it would otherwise probe locators freely).
      expect((await call(base, "HEAD", `/v1/recovery/${locator}`)).status).toBe(429)
      // Per address: exhaust the burst.
      let last = 0
      let retryAfter: string | null = null
      for (let i = 0; i < 60 && last !== 429; i++) {
        const r = await call(base, "POST", "/v1/auth/challenge", { body: { userId: "x" } })
        last = r.status
        retryAfter = r.headers.get("retry-after")
      }
      expect(last).toBe(429)
      expect(Number(retryAfter)).toBeGreaterThan(0)
      // Health checks are not limited.
      expect((await call(base, "GET", "/healthz")).status).toBe(200)
      expect(limited.output()).not.toMatch(/"status":5\d\d/)
    } finally {
      await limited.stop()
    }
  })

  it("REGISTRATION_TOKEN: registration needs the header", async () => {
    const closed = await Servers.startSqlite({ REGISTRATION_TOKEN: "let-me-in" })
    try {
      const { newIdentity } = await import("./support/client.js")
      const user = await newIdentity("closed-user")
      expect((await register(closed.url, user)).status).toBe(401)
      expect((await register(closed.url, user, { "x-registration-token": "wrong" })).status).toBe(401)
      expect((await register(closed.url, user, { "x-registration-token": "let-me-in" })).status).toBe(200)
      expect(closed.output()).not.toContain("let-me-in")
    } finally {
      await closed.stop()
    }
  })
})
