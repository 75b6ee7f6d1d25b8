/**
 * The EventStore on SQLite, written once against `SqliteExecutor` and bound
 * by each adapter to its connection (better-sqlite3, sqlite-wasm). Schema
 * migrations are numbered (`PRAGMA user_version`); a database newer than
 * this code is refused untouched. Triggers make synced records immutable in
 * the database itself (INV-001): an UPDATE may only set the global sequence
 * of a pending record, a DELETE may only remove a pending record.
 *
 * Schema: `docs/formats.md`, "Local database v1".
 *
 * @since 0.1.0
 */
import { DuplicateEventMismatch, ImmutableRecord, type SyncRecord, VersionConflict } from "@cipherlog/domain"
import { Effect, Option, PubSub, Stream } from "effect"
import { type AppendResult, type ChainHead, type Counts, type EventStore, type NewRecord, paged, type RemoteResult, type StatusEntry, type StoredRecord, textOf } from "./EventStore.js"
import { SchemaTooNew, StorageFailure } from "./EventStoreError.js"
import { type Row, SqliteFailure, type SqliteExecutor, type SqlValue } from "./SqliteExecutor.js"

/**
 * Migrations, by the `user_version` they produce.
 *
 * @since 0.1.0
 * @category schema
 */
export const migrations: ReadonlyArray<{ readonly version: number; readonly sql: string }> = [
  {
    version: 1,
    sql: `
CREATE TABLE records (
  position        INTEGER PRIMARY KEY AUTOINCREMENT,
  store_id        TEXT    NOT NULL,
  event_id        TEXT    NOT NULL,
  aggregate_type  TEXT    NOT NULL,
  aggregate_id    TEXT    NOT NULL,
  version         INTEGER NOT NULL,
  event_type      TEXT    NOT NULL,
  created_at      INTEGER NOT NULL,
  key_id          TEXT    NOT NULL,
  key_epoch       INTEGER NOT NULL,
  suite           TEXT    NOT NULL,
  author_user     TEXT    NOT NULL,
  author_device   TEXT    NOT NULL,
  chain_seq       INTEGER NOT NULL,
  chain_prev      BLOB,
  nonce           BLOB    NOT NULL,
  ciphertext      BLOB    NOT NULL,
  signature       BLOB,
  record_json     TEXT,
  global_seq      INTEGER,
  UNIQUE (store_id, event_id),
  UNIQUE (store_id, aggregate_type, aggregate_id, version),
  UNIQUE (store_id, global_seq)
);
CREATE INDEX records_pending ON records (store_id, position) WHERE global_seq IS NULL;
CREATE INDEX records_store_position ON records (store_id, position);
CREATE INDEX records_by_device ON records (store_id, author_device, chain_seq);
CREATE INDEX records_by_key ON records (store_id, key_id, key_epoch);
CREATE TRIGGER records_immutable BEFORE UPDATE ON records
WHEN OLD.global_seq IS NOT NULL OR NEW.global_seq IS NULL
  OR NEW.position IS NOT OLD.position OR NEW.store_id IS NOT OLD.store_id OR NEW.event_id IS NOT OLD.event_id
  OR NEW.aggregate_type IS NOT OLD.aggregate_type OR NEW.aggregate_id IS NOT OLD.aggregate_id OR NEW.version IS NOT OLD.version
  OR NEW.event_type IS NOT OLD.event_type OR NEW.created_at IS NOT OLD.created_at OR NEW.key_id IS NOT OLD.key_id
  OR NEW.key_epoch IS NOT OLD.key_epoch OR NEW.suite IS NOT OLD.suite OR NEW.author_user IS NOT OLD.author_user
  OR NEW.author_device IS NOT OLD.author_device OR NEW.chain_seq IS NOT OLD.chain_seq OR NEW.chain_prev IS NOT OLD.chain_prev
  OR NEW.nonce IS NOT OLD.nonce OR NEW.ciphertext IS NOT OLD.ciphertext OR NEW.signature IS NOT OLD.signature
  OR NEW.record_json IS NOT OLD.record_json
BEGIN SELECT RAISE(ABORT, 'cipherlog: records are immutable (only a pending record may receive its global sequence)'); END;
CREATE TRIGGER records_append_only BEFORE DELETE ON records WHEN OLD.global_seq IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'cipherlog: synced records are never deleted'); END;
CREATE TABLE record_status (
  store_id TEXT NOT NULL, event_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
  PRIMARY KEY (store_id, event_id)
);
CREATE INDEX record_status_by_status ON record_status (store_id, status);
CREATE TABLE chains (
  store_id TEXT NOT NULL, device_id TEXT NOT NULL, seq INTEGER NOT NULL, digest BLOB NOT NULL,
  PRIMARY KEY (store_id, device_id)
);
CREATE TABLE cursors (store_id TEXT PRIMARY KEY, cursor INTEGER NOT NULL);
CREATE TABLE cache (namespace TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (namespace, key));
CREATE TABLE writer (id INTEGER PRIMARY KEY CHECK (id = 1), opened_at INTEGER NOT NULL);
`
  }
]

