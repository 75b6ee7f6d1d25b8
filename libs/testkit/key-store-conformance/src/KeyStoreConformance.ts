/**
 * The conformance suite of the KeyStore port. Every adapter runs it (the
 * IndexedDB adapter also in a real browser): storage behaviour, atomic
 * replacement, exclusive locking, persistence across reopening, and — with
 * the vault on top — encryption at rest (INV-014), typed wrong-passphrase
 * and corruption errors.
 *
 * @since 0.1.0
 */
import type { Crypto } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { KeyStore, Vault } from "@cipherlog/keys"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, FastCheck as fc, Layer, Option, Redacted, Scope } from "effect"

/**
 * What a suite needs from an adapter's test file.
 *
 * @since 0.1.0
 */
export interface Harness {
  readonly name: string
  /** Opens the key store with this id; the same id reaches the same storage (a "reopen"). */
  readonly open: (id: string) => Layer.Layer<KeyStore.KeyStore>
  /** Every stored byte string for this id, as the host holds it (files, IndexedDB values). */
  readonly persisted: (id: string) => Effect.Effect<ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array }>>
  /** Damages one stored entry the way a disk fault would. */
  readonly corrupt: (id: string, entry: string) => Effect.Effect<void>
}

let counter = 0
const freshId = () => `ks${Date.now().toString(36)}${(counter++).toString(36)}`

const contains = (haystack: Uint8Array, needle: Uint8Array): boolean => {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return true
  }
  return false
}

const policy = Vault.insecureTestPolicy
const passphrase = Redacted.make("conformance passphrase")

/**
 * Invariant checks as functions (for mutant tests).
 *
 * @since 0.1.0
 */
export const checks = {
  /** INV-014: writes secrets through a vault; returns how many 8-byte windows of them the adapter persisted in plaintext. */
  plaintextWindows: (harness: Harness, cryptoLayer: Layer.Layer<Crypto.Crypto>, secrets: ReadonlyArray<Uint8Array>) =>
    Effect.gen(function*() {
      const id = freshId()
      yield* Effect.gen(function*() {
        const vault = yield* Vault.create(passphrase, { policy })
        for (const [i, s] of secrets.entries()) yield* vault.put(`secrets/${i}`, s)
      }).pipe(Effect.provide(Layer.merge(harness.open(id), cryptoLayer)))
      let found = 0
      for (const { bytes } of yield* harness.persisted(id)) {
        for (const s of [...secrets, Bytes.utf8(Redacted.value(passphrase))]) {
          for (let i = 0; i + 8 <= s.length; i += 8) if (contains(bytes, s.subarray(i, i + 8))) found++
        }
      }
      return found
    })
}

/**
 * Defines the conformance tests for one KeyStore adapter.
 *
 * @since 0.1.0
 */
