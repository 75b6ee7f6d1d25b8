/**
 * The ServerStore over any `@effect/sql` client: the queries SQLite and
 * PostgreSQL share. The adapters (`@cipherlog/server-store-sqlite`,
 * `@cipherlog/server-store-postgres`) bring the driver, the migrations that
 * create the tables these queries use (docs/formats.md, "Server store
 * schema") and, for PostgreSQL, cross-process notifications.
 *
 * Concurrency: every write to a store first takes that store's row lock
 * with `UPDATE stores SET head = head … RETURNING head` inside the
 * transaction (PostgreSQL: a row lock held to commit, so several server
 * processes append to one store one at a time; SQLite: the statement takes
 * the database's write lock, so the transaction behaves as
 * `BEGIN IMMEDIATE`). The head read under that lock is what makes the
 * global sequence gapless (INV-003).
 *
 * @since 0.1.0
 */
import { Bytes, type UserId } from "@cipherlog/domain"
import {
  Forbidden,
  KekVersionExists,
  LastAdmin,
  type Models,
  NotFound,
  PullLines,
  ServiceUnavailable,
  type StoredRecord,
  StoreExists,
  Unprocessable,
  UserKeysMismatch
} from "@cipherlog/sync-api"
import { Migrator, SqlClient, type SqlError } from "@effect/sql"
import { Effect, Either, Option, PubSub, Schedule, type Scope, Stream } from "effect"
import * as GroupCommit from "./GroupCommit.js"
import { appendError, blobError, identityRotationError, notMember, prekeyIdTaken, prekeyLimit, rotationError, unknownUser } from "./internal/refusals.js"
import {
  aggregateKey,
  aggregatesOf,
  checkBlobs,
  checkIdentityRotation,
  checkRotation,
  checkStatusChange,
  type ExistingEvent,
  leavesAnAdmin,
  planAppend
} from "./internal/rules.js"
import { type LinesPage, linesOf, MAX_MISSING, MAX_PAGE_CHARACTERS, type ServerStore, type StoreHead } from "./ServerStore.js"

/**
 * What a dialect adds to the shared queries.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Runs inside an append's transaction once the head moved (PostgreSQL: `pg_notify`). */
  readonly onAppend?: (head: StoreHead) => Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>
  /** Heads appended by other processes (PostgreSQL: `LISTEN`); restarted after failures. */
  readonly notifications?: Stream.Stream<StoreHead, SqlError.SqlError>
  /**
   * Runs this process's write transactions through a group commit (SQLite:
   * one writer, one fsync per commit on the event loop's thread): in arrival
   * order, several in one database transaction, each in its own savepoint,
   * answered after the shared commit. See `GroupCommit`.
   */
  readonly groupCommit?: boolean
}

/**
 * Rows per multi-row INSERT: keeps every statement under SQLite's 32 766
 * bound parameters.
 *
 * @since 0.1.0
 * @category constants
 */
export const INSERT_CHUNK = 1000

type Num = number | string | bigint

const num = (n: Num): number => Number(n)

interface RecordRow {
  readonly global_seq: Num
  readonly received_at: Num
  readonly record_json: string
}

const toStored = (r: RecordRow): StoredRecord => ({
  globalSequence: num(r.global_seq),
  receivedAt: num(r.received_at),
  recordJson: r.record_json
})

interface VersionRow {
  readonly version_id: string
  readonly status: string
  readonly reason: string
  readonly created_at: Num
  readonly created_by: string
}

const toVersion = (r: VersionRow): Models.KekVersion => ({
  versionId: r.version_id as Models.KekVersionId,
  status: r.status as Models.KekStatus,
  reason: r.reason,
  createdAt: num(r.created_at),
  createdBy: r.created_by as UserId
})

interface BlobRow {
  readonly version_id: string
  readonly user_id: string
  readonly blob: string
  readonly created_at: Num
}

const toBlob = (r: BlobRow): Models.KekBlob => ({
  versionId: r.version_id as Models.KekVersionId,
  userId: r.user_id as UserId,
  blob: r.blob,
  createdAt: num(r.created_at)
})

interface AuditRow {
  readonly seq: Num
  readonly at: Num
  readonly actor_user_id: string
  readonly action: string
  readonly version_id: string | null
  readonly target_user_id: string | null
  readonly role: string | null
  readonly status: string | null
  readonly reason: string | null
}

const toAudit = (r: AuditRow): Models.AuditEntry => ({
  seq: num(r.seq),
  at: num(r.at),
  actorUserId: r.actor_user_id as UserId,
  action: r.action as Models.AuditAction,
  ...(r.version_id === null ? {} : { versionId: r.version_id as Models.KekVersionId }),
  ...(r.target_user_id === null ? {} : { targetUserId: r.target_user_id as UserId }),
  ...(r.role === null ? {} : { role: r.role as Models.Role }),
  ...(r.status === null ? {} : { status: r.status as Models.KekStatus }),
  ...(r.reason === null ? {} : { reason: r.reason })
})

type AuditInput = Omit<Models.AuditEntry, "seq" | "at" | "actorUserId">

interface SignedPrekeyRow {
  readonly prekey_id: string
  readonly public_key: string
  readonly created_at: Num
  readonly signature: string
}

interface OneTimePrekeyRow {
  readonly prekey_id: string
  readonly public_key: string
  readonly signature: string
}

const toSignedPrekey = (r: SignedPrekeyRow): Models.SignedPrekey => ({
  prekeyId: r.prekey_id,
  publicKey: bytesOf(r.public_key),
  createdAt: num(r.created_at),
  signature: bytesOf(r.signature)
})

const toOneTimePrekey = (r: OneTimePrekeyRow): Models.OneTimePrekey => ({
  prekeyId: r.prekey_id,
  publicKey: bytesOf(r.public_key),
  signature: bytesOf(r.signature)
})

interface UserRow {
  readonly user_id: string
  readonly signing_public_key: string
  readonly encryption_public_key: string
  readonly registered_at: Num
}

