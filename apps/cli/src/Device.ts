/**
 * This device: a store directory's key store, keyring and local store,
 * composed from the libraries (the key store file adapter, the SQLite
 * event store, the Node crypto adapter provided by `MainLayer`).
 *
 * @since 0.1.0
 */
import { Crypto } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { LocalStore } from "@cipherlog/event-store"
import { SqliteNodeEventStore } from "@cipherlog/event-store-sqlite-node"
import { FileKeyStore } from "@cipherlog/key-store-file"
import { Backup, Identity, Keyring, KeyStore, Recovery, Vault } from "@cipherlog/keys"
import { Chunk, Effect, Option, type Redacted, Schema, type Scope, Stream } from "effect"
import Database from "better-sqlite3"
import * as fs from "node:fs"
import { CliError, conflict, unexpected } from "./CliError.js"
import * as Peers from "./Peers.js"
import type * as Progress from "./Progress.js"
import * as StoreDir from "./StoreDir.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Device {
  readonly paths: StoreDir.Paths
  readonly config: StoreDir.Config
  readonly keyring: Keyring.Keyring
  readonly store: LocalStore.LocalStore
  /** The other users this device verified (peers.json). */
  readonly peers: ReadonlyArray<Peers.Peer>
}

/** The first KEK version of a store created here. */
export const FIRST_KEK_VERSION = "kv1"

const RecoveryRoot = Schema.Struct({ v: Schema.Literal(1), key: Bytes.Base64UrlOfLength(32) })

/** A new id: a prefix and 16 characters of base64url randomness. */
const newId = (prefix: string) =>
  Effect.flatMap(Crypto.Crypto, (crypto) => Effect.map(crypto.randomBytes(12), (b) => `${prefix}${Bytes.toBase64Url(b)}`))

const onKeys = <A, E, R>(p: StoreDir.Paths, effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, KeyStore.KeyStore, FileKeyStore.make(p.keys))

/** Creates the directory (0700); fails when a store is already there. */
const prepareDir = (p: StoreDir.Paths) =>
  Effect.gen(function*() {
    if (StoreDir.exists(p) || fs.existsSync(p.keys) || fs.existsSync(p.events)) {
      return yield* Effect.fail(conflict(`${p.dir} already holds a Cipherlog store; nothing was changed. Use another --store, or \`cipherlog wipe\` it first.`, "StoreExists"))
    }
    const created = !fs.existsSync(p.dir)
    yield* Effect.try({
      try: () => fs.mkdirSync(p.dir, { recursive: true, mode: 0o700 }),
      catch: () => unexpected(`${p.dir} could not be created; check the path and permissions.`, "Io")
    })
    return created
  })

/** Removes what a failed creation left behind (the whole directory only if it created it). */
const undo = (p: StoreDir.Paths, createdDir: boolean) =>
  Effect.sync(() => {
    if (createdDir) fs.rmSync(p.dir, { recursive: true, force: true })
    else for (const f of [p.config, p.keys, p.events]) fs.rmSync(f, { recursive: true, force: true })
  })

/** Creates the local event log file (and closes it again). */
const createEvents = (p: StoreDir.Paths) => Effect.scoped(SqliteNodeEventStore.make(p.events))

