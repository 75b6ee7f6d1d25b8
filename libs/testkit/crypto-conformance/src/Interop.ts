/**
 * Cross-adapter interoperability and differential tests: what one adapter
 * encrypts, signs, seals or derives, every other adapter opens, verifies or
 * derives identically.
 *
 * @since 0.1.0
 */
import { Crypto, Hpke, labels } from "@cipherlog/crypto"
import { Bytes } from "@cipherlog/domain"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Encoding, FastCheck as fc, type Layer } from "effect"

/**
 * @since 0.1.0
 */
export const suite = (adapters: ReadonlyArray<readonly [name: string, layer: Layer.Layer<Crypto.Crypto>]>): void => {
  const services = Effect.forEach(adapters, ([name, l]) => Effect.map(Effect.provide(Crypto.Crypto, l), (c) => [name, c] as const))
  const pairs = <A>(items: ReadonlyArray<A>) => items.flatMap((a) => items.map((b) => [a, b] as const))

  describe(`Crypto interop: ${adapters.map(([n]) => n).join(", ")}`, () => {
    it.effect.prop(
      "encrypt with any adapter, decrypt with any other, for every shared suite",
      [fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 1500 }), fc.uint8Array({ maxLength: 40 })],
      ([raw, plaintext, aad]) =>
        Effect.gen(function*() {
          const all = yield* services
          for (const [[from, a], [to, b]] of pairs(all)) {
            for (const suite of a.suites.filter((s) => b.suites.includes(s))) {
              const ka = yield* a.importKey("dek", raw, { suite })
              const kb = yield* b.importKey("dek", raw, { suite })
              const sealed = yield* a.seal(ka, plaintext, aad)
              expect(yield* b.open(kb, sealed, aad), `${from} → ${to} (${suite})`).toEqual(plaintext)
              const many = yield* a.sealMany(ka, [{ plaintext, aad }, { plaintext: aad, aad: plaintext }])
              expect(yield* b.openMany(kb, many.map((s, i) => ({ sealed: s, aad: i === 0 ? aad : plaintext })))).toEqual([plaintext, aad])
            }
          }
        }),
      { fastCheck: { numRuns: 15 } }
    )

    it.effect.prop(
      "hashes, MACs and key derivations agree byte for byte",
      [fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 1, max: 600 })],
      ([ikm, salt, info, length]) =>
        Effect.gen(function*() {
          const all = yield* services
          const outputs = yield* Effect.forEach(all, ([, c]) =>
            Effect.all([
              c.sha256(ikm),
              c.hmacSha256(salt, ikm),
              c.hazmat.hkdf(ikm, salt, info, length),
              c.hazmat.hkdfExtract(salt, ikm),
              Effect.flatMap(c.hazmat.hkdfExtract(salt, ikm), (prk) => c.hazmat.hkdfExpand(prk, info, length)),
              c.hkdf({ ikm, salt, label: labels.masterKek, context: info, length })
            ]).pipe(Effect.map((xs) => xs.map((x) => Encoding.encodeHex(x))))
          )
          for (const other of outputs.slice(1)) expect(other).toEqual(outputs[0])
        }),
      { fastCheck: { numRuns: 25 } }
    )

    it.effect("signatures, key agreement and HPKE work across adapters", () =>
      Effect.gen(function*() {
        const all = yield* services
        for (const [[from, a], [to, b]] of pairs(all)) {
          const seed = yield* a.randomBytes(32)
          const sa = yield* a.ed25519.importSeed(seed)
          const sb = yield* b.ed25519.importSeed(seed)
          expect(Encoding.encodeHex(sa.publicKey)).toBe(Encoding.encodeHex(sb.publicKey))
          const message = Bytes.utf8(`${from} → ${to}`)
          const sig = yield* a.ed25519.sign(sa, message)
          expect(Encoding.encodeHex(yield* b.ed25519.sign(sb, message)), "Ed25519 is deterministic").toBe(Encoding.encodeHex(sig))
          expect(yield* b.ed25519.verify(sa.publicKey, message, sig)).toBe(true)

          const xa = yield* a.x25519.generate()
          const xb = yield* b.x25519.generate()
          const ab = yield* a.x25519.agree(xa.key, xb.key.publicKey)
          const ba = yield* b.x25519.agree(xb.key, xa.key.publicKey)
          expect(Encoding.encodeHex(ab)).toBe(Encoding.encodeHex(ba))

          const info = Bytes.utf8(labels.kekBlob)
          const sealed = yield* Effect.provideService(
            Hpke.sealBase({ recipientPublicKey: xb.key.publicKey, info, aad: message, plaintext: seed }),
            Crypto.Crypto,
            a
          )
          const opened = yield* Effect.provideService(
            Hpke.openBase({ recipient: xb.key, info, aad: message, ...sealed }),
            Crypto.Crypto,
            b
          )
          expect(opened).toEqual(seed)

          const params = { algorithm: "argon2id" as const, version: 0x13 as const, memoryKiB: 256, iterations: 2, parallelism: 1, length: 32 }
          const pa = yield* a.argon2id(message, seed.subarray(0, 16), params)
          const pb = yield* b.argon2id(message, seed.subarray(0, 16), params)
          expect(Encoding.encodeHex(pa)).toBe(Encoding.encodeHex(pb))
        }
      }))

    it.effect("a key handle made by one adapter is refused by another", () =>
      Effect.gen(function*() {
        const all = yield* services
        for (const [[from, a], [to, b]] of pairs(all)) {
          if (from === to) continue
          const { key } = yield* a.generateKey("dek")
          const result = yield* Effect.either(b.seal(key, new Uint8Array(1), new Uint8Array(0)))
          expect(Either.isLeft(result) && result.left._tag === "InvalidKey" && result.left.reason, `${from} key in ${to}`).toBe("adapter")
        }
      }))
  })
}
