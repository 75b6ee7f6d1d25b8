import { describe, expect, it } from "@effect/vitest"
import { Crypto } from "@cipherlog/crypto"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { Bytes, type KeyRef } from "@cipherlog/domain"
import { Effect, Either, FastCheck as fc, Layer, Option, Redacted, Schema } from "effect"
import { Backup, Keyring, KeyStore, Vault } from "../src/index.js"
import { contains, memory, newKeyring, policy } from "./fixtures.js"

const backupPassphrase = Redacted.make("a separate backup passphrase")

/** A device with some history: two stores, rotations, events sealed with their DEKs. */
const populated = (events: number) =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const keyring = yield* newKeyring()
    const sealed: Array<{ storeId: string; ref: KeyRef; nonce: Uint8Array; ciphertext: Uint8Array; plaintext: Uint8Array }> = []
    for (const storeId of ["s1", "s2"]) {
      yield* keyring.createKek(storeId, "v1")
      for (let i = 0; i < events; i++) {
        if (i === Math.floor(events / 2)) yield* keyring.createKek(storeId, "v2")
        const { ref, key, grants } = yield* keyring.dekForWrite(storeId, "Goal", `g${i % 3}`)
        yield* keyring.markPublished(grants)
        const plaintext = yield* crypto.randomBytes(40)
        const s = yield* crypto.seal(key, plaintext, Bytes.utf8(storeId))
        sealed.push({ storeId, ref, nonce: s.nonce, ciphertext: s.ciphertext, plaintext })
      }
    }
    return { keyring, sealed }
  })

/** Restores a backup into a fresh device (its own key store) and returns the new keyring. */
const restore = (text: string, passphrase = backupPassphrase) =>
  Effect.gen(function*() {
    const contents = yield* Backup.open(text, passphrase, policy)
    const vault = yield* Vault.create(Redacted.make("the new device's passphrase"), { policy })
    const keyring = yield* Keyring.initialize(vault, { userId: contents.userId, deviceId: "d2", identity: contents.identity })
    yield* Backup.restoreInto(vault, contents)
    Backup.zeroizeContents(contents)
    return keyring
  }).pipe(Effect.provide(Layer.merge(KeyStore.layerMemory("new-device"), NodeCrypto.layer)))