/**
 * `init`: a new store, identity and device; the recovery phrase (returned
 * once, never stored) seals the identity into recovery material kept in
 * `cipherlog.json` until `sync` publishes it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initialize = (p: StoreDir.Paths, passphrase: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const createdDir = yield* prepareDir(p)
    return yield* Effect.gen(function*() {
      const storeId = yield* newId("s-")
      const userId = yield* newId("u-")
      const deviceId = yield* newId("d-")
      const vault = yield* onKeys(p, Vault.create(passphrase))
      const keyring = yield* Keyring.initialize(vault, { userId, deviceId })
      yield* keyring.createKek(storeId, FIRST_KEK_VERSION)
      const phrase = yield* Recovery.generatePhrase
      const master = yield* Recovery.derive(phrase, storeId)
      const secrets = yield* Keyring.readEntry(vault, Keyring.entries.identity, Identity.IdentitySecrets).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage("a new keyring has an identity"), onSome: Effect.succeed }))
      )
      const { material, root } = yield* Recovery.seal(master, storeId, secrets)
      Identity.zeroizeSecrets(secrets)
      yield* Keyring.writeEntry(vault, Keyring.entries.recoveryRoot(storeId), RecoveryRoot, { v: 1, key: root })
      root.fill(0)
      const blob = Bytes.toBase64Url(Bytes.utf8(Schema.encodeSync(Schema.parseJson(Recovery.RecoveryMaterial))(material)))
      const createdAt = yield* Effect.clockWith((c) => c.currentTimeMillis)
      const config: StoreDir.Config = {
        format: StoreDir.FORMAT, v: 1, storeId, userId, deviceId, createdAt,
        recovery: { locator: master.locator, blob, publishedTo: [] }
      }
      yield* createEvents(p)
      yield* StoreDir.writeConfig(p, config)
      yield* keyring.close
      return { config, phrase }
    }).pipe(Effect.onError(() => undo(p, createdDir)))
  })

/**
 * `restore --keys`: a device of the backup's user in a fresh directory,
 * with the backup's identity, KEK versions, DEKs and recovery roots, and a
 * new device id (a restored device is a new device; its old chain stays
 * the old device's). With `db`, the local log is that copy of a database.
 *
 * @since 0.1.0
 * @category constructors
 */
export const restore = (
  p: StoreDir.Paths,
  passphrase: Redacted.Redacted<string>,
  contents: Backup.BackupContents,
  storeId: string,
  db: Option.Option<string>,
  progress?: Progress.Progress
) =>
  Effect.gen(function*() {
    const createdDir = yield* prepareDir(p)
    return yield* Effect.gen(function*() {
      const deviceId = yield* newId("d-")
      const vault = yield* onKeys(p, Vault.create(passphrase))
      const keyring = yield* Keyring.initialize(vault, { userId: contents.userId, deviceId, identity: contents.identity })
      yield* Backup.restoreInto(vault, contents)
      yield* keyring.close
      yield* createEvents(p)
      const createdAt = yield* Effect.clockWith((c) => c.currentTimeMillis)
      const config: StoreDir.Config = { format: StoreDir.FORMAT, v: 1, storeId, userId: contents.userId, deviceId, createdAt }
      yield* StoreDir.writeConfig(p, config)
      const seeded = Option.isSome(db)
        ? Option.some(yield* Effect.scoped(Effect.flatMap(open(p, passphrase), (device) => seed(device, db.value, progress))))
        : Option.none()
      return { config, seeded }
    }).pipe(Effect.onError(() => undo(p, createdDir)))
  })

/**
 * `recover`: a new device of the user whose identity the recovery
 * material (opened with the phrase) holds, in a fresh directory: that
 * identity, its recovery root (so later re-seals need no phrase) and a new
 * device id. No KEK version yet: `sync` takes them from the server's KEK
 * blobs sealed to the identity. The material is kept in `cipherlog.json`
 * as published on `server`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const recover = (
  p: StoreDir.Paths,
  passphrase: Redacted.Redacted<string>,
  input: {
    readonly storeId: string
    readonly identity: Identity.IdentitySecrets
    readonly root: Uint8Array
    readonly locator: string
    readonly blob: string
    readonly server: string
  }
) =>
  Effect.gen(function*() {
    const createdDir = yield* prepareDir(p)
    return yield* Effect.gen(function*() {
      const deviceId = yield* newId("d-")
      const userId = input.identity.userId
      const vault = yield* onKeys(p, Vault.create(passphrase))
      const keyring = yield* Keyring.initialize(vault, { userId, deviceId, identity: input.identity })
      yield* Keyring.writeEntry(vault, Keyring.entries.recoveryRoot(input.storeId), RecoveryRoot, { v: 1, key: input.root })
      yield* keyring.close
      yield* createEvents(p)
      const createdAt = yield* Effect.clockWith((c) => c.currentTimeMillis)
      const config: StoreDir.Config = {
        format: StoreDir.FORMAT, v: 1, storeId: input.storeId, userId, deviceId, createdAt,
        recovery: { locator: input.locator, blob: input.blob, publishedTo: [input.server] }
      }
      yield* StoreDir.writeConfig(p, config)
      return config
    }).pipe(Effect.onError(() => undo(p, createdDir)))
  })

/**
 * Fails (as `init` and `restore` would) when the directory already holds a store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const refuseExisting = (p: StoreDir.Paths) =>
  StoreDir.exists(p) || fs.existsSync(p.keys) || fs.existsSync(p.events)
    ? Effect.fail(conflict(`${p.dir} already holds a Cipherlog store; nothing was changed. Use another --store, or \`cipherlog wipe\` it first.`, "StoreExists"))
    : Effect.void

/**
 * Holds the local log exclusively for the scope (fails with `StoreLocked`
 * while another process has it open); closing it checkpoints the WAL into
 * the one database file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const holdEvents = (p: StoreDir.Paths) => SqliteNodeEventStore.make(p.events)

/**
 * A consistent copy of the local log (`VACUUM INTO`: WAL included,
 * compacted) while no other process has it open.
 *
 * @since 0.1.0
 * @category backup
 */