/**
 * The schema version this code writes and reads.
 *
 * @since 0.1.0
 * @category schema
 */
export const SCHEMA_VERSION = migrations[migrations.length - 1]!.version

const COLUMN_NAMES = [
  "position", "global_seq", "store_id", "event_id", "aggregate_type", "aggregate_id", "version", "event_type", "created_at",
  "key_id", "key_epoch", "suite", "author_user", "author_device", "chain_seq", "chain_prev", "nonce", "ciphertext", "signature", "record_json"
] as const
const COLUMNS = COLUMN_NAMES.join(", ")

const num = (v: SqlValue | undefined): number => (typeof v === "bigint" ? Number(v) : (v as number))

// Hosts return their own byte types (Node's Buffer): hand out plain Uint8Array views.
const bytes = (v: SqlValue | undefined) =>
  v instanceof Uint8Array ? (v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) : undefined

/** A record from the values of `COLUMNS`, in that order. */
const fromValues = (v: ReadonlyArray<SqlValue>): StoredRecord => {
  const prev = bytes(v[15])
  const seq = num(v[14])
  const header = {
    storeId: v[2] as string,
    aggregateType: v[4] as string,
    aggregateId: v[5] as string,
    eventId: v[3] as string,
    eventType: v[7] as string,
    version: num(v[6]),
    createdAt: num(v[8]),
    key: { id: v[9] as string, epoch: num(v[10]) },
    suite: v[11] as string,
    author: { userId: v[12] as string, deviceId: v[13] as string },
    chain: prev === undefined ? { seq } : { seq, prev }
  } as unknown as SyncRecord.RecordHeader
  const g = v[1]
  const stored = v[19]
  let text: string | undefined = typeof stored === "string" ? stored : undefined
  const record: StoredRecord = {
    position: num(v[0]),
    globalSequence: g === null || g === undefined ? null : num(g),
    header,
    nonce: bytes(v[16])!,
    ciphertext: bytes(v[17])!,
    signature: bytes(v[18]),
    // Own records keep their parts as columns; their text is rendered only when asked for (sync, comparisons).
    get recordJson() {
      text ??= textOf({ header, nonce: this.nonce, ciphertext: this.ciphertext, signature: this.signature })
      return text
    }
  }
  return record
}

/** The stored form of a record just inserted at `position` (the same values `fromValues` reads back). */
const stored = (r: NewRecord, position: number, globalSequence: number | null): StoredRecord => {
  let text = r.recordJson
  const { ciphertext, header, nonce, signature } = r
  return {
    position,
    globalSequence,
    header,
    nonce,
    ciphertext,
    signature,
    get recordJson() {
      text ??= textOf({ header, nonce, ciphertext, signature })
      return text
    }
  }
}

const toRecord = (row: Row): StoredRecord => fromValues(COLUMN_NAMES.map((c) => row[c] ?? null))

const insertValues = (r: NewRecord, globalSequence: number | null): ReadonlyArray<SqlValue> => {
  const h = r.header
  return [
    h.storeId, h.eventId, h.aggregateType, h.aggregateId, h.version, h.eventType, h.createdAt, h.key.id, h.key.epoch,
    h.suite, h.author.userId, h.author.deviceId, h.chain.seq, h.chain.prev ?? null, r.nonce, r.ciphertext, r.signature ?? null,
    r.recordJson ?? null, globalSequence
  ]
}