const toUser = (r: UserRow): Option.Option<Models.UserKeys> => {
  const signingPublicKey = Bytes.fromBase64Url(r.signing_public_key)
  const encryptionPublicKey = Bytes.fromBase64Url(r.encryption_public_key)
  return signingPublicKey === undefined || encryptionPublicKey === undefined
    ? Option.none()
    : Option.some({ userId: r.user_id as UserId, signingPublicKey, encryptionPublicKey, registeredAt: num(r.registered_at) })
}

interface RotationRow {
  readonly user_id: string
  readonly kind: string
  readonly old_signing_public_key: string
  readonly new_signing_public_key: string
  readonly new_encryption_public_key: string
  readonly rotated_at: Num
  readonly migration_until: Num
  readonly old_signature: string
  readonly new_signature: string
}

const bytesOf = (text: string): Uint8Array => {
  const bytes = Bytes.fromBase64Url(text)
  if (bytes === undefined) throw new Error("a stored key or signature is not base64url")
  return bytes
}

const toRotation = (r: RotationRow): Models.IdentityRotation => ({
  userId: r.user_id as UserId,
  kind: r.kind === "emergency" ? "emergency" : "planned",
  oldSigningPublicKey: bytesOf(r.old_signing_public_key),
  newSigningPublicKey: bytesOf(r.new_signing_public_key),
  newEncryptionPublicKey: bytesOf(r.new_encryption_public_key),
  rotatedAt: num(r.rotated_at),
  migrationUntil: num(r.migration_until),
  oldSignature: bytesOf(r.old_signature),
  newSignature: bytesOf(r.new_signature)
})

const chunks = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Names a driver failure by its code only: driver messages may quote statement parameters. */
const describe = (error: SqlError.SqlError): string => {
  const cause = error.cause
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : "unknown"
  return `${error.message} (code ${code})`
}

/**
 * Fails when the database holds a migration newer than `latest` (the
 * highest migration this code has): a newer server migrated it, and this
 * one would run on a schema it does not know. The Migrator alone would
 * start without a word. A database without the migrations table passes.
 *
 * @since 0.1.0
 * @category migrations
 */
export const refuseNewerSchema = (latest: number): Effect.Effect<void, Migrator.MigrationError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Look before reading: a failed prepare of the read would be cached by the client for its text.
    const [table] = yield* sql.onDialectOrElse({
      pg: () => sql<{ present: Num }>`SELECT COUNT(*) AS present FROM pg_tables WHERE tablename = 'cipherlog_migrations'`,
      orElse: () => sql<{ present: Num }>`SELECT COUNT(*) AS present FROM sqlite_master WHERE type = 'table' AND name = 'cipherlog_migrations'`
    }).pipe(Effect.orElseSucceed(() => []))
    const found = table === undefined || num(table.present) === 0 ? 0 : yield* sql<{ latest: Num | null }>`SELECT MAX(migration_id) AS latest
      FROM cipherlog_migrations`.pipe(
        Effect.map((rows) => (rows[0]?.latest == null ? 0 : num(rows[0].latest))),
        Effect.orElseSucceed(() => 0)
      )
    if (found > latest) {
      return yield* Effect.fail(new Migrator.MigrationError({
        reason: "bad-state",
        message: `The server database was migrated by a newer server (schema migration ${found}; this server knows up to ${latest}). ` +
          `Run that newer server, or restore a backup of the database taken before the upgrade. Nothing was changed.`
      }))
    }
  })

