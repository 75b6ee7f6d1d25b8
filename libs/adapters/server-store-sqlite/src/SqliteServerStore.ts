/**
 * The ServerStore port on SQLite (better-sqlite3 through
 * `@effect/sql-sqlite-node`): one database file, WAL journal, full
 * synchronous commits, migrations with the `@effect/sql` Migrator. The
 * queries are the shared `SqlServerStore`; this adapter brings the driver
 * and the schema (docs/formats.md, "Server store schema").
 *
 * One server process per database file: SQLite has a single writer, and
 * appends are serialised by the database's write lock (the first statement
 * of each append transaction is a write, so it behaves as
 * `BEGIN IMMEDIATE`). Records cannot be updated or deleted even with raw
 * SQL: triggers abort such statements (INV-001).
 *
 * @since 0.1.0
 */
import { ServerStore, SqlServerStore } from "@cipherlog/server"
import { Migrator, SqlClient, type SqlError } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { ConfigError } from "effect"
import { Effect, Layer } from "effect"

/**
 * Migration 1: every table of the server store. A later change to the
 * schema is a new migration, never an edit of this one.
 *
 * @since 0.1.0
 * @category migrations
 */
export const schemaV1: ReadonlyArray<string> = [
  `CREATE TABLE users (
    user_id TEXT PRIMARY KEY NOT NULL,
    signing_public_key TEXT NOT NULL,
    encryption_public_key TEXT NOT NULL,
    registered_at INTEGER NOT NULL
  ) STRICT`,
  `CREATE TABLE challenges (
    challenge_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT`,
  `CREATE INDEX challenges_expiry ON challenges (expires_at)`,
  `CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT`,
  `CREATE INDEX sessions_expiry ON sessions (expires_at)`,
  `CREATE TABLE stores (
    store_id TEXT PRIMARY KEY NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    head INTEGER NOT NULL DEFAULT 0,
    audit_head INTEGER NOT NULL DEFAULT 0
  ) STRICT`,
  `CREATE TABLE members (
    store_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'reader')),
    added_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, user_id)
  ) STRICT`,
  `CREATE TABLE records (
    store_id TEXT NOT NULL,
    global_seq INTEGER NOT NULL CHECK (global_seq >= 1),
    event_id TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    received_at INTEGER NOT NULL,
    record_json TEXT NOT NULL,
    PRIMARY KEY (store_id, global_seq),
    UNIQUE (store_id, event_id),
    UNIQUE (store_id, aggregate_type, aggregate_id, version)
  ) STRICT`,
  `CREATE TRIGGER records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'records are immutable (INV-001)'); END`,
  `CREATE TRIGGER records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'records are immutable (INV-001)'); END`,
  `CREATE TABLE kek_versions (
    store_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'decrypt-only', 'deprecated')),
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (store_id, version_id)
  ) STRICT`,
  `CREATE UNIQUE INDEX kek_versions_one_active ON kek_versions (store_id) WHERE status = 'active'`,
  `CREATE TABLE kek_blobs (
    store_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    blob TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, version_id, user_id)
  ) STRICT`,
  `CREATE INDEX kek_blobs_by_user ON kek_blobs (store_id, user_id)`,
  `CREATE TABLE audit_log (
    store_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor_user_id TEXT NOT NULL,
    action TEXT NOT NULL,
    version_id TEXT,
    target_user_id TEXT,
    role TEXT,
    status TEXT,
    reason TEXT,
    PRIMARY KEY (store_id, seq)
  ) STRICT`,
  `CREATE TABLE recovery (
    locator TEXT PRIMARY KEY NOT NULL,
    owner_user_id TEXT NOT NULL,
    blob TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT`
]

/**
 * Migration 2: the audit log is append-only in the database itself, as
 * `records` is (raw SQL cannot rewrite or delete what admins did).
 *
 * @since 0.1.0
 * @category migrations
 */
export const schemaV2: ReadonlyArray<string> = [
  `CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`,
  `CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`
]

/**
 * Migration 3: prekeys. One signed prekey per user (replaced on rotation);
 * one-time prekeys kept with their claim (`claimed_at`, `claimed_by`) so
 * that an id is handed out once, ever, and claims can be rate limited per
 * claimer. A claimed row cannot be claimed again or deleted, even by raw SQL.
 *
 * @since 0.1.0
 * @category migrations
 */
export const schemaV3: ReadonlyArray<string> = [
  `CREATE TABLE signed_prekeys (
    user_id TEXT PRIMARY KEY NOT NULL,
    prekey_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    signature TEXT NOT NULL,
    published_at INTEGER NOT NULL
  ) STRICT`,
  `CREATE TABLE one_time_prekeys (
    user_id TEXT NOT NULL,
    prekey_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    claimed_at INTEGER,
    claimed_by TEXT,
    PRIMARY KEY (user_id, prekey_id)
  ) STRICT`,
  `CREATE INDEX one_time_prekeys_unclaimed ON one_time_prekeys (user_id, uploaded_at, prekey_id) WHERE claimed_at IS NULL`,
  `CREATE INDEX one_time_prekeys_claims ON one_time_prekeys (user_id, claimed_by, claimed_at) WHERE claimed_at IS NOT NULL`,
  `CREATE TRIGGER one_time_prekeys_claimed_once BEFORE UPDATE ON one_time_prekeys WHEN OLD.claimed_at IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'a claimed one-time prekey stays claimed'); END`,
  `CREATE TRIGGER one_time_prekeys_no_delete BEFORE DELETE ON one_time_prekeys
    BEGIN SELECT RAISE(ABORT, 'one-time prekey ids are kept: an id is usable once, ever'); END`
]

