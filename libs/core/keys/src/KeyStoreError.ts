/**
 * Errors of key storage and of the key hierarchy. They name entries,
 * versions and ids — never key bytes, passphrases or phrases (INV-016).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Storage failed or found something it cannot use.
 * - `io`: the host refused a read or write (permissions, disk full, quota…).
 * - `corrupted`: an entry exists but does not decrypt or parse; other entries are unaffected.
 * - `invalid-name`: an entry name outside `[a-z0-9][a-z0-9._/-]*`.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyStoreError extends Schema.TaggedError<KeyStoreError>("@cipherlog/keys/KeyStoreError")("KeyStoreError", {
  reason: Schema.Literal("io", "corrupted", "invalid-name"),
  location: Schema.String,
  entry: Schema.optional(Schema.String),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    const where = this.entry === undefined ? this.location : `${this.location} (entry ${this.entry})`
    switch (this.reason) {
      case "io":
        return `Key store ${where}: ${this.detail}. Check the location's permissions and free space, then retry.`
      case "corrupted":
        return `Key store ${where} is corrupted: ${this.detail}. The other entries are still usable; ` +
          `restore this one from a key backup.`
      case "invalid-name":
        return `Key store ${where}: ${this.detail}.`
    }
  }
}

/**
 * Another writer holds the key store (another process or tab) and did not
 * release it in time (INV-011).
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyStoreLocked extends Schema.TaggedError<KeyStoreLocked>("@cipherlog/keys/KeyStoreLocked")("KeyStoreLocked", {
  location: Schema.String
}) {
  override get message(): string {
    return `Key store ${this.location} is in use by another process or tab. Close it, or wait and retry.`
  }
}

/**
 * The passphrase does not unlock the key store (or the key store's header
 * was altered, which is indistinguishable by design).
 *
 * @since 0.1.0
 * @category errors
 */
export class WrongPassphrase extends Schema.TaggedError<WrongPassphrase>("@cipherlog/keys/WrongPassphrase")("WrongPassphrase", {
  location: Schema.String
}) {
  override get message(): string {
    return `Wrong passphrase for ${this.location} (or its header was altered). Nothing was changed; try again.`
  }
}

/**
 * No key store exists at the location (not initialised, or wiped).
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyStoreMissing extends Schema.TaggedError<KeyStoreMissing>("@cipherlog/keys/KeyStoreMissing")("KeyStoreMissing", {
  location: Schema.String
}) {
  override get message(): string {
    return `No key store at ${this.location}. Initialise one, or restore a key backup.`
  }
}

/**
 * A key store already exists where a new one was to be created.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyStoreExists extends Schema.TaggedError<KeyStoreExists>("@cipherlog/keys/KeyStoreExists")("KeyStoreExists", {
  location: Schema.String
}) {
  override get message(): string {
    return `A key store already exists at ${this.location}; nothing was overwritten. Use another location, or wipe it first.`
  }
}

/**
 * A passphrase that is refused before any derivation (empty, too short, or
 * the same as the key store's when a separate one is required).
 *
 * @since 0.1.0
 * @category errors
 */
export class WeakPassphrase extends Schema.TaggedError<WeakPassphrase>("@cipherlog/keys/WeakPassphrase")("WeakPassphrase", {
  detail: Schema.String
}) {
  override get message(): string {
    return `Passphrase refused: ${this.detail}.`
  }
}
