/**
 * Scans of the server's state: its storage (SQLite files or a pg_dump),
 * its logs and its metrics, for canaries (INV-006) and for anything that
 * would open a record's ciphertext (INV-017).
 */
import { execFileSync } from "node:child_process"
import { createDecipheriv } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"

/** The SQLite database file and its WAL/SHM companions, concatenated. */
export const sqliteBytes = (dataDir: string): Buffer =>
  Buffer.concat(["cipherlog.db", "cipherlog.db-wal", "cipherlog.db-shm"].map((f) => join(dataDir, f)).filter(existsSync).map((f) => readFileSync(f)))

/** A full dump (schema and data) of a PostgreSQL database. */
export const pgDump = (url: string): Buffer => execFileSync("pg_dump", ["--no-owner", "--dbname", url], { maxBuffer: 512 * 1024 * 1024 })

/** Which of `needles` occur in `haystack` (as UTF-8). */
export const found = (haystack: Buffer | string, needles: ReadonlyArray<string>): ReadonlyArray<string> => {
  const hay = typeof haystack === "string" ? Buffer.from(haystack, "utf8") : haystack
  return needles.filter((n) => hay.includes(Buffer.from(n, "utf8")))
}

export interface SealedRecord {
  readonly nonce: Uint8Array
  readonly ciphertext: Uint8Array
  readonly aad: Uint8Array
}

const opens = (key: Uint8Array, r: SealedRecord): boolean => {
  try {
    const d = createDecipheriv("aes-256-gcm", key, r.nonce, { authTagLength: 16 })
    d.setAAD(r.aad)
    d.setAuthTag(r.ciphertext.subarray(r.ciphertext.length - 16))
    d.update(r.ciphertext.subarray(0, r.ciphertext.length - 16))
    d.final()
    return true
  } catch (_) {
    return false
  }
}

/** Every canonical base64url run of at least 43 characters (32+ bytes), decoded. */
export const base64UrlValues = (state: Buffer): ReadonlyArray<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (const match of state.toString("latin1").matchAll(/[A-Za-z0-9_-]{43,}/g)) {
    // Runs may be glued to neighbouring text; try every start offset mod 4 so each aligned value is decoded.
    for (let shift = 0; shift < 4; shift++) {
      const text = match[0].slice(shift)
      const usable = text.slice(0, text.length - (text.length % 4 === 1 ? 1 : 0))
      const bytes = Buffer.from(usable, "base64url")
      if (bytes.length >= 32) out.push(bytes)
    }
  }
  return out
}

/**
 * Tries every 32-byte window of every candidate as an AES-256-GCM key on
 * each record. Returns how many windows were tried and which opened one.
 */
export const keysThatOpen = (candidates: ReadonlyArray<Uint8Array>, records: ReadonlyArray<SealedRecord>) => {
  let tried = 0
  const openers: Array<Uint8Array> = []
  const seen = new Set<string>()
  for (const candidate of candidates) {
    for (let i = 0; i + 32 <= candidate.length; i++) {
      const key = candidate.subarray(i, i + 32)
      const id = Buffer.from(key).toString("latin1")
      if (seen.has(id)) continue
      seen.add(id)
      tried++
      if (records.some((r) => opens(key, r))) openers.push(key)
    }
  }
  return { tried, openers }
}
