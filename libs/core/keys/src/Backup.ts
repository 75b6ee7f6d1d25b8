/**
 * Key backups (seeds 000, 002): identity, KEK versions, DEKs and recovery
 * roots, encrypted under a **backup passphrase that must differ from the key
 * store's**. Never the device key, never `K_cache` (INV-010): a restored
 * device gets a new device key and a new cache key, and rebuilds its
 * projections from the log.
 *
 * Format: `docs/formats.md`, "Key backup v1".
 *
 * @since 0.1.0
 */
import { Crypto, zeroize } from "@cipherlog/crypto"
import { Bytes, UnsupportedFormat } from "@cipherlog/domain"
import { Effect, Either, Option, Redacted, Schema } from "effect"
import * as Identity from "./Identity.js"
import { canonicalJson, context } from "./internal/encoding.js"
import { DekRecord, entries, KekRecord, type Keyring, readEntry, writeEntry } from "./Keyring.js"
import type { KeyStoreError } from "./KeyStoreError.js"
import { WeakPassphrase } from "./KeyStoreError.js"
import { type KdfPolicy, KdfSettings, MIN_PASSPHRASE_LENGTH, type Vault } from "./Vault.js"
import * as VaultModule from "./Vault.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const FORMAT = "cipherlog-key-backup" as const

/**
 * @since 0.1.0
 * @category constants
 */
export const VERSION = 1

/**
 * A backup refused on import.
 * - `malformed`: not a key backup (or cut short: `truncated`);
 * - `passphrase-or-tampered`: the passphrase is wrong or the file was altered;
 * - `contents`: it opened but its contents are not a valid backup.
 *
 * @since 0.1.0
 * @category errors
 */
export class BackupRejected extends Schema.TaggedError<BackupRejected>("@cipherlog/keys/BackupRejected")("BackupRejected", {
  reason: Schema.Literal("malformed", "truncated", "passphrase-or-tampered", "contents")
}) {
  override get message(): string {
    switch (this.reason) {
      case "malformed":
        return "This is not a Cipherlog key backup. Nothing was imported."
      case "truncated":
        return "The key backup is incomplete (cut short). Nothing was imported; use a complete copy."
      case "passphrase-or-tampered":
        return "Wrong backup passphrase, or the backup was altered. Nothing was imported."
      case "contents":
        return "The key backup opened but its contents are invalid. Nothing was imported."
    }
  }
}

const Envelope = Schema.Struct({
  format: Schema.Literal(FORMAT),
  v: Schema.Number,
  createdAt: Schema.Number,
  kdf: KdfSettings,
  nonce: Bytes.Base64UrlOfLength(12),
  ciphertext: Bytes.Base64Url
})

const Payload = Schema.Struct({
  v: Schema.Literal(1),
  userId: Schema.String,
  identity: Identity.IdentitySecrets,
  stores: Schema.Array(Schema.Struct({
    storeId: Schema.String,
    keks: Schema.Array(KekRecord),
    deks: Schema.Array(DekRecord),
    recoveryRoot: Schema.optionalWith(Bytes.Base64UrlOfLength(32), { exact: true })
  }))
})
const PayloadJson = Schema.parseJson(Payload)

const aad = (e: { readonly format: string; readonly v: number; readonly createdAt: number; readonly kdf: typeof KdfSettings.Type }) =>
  context("cipherlog/key-backup", canonicalJson({ format: e.format, v: e.v, createdAt: e.createdAt, kdf: Schema.encodeSync(KdfSettings)(e.kdf) }))

const RootSchema = Schema.Struct({ v: Schema.Literal(1), key: Bytes.Base64UrlOfLength(32) })

const passphraseBytes = (p: Redacted.Redacted<string>) => {
  const text = Redacted.value(p).normalize("NFKC")
  return [...text].length < MIN_PASSPHRASE_LENGTH
    ? Either.left(new WeakPassphrase({ detail: `a backup passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters` }))
    : Either.right(Bytes.utf8(text))
}

/**
 * Exports every store's keys (never the device key or `K_cache`) as a key
 * backup v1 text. Refuses a backup passphrase equal to the key store's.
 *
 * @since 0.1.0
 * @category export
 */