describe("Key backup", () => {
  it.effect.prop(
    "INV-012 wipe the device, restore the key backup on a fresh one: every event decrypts byte-identically",
    [fc.integer({ min: 1, max: 8 })],
    ([events]) =>
      Effect.gen(function*() {
        const crypto = yield* Crypto.Crypto
        const { keyring, sealed } = yield* populated(events)
        const text = yield* Backup.exportKeys(keyring, backupPassphrase, policy)
        const signingPublicKey = (yield* keyring.identity).public.signingPublicKey
        yield* keyring.close
        const restored = yield* restore(text)
        for (const s of sealed) {
          const key = yield* restored.dek(s.storeId, s.ref)
          const plaintext = yield* crypto.open(key, { suite: "A256GCM", nonce: s.nonce, ciphertext: s.ciphertext }, Bytes.utf8(s.storeId))
          expect(plaintext).toEqual(s.plaintext)
        }
        expect((yield* restored.identity).public.signingPublicKey).toEqual(signingPublicKey)
        expect(restored.deviceId).toBe("d2")
        expect((yield* restored.kekVersions("s1")).map((v) => v.status)).toEqual(["decrypt-only", "active"])
      }).pipe(Effect.provide(memory().layer)),
    { fastCheck: { numRuns: 6 } }
  )

  it.effect("INV-010 a key backup never holds K_cache or the device key; the restored device gets new ones", () =>
    Effect.gen(function*() {
      const { keyring } = yield* populated(2)
      const cache = Option.getOrThrow(yield* Keyring.readEntry(keyring.vault, Keyring.entries.cache, KeyOnly))
      const text = yield* Backup.exportKeys(keyring, backupPassphrase, policy)
      const contents = yield* Backup.open(text, backupPassphrase, policy)
      const serialized = JSON.stringify(contents, (_, v) => (v instanceof Uint8Array ? Bytes.toBase64Url(v) : v))
      expect(backupHoldsCacheKey(serialized, cache.key)).toBe(false)
      expect(Object.keys(contents).sort()).toEqual(["identity", "stores", "userId", "v"])
      const restored = yield* restore(text)
      expect(restored.deviceId).not.toBe(keyring.deviceId)
    }).pipe(Effect.provide(memory().layer)))

  it("INV-010 mutant: a backup that carried the cache key would be caught by the same check", () => {
    const cache = new Uint8Array(32).fill(9)
    const leaky = JSON.stringify({ v: 1, cache: Bytes.toBase64Url(cache) })
    expect(backupHoldsCacheKey(leaky, cache)).toBe(true)
  })

  it.effect("INV-014 a backup file contains no key in plaintext", () =>
    Effect.gen(function*() {
      const { keyring, sealed } = yield* populated(3)
      const text = yield* Backup.exportKeys(keyring, backupPassphrase, policy)
      const bytes = Bytes.utf8(text)
      const deks = (yield* keyring.deks("s1")).flatMap((d) => d.epochs.map((e) => e.key))
      const keks = yield* Effect.forEach(yield* keyring.kekVersions("s1"), (v) => keyring.exportKek("s1", v.versionId))
      for (const key of [...deks, ...keks]) {
        expect(contains(bytes, key.subarray(0, 8))).toBe(false)
        expect(text).not.toContain(Bytes.toBase64Url(key).slice(0, 12))
      }
      expect(sealed.length).toBe(6)
    }).pipe(Effect.provide(memory().layer)))

  it.effect("a wrong passphrase, a tampered, a truncated and a newer-version backup are all refused cleanly", () =>
    Effect.gen(function*() {
      const { keyring } = yield* populated(2)
      const text = yield* Backup.exportKeys(keyring, backupPassphrase, policy)
      const reason = (t: string, p = backupPassphrase) =>
        Effect.map(Effect.either(Backup.open(t, p, policy)), (r) => (Either.isLeft(r) ? (r.left._tag === "BackupRejected" ? r.left.reason : r.left._tag) : "accepted"))
      expect(yield* reason(text, Redacted.make("not the backup passphrase"))).toBe("passphrase-or-tampered")
      const json = JSON.parse(text)
      const flipped = json.ciphertext.slice(0, 10) + (json.ciphertext[10] === "A" ? "B" : "A") + json.ciphertext.slice(11)
      expect(yield* reason(JSON.stringify({ ...json, ciphertext: flipped }))).toBe("passphrase-or-tampered")
      expect(yield* reason(JSON.stringify({ ...json, createdAt: json.createdAt + 1 }))).toBe("passphrase-or-tampered")
      expect(yield* reason(text.slice(0, Math.floor(text.length / 2)))).toBe("truncated")
      expect(yield* reason("hello")).toBe("malformed")
      expect(yield* reason(JSON.stringify({ ...json, v: 2 }))).toBe("UnsupportedFormat")
      expect(yield* reason(text)).toBe("accepted")
    }).pipe(Effect.provide(memory().layer)))

  it.effect("the backup passphrase must differ from the key store's", () =>
    Effect.gen(function*() {
      const keyring = yield* newKeyring()
      const same = yield* Effect.either(Backup.exportKeys(keyring, Redacted.make("correct horse battery staple"), policy))
      expect(Either.isLeft(same) && same.left.message).toMatch(/must differ/)
    }).pipe(Effect.provide(memory().layer)))
})

const KeyOnly = Schema.Struct({ v: Schema.Literal(1), key: Bytes.Base64UrlOfLength(32) })
const backupHoldsCacheKey = (serialized: string, cacheKey: Uint8Array) =>
  serialized.includes(Bytes.toBase64Url(cacheKey)) || serialized.includes(Array.from(cacheKey).join(","))