/**
 * Migration 4: identity rotations (docs/formats.md, "Server store schema").
 * The genesis keys of a user who rotated, and each accepted rotation
 * statement, append-only; one rotation per old key (no fork). It depends
 * on nothing but migration 1.
 *
 * @since 0.1.0
 * @category migrations
 */
export const schemaV4: ReadonlyArray<string> = [
  `CREATE TABLE identity_genesis (
    user_id TEXT PRIMARY KEY NOT NULL,
    signing_public_key TEXT NOT NULL,
    encryption_public_key TEXT NOT NULL,
    registered_at INTEGER NOT NULL
  ) STRICT`,
  `CREATE TABLE identity_rotations (
    user_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('planned', 'emergency')),
    old_signing_public_key TEXT NOT NULL,
    new_signing_public_key TEXT NOT NULL,
    new_encryption_public_key TEXT NOT NULL,
    rotated_at INTEGER NOT NULL,
    migration_until INTEGER NOT NULL,
    old_signature TEXT NOT NULL,
    new_signature TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq),
    UNIQUE (user_id, old_signing_public_key)
  ) STRICT`,
  `CREATE TRIGGER identity_rotations_no_update BEFORE UPDATE ON identity_rotations
    BEGIN SELECT RAISE(ABORT, 'identity rotations are append-only'); END`,
  `CREATE TRIGGER identity_rotations_no_delete BEFORE DELETE ON identity_rotations
    BEGIN SELECT RAISE(ABORT, 'identity rotations are append-only'); END`
]

/**
 * Migration 5: each store's longest record text, in characters
 * (`max_record_length`, filled from the records already there), so that a
 * pull page can be held to `ServerStore.MAX_PAGE_CHARACTERS` without
 * measuring its records when no record is long enough to matter.
 *
 * @since 0.1.0
 * @category migrations
 */
export const schemaV5: ReadonlyArray<string> = [
  `ALTER TABLE stores ADD COLUMN max_record_length INTEGER NOT NULL DEFAULT 0 CHECK (max_record_length >= 0)`,
  `UPDATE stores SET max_record_length =
    (SELECT COALESCE(MAX(length(record_json)), 0) FROM records WHERE records.store_id = stores.store_id)`
]

/**
 * The highest migration this code has; a database with a higher one is refused.
 *
 * @since 0.1.0
 * @category migrations
 */
export const latestMigration = 5

/**
 * The migrations, in order.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: Migrator.Loader = Migrator.fromRecord({
  "0001_initial": Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(schemaV1, (statement) => sql.unsafe(statement))),
  "0002_audit_log_append_only": Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(schemaV2, (statement) => sql.unsafe(statement))),
  "0003_prekeys": Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(schemaV3, (statement) => sql.unsafe(statement))),
  "0004_identity_rotations": Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(schemaV4, (statement) => sql.unsafe(statement))),
  "0005_max_record_length": Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(schemaV5, (statement) => sql.unsafe(statement)))
})

/**
 * Runs the pending migrations (in one transaction); returns those applied.
 * Refuses a database migrated by a newer server.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = Effect.zipRight(
  SqlServerStore.refuseNewerSchema(latestMigration),
  Migrator.make({})({ loader: migrations, table: "cipherlog_migrations" })
)

/**
 * Connection settings every server connection uses: WAL (set by the client),
 * full synchronous commits (an acknowledged push survives a power loss —
 * otherwise a global sequence could be handed out twice), and a busy
 * timeout for other processes reading the file (backups).
 *
 * @since 0.1.0
 * @category constants
 */
export const pragmas: ReadonlyArray<string> = ["PRAGMA synchronous = FULL", "PRAGMA busy_timeout = 5000"]

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The database file (created if missing). */
  readonly filename: string
}

/**
 * The SQLite client alone (with the pragmas applied), also providing
 * `SqlClient` — what the store runs on.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (options: Options): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, ConfigError.ConfigError | SqlError.SqlError> =>
  Layer.effectDiscard(
    Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(pragmas, (p) => sql.unsafe(p), { discard: true }))
  ).pipe(Layer.provideMerge(SqliteClient.layer({ filename: options.filename })))

/**
 * The store, migrated, over a new client; the client (`SqlClient`) is
 * provided too, for tests that try raw SQL against the schema.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  ServerStore.ServerStore | SqliteClient.SqliteClient | SqlClient.SqlClient,
  ConfigError.ConfigError | SqlError.SqlError | Migrator.MigrationError
> =>
  Layer.scoped(ServerStore.ServerStore, Effect.zipRight(migrate, SqlServerStore.make({ groupCommit: true }))).pipe(
    Layer.provideMerge(layerClient(options))
  )