/**
 * Builds the store. Requires the tables of the current migrations.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<ServerStore, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const heads = yield* PubSub.sliding<StoreHead>(4096)

    if (options.notifications !== undefined) {
      yield* options.notifications.pipe(
        Stream.runForEach((head) => PubSub.publish(heads, head)),
        Effect.tapError((error) =>
          Effect.logWarning("store notifications failed; restarting").pipe(Effect.annotateLogs("cause", describe(error)))
        ),
        Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
        Effect.forkScoped
      )
    }

    /** Storage failures become ServiceUnavailable; the log names the operation and driver code only. */
    const guard = (operation: string) => <A, E, R>(effect: Effect.Effect<A, E | SqlError.SqlError, R>) =>
      Effect.catchIf(
        effect,
        (e): e is SqlError.SqlError => typeof e === "object" && e !== null && "_tag" in e && e._tag === "SqlError",
        (error) =>
          Effect.zipRight(
            Effect.logError("storage operation failed").pipe(
              Effect.annotateLogs({ operation, cause: describe(error) })
            ),
            Effect.fail(ServiceUnavailable.instance)
          )
      ) as Effect.Effect<A, Exclude<E, SqlError.SqlError> | ServiceUnavailable, R>

    const group = options.groupCommit === true ? yield* GroupCommit.make() : undefined
    const tx = (operation: string) => <A, E>(effect: Effect.Effect<A, E | SqlError.SqlError>) =>
      guard(operation)(group === undefined ? sql.withTransaction(effect) : group.submit(effect))

    /** Takes the store's row lock for the rest of the transaction; returns its head, or none. */
    const lockStore = (storeId: string) =>
      Effect.map(
        sql<{ head: Num }>`UPDATE stores SET head = head WHERE store_id = ${storeId} RETURNING head`,
        (rows) => Option.map(Option.fromNullable(rows[0]), (r) => num(r.head))
      )

    const requireStore = (storeId: string) =>
      Effect.flatMap(lockStore(storeId), Option.match({
        onNone: () => Effect.die(new Error("operation on a store that does not exist (authorization runs first)")),
        onSome: Effect.succeed
      }))

    /**
     * The last sequence a page after `after` may hold: `after + limit` (sequences are gapless), unless the
     * store's longest record times `limit` passes MAX_PAGE_CHARACTERS; then the page's records are measured
     * and it ends before the one that would take it past (but holds its first). Evaluated once per query.
     */
    const pageEnd = (storeId: string, after: number, limit: number) =>
      sql`(CASE WHEN (SELECT max_record_length FROM stores WHERE store_id = ${storeId}) * ${limit} <= ${MAX_PAGE_CHARACTERS}
        THEN ${after + limit}
        ELSE COALESCE((SELECT MAX(global_seq) FROM (
          SELECT global_seq, SUM(len) OVER (ORDER BY global_seq ROWS UNBOUNDED PRECEDING) AS upto
          FROM (SELECT global_seq, length(record_json) AS len FROM records
            WHERE store_id = ${storeId} AND global_seq > ${after} ORDER BY global_seq LIMIT ${limit}) AS page
        ) AS sums WHERE upto <= ${MAX_PAGE_CHARACTERS}), ${after + 1}) END)`

    const readAfter = ({ after, limit, storeId }: { readonly storeId: string; readonly after: number; readonly limit: number }) =>
      Effect.gen(function*() {
        const rows = yield* sql<RecordRow>`SELECT global_seq, received_at, record_json FROM records
          WHERE store_id = ${storeId} AND global_seq > ${after} AND global_seq <= ${pageEnd(storeId, after, limit)}
          ORDER BY global_seq LIMIT ${limit}`
        const [store] = yield* sql<{ head: Num }>`SELECT head FROM stores WHERE store_id = ${storeId}`
        return { records: rows.map(toStored), head: store === undefined ? 0 : num(store.head) }
      })

    /**
     * A pull page's record lines as SQLite concatenates them: one blob of the
     * record texts, each followed by a line break, with no string per record
     * on this side (docs/http-api.md, "Why pages travel as chunks"). None
     * on other databases (PostgreSQL's `string_agg` sent as `bytea` was
     * slower than reading rows: 34k against 87k records/s in the server bench), when the
     * texts cannot travel verbatim (`PullLines.isVerbatim`), when the rows did
     * not come in sequence order, or when SQLite refuses the concatenation (a
     * page past its length limit): `readAfter` answers those pages.
     */
    const readJoined = ({ after, limit, storeId }: { readonly storeId: string; readonly after: number; readonly limit: number }) =>
      sql.onDialectOrElse({
        sqlite: () =>
          Effect.gen(function*() {
            type Row = { body: Uint8Array | null; sequences: string; received_at: string; head: Num | null }
            // The aggregates take the rows in the subquery's order (its LIMIT needs it); the check below holds them to it.
            const [row] = yield* sql<Row>`SELECT CAST(group_concat(record_json || char(10), '') AS BLOB) AS body,
              json_group_array(global_seq) AS sequences, json_group_array(received_at) AS received_at,
              (SELECT head FROM stores WHERE store_id = ${storeId}) AS head
              FROM (SELECT global_seq, received_at, record_json FROM records
                WHERE store_id = ${storeId} AND global_seq > ${after} AND global_seq <= ${pageEnd(storeId, after, limit)}
                ORDER BY global_seq LIMIT ${limit})`
            const sequences = JSON.parse(row!.sequences) as Array<number>
            const receivedAt = JSON.parse(row!.received_at) as Array<number>
            const body = row!.body ?? new Uint8Array(0)
            let inOrder = sequences.length === 0 || sequences[0]! > after
            for (let i = 1; inOrder && i < sequences.length; i++) inOrder = sequences[i]! > sequences[i - 1]!
            if (!inOrder || !PullLines.isVerbatim(body, sequences.length)) return Option.none<LinesPage>()
            const records: PullLines.RecordLines = { sequences, receivedAt, lines: body.length === 0 ? [] : [body] }
            return Option.some<LinesPage>({ records, head: row!.head === null ? 0 : num(row!.head) })
          }).pipe(
            Effect.catchTag("SqlError", (error) =>
              Effect.as(
                Effect.logWarning("pull page not joined by the database; reading it row by row").pipe(
                  Effect.annotateLogs("cause", describe(error))
                ),
                Option.none<LinesPage>()
              ))
          ),
        orElse: () => Effect.succeed(Option.none<LinesPage>())
      })

    const insertRows = (table: string, rows: ReadonlyArray<Record<string, unknown>>) =>
      Effect.forEach(chunks(rows, INSERT_CHUNK), (chunk) => sql`INSERT INTO ${sql(table)} ${sql.insert(chunk)}`, {
        discard: true
      })

    const audit = (storeId: string, actor: UserId, at: number, entries: ReadonlyArray<AuditInput>) =>
      Effect.gen(function*() {
        if (entries.length === 0) return
        const [row] = yield* sql<{ audit_head: Num }>`UPDATE stores SET audit_head = audit_head + ${entries.length}
          WHERE store_id = ${storeId} RETURNING audit_head`
        const first = num(row!.audit_head) - entries.length + 1
        yield* insertRows(
          "audit_log",
          entries.map((e, i) => ({
            store_id: storeId,
            seq: first + i,
            at,
            actor_user_id: actor,
            action: e.action,
            version_id: e.versionId ?? null,
            target_user_id: e.targetUserId ?? null,
            role: e.role ?? null,
            status: e.status ?? null,
            reason: e.reason ?? null
          }))
        )
      })

    const roles = (storeId: string) =>
      Effect.map(
        sql<{ user_id: string; role: string }>`SELECT user_id, role FROM members WHERE store_id = ${storeId}`,
        (rows) => new Map(rows.map((r) => [r.user_id, r.role as Models.Role]))
      )

    /** Deletes the KEK blobs of users leaving a store; the audit entries of what went. */
    const dropBlobs = (storeId: string, userIds: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const dropped: Array<AuditInput> = []
        for (const chunk of chunks(userIds, INSERT_CHUNK)) {
          const rows = yield* sql<{ user_id: string; version_id: string }>`DELETE FROM kek_blobs
            WHERE store_id = ${storeId} AND user_id IN ${sql.in(chunk)} RETURNING user_id, version_id`
          for (const r of rows) {
            dropped.push({ action: "kek.blob.delete", versionId: r.version_id as Models.KekVersionId, targetUserId: r.user_id as UserId })
          }
        }
        return dropped
      })

    const versionExists = (storeId: string, versionId: string) =>
      Effect.map(
        sql`SELECT 1 AS one FROM kek_versions WHERE store_id = ${storeId} AND version_id = ${versionId}`,
        (rows) => rows.length > 0
      )

    const newVersion = (storeId: string, versionId: string, reason: string, actor: UserId, at: number) =>
      Effect.gen(function*() {
        yield* sql`UPDATE kek_versions SET status = 'decrypt-only' WHERE store_id = ${storeId} AND status = 'active'`
        yield* insertRows("kek_versions", [{
          store_id: storeId,
          version_id: versionId,
          status: "active",
          reason,
          created_at: at,
          created_by: actor
        }])
        const version: Models.KekVersion = {
          versionId: versionId as Models.KekVersionId,
          status: "active",
          reason,
          createdAt: at,
          createdBy: actor
        }
        return version
      })

    const insertBlobs = (storeId: string, versionId: string, blobs: ReadonlyArray<Models.UserBlob>, at: number) =>
      insertRows(
        "kek_blobs",
        blobs.map((b) => ({ store_id: storeId, version_id: versionId, user_id: b.userId, blob: b.blob, created_at: at }))
      )

    const readAggregate = (input: {
      readonly storeId: string
      readonly aggregateType: string
      readonly aggregateId: string
      readonly fromVersion: number
      readonly limit: number
    }) =>
      Effect.map(
        sql<RecordRow>`SELECT global_seq, received_at, record_json FROM records
          WHERE store_id = ${input.storeId} AND aggregate_type = ${input.aggregateType}
            AND aggregate_id = ${input.aggregateId} AND version >= ${input.fromVersion}
          ORDER BY version LIMIT ${input.limit}`,
        (rows) => rows.map(toStored)
      )

    const readRotations = (userId: string) =>
      Effect.map(
        sql<RotationRow>`SELECT user_id, kind, old_signing_public_key, new_signing_public_key, new_encryption_public_key,
          rotated_at, migration_until, old_signature, new_signature FROM identity_rotations
          WHERE user_id = ${userId} ORDER BY seq`,
        (rows) => rows.map(toRotation)
      )

    const service: ServerStore = {
      ping: guard("ping")(Effect.asVoid(sql`SELECT store_id FROM stores LIMIT 1`)),

      registerUser: (user) =>
        tx("registerUser")(Effect.gen(function*() {
          const inserted = yield* sql<{ user_id: string }>`INSERT INTO users ${
            sql.insert({
              user_id: user.userId,
              signing_public_key: Bytes.toBase64Url(user.signingPublicKey),
              encryption_public_key: Bytes.toBase64Url(user.encryptionPublicKey),
              registered_at: user.registeredAt
            })
          } ON CONFLICT (user_id) DO NOTHING RETURNING user_id`
          if (inserted.length > 0) return { user, created: true }
          const known = Option.getOrThrow(yield* getUser(user.userId))
          const same = Bytes.equalsPublic(known.signingPublicKey, user.signingPublicKey) &&
            Bytes.equalsPublic(known.encryptionPublicKey, user.encryptionPublicKey)
          return same ? { user: known, created: false } : yield* Effect.fail(UserKeysMismatch.of(user.userId))
        })),
      getUser: (userId) => guard("getUser")(getUser(userId)),
      putChallenge: (challenge, now) =>
        guard("putChallenge")(Effect.all([
          sql`DELETE FROM challenges WHERE expires_at < ${now}`,
          sql`DELETE FROM sessions WHERE expires_at < ${now}`,
          sql`INSERT INTO challenges ${
            sql.insert({
              challenge_id: challenge.challengeId,
              user_id: challenge.userId,
              nonce: Bytes.toBase64Url(challenge.nonce),
              expires_at: challenge.expiresAt
            })
          }`
        ], { discard: true })),
      takeChallenge: (challengeId) =>
        guard("takeChallenge")(Effect.map(
          sql<{ user_id: string; nonce: string; expires_at: Num }>`DELETE FROM challenges
            WHERE challenge_id = ${challengeId} RETURNING user_id, nonce, expires_at`,
          (rows) =>
            Option.flatMap(Option.fromNullable(rows[0]), (r) =>
              Option.map(Option.fromNullable(Bytes.fromBase64Url(r.nonce)), (nonce) => ({
                challengeId,
                userId: r.user_id as UserId,
                nonce,
                expiresAt: num(r.expires_at)
              })))
        )),
      putSession: (session) =>
        guard("putSession")(Effect.asVoid(sql`INSERT INTO sessions ${
          sql.insert({
            token_hash: session.tokenHash,
            user_id: session.userId,
            created_at: session.createdAt,
            expires_at: session.expiresAt
          })
        }`)),
      getSession: (tokenHash) =>
        guard("getSession")(Effect.map(
          sql<{ user_id: string; created_at: Num; expires_at: Num }>`SELECT user_id, created_at, expires_at
            FROM sessions WHERE token_hash = ${tokenHash}`,
          (rows) =>
            Option.map(Option.fromNullable(rows[0]), (r) => ({
              tokenHash,
              userId: r.user_id as UserId,
              createdAt: num(r.created_at),
              expiresAt: num(r.expires_at)
            }))
        )),
      endSession: (tokenHash) =>
        guard("endSession")(Effect.map(
          sql<{ token_hash: string }>`DELETE FROM sessions WHERE token_hash = ${tokenHash} RETURNING token_hash`,
          (rows) => rows.length > 0
        )),

      rotateIdentity: ({ at, statement }) =>
        tx("rotateIdentity")(Effect.gen(function*() {
          const userId = statement.userId
          // Takes the user's row lock: two rotations of one user run one at a time.
          const [row] = yield* sql<UserRow>`UPDATE users SET signing_public_key = signing_public_key WHERE user_id = ${userId}
            RETURNING user_id, signing_public_key, encryption_public_key, registered_at`
          const user = row === undefined ? Option.none() : toUser(row)
          if (Option.isNone(user)) return yield* Effect.fail(NotFound.of(`user ${userId}`))
          const chain = yield* readRotations(userId)
          const checked = checkIdentityRotation(user.value, chain, statement)
          if (Either.isLeft(checked)) return yield* Effect.fail(identityRotationError(userId, checked.left))
          const b64 = Bytes.toBase64Url
          yield* sql`INSERT INTO identity_genesis ${
            sql.insert({
              user_id: userId,
              signing_public_key: b64(user.value.signingPublicKey),
              encryption_public_key: b64(user.value.encryptionPublicKey),
              registered_at: user.value.registeredAt
            })
          } ON CONFLICT (user_id) DO NOTHING`
          yield* insertRows("identity_rotations", [{
            user_id: userId,
            seq: chain.length + 1,
            kind: statement.kind,
            old_signing_public_key: b64(statement.oldSigningPublicKey),
            new_signing_public_key: b64(statement.newSigningPublicKey),
            new_encryption_public_key: b64(statement.newEncryptionPublicKey),
            rotated_at: statement.rotatedAt,
            migration_until: statement.migrationUntil,
            old_signature: b64(statement.oldSignature),
            new_signature: b64(statement.newSignature),
            accepted_at: at
          }])
          yield* sql`UPDATE users SET signing_public_key = ${b64(statement.newSigningPublicKey)},
            encryption_public_key = ${b64(statement.newEncryptionPublicKey)} WHERE user_id = ${userId}`
          if (statement.kind === "emergency") yield* sql`DELETE FROM sessions WHERE user_id = ${userId}`
          else {
            yield* sql`UPDATE sessions SET expires_at = ${statement.migrationUntil}
              WHERE user_id = ${userId} AND expires_at > ${statement.migrationUntil}`
          }
          const stores = yield* sql<{ store_id: string }>`SELECT store_id FROM members WHERE user_id = ${userId} ORDER BY store_id`
          for (const { store_id } of stores) {
            yield* audit(store_id, userId, at, [{ action: "identity.rotate", targetUserId: userId, reason: statement.kind }])
          }
          const next: Models.UserKeys = {
            ...user.value,
            signingPublicKey: statement.newSigningPublicKey,
            encryptionPublicKey: statement.newEncryptionPublicKey
          }
          return { user: next, seq: chain.length + 1 }
        })),
      identityChain: (userId) =>
        guard("identityChain")(Effect.gen(function*() {
          const current = yield* getUser(userId)
          if (Option.isNone(current)) return Option.none()
          const [first] = yield* sql<UserRow>`SELECT user_id, signing_public_key, encryption_public_key, registered_at
            FROM identity_genesis WHERE user_id = ${userId}`
          const genesis = Option.getOrElse(first === undefined ? Option.none() : toUser(first), () => current.value)
          const chain: Models.IdentityChain = {
            userId: current.value.userId,
            genesis: { signingPublicKey: genesis.signingPublicKey, encryptionPublicKey: genesis.encryptionPublicKey, registeredAt: genesis.registeredAt },
            rotations: yield* readRotations(userId)
          }
          return Option.some(chain)
        })),

      createStore: ({ actor, at, storeId }) =>
        tx("createStore")(Effect.gen(function*() {
          const created = yield* sql<{ store_id: string }>`INSERT INTO stores ${
            sql.insert({ store_id: storeId, created_by: actor, created_at: at, head: 0, audit_head: 0 })
          } ON CONFLICT (store_id) DO NOTHING RETURNING store_id`
          if (created.length === 0) return yield* Effect.fail(StoreExists.of(storeId))
          yield* insertRows("members", [{ store_id: storeId, user_id: actor, role: "admin", added_at: at }])
          yield* audit(storeId, actor, at, [{ action: "store.create", targetUserId: actor, role: "admin" }])
          const admin: Models.Member = { userId: actor, role: "admin", addedAt: at }
          return admin
        })),
      getRole: (storeId, userId) =>
        guard("getRole")(Effect.map(
          sql<{ role: string }>`SELECT role FROM members WHERE store_id = ${storeId} AND user_id = ${userId}`,
          (rows) => Option.map(Option.fromNullable(rows[0]), (r) => r.role as Models.Role)
        )),
      listMembers: (storeId) =>
        guard("listMembers")(Effect.map(
          sql<{ user_id: string; role: string; added_at: Num }>`SELECT user_id, role, added_at FROM members
            WHERE store_id = ${storeId} ORDER BY added_at, user_id`,
          (rows) =>
            rows.map((r): Models.Member => ({ userId: r.user_id as UserId, role: r.role as Models.Role, addedAt: num(r.added_at) }))
        )),
      putMember: ({ actor, at, role, storeId, userId }) =>
        tx("putMember")(Effect.gen(function*() {
          yield* requireStore(storeId)
          if (Option.isNone(yield* getUser(userId))) return yield* Effect.fail(unknownUser(userId))
          if (!leavesAnAdmin(yield* roles(storeId), { userId, role })) return yield* Effect.fail(LastAdmin.of(storeId))
          const [row] = yield* sql<{ added_at: Num }>`INSERT INTO members ${
            sql.insert({ store_id: storeId, user_id: userId, role, added_at: at })
          } ON CONFLICT (store_id, user_id) DO UPDATE SET role = excluded.role RETURNING added_at`
          yield* audit(storeId, actor, at, [{ action: "member.put", targetUserId: userId, role }])
          const member: Models.Member = { userId, role, addedAt: num(row!.added_at) }
          return member
        })),
      removeMember: ({ actor, at, storeId, userId }) =>
        tx("removeMember")(Effect.gen(function*() {
          yield* requireStore(storeId)
          const current = yield* roles(storeId)
          if (!current.has(userId)) return yield* Effect.fail(NotFound.of(`member ${userId}`))
          if (!leavesAnAdmin(current, { userId, role: undefined })) return yield* Effect.fail(LastAdmin.of(storeId))
          yield* sql`DELETE FROM members WHERE store_id = ${storeId} AND user_id = ${userId}`
          const dropped = yield* dropBlobs(storeId, [userId])
          yield* audit(storeId, actor, at, [{ action: "member.remove", targetUserId: userId }, ...dropped])
        })),

      append: ({ receivedAt, records, storeId }) =>
        Effect.gen(function*() {
          const outcome = yield* tx("append")(Effect.gen(function*() {
            const head = yield* requireStore(storeId)
            const ids = [...new Set(records.map((r) => r.eventId))]
            const existing = new Map<string, ExistingEvent>()
            for (const chunk of chunks(ids, INSERT_CHUNK)) {
              type Row = { event_id: string; global_seq: Num; record_json: string }
              // PostgreSQL: one (store_id, event_id) index lookup per id. Its planner answered `IN (…)` on a
              // young table (no statistics yet) with a bitmap scan of the store's whole log, per push.
              const rows = yield* sql.onDialectOrElse({
                pg: () =>
                  sql<Row>`SELECT r.event_id, r.global_seq, r.record_json
                    FROM (VALUES ${sql.csv(chunk.map((id) => sql`(${id})`))}) AS e (id)
                    CROSS JOIN LATERAL (SELECT event_id, global_seq, record_json FROM records
                      WHERE store_id = ${storeId} AND event_id = e.id) AS r`,
                orElse: () =>
                  sql<Row>`SELECT event_id, global_seq, record_json FROM records
                    WHERE store_id = ${storeId} AND event_id IN ${sql.in(chunk)}`
              })
              for (const r of rows) existing.set(r.event_id, { globalSequence: num(r.global_seq), recordJson: r.record_json })
            }
            const versions = new Map<string, number>()
            for (const chunk of chunks(aggregatesOf(records), INSERT_CHUNK)) {
              // One correlated MAX per aggregate: both databases answer it with one descending seek of the
              // (store_id, aggregate_type, aggregate_id, version) index. A GROUP BY over `IN (VALUES …)`
              // read every version of every aggregate instead, so a push cost grew with the log's length.
              const pairs = sql.csv(chunk.map((a) => sql`(${a.aggregateType}, ${a.aggregateId})`))
              const rows = yield* sql<{ aggregate_type: string; aggregate_id: string; v: Num | null }>`SELECT
                a.column1 AS aggregate_type, a.column2 AS aggregate_id,
                (SELECT MAX(version) FROM records WHERE store_id = ${storeId}
                  AND aggregate_type = a.column1 AND aggregate_id = a.column2) AS v
                FROM (VALUES ${pairs}) AS a`
              for (const r of rows) if (r.v !== null) versions.set(aggregateKey(r.aggregate_type, r.aggregate_id), num(r.v))
            }
            const plan = planAppend(head, records, existing, versions)
            if (Either.isLeft(plan)) {
              const refusal = plan.left
              const missing = refusal._tag === "Conflict"
                ? yield* readAggregate({ storeId, ...refusal, limit: MAX_MISSING })
                : []
              return yield* Effect.fail(appendError(storeId, refusal, missing))
            }
            const { inserts } = plan.right
            if (inserts.length > 0) {
              yield* insertRows(
                "records",
                inserts.map(({ globalSequence, record }) => ({
                  store_id: storeId,
                  global_seq: globalSequence,
                  event_id: record.eventId,
                  aggregate_type: record.aggregateType,
                  aggregate_id: record.aggregateId,
                  version: record.version,
                  received_at: receivedAt,
                  record_json: record.recordJson
                }))
              )
              let longest = 0
              for (const { record } of inserts) longest = Math.max(longest, record.recordJson.length)
              yield* sql`UPDATE stores SET head = ${plan.right.head},
                max_record_length = CASE WHEN max_record_length < ${longest} THEN ${longest} ELSE max_record_length END
                WHERE store_id = ${storeId}`
              if (options.onAppend !== undefined) {
                yield* Effect.provideService(options.onAppend({ storeId, head: plan.right.head }), SqlClient.SqlClient, sql)
              }
            }
            return { plan: plan.right, appended: inserts.length > 0 }
          }))
          if (outcome.appended) yield* PubSub.publish(heads, { storeId, head: outcome.plan.head })
          return {
            results: outcome.plan.results as Models.PushResponse["results"],
            head: outcome.plan.head
          }
        }),
      readAfter: (input) => guard("readAfter")(readAfter(input)),
      readLinesAfter: (input) =>
        guard("readLinesAfter")(Effect.flatMap(readJoined(input), Option.match({
          onNone: () => Effect.map(readAfter(input), linesOf),
          onSome: Effect.succeed
        }))),
      readAggregate: (input) => guard("readAggregate")(readAggregate(input)),
      findEvent: (storeId, eventId) =>
        guard("findEvent")(Effect.map(
          sql<RecordRow>`SELECT global_seq, received_at, record_json FROM records
            WHERE store_id = ${storeId} AND event_id = ${eventId}`,
          (rows) => Option.map(Option.fromNullable(rows[0]), toStored)
        )),
      subscribe: PubSub.subscribe(heads),

      listKekVersions: (storeId) =>
        guard("listKekVersions")(Effect.map(
          sql<VersionRow>`SELECT version_id, status, reason, created_at, created_by FROM kek_versions
            WHERE store_id = ${storeId} ORDER BY created_at, version_id`,
          (rows) => rows.map(toVersion)
        )),
      activeKekVersion: (storeId) =>
        guard("activeKekVersion")(Effect.map(
          sql<VersionRow>`SELECT version_id, status, reason, created_at, created_by FROM kek_versions
            WHERE store_id = ${storeId} AND status = 'active'`,
          (rows) => Option.map(Option.fromNullable(rows[0]), toVersion)
        )),
      createKekVersion: ({ actor, at, blobs, reason, storeId, versionId }) =>
        tx("createKekVersion")(Effect.gen(function*() {
          yield* requireStore(storeId)
          if (yield* versionExists(storeId, versionId)) return yield* Effect.fail(KekVersionExists.of(storeId, versionId))
          const checked = checkBlobs(yield* roles(storeId), blobs)
          if (Either.isLeft(checked)) return yield* Effect.fail(blobError(checked.left))
          const version = yield* newVersion(storeId, versionId, reason, actor, at)
          yield* insertBlobs(storeId, versionId, blobs, at)
          yield* audit(storeId, actor, at, [
            { action: "kek.version.create", versionId: version.versionId, status: "active", reason },
            ...blobs.map((b): AuditInput => ({ action: "kek.blob.provision", versionId: version.versionId, targetUserId: b.userId }))
          ])
          return version
        })),
      setKekStatus: ({ actor, at, status, storeId, versionId }) =>
        tx("setKekStatus")(Effect.gen(function*() {
          yield* requireStore(storeId)
          const [current] = yield* sql<VersionRow>`SELECT version_id, status, reason, created_at, created_by
            FROM kek_versions WHERE store_id = ${storeId} AND version_id = ${versionId}`
          if (current === undefined) return yield* Effect.fail(NotFound.of(`KEK version ${versionId}`))
          const change = checkStatusChange(current.status as Models.KekStatus, status)
          if (Either.isLeft(change)) return yield* Effect.fail(Unprocessable.of("status-transition", [], `KEK version ${versionId} is ${current.status}: ${change.left}`))
          if (change.right === "unchanged") return toVersion(current)
          const [row] = yield* sql<VersionRow>`UPDATE kek_versions SET status = ${status}
            WHERE store_id = ${storeId} AND version_id = ${versionId}
            RETURNING version_id, status, reason, created_at, created_by`
          yield* audit(storeId, actor, at, [{ action: "kek.version.status", versionId: versionId as Models.KekVersionId, status }])
          return toVersion(row!)
        })),
      rotateKek: ({ actor, at, blobs, reason, removeUserIds, storeId, versionId }) =>
        tx("rotateKek")(Effect.gen(function*() {
          yield* requireStore(storeId)
          if (yield* versionExists(storeId, versionId)) return yield* Effect.fail(KekVersionExists.of(storeId, versionId))
          const checked = checkRotation(yield* roles(storeId), removeUserIds, blobs)
          if (Either.isLeft(checked)) return yield* Effect.fail(rotationError(storeId, checked.left))
          for (const chunk of chunks(removeUserIds, INSERT_CHUNK)) {
            yield* sql`DELETE FROM members WHERE store_id = ${storeId} AND user_id IN ${sql.in(chunk)}`
          }
          const dropped = yield* dropBlobs(storeId, removeUserIds)
          const version = yield* newVersion(storeId, versionId, reason, actor, at)
          yield* insertBlobs(storeId, versionId, blobs, at)
          yield* audit(storeId, actor, at, [
            ...removeUserIds.map((id): AuditInput => ({ action: "member.remove", targetUserId: id })),
            ...dropped,
            { action: "kek.rotate", versionId: version.versionId, status: "active", reason },
            ...blobs.map((b): AuditInput => ({ action: "kek.blob.provision", versionId: version.versionId, targetUserId: b.userId }))
          ])
          return { version, removedUserIds: removeUserIds }
        })),
      putBlob: ({ actor, at, blob, storeId, userId, versionId }) =>
        tx("putBlob")(Effect.gen(function*() {
          yield* requireStore(storeId)
          if (!(yield* versionExists(storeId, versionId))) return yield* Effect.fail(NotFound.of(`KEK version ${versionId}`))
          if (!(yield* roles(storeId)).has(userId)) return yield* Effect.fail(notMember(userId))
          yield* sql`INSERT INTO kek_blobs ${
            sql.insert({ store_id: storeId, version_id: versionId, user_id: userId, blob, created_at: at })
          } ON CONFLICT (store_id, version_id, user_id) DO UPDATE SET blob = excluded.blob, created_at = excluded.created_at`
          yield* audit(storeId, actor, at, [
            { action: "kek.blob.provision", versionId: versionId as Models.KekVersionId, targetUserId: userId }
          ])
          const stored: Models.KekBlob = { versionId: versionId as Models.KekVersionId, userId, blob, createdAt: at }
          return stored
        })),
      listBlobs: ({ actor, at, storeId, userId }) =>
        tx("listBlobs")(Effect.gen(function*() {
          const rows = yield* sql<BlobRow>`SELECT version_id, user_id, blob, created_at FROM kek_blobs
            WHERE store_id = ${storeId} AND user_id = ${userId} ORDER BY created_at, version_id`
          yield* audit(storeId, actor, at, [{ action: "kek.blob.read", targetUserId: userId }])
          return rows.map(toBlob)
        })),
      getBlob: ({ actor, at, storeId, userId, versionId }) =>
        tx("getBlob")(Effect.gen(function*() {
          const rows = yield* sql<BlobRow>`SELECT version_id, user_id, blob, created_at FROM kek_blobs
            WHERE store_id = ${storeId} AND user_id = ${userId} AND version_id = ${versionId}`
          const found = Option.map(Option.fromNullable(rows[0]), toBlob)
          if (Option.isSome(found)) {
            yield* audit(storeId, actor, at, [{ action: "kek.blob.read", versionId: found.value.versionId, targetUserId: userId }])
          }
          return found
        })),
      deleteBlob: ({ actor, at, storeId, userId, versionId }) =>
        tx("deleteBlob")(Effect.gen(function*() {
          yield* requireStore(storeId)
          const rows = yield* sql`DELETE FROM kek_blobs
            WHERE store_id = ${storeId} AND user_id = ${userId} AND version_id = ${versionId} RETURNING user_id`
          if (rows.length === 0) return yield* Effect.fail(NotFound.of(`blob of ${userId} for KEK version ${versionId}`))
          yield* audit(storeId, actor, at, [
            { action: "kek.blob.delete", versionId: versionId as Models.KekVersionId, targetUserId: userId }
          ])
        })),
      listAudit: ({ after, limit, storeId }) =>
        guard("listAudit")(Effect.map(
          sql<AuditRow>`SELECT seq, at, actor_user_id, action, version_id, target_user_id, role, status, reason
            FROM audit_log WHERE store_id = ${storeId} AND seq > ${after} ORDER BY seq LIMIT ${limit}`,
          (rows) => rows.map(toAudit)
        )),

      putSignedPrekey: ({ at, prekey, userId }) =>
        tx("putSignedPrekey")(Effect.gen(function*() {
          yield* sql`INSERT INTO signed_prekeys ${
            sql.insert({
              user_id: userId,
              prekey_id: prekey.prekeyId,
              public_key: Bytes.toBase64Url(prekey.publicKey),
              created_at: prekey.createdAt,
              signature: Bytes.toBase64Url(prekey.signature),
              published_at: at
            })
          } ON CONFLICT (user_id) DO UPDATE SET prekey_id = excluded.prekey_id, public_key = excluded.public_key,
            created_at = excluded.created_at, signature = excluded.signature, published_at = excluded.published_at`
          return yield* prekeyStatus(userId)
        })),
      addOneTimePrekeys: ({ at, max, prekeys, userId }) =>
        tx("addOneTimePrekeys")(Effect.gen(function*() {
          const ids = prekeys.map((p) => p.prekeyId)
          if (new Set(ids).size !== ids.length) return yield* Effect.fail(prekeyIdTaken(userId))
          const taken = yield* sql`SELECT prekey_id FROM one_time_prekeys WHERE user_id = ${userId} AND prekey_id IN ${sql.in(ids)}`
          if (taken.length > 0) return yield* Effect.fail(prekeyIdTaken(userId))
          const before = yield* prekeyStatus(userId)
          if (before.oneTimeCount + prekeys.length > max) return yield* Effect.fail(prekeyLimit(userId, max))
          yield* insertRows(
            "one_time_prekeys",
            prekeys.map((p) => ({
              user_id: userId,
              prekey_id: p.prekeyId,
              public_key: Bytes.toBase64Url(p.publicKey),
              signature: Bytes.toBase64Url(p.signature),
              uploaded_at: at,
              claimed_at: null,
              claimed_by: null
            }))
          )
          return { ...before, oneTimeCount: before.oneTimeCount + prekeys.length }
        })),
      prekeyStatus: (userId) => guard("prekeyStatus")(prekeyStatus(userId)),
      claimPrekeys: ({ actor, at, perWindow, storeId, userId, windowMs }) =>
        tx("claimPrekeys")(Effect.gen(function*() {
          yield* requireStore(storeId)
          // The user's signed prekey row is the lock that serialises claims of their prekeys (across processes on PostgreSQL).
          const [signed] = yield* sql<SignedPrekeyRow>`UPDATE signed_prekeys SET user_id = user_id WHERE user_id = ${userId}
            RETURNING prekey_id, public_key, created_at, signature`
          if (signed === undefined) return Option.none()
          const [recent] = yield* sql<{ n: Num }>`SELECT COUNT(*) AS n FROM one_time_prekeys
            WHERE user_id = ${userId} AND claimed_by = ${actor} AND claimed_at > ${at - windowMs}`
          let oneTime: Models.OneTimePrekey | undefined
          if (num(recent?.n ?? 0) < perWindow) {
            // `claimed_at IS NULL` again in the UPDATE: a row claimed meanwhile is never claimed twice.
            const [row] = yield* sql<OneTimePrekeyRow>`UPDATE one_time_prekeys SET claimed_at = ${at}, claimed_by = ${actor}
              WHERE user_id = ${userId} AND claimed_at IS NULL AND prekey_id = (
                SELECT prekey_id FROM one_time_prekeys WHERE user_id = ${userId} AND claimed_at IS NULL
                ORDER BY uploaded_at, prekey_id LIMIT 1)
              RETURNING prekey_id, public_key, signature`
            if (row !== undefined) oneTime = toOneTimePrekey(row)
          }
          yield* audit(storeId, actor, at, [{ action: "prekey.claim", targetUserId: userId }])
          const bundle: Models.PrekeyBundle = { userId, signedPrekey: toSignedPrekey(signed), ...(oneTime === undefined ? {} : { oneTimePrekey: oneTime }) }
          return Option.some(bundle)
        })),

      putRecovery: ({ at, blob, locator, userId }) =>
        guard("putRecovery")(Effect.gen(function*() {
          const rows = yield* sql`INSERT INTO recovery ${
            sql.insert({ locator, owner_user_id: userId, blob, created_at: at, updated_at: at })
          } ON CONFLICT (locator) DO UPDATE SET blob = excluded.blob, updated_at = excluded.updated_at
            WHERE recovery.owner_user_id = excluded.owner_user_id RETURNING locator`
          if (rows.length === 0) return yield* Effect.fail(Forbidden.of("This recovery locator belongs to another user"))
        })),
      getRecovery: (locator) =>
        guard("getRecovery")(Effect.map(
          sql<{ blob: string }>`SELECT blob FROM recovery WHERE locator = ${locator}`,
          (rows) => Option.map(Option.fromNullable(rows[0]), (r) => r.blob)
        ))
    }

    function prekeyStatus(userId: string) {
      return Effect.gen(function*() {
        const [signed] = yield* sql<{ prekey_id: string; created_at: Num }>`SELECT prekey_id, created_at FROM signed_prekeys
          WHERE user_id = ${userId}`
        const [count] = yield* sql<{ n: Num }>`SELECT COUNT(*) AS n FROM one_time_prekeys WHERE user_id = ${userId} AND claimed_at IS NULL`
        const status: Models.PrekeyStatus = {
          ...(signed === undefined ? {} : { signedPrekey: { prekeyId: signed.prekey_id, createdAt: num(signed.created_at) } }),
          oneTimeCount: num(count?.n ?? 0)
        }
        return status
      })
    }

    function getUser(userId: string) {
      return Effect.map(
        sql<UserRow>`SELECT user_id, signing_public_key, encryption_public_key, registered_at FROM users WHERE user_id = ${userId}`,
        (rows) => Option.flatMap(Option.fromNullable(rows[0]), toUser)
      )
    }

    return service
  })
