import { describe, expect, it } from "@effect/vitest"
import { Canary } from "@cipherlog/crypto-conformance"
import { Bytes } from "@cipherlog/domain"
import { Effect, Option, Redacted } from "effect"
import { Backup, Identity, KekBlob, Keyring, Recovery, Vault } from "../src/index.js"
import { memory, passphrase, policy } from "./fixtures.js"

const passCanary = "PASSPHRASE-CANARY-never-shown"
const backupCanary = "BACKUP-PASSPHRASE-CANARY-never-shown"

/** Provokes every failure of the key hierarchy with canary secrets and collects the errors. */
const failures = Effect.gen(function*() {
  const { contents } = memory()
  const vault = yield* Vault.create(Redacted.make(passCanary), { policy })
  const keyring = yield* Keyring.initialize(vault, { userId: "u1", deviceId: "d1" })
  yield* keyring.createKek("s1", "v1")
  const { ref } = yield* keyring.dekForWrite("s1", "Goal", "g1")
  const dek = (yield* keyring.deks("s1"))[0]!.epochs[0]!.key
  const kek = yield* keyring.exportKek("s1", "v1")
  const backup = yield* Backup.exportKeys(keyring, Redacted.make(backupCanary), policy)
  const phrase = yield* Recovery.generatePhrase
  const identitySecrets = yield* Effect.map(Keyring.readEntry(keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets), Option.getOrThrow)
  const errors: Array<unknown> = [
    yield* Effect.flip(Vault.unlock(Redacted.make(passCanary + "x"), { policy })),
    yield* Effect.flip(Vault.create(Redacted.make(passCanary), { policy })),
    yield* Effect.flip(Backup.open(backup, Redacted.make(passCanary), policy)),
    yield* Effect.flip(Backup.open(backup.slice(0, 100), Redacted.make(backupCanary), policy)),
    yield* Effect.flip(Backup.exportKeys(keyring, Redacted.make(passCanary), policy)),
    yield* Effect.flip(keyring.dek("s1", { ...ref, epoch: 7 as typeof ref.epoch })),
    yield* Effect.flip(keyring.importGrant({ storeId: "s1", keyId: ref.id, aggregateType: "Goal", aggregateId: "g1", kekVersionId: "v1", epochs: [{ epoch: 0, key: new Uint8Array(32).fill(3), createdAt: 0, createdUnder: "v1" }] })),
    yield* Effect.flip(Recovery.normalize(Redacted.make(Redacted.value(phrase).split(" ").reverse().join(" ")))),
    yield* Effect.flip(Recovery.open(yield* Recovery.derive(phrase, "s2"), (yield* Recovery.seal(yield* Recovery.derive(phrase, "s1"), "s1", identitySecrets)).material)),
    // A KEK blob (sealed to this user by itself) opened for another store, and a truncated one.
    ...(yield* Effect.gen(function*() {
      const self = yield* keyring.identity
      const blob = yield* KekBlob.provision(keyring, { storeId: "s1", versionId: "v1", recipient: self.public })
      return [
        yield* Effect.flip(KekBlob.open({ blob, storeId: "s2", versionId: "v1", recipient: self, sender: self.public })),
        yield* Effect.flip(KekBlob.open({ blob: blob.slice(0, 90), storeId: "s1", versionId: "v1", recipient: self, sender: self.public }))
      ]
    }))
  ]
  return { errors, secrets: [passCanary, backupCanary, Redacted.value(phrase), dek, kek, contents.header ?? new Uint8Array(0)] }
})

describe("key hierarchy errors", () => {
  it.effect("INV-016 no error of the key hierarchy shows a passphrase, a recovery phrase or a key", () =>
    Effect.gen(function*() {
      const { errors, secrets } = yield* failures
      for (const error of errors) {
        expect(Canary.findLeak(error, secrets.slice(0, 5)), String(error)).toBeUndefined()
        expect((error as Error).message.length).toBeGreaterThan(20)
      }
      expect(errors.length).toBe(11)
    }).pipe(Effect.provide(memory().layer)))

  it("INV-016 mutant: an error that quoted the passphrase would be caught", () => {
    const leaky = new Error(`Wrong passphrase ${passCanary}`)
    expect(Canary.findLeak(leaky, [passCanary])).toBeDefined()
    expect(Canary.findLeak(new Error(`key ${Bytes.toBase64Url(new Uint8Array(32).fill(5))}`), [new Uint8Array(32).fill(5)])).toBeDefined()
  })

  it("passphrases stay Redacted when rendered", () => {
    expect(String(passphrase)).not.toContain("horse")
    expect(JSON.stringify({ passphrase })).not.toContain("horse")
  })
})