export const exportKeys = (
  keyring: Keyring,
  backupPassphrase: Redacted.Redacted<string>,
  policy: KdfPolicy = VaultModule.defaultPolicy
): Effect.Effect<string, KeyStoreError | WeakPassphrase, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const vault = keyring.vault
    const password = yield* passphraseBytes(backupPassphrase)
    if (yield* vault.isPassphrase(backupPassphrase)) {
      zeroize(password)
      return yield* Effect.fail(new WeakPassphrase({ detail: "the backup passphrase must differ from the key store's passphrase (seed 002: a different password than runtime)" }))
    }
    const identity = yield* Effect.flatMap(readEntry(vault, entries.identity, Identity.IdentitySecrets), Option.match({
      onNone: () => Effect.die("a keyring always has an identity"),
      onSome: Effect.succeed
    }))
    const stores = yield* Effect.forEach(yield* keyring.stores, (storeId) =>
      Effect.gen(function*() {
        const keks = yield* Effect.forEach(
          yield* vault.list(entries.keks(storeId)),
          (name) => Effect.map(readEntry(vault, name, KekRecord), Option.toArray)
        )
        const root = yield* readEntry(vault, entries.recoveryRoot(storeId), RootSchema)
        return {
          storeId,
          keks: keks.flat(),
          deks: yield* keyring.deks(storeId),
          ...(Option.isSome(root) ? { recoveryRoot: root.value.key } : {})
        }
      }))
    const payload = Bytes.utf8(Schema.encodeSync(PayloadJson)({ v: 1, userId: keyring.userId, identity, stores }))
    const kdf = { ...policy.target, salt: yield* crypto.randomBytes(16) }
    const { salt, ...params } = kdf
    const keyBytes = yield* crypto.argon2id(password, salt, params).pipe(Effect.orDie)
    zeroize(password)
    const key = yield* crypto.importKey("backup", keyBytes).pipe(Effect.orDie)
    zeroize(keyBytes)
    const createdAt = yield* Effect.clockWith((c) => c.currentTimeMillis)
    const header = { format: FORMAT as typeof FORMAT, v: VERSION, createdAt, kdf }
    const sealed = yield* crypto.seal(key, payload, aad(header)).pipe(Effect.orDie)
    zeroize(payload)
    Identity.zeroizeSecrets(identity)
    for (const s of stores) {
      for (const k of s.keks) if (k.key) zeroize(k.key)
      if (s.recoveryRoot) zeroize(s.recoveryRoot)
    }
    yield* crypto.destroyKey(key)
    return Schema.encodeSync(Schema.parseJson(Envelope))({ ...header, nonce: sealed.nonce, ciphertext: sealed.ciphertext })
  })

/**
 * The contents of an opened backup (secret: zero after use).
 *
 * @since 0.1.0
 * @category models
 */
export type BackupContents = typeof Payload.Type

/**
 * Opens a key backup v1 text. Truncated, altered, wrong-passphrase and
 * other-version backups are refused with a typed error; nothing is written.
 *
 * @since 0.1.0
 * @category import
 */
export const open = (
  text: string,
  backupPassphrase: Redacted.Redacted<string>,
  policy: KdfPolicy = VaultModule.defaultPolicy
): Effect.Effect<BackupContents, BackupRejected | UnsupportedFormat, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch (_) {
      const trimmed = text.trimEnd()
      return yield* Effect.fail(new BackupRejected({ reason: trimmed.startsWith(`{"format":"${FORMAT}"`) && !trimmed.endsWith("}") ? "truncated" : "malformed" }))
    }
    if (typeof raw === "object" && raw !== null && "format" in raw && raw.format === FORMAT && "v" in raw && raw.v !== VERSION) {
      return yield* Effect.fail(new UnsupportedFormat({ format: "key backup", found: String(raw.v), supported: [VERSION] }))
    }
    const envelope = yield* Schema.decodeUnknown(Envelope)(raw).pipe(Effect.mapError(() => new BackupRejected({ reason: "malformed" })))
    if (envelope.kdf.memoryKiB < policy.minimum.memoryKiB || envelope.kdf.iterations < policy.minimum.iterations) {
      return yield* Effect.fail(new BackupRejected({ reason: "passphrase-or-tampered" }))
    }
    const password = passphraseBytes(backupPassphrase)
    if (Either.isLeft(password)) return yield* Effect.fail(new BackupRejected({ reason: "passphrase-or-tampered" }))
    const { salt, ...params } = envelope.kdf
    const keyBytes = yield* crypto.argon2id(password.right, salt, params).pipe(
      Effect.mapError(() => new BackupRejected({ reason: "malformed" }))
    )
    zeroize(password.right)
    const key = yield* crypto.importKey("backup", keyBytes).pipe(Effect.orDie)
    zeroize(keyBytes)
    const plaintext = yield* crypto.open(key, { suite: "A256GCM", nonce: envelope.nonce, ciphertext: envelope.ciphertext }, aad(envelope)).pipe(
      Effect.mapError(() => new BackupRejected({ reason: "passphrase-or-tampered" })),
      Effect.ensuring(crypto.destroyKey(key))
    )
    const contents = yield* Schema.decodeUnknown(PayloadJson)(Bytes.fromUtf8(plaintext)).pipe(
      Effect.mapError(() => new BackupRejected({ reason: "contents" }))
    )
    zeroize(plaintext)
    return contents
  })

/**
 * Writes an opened backup's keys into a fresh vault (already initialised
 * with `Keyring.initialize` using the backup's identity) — KEK versions,
 * DEKs and recovery roots.
 *
 * @since 0.1.0
 * @category import
 */
export const restoreInto = (vault: Vault, contents: BackupContents): Effect.Effect<void, KeyStoreError> =>
  Effect.forEach(contents.stores, (store) =>
    Effect.gen(function*() {
      for (const k of store.keks) yield* writeEntry(vault, entries.kek(k.storeId, k.versionId), KekRecord, k)
      for (const d of store.deks) yield* writeEntry(vault, entries.dek(d.storeId, d.keyId), DekRecord, d)
      if (store.recoveryRoot) yield* writeEntry(vault, entries.recoveryRoot(store.storeId), RootSchema, { v: 1, key: store.recoveryRoot })
    }), { discard: true })

/**
 * Zeroes the secret parts of opened backup contents.
 *
 * @since 0.1.0
 * @category import
 */
export const zeroizeContents = (contents: BackupContents): void => {
  Identity.zeroizeSecrets(contents.identity)
  for (const s of contents.stores) {
    for (const k of s.keks) if (k.key) zeroize(k.key)
    for (const d of s.deks) for (const e of d.epochs) zeroize(e.key)
    if (s.recoveryRoot) zeroize(s.recoveryRoot)
  }
}