export const copyEvents = (p: StoreDir.Paths, to: string) =>
  Effect.try({
    try: () => {
      const db = new Database(p.events, { fileMustExist: true, timeout: 2000 })
      try {
        db.prepare("VACUUM INTO ?").run(to)
      } finally {
        db.close()
      }
    },
    catch: (error) =>
      typeof error === "object" && error !== null && "code" in error && /^SQLITE_(BUSY|LOCKED)/.test(String(error.code))
        ? new CliError({ kind: "locked", code: "StoreLocked", detail: `The local store at ${p.events} is in use by another process. Close it, or wait and retry.` })
        : unexpected(`The local log ${p.events} could not be copied; check free space and permissions.`, "Io")
  })

/**
 * Seeds this device's log from a database copy (`restore --db`): the
 * copy's synced records are ingested in global order, exactly as if pulled
 * from the server — verified against their authors' chains, key records
 * importing the data keys they grant — so a key backup older than the
 * database still opens what the database's key records grant under a KEK
 * version the backup has. Records the old device never synced have no
 * global sequence and are not taken (counted as `unsynced`). The copy is
 * read from a temporary duplicate; the file given is not touched.
 *
 * @since 0.1.0
 * @category backup
 */
export const seed = (device: Device, copy: string, progress?: Progress.Progress) =>
  Effect.gen(function*() {
    const tmp = `${device.paths.events}.seed-${process.pid}`
    yield* Effect.addFinalizer(() => Effect.sync(() => {
      for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) fs.rmSync(f, { force: true })
    }))
    yield* Effect.try({ try: () => fs.copyFileSync(copy, tmp), catch: () => unexpected(`The database copy ${copy} could not be read.`, "Io") })
    const source = yield* SqliteNodeEventStore.make(tmp)
    const records = Chunk.toReadonlyArray(yield* Stream.runCollect(source.stream(device.config.storeId)))
    const synced = records.flatMap((r) => (r.globalSequence === null ? [] : [{ recordJson: r.recordJson, globalSequence: r.globalSequence }]))
      .sort((a, b) => a.globalSequence - b.globalSequence)
    let parked = 0
    let rejected = 0
    for (let i = 0; i < synced.length; i += 500) {
      if (progress) yield* progress.update(i, synced.length)
      const report = yield* device.store.ingest(synced.slice(i, i + 500))
      parked += report.parked
      rejected += report.rejected.length
    }
    if (progress) yield* progress.update(synced.length, synced.length)
    const stillParked = (yield* device.store.eventStore.withStatus(device.config.storeId, "parked")).length
    return { records: synced.length, unsynced: records.length - synced.length, parked: stillParked, rejected, ingestedParked: parked }
  })

/**
 * The failure of every command that needs keys in a directory restored from
 * a database copy alone: which keys are missing and how to get them.
 *
 * @since 0.1.0
 * @category errors
 */
export const lockedError = (p: StoreDir.Paths, config: StoreDir.Config) =>
  Effect.scoped(Effect.gen(function*() {
    const events = yield* SqliteNodeEventStore.make(p.events)
    const store = yield* LocalStore.make({ storeId: config.storeId, eventStore: events, keyring: Option.none() })
    const state = yield* store.keyState
    const records = state.missing.reduce((n, m) => n + m.records, 0)
    return new CliError({
      kind: "locked",
      code: "KeysMissing",
      detail: `Store ${config.storeId} in ${p.dir} was restored from a database copy without keys: ${records} record(s) are locked; ` +
        `missing keys: ${state.missing.map((m) => m.key).join(", ") || "none"}. ` +
        `Restore a key backup into it: \`cipherlog restore --keys FILE --store ${p.dir}\`.`
    })
  }))