const INSERT = `INSERT INTO records (store_id, event_id, aggregate_type, aggregate_id, version, event_type, created_at,
  key_id, key_epoch, suite, author_user, author_device, chain_seq, chain_prev, nonce, ciphertext, signature, record_json, global_seq)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

/** An insert that does nothing when the event id is already stored (the caller then compares bytes). */
const INSERT_NEW = `${INSERT} ON CONFLICT (store_id, event_id) DO NOTHING`

/** Thrown inside a transaction to roll it back and surface a typed error. */
class Abort<E> {
  constructor(readonly error: E) {}
}

/**
 * Builds the store on an executor: runs migrations, refuses newer schemas.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  db: SqliteExecutor,
  info: { readonly adapter: string; readonly location: string; readonly capabilities?: Readonly<Record<string, string | boolean>> }
): Effect.Effect<EventStore, SchemaTooNew | StorageFailure> =>
  Effect.gen(function*() {
    const { location } = info
    const failure = (operation: string) => (error: unknown) =>
      new StorageFailure({ location, operation, code: error instanceof SqliteFailure ? error.code : "UNKNOWN", cause: error })

    const sync = <A>(operation: string, f: () => A): Effect.Effect<A, StorageFailure> =>
      Effect.try({ try: f, catch: failure(operation) })

    /** Runs `f` in a transaction; an `Abort` thrown inside rolls back and becomes the typed error. */
    const transaction = <A, E>(operation: string, f: () => A): Effect.Effect<A, E | StorageFailure> =>
      Effect.suspend((): Effect.Effect<A, E | StorageFailure> => {
        try {
          return Effect.succeed(db.transaction(f))
        } catch (error) {
          if (error instanceof Abort) return Effect.fail(error.error as E)
          return Effect.fail(failure(operation)(error))
        }
      })

    /** Reads whole records (`SELECT ${COLUMNS} …`), as value arrays when the host can (no named row per record). */
    const readRecords = (sql: string, params: ReadonlyArray<SqlValue>): Array<StoredRecord> =>
      db.values ? db.values(sql, params).map(fromValues) : db.all(sql, params).map(toRecord)

    const writeStatus = (storeId: string, { eventId, reason, status }: StatusEntry) => {
      if (status === "ok") db.run("DELETE FROM record_status WHERE store_id = ? AND event_id = ?", [storeId, eventId])
      else {
        db.run(
          "INSERT INTO record_status (store_id, event_id, status, reason) VALUES (?, ?, ?, ?) ON CONFLICT (store_id, event_id) DO UPDATE SET status = excluded.status, reason = excluded.reason",
          [storeId, eventId, status, reason ?? null]
        )
      }
    }

    const current = yield* sync("read the schema version", () => num(db.all("PRAGMA user_version")[0]!["user_version"]))
    if (current > SCHEMA_VERSION) return yield* Effect.fail(new SchemaTooNew({ location, found: current, supported: SCHEMA_VERSION }))
    for (const m of migrations) {
      if (m.version <= current) continue
      yield* transaction<void, never>(`migrate to schema ${m.version}`, () => {
        db.exec(m.sql)
        db.exec(`PRAGMA user_version = ${m.version}`)
      })
    }

    // Opening is a write: it records the writer and, on SQLite, takes the write lock at once (INV-011).
    yield* transaction<void, never>("open for writing", () => {
      db.run("INSERT INTO writer (id, opened_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET opened_at = excluded.opened_at", [Date.now()])
    })

    const changes = yield* PubSub.unbounded<{ readonly storeId: string; readonly position: number }>()
    const headOf = (storeId: string) =>
      sync("read the head", () => num(db.all("SELECT COALESCE(MAX(position), 0) AS p FROM records WHERE store_id = ?", [storeId])[0]!["p"]))
    const notify = (storeId: string) => Effect.flatMap(headOf(storeId), (position) => PubSub.publish(changes, { storeId, position }))

    const versionOf = (storeId: string, type: string, id: string) =>
      num(db.all("SELECT COALESCE(MAX(version), 0) AS v FROM records WHERE store_id = ? AND aggregate_type = ? AND aggregate_id = ?", [storeId, type, id])[0]!["v"])

    const byEventId = (storeId: string, eventId: string) => {
      const rows = readRecords(`SELECT ${COLUMNS} FROM records WHERE store_id = ? AND event_id = ?`, [storeId, eventId])
      return rows[0]
    }

    const advanceCursor = (storeId: string) => {
      let cursor = num(db.all("SELECT COALESCE(MAX(cursor), 0) AS c FROM cursors WHERE store_id = ?", [storeId])[0]!["c"])
      const next = db.all("SELECT global_seq FROM records WHERE store_id = ? AND global_seq > ? ORDER BY global_seq", [storeId, cursor])
      for (const row of next) {
        const g = num(row["global_seq"])
        if (g !== cursor + 1) break
        cursor = g
      }
      db.run("INSERT INTO cursors (store_id, cursor) VALUES (?, ?) ON CONFLICT (store_id) DO UPDATE SET cursor = excluded.cursor", [storeId, cursor])
    }

    const store: EventStore = {
      adapter: info.adapter,
      location,
      schemaVersion: SCHEMA_VERSION,
      capabilities: info.capabilities ?? {},
      append: (records, options = {}) =>
        Effect.tap(
          transaction<AppendResult, VersionConflict | DuplicateEventMismatch>("append", () => {
            const versions = new Map<string, number>()
            const keyOf = (s: string, t: string, i: string) => `${s}\u0000${t}\u0000${i}`
            for (const e of options.expected ?? []) {
              const storeId = records[0]?.header.storeId ?? ""
              const actual = versionOf(storeId, e.aggregateType, e.aggregateId)
              if (actual !== e.version) {
                throw new Abort(new VersionConflict({ storeId, aggregateType: e.aggregateType, aggregateId: e.aggregateId, expected: e.version, actual }))
              }
              // Checked just now, in this transaction: no need to read it again below.
              versions.set(keyOf(storeId, e.aggregateType, e.aggregateId), actual)
            }
            let appended = 0
            let duplicates = 0
            const positions: Array<number> = []
            for (const r of records) {
              const h = r.header
              const k = keyOf(h.storeId, h.aggregateType, h.aggregateId)
              const at = versions.get(k) ?? versionOf(h.storeId, h.aggregateType, h.aggregateId)
              if (h.version === at + 1) {
                const inserted = db.run(INSERT_NEW, insertValues(r, null))
                if (inserted.changes === 1) {
                  positions.push(inserted.lastInsertRowid)
                  versions.set(k, h.version)
                  appended++
                  continue
                }
              }
              // Not the next version, or the event id is taken: a retry of the same record, or a conflict.
              const existing = byEventId(h.storeId, h.eventId)
              if (existing) {
                if (existing.recordJson === textOf(r)) {
                  duplicates++
                  positions.push(existing.position)
                  continue
                }
                throw new Abort(new DuplicateEventMismatch({ storeId: h.storeId, eventId: h.eventId }))
              }
              throw new Abort(new VersionConflict({ storeId: h.storeId, aggregateType: h.aggregateType, aggregateId: h.aggregateId, expected: h.version - 1, actual: at }))
            }
            if (options.chain) {
              db.run(
                "INSERT INTO chains (store_id, device_id, seq, digest) VALUES (?, ?, ?, ?) ON CONFLICT (store_id, device_id) DO UPDATE SET seq = excluded.seq, digest = excluded.digest",
                [options.chain.storeId, options.chain.deviceId, options.chain.head.seq, options.chain.head.digest]
              )
            }
            return { appended, duplicates, positions }
          }),
          (result) => (result.appended > 0 && records.length > 0 ? notify(records[0]!.header.storeId) : Effect.void)
        ),
      applyRemote: (storeId, records) =>
        Effect.tap(
          transaction<RemoteResult, never>("apply remote records", () => {
            const inserted: Array<StoredRecord> = []
            const mismatched: Array<string> = []
            const displaced: Array<StoredRecord> = []
            let acknowledged = 0
            for (const r of records) {
              const h = r.header
              // Most records are new: look for the event id with a narrow query, read the whole row only when it is there.
              const present = db.all("SELECT 1 AS present FROM records WHERE store_id = ? AND event_id = ?", [storeId, h.eventId]).length > 0
              const existing = present ? byEventId(storeId, h.eventId) : undefined
              if (existing) {
                if (existing.recordJson !== textOf(r)) mismatched.push(h.eventId)
                else if (existing.globalSequence === null) {
                  db.run("UPDATE records SET global_seq = ? WHERE store_id = ? AND event_id = ?", [r.globalSequence, storeId, h.eventId])
                  acknowledged++
                } else if (existing.globalSequence !== r.globalSequence) mismatched.push(h.eventId)
                continue
              }
              const clash = db.all(
                "SELECT position, global_seq FROM records WHERE store_id = ? AND aggregate_type = ? AND aggregate_id = ? AND version = ?",
                [storeId, h.aggregateType, h.aggregateId, h.version]
              )
              if (clash.length > 0) {
                const g = clash[0]!["global_seq"]
                const local = { position: num(clash[0]!["position"]), globalSequence: g === null || g === undefined ? null : num(g) }
                if (local.globalSequence !== null) {
                  mismatched.push(h.eventId) // the server contradicts what it already ordered
                  continue
                }
                // Our pending record lost the race: it and every later pending record of ours must be rebased.
                const moving = readRecords(`SELECT ${COLUMNS} FROM records WHERE store_id = ? AND global_seq IS NULL AND position >= ? ORDER BY position`, [storeId, local.position])
                db.run("DELETE FROM records WHERE store_id = ? AND global_seq IS NULL AND position >= ?", [storeId, local.position])
                displaced.push(...moving)
              }
              const { lastInsertRowid } = db.run(INSERT, insertValues(r, r.globalSequence))
              // What was just written, without reading it back.
              inserted.push(stored(r, lastInsertRowid, r.globalSequence))
            }
            advanceCursor(storeId)
            return { inserted, acknowledged, mismatched, displaced }
          }),
          (result) => (result.inserted.length + result.acknowledged + result.displaced.length > 0 ? notify(storeId) : Effect.void)
        ),
      acknowledge: (storeId, acks) =>
        transaction<number, ImmutableRecord>("acknowledge", () => {
          let done = 0
          for (const a of acks) {
            const existing = byEventId(storeId, a.eventId)
            if (!existing) continue
            if (existing.globalSequence === a.globalSequence) continue
            if (existing.globalSequence !== null) {
              throw new Abort(new ImmutableRecord({ storeId, operation: "re-sequence", target: `event ${a.eventId}` }))
            }
            db.run("UPDATE records SET global_seq = ? WHERE store_id = ? AND event_id = ?", [a.globalSequence, storeId, a.eventId])
            done++
          }
          advanceCursor(storeId)
          return done
        }),
      takePending: (storeId) =>
        transaction<ReadonlyArray<StoredRecord>, never>("take pending records", () => {
          const rows = readRecords(`SELECT ${COLUMNS} FROM records WHERE store_id = ? AND global_seq IS NULL ORDER BY position`, [storeId])
          db.run("DELETE FROM records WHERE store_id = ? AND global_seq IS NULL", [storeId])
          return rows
        }),
      readAggregate: (storeId, type, id, afterVersion = 0) =>
        sync("read an aggregate", () =>
          readRecords(`SELECT ${COLUMNS} FROM records WHERE store_id = ? AND aggregate_type = ? AND aggregate_id = ? AND version > ? ORDER BY version`, [storeId, type, id, afterVersion])),
      readAfter: (storeId, position, limit) =>
        sync("read records", () => readRecords(`SELECT ${COLUMNS} FROM records WHERE store_id = ? AND position > ? ORDER BY position LIMIT ?`, [storeId, position, limit])),
      stream: (storeId, pageSize = 1000) => paged(store.readAfter, storeId, pageSize),
      head: headOf,
      readPending: (storeId, limit) =>
        sync("read pending records", () => readRecords(`SELECT ${COLUMNS} FROM records WHERE store_id = ? AND global_seq IS NULL ORDER BY position LIMIT ?`, [storeId, limit])),
      readByDevice: (storeId, deviceId, afterSeq) =>
        sync("read a device's records", () =>
          readRecords(`SELECT ${COLUMNS} FROM records WHERE store_id = ? AND author_device = ? AND chain_seq > ? ORDER BY chain_seq`, [storeId, deviceId, afterSeq])),
      keyRefs: (storeId) =>
        sync("list key references", () =>
          db.all("SELECT key_id, key_epoch, COUNT(*) AS n FROM records WHERE store_id = ? GROUP BY key_id, key_epoch ORDER BY key_id, key_epoch", [storeId]).map((r) => ({
            id: r["key_id"] as string,
            epoch: num(r["key_epoch"]),
            records: num(r["n"])
          }))),
      byEventId: (storeId, eventId) => sync("look up an event", () => Option.fromNullable(byEventId(storeId, eventId))),
      aggregateVersion: (storeId, type, id) => sync("read a version", () => versionOf(storeId, type, id)),
      cursor: (storeId) => sync("read the cursor", () => num(db.all("SELECT COALESCE(MAX(cursor), 0) AS c FROM cursors WHERE store_id = ?", [storeId])[0]!["c"])),
      chainHead: (storeId, deviceId) =>
        sync("read a chain head", () => {
          const rows = db.all("SELECT seq, digest FROM chains WHERE store_id = ? AND device_id = ?", [storeId, deviceId])
          return rows.length === 0 ? Option.none<ChainHead>() : Option.some({ seq: num(rows[0]!["seq"]), digest: new Uint8Array(rows[0]!["digest"] as Uint8Array) })
        }),
      setChainHead: (storeId, deviceId, head) =>
        sync("write a chain head", () => {
          db.run(
            "INSERT INTO chains (store_id, device_id, seq, digest) VALUES (?, ?, ?, ?) ON CONFLICT (store_id, device_id) DO UPDATE SET seq = excluded.seq, digest = excluded.digest",
            [storeId, deviceId, head.seq, head.digest]
          )
        }),
      setStatus: (storeId, eventId, status, reason) => sync("write a record status", () => writeStatus(storeId, { eventId, status, reason })),
      setStatuses: (storeId, entries) =>
        entries.length === 0 ? Effect.void : transaction<void, never>("write record statuses", () => {
          for (const entry of entries) writeStatus(storeId, entry)
        }),
      withStatus: (storeId, status) =>
        sync("read record statuses", () =>
          db.all("SELECT event_id, reason FROM record_status WHERE store_id = ? AND status = ? ORDER BY rowid", [storeId, status]).map((r) => ({
            eventId: r["event_id"] as string,
            reason: (r["reason"] as string | null) ?? null
          }))),
      counts: (storeId) =>
        sync("count records", (): Counts => {
          const r = db.all(
            `SELECT COUNT(*) AS records, COALESCE(SUM(global_seq IS NULL), 0) AS pending,
              (SELECT COUNT(*) FROM (SELECT DISTINCT aggregate_type, aggregate_id FROM records WHERE store_id = ?)) AS aggregates
             FROM records WHERE store_id = ?`,
            [storeId, storeId]
          )[0]!
          const s = db.all(
            "SELECT COALESCE(SUM(status = 'parked'), 0) AS parked, COALESCE(SUM(status = 'rejected'), 0) AS rejected FROM record_status WHERE store_id = ?",
            [storeId]
          )[0]!
          const records = num(r["records"])
          const pending = num(r["pending"])
          return { records, pending, synced: records - pending, parked: num(s["parked"]), rejected: num(s["rejected"]), aggregates: num(r["aggregates"]) }
        }),
      stores: sync("list stores", () => db.all("SELECT DISTINCT store_id FROM records ORDER BY store_id").map((r) => r["store_id"] as string)),
      cache: {
        get: (namespace, key) =>
          sync("read the cache", () => {
            const rows = db.all("SELECT value FROM cache WHERE namespace = ? AND key = ?", [namespace, key])
            return rows.length === 0 ? Option.none() : Option.some(new Uint8Array(rows[0]!["value"] as Uint8Array))
          }),
        put: (namespace, entries) =>
          transaction<void, never>("write the cache", () => {
            for (const [key, value] of entries) {
              db.run("INSERT INTO cache (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value", [namespace, key, value])
            }
          }),
        clear: (namespace) => sync("clear the cache", () => void db.run("DELETE FROM cache WHERE namespace = ?", [namespace])),
        keys: (namespace) => sync("list cache keys", () => db.all("SELECT key FROM cache WHERE namespace = ? ORDER BY key", [namespace]).map((r) => r["key"] as string))
      },
      subscribe: (storeId) =>
        Effect.map(PubSub.subscribe(changes), (queue) =>
          Stream.fromQueue(queue).pipe(Stream.filter((c) => c.storeId === storeId), Stream.map((c) => c.position))),
      integrityCheck: sync("check integrity", () => db.all("PRAGMA integrity_check").map((r) => String(Object.values(r)[0])).join("; "))
    }
    return store
  })
