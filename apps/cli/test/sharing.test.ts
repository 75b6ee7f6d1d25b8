/**
 * End to end, sharing and the rest of this slice: the built binary as a
 * subprocess against a real server process on loopback.
 *
 * - alice shares her store with bob: a wrong safety number is refused (2)
 *   and changes nothing; with the right one bob joins and reads alice's
 *   events byte-identically; alice reads what bob writes; `keys rotate`
 *   keeps old and new events readable for both; `members remove bob`
 *   rotates him out: his sync is refused, he reads nothing new, no blob of
 *   the new version exists for him, alice reads everything.
 * - A member sees another member's events once he verified them (`members trust`).
 * - Progress bars go to stderr only, and never in --json mode.
 * - `restore --db` without keys opens the store locked (reads exit 4 and
 *   name the missing keys); a later `restore --keys` unlocks it.
 */
import Database from "better-sqlite3"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { run, runJson, type Server, startServer, tempDir, transcript } from "./support/cli.js"

const PASSPHRASE = `pass-${Math.random().toString(36).slice(2)}-phrase`
const BACKUP_PASSPHRASE = `backup-${Math.random().toString(36).slice(2)}-phrase`
const env = { CIPHERLOG_PASSPHRASE: PASSPHRASE }
const backupEnv = { ...env, CIPHERLOG_BACKUP_PASSPHRASE: BACKUP_PASSPHRASE }

interface WhoAmI {
  readonly userId: string
  readonly deviceId: string
  readonly storeId: string
  readonly safetyNumber: string
}
interface ReadOut {
  readonly storeId: string
  readonly events: ReadonlyArray<{ readonly aggregateType: string; readonly aggregateId: string; readonly version: number; readonly payload: unknown; readonly author: { readonly userId: string } }>
  readonly locked: ReadonlyArray<{ readonly missingKey: string }>
  readonly rejected: ReadonlyArray<unknown>
}

let server: Server
const tmp = tempDir("cipherlog-cli-share-")
const dir = (name: string) => join(tmp.dir, name)

beforeAll(async () => {
  server = await startServer()
}, 120_000)

afterAll(async () => {
  await server?.stop()
  tmp.cleanup()
})

const lines = (r: ReadOut) => r.events.map((e) => `${e.aggregateType}/${e.aggregateId}@${e.version}:${JSON.stringify(e.payload)}`).sort()

