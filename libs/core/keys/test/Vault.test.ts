import { describe, expect, it } from "@effect/vitest"
import { Argon2 } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { Effect, Either, FastCheck as fc, Option, Redacted } from "effect"
import { KeyStore, Vault } from "../src/index.js"
import { contains, everything, memory, passphrase, policy } from "./fixtures.js"

describe("Vault", () => {
  it.effect("create, write, unlock again, read back; a second create is refused", () => {
    const { layer } = memory()
    return Effect.gen(function*() {
      const vault = yield* Vault.create(passphrase, { policy, meta: { storeId: "s1" } })
      yield* vault.put("identity", Bytes.utf8("top secret"))
      const again = yield* Vault.unlock(passphrase, { policy })
      expect(Option.map(yield* again.get("identity"), Bytes.fromUtf8)).toEqual(Option.some("top secret"))
      expect(again.header.meta).toEqual({ storeId: "s1" })
      expect(Option.isNone(yield* again.get("absent"))).toBe(true)
      const second = yield* Effect.either(Vault.create(passphrase, { policy }))
      expect(Either.isLeft(second) && second.left._tag).toBe("KeyStoreExists")
    }).pipe(Effect.provide(layer))
  })

  it.effect.prop(
    "INV-014 a wrong passphrase is a typed WrongPassphrase error, never garbage",
    [fc.string({ minLength: 8, maxLength: 40 })],
    ([guess]) => {
      const { layer } = memory()
      return Effect.gen(function*() {
        yield* Vault.create(passphrase, { policy })
        const result = yield* Effect.either(Vault.unlock(Redacted.make(guess), { policy }))
        if (guess.normalize("NFKC") === Redacted.value(passphrase)) return
        expect(Either.isLeft(result) && result.left._tag).toBe("WrongPassphrase")
      }).pipe(Effect.provide(layer))
    },
    { fastCheck: { numRuns: 15 } }
  )

  it.effect.prop(
    "INV-014 nothing a key store adapter receives contains a key or secret in plaintext",
    [fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 })],
    ([secretA, secretB]) => {
      const { layer, contents } = memory()
      return Effect.gen(function*() {
        const vault = yield* Vault.create(passphrase, { policy })
        yield* vault.put("kek/a", secretA)
        yield* vault.put("dek/b", secretB)
        for (const bytes of everything(contents)) {
          for (const secret of [secretA, secretB, Bytes.utf8(Redacted.value(passphrase))]) {
            for (let i = 0; i + 8 <= secret.length; i += 8) expect(contains(bytes, secret.subarray(i, i + 8))).toBe(false)
          }
        }
      }).pipe(Effect.provide(layer))
    },
    { fastCheck: { numRuns: 10 } }
  )

  it.effect("INV-014 mutant: the same scan finds a key written in plaintext", () => {
    const { layer, contents } = memory()
    return Effect.gen(function*() {
      const store = yield* KeyStore.KeyStore
      const secret = new Uint8Array(32).fill(42)
      yield* store.write("kek/leaked", secret) // what a vault that forgot to encrypt would do
      expect(everything(contents).some((bytes) => contains(bytes, secret.subarray(0, 8)))).toBe(true)
    }).pipe(Effect.provide(layer))
  })

  it.effect("changing the passphrase re-wraps the device key only: no entry is rewritten", () => {
    const { layer, contents } = memory()
    return Effect.gen(function*() {
      const vault = yield* Vault.create(passphrase, { policy })
      yield* vault.put("a", Bytes.utf8("one"))
      yield* vault.put("b", Bytes.utf8("two"))
      const before = new Map([...contents.entries].map(([k, v]) => [k, Bytes.toBase64Url(v)]))
      const headerBefore = contents.header
      const next = Redacted.make("a brand new passphrase")
      yield* vault.changePassphrase(next, { policy })
      expect(new Map([...contents.entries].map(([k, v]) => [k, Bytes.toBase64Url(v)]))).toEqual(before)
      expect(contents.header).not.toEqual(headerBefore)
      const old = yield* Effect.either(Vault.unlock(passphrase, { policy }))
      expect(Either.isLeft(old) && old.left._tag).toBe("WrongPassphrase")
      const reopened = yield* Vault.unlock(next, { policy })
      expect(Option.map(yield* reopened.get("b"), Bytes.fromUtf8)).toEqual(Option.some("two"))
    }).pipe(Effect.provide(layer))
  })

  it.effect("raising the Argon2 parameters re-wraps on the next unlock, entries untouched", () => {
    const { layer, contents } = memory()
    return Effect.gen(function*() {
      const vault = yield* Vault.create(passphrase, { policy })
      yield* vault.put("a", Bytes.utf8("kept"))
      const entriesBefore = [...contents.entries.values()].map(Bytes.toBase64Url)
      const stronger: Vault.KdfPolicy = { ...policy, target: { ...policy.target, memoryKiB: 256, iterations: 2 } }
      const raised = yield* Vault.unlock(passphrase, { policy: stronger })
      expect(raised.header.kdf).toMatchObject({ memoryKiB: 256, iterations: 2 })
      expect([...contents.entries.values()].map(Bytes.toBase64Url)).toEqual(entriesBefore)
      const again = yield* Vault.unlock(passphrase, { policy: stronger })
      expect(Option.map(yield* again.get("a"), Bytes.fromUtf8)).toEqual(Option.some("kept"))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a header whose parameters were lowered below the floor is refused", () => {
    const { layer, contents } = memory()
    return Effect.gen(function*() {
      yield* Vault.create(passphrase, { policy: Vault.insecureTestPolicy })
      const header = JSON.parse(Bytes.fromUtf8(contents.header!))
      expect(header.kdf.memoryKiB).toBe(64)
      const result = yield* Effect.either(Vault.unlock(passphrase, { policy: Vault.defaultPolicy }))
      expect(Either.isLeft(result) && result.left._tag).toBe("WrongPassphrase")
      // and editing the parameters in the header breaks the binding to the wrapped key
      contents.header = Bytes.utf8(JSON.stringify({ ...header, kdf: { ...header.kdf, iterations: 2 } }))
      const edited = yield* Effect.either(Vault.unlock(passphrase, { policy }))
      expect(Either.isLeft(edited) && edited.left._tag).toBe("WrongPassphrase")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a corrupted or moved entry is a typed error naming it; other entries stay usable", () => {
    const { layer, contents } = memory()
    return Effect.gen(function*() {
      const vault = yield* Vault.create(passphrase, { policy })
      yield* vault.put("good", Bytes.utf8("fine"))
      yield* vault.put("bad", Bytes.utf8("soon broken"))
      const bad = contents.entries.get("bad")!
      bad[bad.length - 1]! ^= 1
      const broken = yield* Effect.either(vault.get("bad"))
      expect(Either.isLeft(broken) && broken.left._tag === "KeyStoreError" && broken.left.reason).toBe("corrupted")
      expect(Either.isLeft(broken) && broken.left.message).toMatch(/entry bad/)
      contents.entries.set("moved", contents.entries.get("good")!)
      const moved = yield* Effect.either(vault.get("moved"))
      expect(Either.isLeft(moved) && moved.left._tag === "KeyStoreError" && moved.left.reason).toBe("corrupted")
      expect(Option.map(yield* vault.get("good"), Bytes.fromUtf8)).toEqual(Option.some("fine"))
      contents.header = Bytes.utf8("{\"format\":\"nope\"}")
      const header = yield* Effect.either(Vault.unlock(passphrase, { policy }))
      expect(Either.isLeft(header) && header.left._tag === "KeyStoreError" && header.left.reason).toBe("corrupted")
    }).pipe(Effect.provide(layer))
  })

  it.effect("short passphrases are refused before any derivation; a missing store is named", () => {
    const { layer } = memory()
    return Effect.gen(function*() {
      const missing = yield* Effect.either(Vault.unlock(passphrase, { policy }))
      expect(Either.isLeft(missing) && missing.left._tag).toBe("KeyStoreMissing")
      const weak = yield* Effect.either(Vault.create(Redacted.make("short"), { policy }))
      expect(Either.isLeft(weak) && weak.left._tag).toBe("WeakPassphrase")
      expect(Vault.defaultPolicy.target).toEqual(Argon2.defaults)
    }).pipe(Effect.provide(layer))
  })
})