/**
 * `restore --db` without keys: the database copy becomes this directory's
 * log as it is, in the library's locked state (no keyring); nothing is
 * decrypted or verified until `restore --keys` brings the keys. Returns
 * the store id and the missing keys.
 *
 * @since 0.1.0
 * @category constructors
 */
export const restoreLocked = (p: StoreDir.Paths, copy: string, storeIdOption: Option.Option<string>) =>
  Effect.gen(function*() {
    const createdDir = yield* prepareDir(p)
    return yield* Effect.gen(function*() {
      yield* Effect.try({ try: () => fs.copyFileSync(copy, p.events), catch: () => unexpected(`The database copy ${copy} could not be read.`, "Io") })
      const found = yield* Effect.scoped(Effect.gen(function*() {
        const events = yield* SqliteNodeEventStore.make(p.events)
        const stores = yield* events.stores
        const storeId = Option.getOrElse(storeIdOption, () => (stores.length === 1 ? stores[0]! : ""))
        if (!stores.includes(storeId)) {
          return yield* Effect.fail(new CliError({
            kind: "bad-input", code: "InvalidInput",
            detail: `Say which store to restore with --store-id (the database copy has: ${stores.join(", ") || "none"}).`
          }))
        }
        const store = yield* LocalStore.make({ storeId, eventStore: events, keyring: Option.none() })
        const counts = yield* events.counts(storeId)
        return { storeId, state: yield* store.keyState, records: counts.records }
      }))
      const createdAt = yield* Effect.clockWith((c) => c.currentTimeMillis)
      yield* StoreDir.writeConfig(p, { format: StoreDir.FORMAT, v: 1, storeId: found.storeId, userId: "", deviceId: "", createdAt, locked: true })
      return found
    }).pipe(Effect.onError(() => undo(p, createdDir)))
  })

/**
 * `restore --keys` into a directory that `restore --db` left locked: its
 * log (the database copy) is set aside and seeded into a fresh device made
 * from the key backup, exactly as `restore --keys --db` would; on failure
 * the locked directory is put back as it was.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unlock = (
  p: StoreDir.Paths,
  passphrase: Redacted.Redacted<string>,
  contents: Backup.BackupContents,
  config: StoreDir.Config,
  progress?: Progress.Progress
) =>
  Effect.gen(function*() {
    const aside = `${p.events}.locked-copy`
    yield* Effect.try({
      try: () => {
        fs.renameSync(p.events, aside)
        for (const f of [`${p.events}-wal`, `${p.events}-shm`]) fs.rmSync(f, { force: true })
        fs.rmSync(p.config, { force: true })
      },
      catch: () => unexpected(`${p.dir} could not be prepared for the keys; check permissions.`, "Io")
    })
    return yield* restore(p, passphrase, contents, config.storeId, Option.some(aside), progress).pipe(
      Effect.onError(() =>
        Effect.sync(() => {
          fs.mkdirSync(p.dir, { recursive: true, mode: 0o700 })
          fs.renameSync(aside, p.events)
        }).pipe(Effect.zipRight(Effect.orDie(StoreDir.writeConfig(p, config))), Effect.orDie)
      ),
      Effect.tap(() => Effect.sync(() => fs.rmSync(aside, { force: true })))
    )
  })

/**
 * Opens this device: unlocks the key store (a wrong passphrase fails
 * before anything else is read) and opens the local log exclusively, with
 * the verified peers (peers.json) as trusted identities.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (p: StoreDir.Paths, passphrase: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const config = yield* StoreDir.readConfig(p)
    if (config.locked === true) return yield* Effect.fail(yield* lockedError(p, config))
    const vault = yield* onKeys(p, Vault.unlock(passphrase))
    const keyring = yield* Effect.acquireRelease(Keyring.make(vault), (k) => k.close)
    const peers = yield* Peers.read(p)
    const trusted = Peers.lookup(peers)
    const events = yield* SqliteNodeEventStore.make(p.events)
    const store = yield* LocalStore.make({
      storeId: config.storeId, eventStore: events, keyring: Option.some(keyring), peers: (userId) => Effect.succeed(trusted(userId))
    })
    return { paths: p, config, keyring, store, peers } satisfies Device
  }) satisfies Effect.Effect<Device, unknown, Scope.Scope | Crypto.Crypto>
