/**
 * End to end: the built `cipherlog` binary as a subprocess, against a real
 * sync server process on loopback (started by the binary's `server`
 * command). Stores live in temporary directories.
 *
 * - init: ids and a 24-word phrase, once; the phrase is stored nowhere.
 * - Two devices of one user (the second made from a key backup: there is
 *   no device linking) append, sync and read the same log.
 * - recover: a third device from the phrase plus the server (identity from
 *   the recovery material, KEK versions from own KEK blobs) reads the same
 *   log and writes; a wrong phrase gives 3, a malformed one 2.
 * - Exit codes: wrong passphrase 3 (nothing on stdout), bad input 2,
 *   locked 4, conflict 5, network 6.
 * - Key backup + database backup → wipe → restore → identical `read --json`.
 * - No passphrase, backup passphrase or payload reaches any output it should
 *   not (diagnostics, errors), and the passphrase never appears at all.
 */
import Database from "better-sqlite3"
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { run, runJson, type Server, startServer, tempDir, transcript } from "./support/cli.js"

const PASSPHRASE = `pass-${Math.random().toString(36).slice(2)}-phrase`
const BACKUP_PASSPHRASE = `backup-${Math.random().toString(36).slice(2)}-phrase`
const env = { CIPHERLOG_PASSPHRASE: PASSPHRASE }
const backupEnv = { ...env, CIPHERLOG_BACKUP_PASSPHRASE: BACKUP_PASSPHRASE }

interface Init {
  readonly storeId: string
  readonly userId: string
  readonly deviceId: string
  readonly store: string
  readonly recoveryPhrase: string
}
interface ReadOut {
  readonly storeId: string
  readonly events: ReadonlyArray<{ readonly aggregateType: string; readonly aggregateId: string; readonly version: number; readonly globalSequence: number | null; readonly payload: unknown; readonly author: { readonly deviceId: string } }>
  readonly locked: ReadonlyArray<unknown>
  readonly rejected: ReadonlyArray<unknown>
}

/** Every file under a directory, as bytes (for secret scans). */
const filesUnder = (dir: string): Array<Buffer> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [readFileSync(join(dir, e.name))])

let server: Server
const tmp = tempDir("cipherlog-cli-test-")
const dir = (name: string) => join(tmp.dir, name)

beforeAll(async () => {
  server = await startServer()
}, 120_000)

afterAll(async () => {
  await server?.stop()
  tmp.cleanup()
})

describe("cipherlog init", () => {
  it("creates a store, an identity and a device and prints a 24-word phrase once, stored nowhere", async () => {
    const r = await run(["init", "--store", dir("init"), "--json"], { env })
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as Init
    expect(out.storeId).toMatch(/^s-[A-Za-z0-9_-]{16}$/)
    expect(out.userId).toMatch(/^u-[A-Za-z0-9_-]{16}$/)
    expect(out.deviceId).toMatch(/^d-[A-Za-z0-9_-]{16}$/)
    expect(out.recoveryPhrase.split(" ")).toHaveLength(24)
    expect(r.stderr).toContain("RECOVERY PHRASE")
    expect(statSync(dir("init")).mode & 0o777).toBe(0o700)
    for (const bytes of filesUnder(dir("init"))) {
      expect(bytes.includes(out.recoveryPhrase)).toBe(false)
      expect(bytes.includes(PASSPHRASE)).toBe(false)
    }
    // The phrase is printed by init only: no other command can show it again.
    const status = await run(["keys", "status", "--store", dir("init")], { env })
    expect(status.code).toBe(0)
    expect(status.stdout).not.toContain(out.recoveryPhrase.split(" ").slice(0, 3).join(" "))
  }, 120_000)

  it("takes --store from CIPHERLOG_STORE and the passphrase from stdin; refuses an existing store (5) and a missing passphrase (2)", async () => {
    const r = await run(["init", "--passphrase-stdin", "--json"], { env: { CIPHERLOG_STORE: dir("stdin") }, stdin: `${PASSPHRASE}\n` })
    expect(r.code).toBe(0)
    expect(existsSync(join(dir("stdin"), "cipherlog.json"))).toBe(true)
    const again = await run(["init", "--store", dir("stdin")], { env })
    expect(again.code).toBe(5)
    expect(again.stdout).toBe("")
    const none = await run(["init", "--store", dir("no-passphrase")])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain("CIPHERLOG_PASSPHRASE")
    expect(existsSync(dir("no-passphrase"))).toBe(false)
    // The same passphrase from stdin opens it.
    const read = await run(["read", "--store", dir("stdin"), "--passphrase-stdin", "--json"], { stdin: `${PASSPHRASE}\n` })
    expect(read.code).toBe(0)
  }, 120_000)
})

