/**
 * The ServerStore port on PostgreSQL (`@effect/sql-pg`), safe with several
 * stateless server processes over one database:
 *
 * - appends to a store are serialised by a row lock on the store's row
 *   (`UPDATE stores … RETURNING head`, held to commit), so the global
 *   sequence stays gapless and strictly increasing across processes
 *   (INV-003);
 * - an append notifies (`pg_notify`, delivered at commit) on the channel
 *   `cipherlog_records`, and every process LISTENs, so a long poll in one
 *   process wakes on another's append (long polls also re-read every
 *   second, should a notification be lost);
 * - migrations run under the Migrator's table lock, so processes starting
 *   together migrate once;
 * - triggers refuse UPDATE, DELETE and TRUNCATE of records (INV-001).
 *
 * @since 0.1.0
 */
import { ServerStore, SqlServerStore } from "@cipherlog/server"
import { Migrator, SqlClient, type SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, type Redacted, Schema, Stream } from "effect"

/**
 * The notification channel of appends.
 *
 * @since 0.1.0
 * @category constants
 */
export const CHANNEL = "cipherlog_records"

/**
 * Migration 1: every table of the server store. A later change to the
 * schema is a new migration, never an edit of this one.
 *
 * @since 0.1.0
 * @category migrations
 */
export const schemaV1: ReadonlyArray<string> = [
  `CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    signing_public_key TEXT NOT NULL,
    encryption_public_key TEXT NOT NULL,
    registered_at BIGINT NOT NULL
  )`,
  `CREATE TABLE challenges (
    challenge_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  )`,
  `CREATE INDEX challenges_expiry ON challenges (expires_at)`,
  `CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  )`,
  `CREATE INDEX sessions_expiry ON sessions (expires_at)`,
  `CREATE TABLE stores (
    store_id TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    head BIGINT NOT NULL DEFAULT 0,
    audit_head BIGINT NOT NULL DEFAULT 0
  )`,
  `CREATE TABLE members (
    store_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'reader')),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, user_id)
  )`,
  `CREATE TABLE records (
    store_id TEXT NOT NULL,
    global_seq BIGINT NOT NULL CHECK (global_seq >= 1),
    event_id TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    received_at BIGINT NOT NULL,
    record_json TEXT NOT NULL,
    PRIMARY KEY (store_id, global_seq),
    UNIQUE (store_id, event_id),
    UNIQUE (store_id, aggregate_type, aggregate_id, version)
  )`,
  `CREATE FUNCTION cipherlog_records_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'records are immutable (INV-001)' USING ERRCODE = 'restrict_violation';
    END
  $$`,
  `CREATE TRIGGER records_no_update_or_delete BEFORE UPDATE OR DELETE ON records
    FOR EACH ROW EXECUTE FUNCTION cipherlog_records_immutable()`,
  `CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
    FOR EACH STATEMENT EXECUTE FUNCTION cipherlog_records_immutable()`,
  `CREATE TABLE kek_versions (
    store_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'decrypt-only', 'deprecated')),
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (store_id, version_id)
  )`,
  `CREATE UNIQUE INDEX kek_versions_one_active ON kek_versions (store_id) WHERE status = 'active'`,
  `CREATE TABLE kek_blobs (
    store_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    blob TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, version_id, user_id)
  )`,
  `CREATE INDEX kek_blobs_by_user ON kek_blobs (store_id, user_id)`,
  `CREATE TABLE audit_log (
    store_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor_user_id TEXT NOT NULL,
    action TEXT NOT NULL,
    version_id TEXT,
    target_user_id TEXT,
    role TEXT,
    status TEXT,
    reason TEXT,
    PRIMARY KEY (store_id, seq)
  )`,
  `CREATE TABLE recovery (
    locator TEXT PRIMARY KEY,
    owner_user_id TEXT NOT NULL,
    blob TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`
]

/**
 * Migration 2: the audit log is append-only in the database itself, as
 * `records` is (raw SQL cannot rewrite, delete or truncate what admins did).
 *
 * @since 0.1.0
 * @category migrations
 */
