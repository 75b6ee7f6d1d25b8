/**
 * INV-017: authenticating neither needs nor yields a key that decrypts
 * data. The server's entire state — its database (SQLite file bytes, or a
 * pg_dump of every table) plus its logs and metrics — is searched for
 * anything that opens the records' ciphertext: every 32-byte window of the
 * raw state and of every base64url value in it is tried as an AES-256-GCM
 * key against the records. None opens one. The same search finds the key
 * as soon as it is put into the state (a mutant that escrows the data key
 * in a blob), so the search can fail. And logging in again, or registering
 * again, changes no key a client holds.
 */
import { Crypto, Hpke, labels } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { Auth } from "@cipherlog/sync-api"
import { Effect, FastCheck as fc } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { call, crypto, device, login, register, run, signUp } from "./support/client.js"
import { base64UrlValues, keysThatOpen, pgDump, type SealedRecord, sqliteBytes } from "./support/scan.js"
import * as Servers from "./support/server.js"

const withCrypto = <A, E>(effect: Effect.Effect<A, E, Crypto.Crypto>) => run(Effect.provideService(effect, Crypto.Crypto, crypto))

/** A store with records, KEK blobs (the KEK sealed to each member with HPKE), recovery material and sessions. */
const populate = async (base: string, payloads: ReadonlyArray<string>, escrow: boolean) => {
  const tag = Math.random().toString(36).slice(2, 7)
  const alice = await signUp(base, `alice-${tag}`)
  const bob = await signUp(base, `bob-${tag}`)
  const storeId = `esc-${tag}`
  await call(base, "POST", "/v1/stores", { token: alice.token, body: { storeId } })
  await call(base, "PUT", `/v1/stores/${storeId}/members/${bob.user.userId}`, { token: alice.token, body: { role: "member" } })
  const writer = await device(alice.user.userId, "laptop", storeId)
  const records: Array<SealedRecord> = []
  const texts: Array<string> = []
  for (const [i, payload] of payloads.entries()) {
    const r = await writer.record({ aggregateId: "n", version: i + 1, payload })
    records.push({ nonce: r.sealed.nonce, ciphertext: r.sealed.ciphertext, aad: r.aad })
    texts.push(r.text)
  }
  expect((await call(base, "POST", `/v1/stores/${storeId}/records`, { token: alice.token, body: { records: texts } })).status).toBe(200)
  // The KEK (which would wrap the data key) sealed to each member's X25519 key: opaque to the server.
  const kek = await run(crypto.randomBytes(32))
  const blobs = await Promise.all([alice, bob].map(async (m) => {
    const sealed = await withCrypto(Hpke.sealBase({ recipientPublicKey: m.user.encryptionPublicKey, info: Bytes.utf8(labels.kekBlob), aad: Bytes.utf8(storeId), plaintext: kek }))
    return { userId: m.user.userId, blob: Bytes.toBase64Url(Bytes.concat(sealed.enc, sealed.ciphertext)) }
  }))
  // The mutant: a client that escrows the raw data key with the server.
  if (escrow) blobs[1] = { userId: bob.user.userId, blob: Bytes.toBase64Url(writer.dek.raw) }
  expect((await call(base, "POST", `/v1/stores/${storeId}/kek/versions`, { token: alice.token, body: { versionId: "v1", reason: "initial", blobs } })).status).toBe(201)
  const locator = Bytes.toBase64Url(await run(crypto.randomBytes(32)))
  const wrapped = await run(crypto.seal((await run(crypto.generateKey("kek"))).key, kek, Bytes.utf8("recovery")))
  await call(base, "PUT", `/v1/recovery/${locator}`, { token: alice.token, body: { blob: Bytes.toBase64Url(Bytes.concat(wrapped.nonce, wrapped.ciphertext)) } })
  await login(base, alice.user)
  await call(base, "POST", "/v1/auth/challenge", { body: { userId: bob.user.userId } })
  const metrics = (await call(base, "GET", "/metrics")).text
  return { records, metrics, alice, writer, storeId, texts }
}

const scan = (state: Buffer, records: ReadonlyArray<SealedRecord>) => {
  // Raw windows of the state itself, and windows of every base64url value in it, decoded.
  return keysThatOpen([state, ...base64UrlValues(state)], records.slice(0, 2))
}

const payloadsArb = fc.array(fc.string({ minLength: 1, maxLength: 300 }), { minLength: 2, maxLength: 5 })

