/**
 * Identity rotation over HTTP against a real server process (SQLite):
 * `POST /v1/users/:userId/rotations` verifies both signatures, the user,
 * the times and the window; replays and forks are refused (409); a planned
 * rotation keeps the old key logging in until `migrationUntil` (then 401);
 * an emergency rotation refuses the old key and every session at once;
 * `GET /v1/users/:userId/identity` returns the chain peers verify (INV-007).
 */
import { Bytes } from "@cipherlog/domain"
import { Auth } from "@cipherlog/sync-api"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { call, crypto, login, newIdentity, run, signUp, type User } from "./support/client.js"
import * as Servers from "./support/server.js"

let server: Awaited<ReturnType<typeof Servers.startSqlite>>
beforeAll(async () => {
  server = await Servers.startSqlite()
})
afterAll(async () => {
  await server?.stop()
})

const b64 = Bytes.toBase64Url

/** A signed statement from `old` to a fresh identity `next` (same user id), as `Identity.rotate` builds it. */
const statement = async (
  old: User,
  kind: "planned" | "emergency",
  options: { readonly rotatedAt?: number; readonly windowMs?: number; readonly breakOld?: boolean; readonly breakNew?: boolean; readonly userId?: string } = {}
) => {
  const next = await newIdentity(old.userId)
  const rotatedAt = options.rotatedAt ?? Date.now()
  const unsigned = {
    userId: options.userId ?? old.userId,
    kind,
    oldSigningPublicKey: old.signing.key.publicKey,
    newSigningPublicKey: next.signing.key.publicKey,
    newEncryptionPublicKey: next.encryptionPublicKey,
    rotatedAt,
    migrationUntil: kind === "emergency" ? rotatedAt : rotatedAt + (options.windowMs ?? 60_000)
  }
  const message = Auth.rotationMessage(unsigned)
  const oldSignature = await run(crypto.ed25519.sign(old.signing.key, message))
  const newSignature = await run(crypto.ed25519.sign(next.signing.key, message))
  if (options.breakOld === true) oldSignature[0] ^= 1
  if (options.breakNew === true) newSignature[0] ^= 1
  const body = {
    ...unsigned,
    oldSigningPublicKey: b64(unsigned.oldSigningPublicKey),
    newSigningPublicKey: b64(unsigned.newSigningPublicKey),
    newEncryptionPublicKey: b64(unsigned.newEncryptionPublicKey),
    oldSignature: b64(oldSignature),
    newSignature: b64(newSignature)
  }
  return { next, body }
}

const post = (userId: string, token: string, body: unknown) =>
  call<{ _tag?: string; reason?: string; seq?: number; problem?: string }>(server.url, "POST", `/v1/users/${userId}/rotations`, { token, body })

const loginStatus = (user: User) => login(server.url, user).then(() => 200, (e: Error) => (/session: 401/.test(e.message) ? 401 : 500))

describe("identity rotation over HTTP", () => {
  it("INV-007 a statement without the current key's valid signature, or the new key's, or for another user, is refused (4xx); nothing changes", async () => {
    const { token, user } = await signUp(server.url, "rot-bad")
    const other = await signUp(server.url, "rot-bad-other")
    for (const options of [{ breakOld: true }, { breakNew: true }, { rotatedAt: Date.now() - 3_600_000 }]) {
      const { body } = await statement(user, "planned", options)
      const answer = await post(user.userId, token, body)
      expect(answer.status).toBe(422)
      expect(answer.body._tag).toBe("InvalidRotation")
    }
    // Signed by a key that is not the user's current key (a stranger's, valid signatures): a stale chain link.
    const stranger = await newIdentity(user.userId)
    const { body: foreign } = await statement(stranger, "emergency")
    const refused = await post(user.userId, token, foreign)
    expect([refused.status, refused.body.reason]).toEqual([409, "stale"])
    // Someone else's rotation, or into someone else's path.
    expect((await post(other.user.userId, token, (await statement(other.user, "planned")).body)).status).toBe(403)
    expect((await post(user.userId, token, (await statement(user, "planned", { userId: other.user.userId })).body)).status).toBe(422)
    const chain = await call<{ rotations: Array<unknown> }>(server.url, "GET", `/v1/users/${user.userId}/identity`, { token })
    expect(chain.body.rotations).toEqual([])
    expect(await loginStatus(user)).toBe(200)
  })

  it("INV-007 an emergency rotation stops the old key and every old session at once (401); a replay or a fork is refused (409)", async () => {
    const { token, user } = await signUp(server.url, "rot-emergency")
    const second = await login(server.url, user)
    const { body, next } = await statement(user, "emergency")
    const rotated = await post(user.userId, token, body)
    expect([rotated.status, rotated.body.seq]).toEqual([201, 1])
    for (const old of [token, second]) {
      expect((await call(server.url, "GET", `/v1/users/${user.userId}`, { token: old })).status).toBe(401)
    }
    expect(await loginStatus(user)).toBe(401)
    const fresh = await login(server.url, next)
    const replay = await post(user.userId, fresh, body)
    expect([replay.status, replay.body.reason]).toEqual([409, "replayed"])
    const fork = await post(user.userId, fresh, (await statement(user, "emergency")).body)
    expect([fork.status, fork.body.reason]).toEqual([409, "forked"])
    const keys = await call<{ signingPublicKey: string }>(server.url, "GET", `/v1/users/${user.userId}`, { token: fresh })
    expect(keys.body.signingPublicKey).toBe(b64(next.signing.key.publicKey))
    const chain = await call<{ genesis: { signingPublicKey: string }; rotations: Array<{ kind: string; newSigningPublicKey: string }> }>(
      server.url, "GET", `/v1/users/${user.userId}/identity`, { token: fresh }
    )
    expect(chain.body.genesis.signingPublicKey).toBe(b64(user.signing.key.publicKey))
    expect(chain.body.rotations.map((r) => [r.kind, r.newSigningPublicKey])).toEqual([["emergency", b64(next.signing.key.publicKey)]])
  })

  it("a planned rotation keeps the old key logging in during the window, and not after it (401)", async () => {
    const { token, user } = await signUp(server.url, "rot-planned")
    const { body, next } = await statement(user, "planned", { windowMs: 1500 })
    expect((await post(user.userId, token, body)).status).toBe(201)
    // The old key still logs in (its sessions end with the window); the new one too.
    const during = await login(server.url, user)
    expect((await call(server.url, "GET", `/v1/users/${user.userId}`, { token: during })).status).toBe(200)
    expect((await call(server.url, "GET", `/v1/users/${user.userId}`, { token })).status).toBe(200)
    const fresh = await login(server.url, next)
    await new Promise((r) => setTimeout(r, 2600))
    expect(await loginStatus(user)).toBe(401)
    expect((await call(server.url, "GET", `/v1/users/${user.userId}`, { token: during })).status).toBe(401)
    expect((await call(server.url, "GET", `/v1/users/${user.userId}`, { token: fresh })).status).toBe(200)
  })
})