export const schemaV2: ReadonlyArray<string> = [
  `CREATE FUNCTION cipherlog_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'restrict_violation';
    END
  $$`,
  `CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION cipherlog_audit_log_append_only()`,
  `CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION cipherlog_audit_log_append_only()`
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
    created_at BIGINT NOT NULL,
    signature TEXT NOT NULL,
    published_at BIGINT NOT NULL
  )`,
  `CREATE TABLE one_time_prekeys (
    user_id TEXT NOT NULL,
    prekey_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    claimed_at BIGINT,
    claimed_by TEXT,
    PRIMARY KEY (user_id, prekey_id)
  )`,
  `CREATE INDEX one_time_prekeys_unclaimed ON one_time_prekeys (user_id, uploaded_at, prekey_id) WHERE claimed_at IS NULL`,
  `CREATE INDEX one_time_prekeys_claims ON one_time_prekeys (user_id, claimed_by, claimed_at) WHERE claimed_at IS NOT NULL`,
  `CREATE FUNCTION cipherlog_one_time_prekey_claimed_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' OR OLD.claimed_at IS NOT NULL THEN
        RAISE EXCEPTION 'a claimed one-time prekey stays claimed, and ids are kept' USING ERRCODE = 'restrict_violation';
      END IF;
      RETURN NEW;
    END
  $$`,
  `CREATE TRIGGER one_time_prekeys_claimed_once BEFORE UPDATE OR DELETE ON one_time_prekeys
    FOR EACH ROW EXECUTE FUNCTION cipherlog_one_time_prekey_claimed_once()`
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
    user_id TEXT PRIMARY KEY,
    signing_public_key TEXT NOT NULL,
    encryption_public_key TEXT NOT NULL,
    registered_at BIGINT NOT NULL
  )`,
  `CREATE TABLE identity_rotations (
    user_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('planned', 'emergency')),
    old_signing_public_key TEXT NOT NULL,
    new_signing_public_key TEXT NOT NULL,
    new_encryption_public_key TEXT NOT NULL,
    rotated_at BIGINT NOT NULL,
    migration_until BIGINT NOT NULL,
    old_signature TEXT NOT NULL,
    new_signature TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, seq),
    UNIQUE (user_id, old_signing_public_key)
  )`,
  `CREATE FUNCTION cipherlog_identity_rotations_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'identity rotations are append-only' USING ERRCODE = 'restrict_violation';
    END
  $$`,
  `CREATE TRIGGER identity_rotations_no_update_or_delete BEFORE UPDATE OR DELETE ON identity_rotations
    FOR EACH ROW EXECUTE FUNCTION cipherlog_identity_rotations_append_only()`
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
  `ALTER TABLE stores ADD COLUMN max_record_length BIGINT NOT NULL DEFAULT 0 CHECK (max_record_length >= 0)`,
  `UPDATE stores SET max_record_length =
    (SELECT COALESCE(MAX(char_length(record_json)), 0) FROM records WHERE records.store_id = stores.store_id)`
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

/** Advisory lock key under which processes create the migrations table ("ciph"). */
const MIGRATION_LOCK = 0x63697068

/**
 * Runs the pending migrations; returns those applied. Safe when several
 * processes start at once on an empty database: the migrations table is
 * created under an advisory lock (the Migrator's own check-then-create
 * would race), and the Migrator then runs under its table lock.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.withTransaction(Effect.zipRight(
    sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`,
    sql.unsafe(`CREATE TABLE IF NOT EXISTS cipherlog_migrations (
      migration_id integer primary key,
      created_at timestamp with time zone not null default now(),
      name text not null
    )`)
  ))
  yield* SqlServerStore.refuseNewerSchema(latestMigration)
  return yield* Migrator.make({})({ loader: migrations, table: "cipherlog_migrations" })
})

const Notification = Schema.parseJson(Schema.Struct({ storeId: Schema.String, head: Schema.Int }))
const decodeNotification = Schema.decodeUnknownOption(Notification)
const encodeNotification = Schema.encodeSync(Notification)

/**
 * The store over the `PgClient` in context, migrated, with cross-process
 * notifications.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const pg = yield* PgClient.PgClient
  yield* migrate
  return yield* SqlServerStore.make({
    onAppend: (head) => Effect.asVoid(pg`SELECT pg_notify(${CHANNEL}, ${encodeNotification(head)})`),
    notifications: pg.listen(CHANNEL).pipe(Stream.filterMap(decodeNotification))
  })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `postgres://user@host:port/database` */
  readonly url: Redacted.Redacted
  /** Pool size per process (default 10). */
  readonly maxConnections?: number
}

/**
 * The client alone, also providing `SqlClient`. (`int8` columns arrive as
 * text; the store converts them.)
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (options: Options): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError.SqlError> =>
  PgClient.layer({
    url: options.url,
    maxConnections: options.maxConnections ?? 10,
    applicationName: "cipherlog-sync-server"
  })

/**
 * The store, migrated, over a new client; the client is provided too, for
 * tests that try raw SQL against the schema.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  ServerStore.ServerStore | PgClient.PgClient | SqlClient.SqlClient,
  SqlError.SqlError | Migrator.MigrationError
> => Layer.scoped(ServerStore.ServerStore, make).pipe(Layer.provideMerge(layerClient(options)))