describe("sharing a store between two users", () => {
  it("alice adds bob by safety number, bob joins and reads; rotate keeps everything readable; remove rotates him out", async () => {
    const a = dir("alice")
    const b = dir("bob")
    const url = server.url
    await runJson(["init", "--store", a], env)
    await runJson(["append", "--store", a, "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"shared plan"}'], env)
    await runJson(["append", "--store", a, "--aggregate", "Note/n1", "--type", "NoteAdded", "--data", '{"text":"ünïcødé ✓"}'], env)
    await runJson(["sync", "--store", a, "--server", url], env)
    await runJson(["init", "--store", b], env)
    const alice = await runJson<WhoAmI>(["whoami", "--store", a], env)
    const bob = await runJson<WhoAmI & { registeredOn: string }>(["whoami", "--store", b, "--server", url], env)
    expect(bob.registeredOn).toBe(url)
    expect(bob.safetyNumber).toMatch(/^(\d{5} ){11}\d{5}$/)
    // keys status shows the same safety number.
    expect((await runJson<{ safetyNumber: string }>(["keys", "status", "--store", b], env)).safetyNumber).toBe(bob.safetyNumber)

    // A wrong safety number (alice's own, and bob's with one digit changed): refused with 2, nothing changed.
    const lastDigit = bob.safetyNumber.endsWith("0") ? "1" : "0"
    for (const wrong of [alice.safetyNumber, bob.safetyNumber.slice(0, -1) + lastDigit]) {
      const refused = await run(["members", "add", bob.userId, "--safety-number", wrong, "--store", a, "--server", url, "--json"], { env })
      expect(refused.code).toBe(2)
      expect(refused.stdout).toBe("")
      expect(refused.stderr).toContain("do not match the safety number")
      expect(refused.stderr).toContain("cipherlog whoami")
    }
    expect(existsSync(join(a, "peers.json"))).toBe(false)
    const before = await runJson<{ members: ReadonlyArray<{ userId: string; role: string; you: boolean }> }>(["members", "list", "--store", a, "--server", url], env)
    expect(before.members.map((m) => [m.userId, m.role, m.you])).toEqual([[alice.userId, "admin", true]])
    // An unknown user: 2 as well.
    const unknown = await run(["members", "add", "u-nobody", "--safety-number", bob.safetyNumber, "--store", a, "--server", url], { env })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("no user u-nobody")

    // bob tries to join before alice added him: 6, he is told what to ask for; his directory stays his own store.
    const early = await run(["join", "--store", b, "--server", url, "--store-id", alice.storeId, "--admin", alice.userId, "--admin-safety-number", alice.safetyNumber], { env })
    expect(early.code).toBe(6)
    expect(early.stderr).toContain("NotAMember")
    expect(early.stderr).toContain("members add")
    expect((await runJson<WhoAmI>(["whoami", "--store", b], env)).storeId).toBe(bob.storeId)

    // The right one: bob is added and the KEK sealed to him.
    const added = await runJson<{ userId: string; role: string; provisioned: ReadonlyArray<string> }>(
      ["members", "add", bob.userId, "--safety-number", bob.safetyNumber, "--store", a, "--server", url],
      env
    )
    expect(added).toMatchObject({ userId: bob.userId, role: "member", provisioned: ["kv1"] })
    const peers = JSON.parse(readFileSync(join(a, "peers.json"), "utf8")) as { format: string; v: number; peers: ReadonlyArray<Record<string, unknown>> }
    expect(peers.format).toBe("cipherlog-cli-peers")
    expect(peers.peers.map((p) => Object.keys(p).sort())).toEqual([["encryptionPublicKey", "safetyNumber", "signingPublicKey", "userId", "verifiedAt"]])

    // bob joins with a wrong admin safety number: 2, still his own store; then with the right one.
    const badJoin = await run(["join", "--store", b, "--server", url, "--store-id", alice.storeId, "--admin", alice.userId, "--admin-safety-number", bob.safetyNumber], { env })
    expect(badJoin.code).toBe(2)
    expect((await runJson<WhoAmI>(["whoami", "--store", b], env)).storeId).toBe(bob.storeId)
    const joined = await runJson<{ storeId: string; kekVersions: number; locked: boolean; admin: { userId: string } }>(
      ["join", "--store", b, "--server", url, "--store-id", alice.storeId, "--admin", alice.userId, "--admin-safety-number", alice.safetyNumber],
      env
    )
    expect(joined).toMatchObject({ storeId: alice.storeId, kekVersions: 1, locked: false, admin: { userId: alice.userId } })
    const ra = await run(["read", "--store", a, "--json"], { env })
    const rb = await run(["read", "--store", b, "--json"], { env })
    expect(rb.code).toBe(0)
    expect(rb.stdout).toBe(ra.stdout)
    expect((JSON.parse(rb.stdout) as ReadOut).events).toHaveLength(2)

    // bob writes; alice reads it.
    await runJson(["append", "--store", b, "--aggregate", "Note/n2", "--type", "NoteAdded", "--data", '{"text":"from bob"}'], env)
    await runJson(["sync", "--store", b, "--server", url], env)
    await runJson(["sync", "--store", a, "--server", url], env)
    const aliceReads = await runJson<ReadOut>(["read", "--store", a], env)
    expect(aliceReads.events.filter((e) => e.author.userId === bob.userId).map((e) => e.payload)).toEqual([{ text: "from bob" }])
    expect((await run(["read", "--store", b, "--json"], { env })).stdout).toBe((await run(["read", "--store", a, "--json"], { env })).stdout)

    // keys rotate: a new version for both; old and new events readable by both.
    const rotated = await runJson<{ versionId: string; provisionedTo: ReadonlyArray<string> }>(["keys", "rotate", "--store", a, "--server", url], env)
    expect(rotated.versionId).toBe("kv2")
    expect([...rotated.provisionedTo].sort()).toEqual([alice.userId, bob.userId].sort())
    await runJson(["append", "--store", a, "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"after rotation"}'], env)
    await runJson(["sync", "--store", a, "--server", url], env)
    const bobSync = await runJson<{ keys: { accepted: number; provisioned: number }; prekeys: { publishedSigned: boolean } }>(["sync", "--store", b, "--server", url], env)
    expect(bobSync.keys.accepted).toBe(1)
    // bob had synced (publishing prekeys), so kv2 came sealed to one of his one-time prekeys; his sync re-sealed it to his identity.
    expect(bobSync.keys.provisioned).toBe(1)
    expect(bobSync.prekeys.publishedSigned).toBe(false)
    const afterRotation = await runJson<ReadOut>(["read", "--store", b], env)
    expect(afterRotation.locked).toEqual([])
    expect(lines(afterRotation)).toEqual([
      'Goal/g1@1:{"title":"shared plan"}',
      'Goal/g1@2:{"title":"after rotation"}',
      'Note/n1@1:{"text":"ünïcødé ✓"}',
      'Note/n2@1:{"text":"from bob"}'
    ])
    const bobKeys = await runJson<{ kekVersions: ReadonlyArray<{ versionId: string; status: string }> }>(["keys", "status", "--store", b], env)
    expect(bobKeys.kekVersions.map((v) => [v.versionId, v.status])).toEqual([["kv1", "decrypt-only"], ["kv2", "active"]])

    // dave, a member, joins and writes: bob sees dave's event only once he verified dave (members trust).
    const c = dir("carol")
    await runJson(["init", "--store", c], env)
    const dave = await runJson<WhoAmI>(["whoami", "--store", c, "--server", url], env)
    await runJson(["members", "add", dave.userId, "--safety-number", dave.safetyNumber, "--store", a, "--server", url], env)
    await runJson(["join", "--store", c, "--server", url, "--store-id", alice.storeId, "--admin", alice.userId, "--admin-safety-number", alice.safetyNumber], env)
    await runJson(["append", "--store", c, "--aggregate", "Note/n3", "--type", "NoteAdded", "--data", '{"text":"from dave"}'], env)
    await runJson(["sync", "--store", c, "--server", url], env)
    await runJson(["sync", "--store", b, "--server", url], env)
    expect(lines(await runJson<ReadOut>(["read", "--store", b], env)).filter((l) => l.includes("from dave"))).toEqual([])
    const trusted = await runJson<{ userId: string; released: number }>(["members", "trust", dave.userId, "--safety-number", dave.safetyNumber, "--store", b, "--server", url], env)
    expect(trusted.userId).toBe(dave.userId)
    expect(trusted.released).toBeGreaterThan(0)
    expect(lines(await runJson<ReadOut>(["read", "--store", b], env))).toContain('Note/n3@1:{"text":"from dave"}')
    // A wrong safety number for trust: 2, nothing trusted.
    expect((await run(["members", "trust", alice.userId, "--safety-number", dave.safetyNumber, "--store", c, "--server", url], { env })).code).toBe(2)

    // members remove bob: a rotation to kv3 for alice and dave only.
    const removed = await runJson<{ removed: string; versionId: string; provisionedTo: ReadonlyArray<string> }>(
      ["members", "remove", bob.userId, "--store", a, "--server", url],
      env
    )
    expect(removed).toMatchObject({ removed: bob.userId, versionId: "kv3" })
    expect([...removed.provisionedTo].sort()).toEqual([alice.userId, dave.userId].sort())
    await runJson(["append", "--store", a, "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"after removal"}'], env)
    await runJson(["append", "--store", a, "--aggregate", "Goal/g9", "--type", "GoalSet", "--data", '{"title":"new after removal"}'], env)
    await runJson(["sync", "--store", a, "--server", url], env)
    const out = await run(["sync", "--store", b, "--server", url, "--json"], { env })
    expect(out.code).toBe(6)
    expect(out.stdout).toBe("")
    expect(out.stderr).toMatch(/not a member|refused/)
    const bobAfter = await runJson<ReadOut>(["read", "--store", b], env)
    expect(lines(bobAfter).filter((l) => l.includes("after removal"))).toEqual([])
    // No blob of kv3 exists for bob (and his older blobs went with his membership): nothing he could fetch opens what is written under it.
    const db = new Database(join(server.dataDir, "cipherlog.db"), { readonly: true })
    try {
      const blobs = db.prepare("SELECT version_id AS v FROM kek_blobs WHERE store_id = ? AND user_id = ? ORDER BY version_id").all(alice.storeId, bob.userId) as ReadonlyArray<{ v: string }>
      expect(blobs.map((x) => x.v)).toEqual([])
    } finally {
      db.close()
    }
    const aliceAll = await runJson<ReadOut>(["read", "--store", a], env)
    expect(aliceAll.locked).toEqual([])
    expect(lines(aliceAll)).toEqual([
      'Goal/g1@1:{"title":"shared plan"}',
      'Goal/g1@2:{"title":"after rotation"}',
      'Goal/g1@3:{"title":"after removal"}',
      'Goal/g9@1:{"title":"new after removal"}',
      'Note/n1@1:{"text":"ünïcødé ✓"}',
      'Note/n2@1:{"text":"from bob"}',
      'Note/n3@1:{"text":"from dave"}'
    ])
    // dave, still a member, reads the writes after bob's removal.
    await runJson(["sync", "--store", c, "--server", url], env)
    expect(lines(await runJson<ReadOut>(["read", "--store", c], env))).toContain('Goal/g9@1:{"title":"new after removal"}')
    const list = await runJson<{ members: ReadonlyArray<{ userId: string }> }>(["members", "list", "--store", a, "--server", url], env)
    expect(list.members.map((m) => m.userId).sort()).toEqual([alice.userId, dave.userId].sort())
    // bob, no admin, cannot rotate alice's store.
    const notAdmin = await run(["keys", "rotate", "--store", b, "--server", url], { env })
    expect(notAdmin.code).toBe(6)

    // devices list: alice's one device.
    const devices = await runJson<{ userId: string; devices: ReadonlyArray<{ deviceId: string; current: boolean; synced: boolean }> }>(["devices", "list", "--store", a], env)
    expect(devices.userId).toBe(alice.userId)
    expect(devices.devices).toEqual([{ deviceId: alice.deviceId, userId: alice.userId, enrolledAt: expect.any(Number), current: true, synced: true, revokedAt: null }])
  }, 600_000)
})

describe("progress bars", () => {
  it("go to stderr only, and never in --json mode (even when forced)", async () => {
    const s = dir("progress")
    await runJson(["init", "--store", s], env)
    await runJson(["append", "--store", s, "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"p"}'], env)
    const forced = { ...env, CIPHERLOG_PROGRESS: "1" }
    const json = await run(["sync", "--store", s, "--server", server.url, "--json"], { env: forced })
    expect(json.code).toBe(0)
    expect(() => JSON.parse(json.stdout) as unknown).not.toThrow()
    expect(json.stdout + json.stderr).not.toMatch(/sync \[/)
    await runJson(["append", "--store", s, "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"q"}'], env)
    const text = await run(["sync", "--store", s, "--server", server.url], { env: forced })
    expect(text.code).toBe(0)
    expect(text.stderr).toMatch(/sync \[[^\]]*\] \d+\/\d+/)
    expect(text.stdout).not.toMatch(/sync \[/)
    expect(text.stderr).not.toContain('"title"')
    // Not a terminal and not forced: no bar.
    const plain = await run(["sync", "--store", s, "--server", server.url], { env })
    expect(plain.stderr).not.toMatch(/sync \[/)
  }, 300_000)
})

describe("restore --db without keys", () => {
  it("opens the store locked: reads exit 4 naming the missing keys; restore --keys unlocks it", async () => {
    const s = dir("lk")
    const copy = dir("lk-copy")
    await runJson(["init", "--store", s], env)
    for (const title of ["one", "two"]) await runJson(["append", "--store", s, "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", JSON.stringify({ title })], env)
    await runJson(["sync", "--store", s, "--server", server.url], env)
    const original = await run(["read", "--store", s, "--json"], { env })
    await runJson(["backup", "keys", "--store", s, "--out", dir("lk.keys")], backupEnv)
    await runJson(["backup", "db", "--store", s, "--out", dir("lk.db")], env)

    // No passphrase is needed to restore a database copy alone.
    const r = await run(["restore", "--db", dir("lk.db"), "--store", copy, "--json"])
    expect(r.code, r.stderr).toBe(0)
    const locked = JSON.parse(r.stdout) as { locked: boolean; records: number; missing: ReadonlyArray<{ key: string; records: number }> }
    expect(locked.locked).toBe(true)
    expect(locked.records).toBeGreaterThan(0)
    expect(locked.missing.length).toBeGreaterThan(0)
    expect(locked.missing.map((m) => m.key)).toContain("kv1@0")
    for (const args of [["read", "--json"], ["keys", "status", "--json"], ["append", "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", "{}"]]) {
      const denied = await run([...args, "--store", copy], { env })
      expect(denied.code, args.join(" ")).toBe(4)
      expect(denied.stdout).toBe("")
      expect(denied.stderr).toContain("missing keys")
      expect(denied.stderr).toContain("kv1@0")
      expect(denied.stderr).toContain("restore --keys")
    }
    // A wrong backup passphrase changes nothing: still locked.
    const wrong = await run(["restore", "--keys", dir("lk.keys"), "--store", copy], { env: { ...env, CIPHERLOG_BACKUP_PASSPHRASE: "not the backup passphrase" } })
    expect(wrong.code).toBe(3)
    expect((await run(["read", "--store", copy], { env })).code).toBe(4)

    const unlocked = await runJson<{ database: { records: number; locked: number } }>(["restore", "--keys", dir("lk.keys"), "--store", copy], backupEnv)
    expect(unlocked.database.locked).toBe(0)
    const after = await run(["read", "--store", copy, "--json"], { env })
    expect(after.code).toBe(0)
    expect(after.stdout).toBe(original.stdout)
    expect(existsSync(join(copy, "events.db.locked-copy"))).toBe(false)
  }, 300_000)
})

describe("secrets", () => {
  it("INV-016: no passphrase or backup passphrase appeared in any output of any run", () => {
    expect(transcript.length).toBeGreaterThan(20)
    for (const text of transcript) {
      expect(text).not.toContain(PASSPHRASE)
      expect(text).not.toContain(BACKUP_PASSPHRASE)
    }
  })
})