describe("INV-017 the server's state opens nothing", () => {
  let database: Awaited<ReturnType<typeof Servers.freshDatabase>> | undefined
  afterAll(async () => {
    await database?.drop()
  })

  it("INV-017 SQLite: no 32-byte value in the database file, logs or metrics opens a record; an escrowed key would be found", async () => {
    await fc.assert(fc.asyncProperty(payloadsArb, async (payloads) => {
      const server = await Servers.startSqlite()
      let populated: Awaited<ReturnType<typeof populate>>
      try {
        populated = await populate(server.url, payloads, false)
      } finally {
        server.process.kill("SIGTERM")
      }
      await new Promise((r) => server.process.once("exit", r))
      const state = Buffer.concat([sqliteBytes(server.dataDir), Buffer.from(server.output()), Buffer.from(populated.metrics)])
      const { openers, tried } = scan(state, populated.records)
      expect(tried).toBeGreaterThan(10_000)
      expect(openers).toEqual([])
      // The search would have seen a key: the same state plus an escrowed data key is caught.
      const leaked = Buffer.concat([state, Buffer.from(`"blob":"${Bytes.toBase64Url(populated.writer.dek.raw)}"`)])
      expect(scan(leaked, populated.records).openers.length).toBe(1)
      await server.stop()
    }), { numRuns: 2 })
  })

  it("INV-017 mutant: a client that escrows its data key in a KEK blob is caught by the scan of the server's own state", async () => {
    const server = await Servers.startSqlite()
    let populated: Awaited<ReturnType<typeof populate>>
    try {
      populated = await populate(server.url, ["one", "two"], true)
    } finally {
      server.process.kill("SIGTERM")
    }
    await new Promise((r) => server.process.once("exit", r))
    const { openers } = scan(sqliteBytes(server.dataDir), populated.records)
    expect(openers.map((k) => Bytes.toBase64Url(k))).toEqual([Bytes.toBase64Url(populated.writer.dek.raw)])
    await server.stop()
  })

  it("INV-017 PostgreSQL: no 32-byte value in a pg_dump of every table, logs or metrics opens a record", async () => {
    database = await Servers.freshDatabase()
    const server = await Servers.start({ DATABASE_URL: database.url })
    let populated: Awaited<ReturnType<typeof populate>>
    try {
      populated = await populate(server.url, ["alpha", "beta", "gamma"], false)
    } finally {
      await server.stop()
    }
    const state = Buffer.concat([pgDump(database.url), Buffer.from(server.output()), Buffer.from(populated.metrics)])
    const { openers, tried } = scan(state, populated.records)
    expect(tried).toBeGreaterThan(5_000)
    expect(openers).toEqual([])
  })

  it("INV-017 logging in again or registering again changes no key a client holds; the login path carries no data key", async () => {
    const server = await Servers.startSqlite()
    try {
      const base = server.url
      const populated = await populate(base, ["before"], false)
      const { alice, storeId, writer } = populated
      const dekBefore = Bytes.toBase64Url(writer.dek.raw)
      const keysBefore = (await call(base, "GET", `/v1/users/${alice.user.userId}`, { token: alice.token })).text
      // Re-register (idempotent) and log in twice: new tokens, same keys everywhere.
      const again = await register(base, alice.user)
      expect([again.status, (again.body as { created: boolean }).created]).toEqual([200, false])
      const tokens = [await login(base, alice.user), await login(base, alice.user)]
      expect(new Set([alice.token, ...tokens]).size).toBe(3)
      expect((await call(base, "GET", `/v1/users/${alice.user.userId}`, { token: tokens[1]! })).text).toBe(keysBefore)
      expect(Bytes.toBase64Url(writer.dek.raw)).toBe(dekBefore)
      // The records pulled with a new session still open with the key held before.
      const pulled = await call<{ records: Array<{ recordJson: string }> }>(base, "GET", `/v1/stores/${storeId}/records`, { token: tokens[1]! })
      expect(pulled.body.records.map((r) => r.recordJson)).toEqual(populated.texts)
      const r = populated.records[0]!
      const opened = await run(crypto.open(writer.dek.key, { suite: "A256GCM", nonce: r.nonce, ciphertext: r.ciphertext }, r.aad))
      expect(JSON.parse(new TextDecoder().decode(opened)).payload).toBe("before")
      // What a login sends: the user id, a challenge id, a signature — no window of it is the data key.
      const challenge = await call<{ challengeId: string; nonce: string }>(base, "POST", "/v1/auth/challenge", { body: { userId: alice.user.userId } })
      const signature = await run(crypto.ed25519.sign(alice.user.signing.key, Auth.sessionMessage(alice.user.userId, challenge.body.challengeId, Bytes.fromBase64Url(challenge.body.nonce)!)))
      const loginBody = Buffer.from(JSON.stringify({ challengeId: challenge.body.challengeId, signature: Bytes.toBase64Url(signature) }))
      expect(keysThatOpen([loginBody, ...base64UrlValues(loginBody), signature], populated.records).openers).toEqual([])
    } finally {
      await server.stop()
    }
  })
})