export const suite = (harness: Harness, cryptoLayer: Layer.Layer<Crypto.Crypto>): void => {
  describe(`KeyStore conformance: ${harness.name}`, () => {
    const withStore = <A, E>(id: string, f: (store: KeyStore.KeyStore) => Effect.Effect<A, E, Scope.Scope>) =>
      Effect.scoped(Effect.flatMap(KeyStore.KeyStore, f)).pipe(Effect.provide(harness.open(id)))

    it.effect("an empty store has no header and no entries", () =>
      withStore(freshId(), (store) =>
        Effect.gen(function*() {
          expect(Option.isNone(yield* store.readHeader)).toBe(true)
          expect(yield* store.list("")).toEqual([])
          expect(Option.isNone(yield* store.read("identity"))).toBe(true)
        })))

    it.effect.prop(
      "entries and header round-trip, replace, list by prefix (sorted) and survive reopening",
      [fc.uniqueArray(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,12}(\/[a-z0-9][a-z0-9._-]{0,12}){0,2}$/), { minLength: 1, maxLength: 12 }), fc.uint8Array({ maxLength: 5000 })],
      ([names, value]) =>
        Effect.gen(function*() {
          const id = freshId()
          // Names that are both a file and a directory prefix ("a" and "a/b") are legal and must coexist.
          yield* withStore(id, (store) =>
            Effect.gen(function*() {
              yield* store.writeHeader(Bytes.utf8("header-1"))
              for (const [i, name] of names.entries()) yield* store.write(name, Bytes.concat(value, Uint8Array.of(i)))
              yield* store.write(names[0]!, Uint8Array.of(7))
              yield* store.writeHeader(Bytes.utf8("header-2"))
            }))
          yield* withStore(id, (store) =>
            Effect.gen(function*() {
              expect(Option.map(yield* store.readHeader, Bytes.fromUtf8)).toEqual(Option.some("header-2"))
              expect(yield* store.list("")).toEqual([...names].sort())
              expect(Option.getOrThrow(yield* store.read(names[0]!))).toEqual(Uint8Array.of(7))
              for (const [i, name] of names.entries()) {
                if (i > 0) expect(Option.getOrThrow(yield* store.read(name))).toEqual(Bytes.concat(value, Uint8Array.of(i)))
              }
              const prefix = names[names.length - 1]!.split("/")[0]!
              expect(yield* store.list(prefix)).toEqual([...names].filter((n) => n.startsWith(prefix)).sort())
              yield* store.remove(names[0]!)
              yield* store.remove("never-written")
              expect((yield* store.list("")).includes(names[0]!)).toBe(false)
            }))
        }),
      { fastCheck: { numRuns: 8 } }
    )

    it.effect("entry names outside the allowed alphabet are refused without touching storage", () =>
      withStore(freshId(), (store) =>
        Effect.gen(function*() {
          for (const bad of ["", "../escape", "a/../b", "/abs", "UPPER", "a//b", "space here", "a\u0000b", "x".repeat(300)]) {
            const result = yield* Effect.either(store.write(bad, Uint8Array.of(1)))
            expect(Either.isLeft(result) && result.left._tag === "KeyStoreError" && result.left.reason, bad).toBe("invalid-name")
          }
          expect(yield* store.list("")).toEqual([])
        })))

    it.effect("many entries and a large one", () =>
      withStore(freshId(), (store) =>
        Effect.gen(function*() {
          yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i), (i) => store.write(`deks/k${i}`, Uint8Array.of(i & 0xff)), { concurrency: 8 })
          const big = new Uint8Array(2 * 1024 * 1024).fill(3)
          yield* store.write("big", big)
          expect((yield* store.list("deks/")).length).toBe(300)
          expect(Option.getOrThrow(yield* store.read("big")).length).toBe(big.length)
        })))

    it.effect("INV-011 one writer at a time: a second lock on the same store fails clearly until the first is released", () =>
      Effect.gen(function*() {
        const id = freshId()
        const first = yield* Scope.make()
        yield* Effect.flatMap(KeyStore.KeyStore, (s) => s.lock).pipe(Effect.provide(harness.open(id)), Scope.extend(first))
        const second = yield* Effect.either(Effect.scoped(Effect.flatMap(KeyStore.KeyStore, (s) => s.lock)).pipe(Effect.provide(harness.open(id))))
        expect(Either.isLeft(second) && second.left._tag).toBe("KeyStoreLocked")
        expect(Either.isLeft(second) && second.left.message).toMatch(/in use/)
        yield* Scope.close(first, Exit.void)
        yield* Effect.scoped(Effect.flatMap(KeyStore.KeyStore, (s) => s.lock)).pipe(Effect.provide(harness.open(id)))
      }), 30_000)

    it.effect("wipe removes the header and every entry", () =>
      withStore(freshId(), (store) =>
        Effect.gen(function*() {
          yield* store.writeHeader(Uint8Array.of(1))
          yield* store.write("a/b", Uint8Array.of(2))
          yield* store.wipe
          expect(Option.isNone(yield* store.readHeader)).toBe(true)
          expect(yield* store.list("")).toEqual([])
        })))

    describe("with the vault on top", () => {
      const stack = (id: string) => Layer.merge(harness.open(id), cryptoLayer)

      it.effect.prop(
        "INV-014 everything the adapter persisted holds no key or passphrase in plaintext",
        [fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 1, maxLength: 4 })],
        ([secrets]) =>
          Effect.gen(function*() {
            expect(yield* checks.plaintextWindows(harness, cryptoLayer, secrets)).toBe(0)
          }),
        { fastCheck: { numRuns: 5 } }
      )

      it.effect("INV-014 a wrong passphrase is a typed error after reopening; the right one reads every entry", () =>
        Effect.gen(function*() {
          const id = freshId()
          yield* Effect.gen(function*() {
            const vault = yield* Vault.create(passphrase, { policy })
            yield* vault.put("identity", Bytes.utf8("id"))
          }).pipe(Effect.provide(stack(id)))
          const wrong = yield* Effect.either(Vault.unlock(Redacted.make("not the passphrase"), { policy }).pipe(Effect.provide(stack(id))))
          expect(Either.isLeft(wrong) && wrong.left._tag).toBe("WrongPassphrase")
          const vault = yield* Vault.unlock(passphrase, { policy }).pipe(Effect.provide(stack(id)))
          expect(Option.map(yield* vault.get("identity"), Bytes.fromUtf8)).toEqual(Option.some("id"))
        }))

      it.effect("a corrupted entry is a typed error naming it; the other entries stay usable", () =>
        Effect.gen(function*() {
          const id = freshId()
          const vault = yield* Vault.create(passphrase, { policy }).pipe(Effect.provide(stack(id)))
          yield* vault.put("keks/one", Bytes.utf8("one"))
          yield* vault.put("keks/two", Bytes.utf8("two"))
          yield* harness.corrupt(id, "keks/one")
          const reopened = yield* Vault.unlock(passphrase, { policy }).pipe(Effect.provide(stack(id)))
          const broken = yield* Effect.either(reopened.get("keks/one"))
          expect(Either.isLeft(broken) && broken.left.entry).toBe("keks/one")
          expect(Either.isLeft(broken) && broken.left.reason).toBe("corrupted")
          expect(Option.map(yield* reopened.get("keks/two"), Bytes.fromUtf8)).toEqual(Option.some("two"))
        }))
    })
  })
}