describe("cipherlog append / read / sync on two devices of one user", () => {
  it("both devices append, sync, and read the same log; re-running sync is harmless", async () => {
    const a = await runJson<Init>(["init", "--store", dir("a")], env)
    await runJson(["append", "--store", dir("a"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"Run 10k"}'], env)
    await runJson(["append", "--store", dir("a"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"Run 12k"}', "--expect-version", "1"], env)

    // The second device: the user's keys from a key backup, a new device id.
    await runJson(["backup", "keys", "--store", dir("a"), "--out", dir("a.keys")], backupEnv)
    const b = await runJson<{ storeId: string; userId: string; deviceId: string }>(["restore", "--keys", dir("a.keys"), "--store", dir("b")], backupEnv)
    expect(b.storeId).toBe(a.storeId)
    expect(b.userId).toBe(a.userId)
    expect(b.deviceId).not.toBe(a.deviceId)

    await runJson(["append", "--store", dir("b"), "--aggregate", "Note/n1", "--type", "NoteAdded", "--data", '{"text":"from b"}'], env)
    const first = await runJson<{ pushed: number; pending: number }>(["sync", "--store", dir("a"), "--server", server.url], env)
    expect(first.pending).toBe(0)
    await runJson(["sync", "--store", dir("b"), "--server", server.url], env)
    // New aggregates on both sides after the first exchange (new data keys travel as key records).
    await runJson(["append", "--store", dir("a"), "--aggregate", "Goal/g2", "--type", "GoalSet", "--data", '{"title":"Swim"}'], env)
    await runJson(["append", "--store", dir("b"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"Run 15k"}'], env)
    await runJson(["sync", "--store", dir("b"), "--server", server.url], env)
    await runJson(["sync", "--store", dir("a"), "--server", server.url], env)
    await runJson(["sync", "--store", dir("b"), "--server", server.url], env)
    const again = await runJson<{ pushed: number; pulled: number; pending: number }>(["sync", "--store", dir("a"), "--server", server.url], env)
    expect([again.pushed, again.pulled, again.pending]).toEqual([0, 0, 0])

    const ra = await run(["read", "--store", dir("a"), "--json"], { env })
    const rb = await run(["read", "--store", dir("b"), "--json"], { env })
    expect(ra.code).toBe(0)
    expect(rb.stdout).toBe(ra.stdout)
    const log = JSON.parse(ra.stdout) as ReadOut
    expect(log.locked).toEqual([])
    expect(log.rejected).toEqual([])
    expect(log.events.map((e) => `${e.aggregateType}/${e.aggregateId}@${e.version}:${JSON.stringify(e.payload)}`).sort()).toEqual([
      'Goal/g1@1:{"title":"Run 10k"}',
      'Goal/g1@2:{"title":"Run 12k"}',
      'Goal/g1@3:{"title":"Run 15k"}',
      'Goal/g2@1:{"title":"Swim"}',
      'Note/n1@1:{"text":"from b"}'
    ])
    expect(log.events.every((e) => e.globalSequence !== null)).toBe(true)
    expect(new Set(log.events.map((e) => e.author.deviceId))).toEqual(new Set([a.deviceId, b.deviceId]))

    // One aggregate, as a table.
    const table = await run(["read", "--store", dir("b"), "--aggregate", "Goal/g1"], { env })
    expect(table.code).toBe(0)
    expect(table.stdout.split("\n")[0]).toMatch(/^seq\s+aggregate\s+v\s+type\s+device\s+payload$/)
    expect(table.stdout).toContain("Run 15k")
    expect(table.stdout).not.toContain("Swim")

    // The server only ever saw ciphertext.
    expect(server.output()).not.toContain("Run 10k")
    // Every command logged out as it exited: after six syncs (six logins, 15-minute tokens) the user holds no session.
    const db = new Database(join(server.dataDir, "cipherlog.db"), { readonly: true })
    try {
      expect(db.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?").get(a.userId)).toEqual({ n: 0 })
    } finally {
      db.close()
    }
  }, 300_000)

  it("INV-006: diagnose and keys status show ids and counts, never a payload or a secret", async () => {
    const canary = `CANARY-${Math.random().toString(36).slice(2)}`
    await runJson<Init>(["init", "--store", dir("diag")], env)
    await runJson(["append", "--store", dir("diag"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", JSON.stringify({ title: canary })], env)
    const d = await run(["diagnose", "--store", dir("diag"), "--json"], { env })
    expect(d.code).toBe(0)
    const diag = JSON.parse(d.stdout) as { stage: string; counts: { records: number; pending: number }; keys: { kekVersions: ReadonlyArray<{ versionId: string }> } }
    expect(diag.stage).toBe("unlocked")
    expect(diag.counts.pending).toBeGreaterThan(0)
    expect(diag.keys.kekVersions.map((v) => v.versionId)).toEqual(["kv1"])
    const k = await runJson<{ kekVersions: ReadonlyArray<{ status: string }>; deks: number; locked: boolean }>(["keys", "status", "--store", dir("diag")], env)
    expect(k.kekVersions.map((v) => v.status)).toEqual(["active"])
    expect(k.deks).toBe(1)
    expect(k.locked).toBe(false)
    for (const text of [d.stdout, d.stderr, JSON.stringify(k)]) expect(text).not.toContain(canary)
  }, 120_000)
})

describe("cipherlog recover", () => {
  it("a new device from the 24-word phrase plus the server reads the whole log, writes, and the first device reads its events", async () => {
    const a = await runJson<Init>(["init", "--store", dir("rec-a")], env)
    await runJson(["append", "--store", dir("rec-a"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"Climb"}'], env)
    await runJson(["append", "--store", dir("rec-a"), "--aggregate", "Note/n1", "--type", "NoteAdded", "--data", '{"text":"from a"}'], env)
    const first = await runJson<{ keys: { provisioned: number; accepted: number } }>(["sync", "--store", dir("rec-a"), "--server", server.url], env)
    expect(first.keys).toEqual({ accepted: 0, provisioned: 1, skipped: [] })
    // Once per version: a re-run provisions nothing.
    const rerun = await runJson<{ keys: { provisioned: number } }>(["sync", "--store", dir("rec-a"), "--server", server.url], env)
    expect(rerun.keys.provisioned).toBe(0)

    // Phrase on stdin's first line, the new device's passphrase on its second.
    const r = await run(
      ["recover", "--store", dir("rec-c"), "--server", server.url, "--store-id", a.storeId, "--phrase-stdin", "--passphrase-stdin", "--json"],
      { stdin: `${a.recoveryPhrase}\n${PASSPHRASE}\n` }
    )
    expect(r.code, r.stderr).toBe(0)
    const c = JSON.parse(r.stdout) as { storeId: string; userId: string; deviceId: string; kekVersions: number; locked: boolean }
    expect(c.storeId).toBe(a.storeId)
    expect(c.userId).toBe(a.userId)
    expect(c.deviceId).not.toBe(a.deviceId)
    expect(c.kekVersions).toBe(1)
    expect(c.locked).toBe(false)
    expect(r.stdout + r.stderr).not.toContain(a.recoveryPhrase)
    for (const bytes of filesUnder(dir("rec-c"))) expect(bytes.includes(a.recoveryPhrase)).toBe(false)

    const ra = await run(["read", "--store", dir("rec-a"), "--json"], { env })
    const rc = await run(["read", "--store", dir("rec-c"), "--json"], { env })
    expect(rc.code).toBe(0)
    expect(rc.stdout).toBe(ra.stdout)
    expect((JSON.parse(rc.stdout) as ReadOut).events).toHaveLength(2)

    // The recovered device writes; the first device reads it.
    await runJson(["append", "--store", dir("rec-c"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"Climb higher"}'], env)
    await runJson(["sync", "--store", dir("rec-c"), "--server", server.url], env)
    await runJson(["sync", "--store", dir("rec-a"), "--server", server.url], env)
    const after = await runJson<ReadOut>(["read", "--store", dir("rec-a")], env)
    const fromC = after.events.filter((e) => e.author.deviceId === c.deviceId)
    expect(fromC.map((e) => `${e.aggregateId}@${e.version}:${JSON.stringify(e.payload)}`)).toEqual(['g1@2:{"title":"Climb higher"}'])
    const rc2 = await run(["read", "--store", dir("rec-c"), "--json"], { env })
    expect(rc2.stdout).toBe(JSON.stringify(after, null, 2) + "\n")
  }, 300_000)

  it("a wrong phrase: 3 (valid words, not this store's) or 2 (not a phrase); nothing created, no phrase printed", async () => {
    const a = await runJson<Init>(["init", "--store", dir("rec-w")], env)
    await runJson(["sync", "--store", dir("rec-w"), "--server", server.url], env)
    const other = await runJson<Init>(["init", "--store", dir("rec-other")], env)
    const args = ["recover", "--store", dir("rec-x"), "--server", server.url, "--store-id", a.storeId, "--json"]

    const wrong = await run(args, { env: { ...env, CIPHERLOG_RECOVERY_PHRASE: other.recoveryPhrase } })
    expect(wrong.code).toBe(3)
    expect(wrong.stdout).toBe("")
    expect(wrong.stderr).toContain("RecoveryNotFound")
    expect(wrong.stderr).toContain("cipherlog sync")
    expect(existsSync(dir("rec-x"))).toBe(false)

    const words = a.recoveryPhrase.split(" ")
    const garbled = words.slice(0, 23).join(" ")
    const invalid = await run(args, { env: { ...env, CIPHERLOG_RECOVERY_PHRASE: garbled } })
    expect(invalid.code).toBe(2)
    expect(invalid.stdout).toBe("")
    expect(invalid.stderr).toContain("InvalidRecoveryPhrase")
    expect(existsSync(dir("rec-x"))).toBe(false)

    const none = await run(args, { env })
    expect(none.code).toBe(2)
    expect(none.stderr).toContain("CIPHERLOG_RECOVERY_PHRASE")

    for (const out of [wrong, invalid, none]) {
      for (const phrase of [a.recoveryPhrase, other.recoveryPhrase, garbled]) {
        expect(out.stdout + out.stderr).not.toContain(phrase.split(" ").slice(0, 4).join(" "))
      }
    }
  }, 300_000)
})

describe("exit codes", () => {
  let store: string
  beforeAll(async () => {
    store = dir("codes")
    await runJson<Init>(["init", "--store", store], env)
    await runJson(["append", "--store", store, "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"secret plan"}'], env)
  }, 120_000)

  it("wrong passphrase: 3, nothing on stdout, and the store is unchanged", async () => {
    for (const args of [["read", "--json"], ["append", "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", "{}", "--json"], ["diagnose"], ["keys", "status", "--json"]]) {
      const r = await run([...args, "--store", store], { env: { CIPHERLOG_PASSPHRASE: "not the passphrase" } })
      expect(r.code, args.join(" ")).toBe(3)
      expect(r.stdout).toBe("")
      expect(r.stderr).toContain("Wrong passphrase")
      expect(r.stderr).not.toContain("secret plan")
    }
    const read = await runJson<ReadOut>(["read", "--store", store], env)
    expect(read.events).toHaveLength(1)
  }, 120_000)

  it("bad input: 2, with what to do next", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["append", "--aggregate", "Goal", "--type", "GoalSet", "--data", "{}"], "TYPE/ID"],
      [["append", "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", "{not json"], "not valid JSON"],
      [["append", "--aggregate", "Goal/g1", "--type", "9bad", "--data", "{}"], "--type"],
      [["append", "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", "{}", "--expect-version", "-1"], "--expect-version"],
      [["read", "--aggregate", "Goal/has space"], "ID"],
      [["sync", "--server", "ftp://example.org"], "http"],
      [["read", "--no-such-flag"], ""],
      [["wipe"], "--yes"]
    ]
    for (const [args, hint] of cases) {
      const r = await run([...args, "--store", store], { env })
      expect(r.code, args.join(" ")).toBe(2)
      expect(r.stdout).toBe("")
      expect(r.stderr).toContain(hint)
    }
    const missing = await run(["read", "--store", dir("nowhere")], { env })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("cipherlog init")
    expect(existsSync(join(store, "cipherlog.json"))).toBe(true) // wipe without --yes did nothing
  }, 120_000)

  it("conflict: 5 when the expected version is stale", async () => {
    const r = await run(["append", "--store", store, "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", "{}", "--expect-version", "0"], { env })
    expect(r.code).toBe(5)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain("expected version 0")
  }, 60_000)

  it("network: 6 when the server cannot be reached; nothing is lost and a later sync succeeds", async () => {
    const r = await run(["sync", "--store", store, "--server", "http://127.0.0.1:9"], { env })
    expect(r.code).toBe(6)
    expect(r.stdout).toBe("")
    expect(r.stderr).toMatch(/could not be reached|server/)
    const ok = await runJson<{ pending: number }>(["sync", "--store", store, "--server", server.url], env)
    expect(ok.pending).toBe(0)
  }, 120_000)

  it("locked: 4 while another process holds the local log (read, and wipe changes nothing)", async () => {
    const db = new Database(join(store, "events.db"))
    try {
      db.pragma("locking_mode = EXCLUSIVE")
      db.exec("BEGIN IMMEDIATE; COMMIT")
      const r = await run(["read", "--store", store, "--json"], { env })
      expect(r.code).toBe(4)
      expect(r.stdout).toBe("")
      expect(r.stderr).toContain("in use by another process")
      const wipe = await run(["wipe", "--store", store, "--yes"], { env })
      expect(wipe.code).toBe(4)
      expect(existsSync(join(store, "keys"))).toBe(true)
    } finally {
      db.close()
    }
  }, 120_000)
})

describe("backup and restore", () => {
  it("key backup + database backup → wipe → restore gives an identical read --json", async () => {
    const store = dir("br")
    await runJson<Init>(["init", "--store", store], env)
    for (const [agg, title] of [["Goal/g1", "one"], ["Goal/g2", "two"], ["Goal/g1", "three"]] as const) {
      await runJson(["append", "--store", store, "--aggregate", agg, "--type", "GoalSet", "--data", JSON.stringify({ title })], env)
    }
    await runJson(["sync", "--store", store, "--server", server.url], env)
    const before = await run(["read", "--store", store, "--json"], { env })
    expect(before.code).toBe(0)

    await runJson(["backup", "keys", "--store", store, "--out", dir("br.keys")], backupEnv)
    await runJson(["backup", "db", "--store", store, "--out", dir("br.db")], env)
    // Neither file holds a payload, a passphrase or the backup passphrase in clear.
    for (const file of [dir("br.keys"), dir("br.db")]) {
      const bytes = readFileSync(file)
      for (const secret of ["three", PASSPHRASE, BACKUP_PASSPHRASE]) expect(bytes.includes(secret), `${file} ${secret}`).toBe(false)
    }
    // The same passphrase for the backup is refused (it must differ), an existing --out too.
    expect((await run(["backup", "keys", "--store", store, "--out", dir("same.keys")], { env: { ...env, CIPHERLOG_BACKUP_PASSPHRASE: PASSPHRASE } })).code).toBe(2)
    expect((await run(["backup", "db", "--store", store, "--out", dir("br.db")], { env })).code).toBe(5)

    const wiped = await runJson<{ wiped: boolean }>(["wipe", "--store", store, "--yes"], env)
    expect(wiped.wiped).toBe(true)
    expect(existsSync(store)).toBe(false)

    // A wrong backup passphrase: 3, and nothing is created.
    const wrong = await run(["restore", "--keys", dir("br.keys"), "--db", dir("br.db"), "--store", store], { env: { ...env, CIPHERLOG_BACKUP_PASSPHRASE: "wrong backup passphrase" } })
    expect(wrong.code).toBe(3)
    expect(wrong.stdout).toBe("")
    expect(existsSync(store)).toBe(false)

    const restored = await runJson<{ database: { records: number; locked: number } }>(["restore", "--keys", dir("br.keys"), "--db", dir("br.db"), "--store", store], backupEnv)
    expect(restored.database.locked).toBe(0)
    const after = await run(["read", "--store", store, "--json"], { env })
    expect(after.stdout).toBe(before.stdout)

    // The restored device goes on: it appends and syncs from where the copy was.
    await runJson(["append", "--store", store, "--aggregate", "Goal/g2", "--type", "GoalSet", "--data", '{"title":"four"}', "--expect-version", "1"], env)
    const synced = await runJson<{ pushed: number; pending: number }>(["sync", "--store", store, "--server", server.url], env)
    expect(synced.pending).toBe(0)
    expect(synced.pushed).toBeGreaterThan(0)
  }, 300_000)

  it("a key backup alone restores keys; the log then comes from the server", async () => {
    const store = dir("ko")
    await runJson<Init>(["init", "--store", store], env)
    await runJson(["append", "--store", store, "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"kept"}'], env)
    await runJson(["sync", "--store", store, "--server", server.url], env)
    const before = await run(["read", "--store", store, "--json"], { env })
    await runJson(["backup", "keys", "--store", store, "--out", dir("ko.keys")], backupEnv)
    await runJson(["wipe", "--store", store, "--yes"], env)
    const restored = await runJson<{ database: unknown }>(["restore", "--keys", dir("ko.keys"), "--store", store], backupEnv)
    expect(restored.database).toBeNull()
    expect((await runJson<ReadOut>(["read", "--store", store], env)).events).toEqual([])
    await runJson(["sync", "--store", store, "--server", server.url], env)
    expect((await run(["read", "--store", store, "--json"], { env })).stdout).toBe(before.stdout)
  }, 120_000)
})

describe("cipherlog devices", () => {
  it("revoke takes the keys away: the revoked device can no longer sync, the other devices carry on; list shows it revoked; self and unknown ids are 2", async () => {
    const a = await runJson<Init>(["init", "--store", dir("r1")], env)
    const withPhrase = { ...env, CIPHERLOG_RECOVERY_PHRASE: a.recoveryPhrase }
    await runJson(["append", "--store", dir("r1"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"first"}'], env)
    await runJson(["backup", "keys", "--store", dir("r1"), "--out", dir("r1.keys")], backupEnv)
    const b = await runJson<{ deviceId: string }>(["restore", "--keys", dir("r1.keys"), "--store", dir("r2")], backupEnv)
    await runJson(["append", "--store", dir("r2"), "--aggregate", "Goal/g2", "--type", "GoalSet", "--data", '{"title":"from the lost phone"}'], env)
    for (const d of ["r1", "r2", "r1"]) await runJson(["sync", "--store", dir(d), "--server", server.url], env)
    type Listed = { devices: ReadonlyArray<{ deviceId: string; revokedAt: number | null; current: boolean }> }
    const before = await runJson<Listed>(["devices", "list", "--store", dir("r1")], env)
    expect(before.devices.map((d) => [d.deviceId, d.revokedAt, d.current]).sort()).toEqual([[a.deviceId, null, true], [b.deviceId, null, false]].sort())

    const revoke = (deviceId: string, extra: Record<string, string> = withPhrase) =>
      run(["devices", "revoke", deviceId, "--store", dir("r1"), "--server", server.url, "--json"], { env: extra })
    expect((await revoke(a.deviceId)).code).toBe(2)
    const unknown = await revoke("d-nope")
    expect([unknown.code, unknown.stdout]).toEqual([2, ""])
    // A wrong recovery phrase: refused (3) before anything changes.
    const other = await runJson<Init>(["init", "--store", dir("r-other")], env)
    expect((await revoke(b.deviceId, { ...env, CIPHERLOG_RECOVERY_PHRASE: other.recoveryPhrase })).code).toBe(3)
    const result = await revoke(b.deviceId)
    expect(result.code, result.stderr).toBe(0)
    const revoked = JSON.parse(result.stdout) as { deviceId: string; lastSeq: number; kekRotated: ReadonlyArray<string>; needsAdminRotation: ReadonlyArray<string> }
    expect(revoked.deviceId).toBe(b.deviceId)
    expect(revoked.lastSeq).toBeGreaterThan(0)
    expect(revoked.kekRotated).toEqual(["kv2"])
    expect(revoked.needsAdminRotation).toEqual([])

    // The revoked device, with everything it holds, can no longer sync (its identity's keys no longer log in): exit 6.
    await runJson(["append", "--store", dir("r2"), "--aggregate", "Goal/g3", "--type", "GoalSet", "--data", '{"title":"after the revocation"}'], env)
    expect((await run(["sync", "--store", dir("r2"), "--server", server.url, "--json"], { env })).code).toBe(6)
    // The revoking device writes under the new KEK version and syncs.
    await runJson(["append", "--store", dir("r1"), "--aggregate", "Goal/g4", "--type", "GoalSet", "--data", '{"title":"after, from the laptop"}'], env)
    await runJson(["sync", "--store", dir("r1"), "--server", server.url], env)
    const log = await runJson<ReadOut>(["read", "--store", dir("r1")], env)
    expect(log.events.map((e) => JSON.stringify(e.payload)).sort()).toEqual(['{"title":"after, from the laptop"}', '{"title":"first"}', '{"title":"from the lost phone"}'])
    const after = await runJson<Listed>(["devices", "list", "--store", dir("r1")], env)
    expect(after.devices.find((d) => d.deviceId === b.deviceId)?.revokedAt).toEqual(expect.any(Number))

    // devices add is recover (phrase + server): the new device gets the rotated identity and reads everything.
    const added = await run(
      ["devices", "add", "--store", dir("r3"), "--server", server.url, "--store-id", a.storeId, "--phrase-stdin", "--passphrase-stdin", "--json"],
      { stdin: `${a.recoveryPhrase}\n${PASSPHRASE}\n` }
    )
    expect(added.code, added.stderr).toBe(0)
    const fromR3 = await runJson<ReadOut>(["read", "--store", dir("r3")], env)
    expect(fromR3.events.map((e) => JSON.stringify(e.payload)).sort(), JSON.stringify({ fromR3, added: added.stdout })).toEqual(log.events.map((e) => JSON.stringify(e.payload)).sort())
    // devices remove is revoke: the same refusal for an unknown id.
    expect((await run(["devices", "remove", "d-nope", "--store", dir("r1"), "--server", server.url, "--json"], { env: withPhrase })).code).toBe(2)
  }, 300_000)

  it("identity rotate (planned, then --emergency) and identity relink: the other device follows with the phrase", async () => {
    const a = await runJson<Init>(["init", "--store", dir("i1")], env)
    const withPhrase = { ...env, CIPHERLOG_RECOVERY_PHRASE: a.recoveryPhrase }
    await runJson(["append", "--store", dir("i1"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"one"}'], env)
    await runJson(["sync", "--store", dir("i1"), "--server", server.url], env)
    await runJson(["recover", "--store", dir("i2"), "--server", server.url, "--store-id", a.storeId], withPhrase)
    const whoBefore = await runJson<{ safetyNumber: string }>(["whoami", "--store", dir("i1")], env)
    const planned = await runJson<{ kind: string; safetyNumber: string; migrationUntil: number; rotatedAt: number }>(
      ["identity", "rotate", "--store", dir("i1"), "--server", server.url, "--window-days", "1"], env
    )
    expect(planned.kind).toBe("planned")
    expect(planned.migrationUntil - planned.rotatedAt).toBe(24 * 3600 * 1000)
    expect(planned.safetyNumber).not.toBe(whoBefore.safetyNumber)
    // During the window the other device, still on the old keys, syncs.
    await runJson(["append", "--store", dir("i2"), "--aggregate", "Goal/g2", "--type", "GoalSet", "--data", '{"title":"two"}'], env)
    await runJson(["sync", "--store", dir("i2"), "--server", server.url], env)
    // An emergency rotation: the other device is cut off until it relinks with the phrase.
    expect((await run(["identity", "rotate", "--emergency", "--store", dir("i1"), "--server", server.url, "--json"], { env })).code).toBe(2)
    const emergency = await runJson<{ kind: string }>(["identity", "rotate", "--emergency", "--store", dir("i1"), "--server", server.url], withPhrase)
    expect(emergency.kind).toBe("emergency")
    expect((await run(["sync", "--store", dir("i2"), "--server", server.url, "--json"], { env })).code).toBe(6)
    const relinked = await runJson<{ rotations: number }>(["identity", "relink", "--store", dir("i2"), "--server", server.url], withPhrase)
    expect(relinked.rotations).toBe(2)
    await runJson(["sync", "--store", dir("i2"), "--server", server.url], env)
    await runJson(["sync", "--store", dir("i1"), "--server", server.url], env)
    for (const d of ["i1", "i2"]) {
      const log = await runJson<ReadOut>(["read", "--store", dir(d)], env)
      expect(log.events.map((e) => JSON.stringify(e.payload)).sort()).toEqual(['{"title":"one"}', '{"title":"two"}'])
    }
  }, 300_000)
})

describe("integrity", () => {
  it("a record tampered with on the server: sync and read name it, the rest stays readable", async () => {
    const a = await runJson<Init>(["init", "--store", dir("ta")], env)
    await runJson(["append", "--store", dir("ta"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"intact"}'], env)
    await runJson(["append", "--store", dir("ta"), "--aggregate", "Goal/g1", "--type", "GoalSet", "--data", '{"title":"tampered"}'], env)
    await runJson(["backup", "keys", "--store", dir("ta"), "--out", dir("ta.keys")], backupEnv)
    await runJson(["restore", "--keys", dir("ta.keys"), "--store", dir("tb")], backupEnv)
    await runJson(["append", "--store", dir("tb"), "--aggregate", "Note/n1", "--type", "NoteAdded", "--data", '{"text":"other device"}'], env)
    await runJson(["sync", "--store", dir("ta"), "--server", server.url], env)
    await runJson(["sync", "--store", dir("tb"), "--server", server.url], env)

    // The server's copy of the last record of device a: one ciphertext character changed.
    const tamper = (): string => {
      const db = new Database(join(server.dataDir, "cipherlog.db"))
      try {
        const row = db.prepare("SELECT global_seq AS seq, event_id AS eventId, record_json AS json FROM records WHERE store_id = ? AND aggregate_id = 'g1' AND version = 2")
          .get(a.storeId) as { seq: number; eventId: string; json: string }
        const record = JSON.parse(row.json) as Record<string, unknown>
        const ciphertext = String(record["ciphertext"])
        const i = Math.floor(ciphertext.length / 2)
        record["ciphertext"] = ciphertext.slice(0, i) + (ciphertext[i] === "A" ? "B" : "A") + ciphertext.slice(i + 1)
        db.exec("DROP TRIGGER records_no_update")
        db.prepare("UPDATE records SET record_json = ? WHERE store_id = ? AND global_seq = ?").run(JSON.stringify(record), a.storeId, row.seq)
        return row.eventId
      } finally {
        db.close()
      }
    }
    const eventId = tamper()

    // A third device of the user pulls everything from the server.
    await runJson(["restore", "--keys", dir("ta.keys"), "--store", dir("tc")], backupEnv)
    const sync = await run(["sync", "--store", dir("tc"), "--server", server.url, "--json"], { env })
    expect(sync.code).toBe(0)
    const report = JSON.parse(sync.stdout) as { rejected: number; rejectedRecords: ReadonlyArray<{ eventId: string; aggregateId: string; version: number }> }
    expect(report.rejected).toBe(1)
    expect(report.rejectedRecords).toMatchObject([{ eventId, aggregateId: "g1", version: 2 }])
    expect(sync.stderr).toContain(`Goal/g1 v2 (event ${eventId})`)
    expect(sync.stderr).not.toContain("tampered")

    const read = await runJson<ReadOut>(["read", "--store", dir("tc")], env)
    expect(read.events.map((e) => JSON.stringify(e.payload)).sort()).toEqual(['{"text":"other device"}', '{"title":"intact"}'])
    expect(read.rejected).toMatchObject([{ eventId, aggregateType: "Goal", aggregateId: "g1", version: 2 }])
    const table = await run(["read", "--store", dir("tc")], { env })
    expect(table.stdout).toContain(`rejected: Goal/g1 v2 event ${eventId}`)
  }, 300_000)
})

describe("the binary", () => {
  it("is linked as `cipherlog` in node_modules/.bin (so `npx cipherlog` works from the repository)", () => {
    const root = join(import.meta.dirname, "..", "..", "..")
    const out = execFileSync(join(root, "node_modules", ".bin", "cipherlog"), ["--version"], { encoding: "utf8" })
    expect(out.trim()).toContain("0.1.0")
  })

  it("INV-016: no passphrase or backup passphrase ever appeared in any output of any run", () => {
    expect(transcript.length).toBeGreaterThan(20)
    for (const text of transcript) {
      expect(text).not.toContain(PASSPHRASE)
      expect(text).not.toContain(BACKUP_PASSPHRASE)
    }
  })
})
