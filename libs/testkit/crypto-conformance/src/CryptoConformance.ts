/**
 * The conformance suite of the Crypto port: every adapter runs it, in Node
 * and (for browser adapters) in a real browser. `suite(name, layer)` defines
 * the tests with `@effect/vitest`; an adapter's test file is one call.
 *
 * @since 0.1.0
 */
import { Argon2, Crypto, type DecryptionFailed, Hpke, labels, requirePurpose } from "@cipherlog/crypto"
import { Bytes, type SuiteId } from "@cipherlog/domain"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Either, Encoding, FastCheck as fc, type Layer } from "effect"
import { findLeak } from "./Canary.js"
import { hex, rfc, wycheproof } from "./Vectors.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** Encryptions in the nonce-uniqueness run (default 1 000 000). */
  readonly nonceRuns?: number
  /** Run the Argon2id cases of 128 MiB and more (default true). */
  readonly largeArgon2?: boolean
  /** Run RFC 7748's 1 000 000-round iterated X25519 (default false: ~40 s on the fastest adapter). */
  readonly iteratedMillion?: boolean
}

const toHex = (bytes: Uint8Array) => Encoding.encodeHex(bytes)

const report = (line: string) => {
  // The counts are part of the evidence: print them in the test run's output.
  console.info(line)
}

const flipBit = (bytes: Uint8Array, bit: number) => {
  const out = bytes.slice()
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}

type Aead = Crypto.AeadAlgorithm

const aeadVectors = (crypto: Crypto.Crypto, algorithm: Aead, cases: typeof wycheproof.aesGcm) =>
  Effect.gen(function*() {
    let valid = 0
    let invalid = 0
    for (const c of cases) {
      const key = hex(c.key)
      const iv = hex(c.iv)
      const aad = hex(c.aad)
      const msg = hex(c.msg)
      const sealed = Bytes.concat(hex(c.ct), hex(c.tag))
      if (c.result === "valid") {
        const encrypted = yield* crypto.hazmat.aeadEncrypt(algorithm, key, iv, msg, aad)
        expect(toHex(encrypted), `${algorithm} tcId ${c.tcId} ciphertext`).toBe(toHex(sealed))
        const decrypted = yield* crypto.hazmat.aeadDecrypt(algorithm, key, iv, sealed, aad)
        expect(toHex(decrypted), `${algorithm} tcId ${c.tcId} plaintext`).toBe(c.msg)
        valid++
      } else {
        const result = yield* Effect.either(crypto.hazmat.aeadDecrypt(algorithm, key, iv, sealed, aad))
        expect(Either.isLeft(result), `${algorithm} tcId ${c.tcId} (${c.flags.join(",")}) must be rejected`).toBe(true)
        invalid++
      }
    }
    expect(valid + invalid).toBe(cases.length)
    return { valid, invalid }
  })

/**
 * The invariant checks, as functions that report what they found instead of
 * asserting, so that the suite can require them to pass and the mutant tests
 * (tools/interop) can show each one failing on a deliberately broken adapter.
 *
 * @since 0.1.0
 */
export const checks = {
  /** INV-008: encrypts `runs` messages under one key; returns how many distinct nonces were used. */
  distinctNonces: (crypto: Crypto.Crypto, runs: number) =>
    Effect.gen(function*() {
      const { key } = yield* crypto.generateKey("dek")
      const seen = new Set<string>()
      const empty = new Uint8Array(0)
      const batch = Array.from({ length: Math.min(10_000, runs) }, () => ({ plaintext: empty, aad: empty }))
      for (let done = 0; done < runs; done += batch.length) {
        const sealed = yield* crypto.sealMany(key, batch.slice(0, Math.min(batch.length, runs - done)))
        for (const s of sealed) seen.add(Encoding.encodeBase64(s.nonce))
      }
      return { distinct: seen.size, used: key.used }
    }),

  /** INV-008: a key with a limit of 3 encryptions; returns how many of 5 attempts it accepted. */
  encryptionsPastLimit: (crypto: Crypto.Crypto) =>
    Effect.gen(function*() {
      const key = yield* crypto.importKey("dek", yield* crypto.randomBytes(32), { limit: 3 })
      let accepted = 0
      for (let i = 0; i < 5; i++) {
        const result = yield* Effect.either(crypto.seal(key, Bytes.utf8("x"), new Uint8Array(0)))
        if (Either.isRight(result)) accepted++
      }
      return accepted
    }),

  /** INV-013: flips every bit of ciphertext, tag, nonce and AAD; returns how many flips still opened. */
  acceptedFlips: (crypto: Crypto.Crypto, suite: SuiteId) =>
    Effect.gen(function*() {
      const { key } = yield* crypto.generateKey("dek", { suite })
      const plaintext = Bytes.utf8("tamper-evident payload, 32 bytes")
      const aad = Bytes.utf8("context: store/agg/v1")
      const sealed = yield* crypto.seal(key, plaintext, aad)
      const attempts: Array<Effect.Effect<unknown, unknown>> = []
      for (let bit = 0; bit < sealed.ciphertext.length * 8; bit++) {
        attempts.push(crypto.open(key, { ...sealed, ciphertext: flipBit(sealed.ciphertext, bit) }, aad))
      }
      for (let bit = 0; bit < sealed.nonce.length * 8; bit++) {
        attempts.push(crypto.open(key, { ...sealed, nonce: flipBit(sealed.nonce, bit) }, aad))
      }
      for (let bit = 0; bit < aad.length * 8; bit++) attempts.push(crypto.open(key, sealed, flipBit(aad, bit)))
      let accepted = 0
      for (const attempt of attempts) {
        const result = yield* Effect.either(attempt)
        if (Either.isRight(result)) accepted++
        else expect((result.left as DecryptionFailed)._tag).toBe("DecryptionFailed")
      }
      return { attempts: attempts.length, accepted }
    }),

  /** INV-016: provokes every kind of crypto failure with canary secrets; returns the leaks found. */
  leaks: (crypto: Crypto.Crypto) =>
    Effect.gen(function*() {
      const keyCanary = Bytes.utf8("KEY-CANARY-0123456789abcdefghijk")
      const plainCanary = Bytes.utf8("PLAINTEXT-CANARY-never-in-errors")
      const passCanary = "PASSPHRASE-CANARY-correct-horse"
      const secrets = [keyCanary, plainCanary, passCanary]
      const key = yield* crypto.importKey("dek", keyCanary)
      const sealed = yield* crypto.seal(key, plainCanary, plainCanary)
      const { key: wrong } = yield* crypto.generateKey("dek")
      const failures: Array<{ readonly _tag: string; readonly message: string }> = [
        yield* Effect.flip(crypto.open(wrong, sealed, plainCanary)),
        yield* Effect.flip(crypto.open(key, { ...sealed, ciphertext: flipBit(sealed.ciphertext, 0) }, plainCanary)),
        yield* Effect.flip(crypto.importKey("dek", Bytes.concat(keyCanary, keyCanary))),
        yield* Effect.flip(crypto.argon2id(Bytes.utf8(passCanary), new Uint8Array(16), { ...Argon2.owaspMinimum, memoryKiB: 1 })),
        yield* Effect.flip(crypto.argon2id(Bytes.utf8(passCanary), new Uint8Array(4), Argon2.owaspMinimum)),
        yield* Effect.flip(crypto.hazmat.aeadEncrypt("AES-256-GCM", keyCanary, new Uint8Array(7), plainCanary, plainCanary)),
        yield* Effect.flip(crypto.hazmat.aeadDecrypt("AES-256-GCM", keyCanary, new Uint8Array(12), plainCanary, plainCanary)),
        yield* Effect.flip(crypto.hazmat.hkdf(keyCanary, keyCanary, plainCanary, 10_000)),
        yield* Effect.flip(crypto.ed25519.importSeed(Bytes.concat(keyCanary, keyCanary))),
        yield* Effect.flip(crypto.x25519.agree(yield* crypto.x25519.importSecret(keyCanary), new Uint8Array(32)))
      ]
      const found: Array<string> = []
      for (const failure of failures) {
        const leak = findLeak(failure, secrets)
        if (leak !== undefined) found.push(`${failure._tag} shows ${leak}`)
        if (failure.message.length < 20) found.push(`${failure._tag} has no useful message`)
      }
      for (const handle of [key, yield* crypto.ed25519.importSeed(keyCanary), yield* crypto.x25519.importSecret(keyCanary)]) {
        const leak = findLeak(handle, [keyCanary])
        if (leak !== undefined) found.push(`a key handle shows ${leak}`)
      }
      return found
    })
}

/**
 * Defines the conformance tests for one Crypto adapter.
 *
 * @since 0.1.0
 */
export const suite = (name: string, cryptoLayer: Layer.Layer<Crypto.Crypto>, options: Options = {}): void => {
  const nonceRuns = options.nonceRuns ?? 1_000_000

  describe(`Crypto conformance: ${name}`, () => {
    layer(cryptoLayer, { timeout: "60 seconds" })((it) => {
      const suites = Effect.map(Crypto.Crypto, (c) => c.suites)

      it.effect("offers the default suite A256GCM", () =>
        Effect.gen(function*() {
          expect(yield* suites).toContain("A256GCM")
        }))

      it.effect.prop(
        "AEAD: seal then open returns the plaintext, for every suite, singly and in batches",
        [fc.uint8Array({ maxLength: 2048 }), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 5 })],
        ([plaintext, aad, batch]) =>
          Effect.gen(function*() {
            const crypto = yield* Crypto.Crypto
            for (const suite of crypto.suites) {
              const { key, raw } = yield* crypto.generateKey("dek", { suite })
              expect(Bytes.equalsPublic(raw, new Uint8Array(32)), "a generated key is all zero").toBe(false)
              const sealed = yield* crypto.seal(key, plaintext, aad)
              expect(sealed.suite).toBe(suite)
              expect(sealed.ciphertext.length).toBe(plaintext.length + Crypto.TAG_LENGTH)
              expect(yield* crypto.open(key, sealed, aad)).toEqual(plaintext)
              const many = yield* crypto.sealMany(key, Array.from({ length: batch }, () => ({ plaintext, aad })))
              const opened = yield* crypto.openMany(key, many.map((s) => ({ sealed: s, aad })))
              expect(opened).toEqual(Array.from({ length: batch }, () => plaintext))
              const other = yield* crypto.importKey("dek", raw, { suite })
              expect(yield* crypto.open(other, sealed, aad)).toEqual(plaintext)
            }
          }),
        { fastCheck: { numRuns: 30 } }
      )

      it.effect("INV-013 AEAD: every single-bit flip of ciphertext, tag, nonce or AAD fails to open", () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          let flips = 0
          for (const suite of crypto.suites) {
            const { attempts, accepted } = yield* checks.acceptedFlips(crypto, suite)
            expect(accepted, `${suite}: flips that still opened`).toBe(0)
            flips += attempts
            // Batch opening reports each failure in place.
            const { key } = yield* crypto.generateKey("dek", { suite })
            const aad = Bytes.utf8("aad")
            const plaintext = Bytes.utf8("batch")
            const sealed = yield* crypto.seal(key, plaintext, aad)
            const batch = yield* crypto.openMany(key, [
              { sealed, aad },
              { sealed: { ...sealed, ciphertext: flipBit(sealed.ciphertext, 0) }, aad },
              { sealed: { ...sealed, nonce: sealed.nonce.subarray(1) }, aad }
            ])
            expect(batch[0]).toEqual(plaintext)
            expect((batch[1] as DecryptionFailed)._tag).toBe("DecryptionFailed")
            expect((batch[2] as DecryptionFailed)._tag).toBe("DecryptionFailed")
          }
          report(`[${name}] tamper: ${flips} single-bit flips, all rejected`)
        }))

      it.effect("AEAD: a wrong key, a truncated ciphertext or another suite's record fails cleanly", () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          const { key } = yield* crypto.generateKey("dek")
          const { key: wrong } = yield* crypto.generateKey("dek")
          const aad = Bytes.utf8("aad")
          const sealed = yield* crypto.seal(key, Bytes.utf8("hello"), aad)
          for (const attempt of [
            crypto.open(wrong, sealed, aad),
            crypto.open(key, { ...sealed, ciphertext: sealed.ciphertext.subarray(0, 15) }, aad),
            crypto.open(key, { ...sealed, ciphertext: new Uint8Array(0) }, aad),
            crypto.open(key, { ...sealed, suite: "XC20P" as SuiteId }, aad),
            crypto.open(key, { ...sealed, nonce: new Uint8Array(0) }, aad)
          ]) {
            const result = yield* Effect.either(attempt)
            expect(Either.isLeft(result) && result.left._tag).toBe("DecryptionFailed")
          }
        }))

      it.effect(`INV-008 no nonce repeats over ${nonceRuns.toLocaleString("en")} encryptions under one key`, () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          const { distinct, used } = yield* checks.distinctNonces(crypto, nonceRuns)
          expect(distinct).toBe(nonceRuns)
          expect(used).toBe(nonceRuns)
          report(`[${name}] nonces: ${nonceRuns.toLocaleString("en")} encryptions, ${distinct.toLocaleString("en")} distinct nonces`)
        }), 240_000)

      it.effect("INV-008 a key refuses to encrypt past its usage limit; batches are all or nothing; decryption goes on", () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          const raw = yield* crypto.randomBytes(32)
          const key = yield* crypto.importKey("dek", raw, { used: 1, limit: 4 })
          const aad = new Uint8Array(0)
          const first = yield* crypto.seal(key, Bytes.utf8("a"), aad)
          const tooMany = yield* Effect.either(crypto.sealMany(key, [1, 2, 3].map(() => ({ plaintext: Bytes.utf8("b"), aad }))))
          expect(Either.isLeft(tooMany) && tooMany.left._tag).toBe("KeyUsageExhausted")
          expect(key.used).toBe(2)
          yield* crypto.sealMany(key, [1, 2].map(() => ({ plaintext: Bytes.utf8("c"), aad })))
          const over = yield* Effect.either(crypto.seal(key, Bytes.utf8("d"), aad))
          expect(Either.isLeft(over) && over.left._tag).toBe("KeyUsageExhausted")
          expect(Either.isLeft(over) && over.left.message).toMatch(/Rotate/)
          expect(yield* crypto.open(key, first, aad)).toEqual(Bytes.utf8("a"))
          expect(yield* checks.encryptionsPastLimit(crypto)).toBe(3)
        }))

      it.effect("INV-008 a key typed for one purpose is refused where another is required", () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          const { key: kek } = yield* crypto.generateKey("kek")
          const { key: dek } = yield* crypto.generateKey("dek")
          expect((yield* requirePurpose(dek, "dek")).purpose).toBe("dek")
          const refused = yield* Effect.either(requirePurpose(kek, "dek"))
          expect(Either.isLeft(refused) && refused.left.reason).toBe("purpose")
          const unknown = yield* Effect.either(crypto.importKey("master" as "kek", new Uint8Array(32)))
          expect(Either.isLeft(unknown) && unknown.left._tag).toBe("InvalidKey")
        }))

      it.effect("keys of the wrong length, destroyed keys and foreign handles are refused", () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          for (const length of [0, 16, 31, 33, 64]) {
            const result = yield* Effect.either(crypto.importKey("dek", new Uint8Array(length)))
            expect(Either.isLeft(result) && result.left._tag).toBe("InvalidKey")
          }
          const { key } = yield* crypto.generateKey("dek")
          yield* crypto.destroyKey(key)
          expect(key.destroyed).toBe(true)
          const afterDestroy = yield* Effect.either(crypto.seal(key, new Uint8Array(1), new Uint8Array(0)))
          expect(Either.isLeft(afterDestroy) && afterDestroy.left._tag === "InvalidKey" && afterDestroy.left.reason).toBe("destroyed")
          const forged = { ...key, destroyed: false } as typeof key
          const foreign = yield* Effect.either(crypto.seal(forged, new Uint8Array(1), new Uint8Array(0)))
          expect(Either.isLeft(foreign)).toBe(true)
          for (const length of [0, 31, 33]) {
            expect(Either.isLeft(yield* Effect.either(crypto.ed25519.importSeed(new Uint8Array(length))))).toBe(true)
            expect(Either.isLeft(yield* Effect.either(crypto.x25519.importSecret(new Uint8Array(length))))).toBe(true)
          }
        }))

      it.effect("HKDF: registered labels separate keys; info is label ‖ 0x00 ‖ context", () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          const ikm = yield* crypto.randomBytes(32)
          const a = yield* crypto.hkdf({ ikm, label: labels.masterKek, length: 32 })
          const b = yield* crypto.hkdf({ ikm, label: labels.cacheKey, length: 32 })
          const c = yield* crypto.hkdf({ ikm, label: labels.masterKek, context: Bytes.utf8("store-1"), length: 32 })
          expect(toHex(a)).not.toBe(toHex(b))
          expect(toHex(a)).not.toBe(toHex(c))
          const manual = yield* crypto.hazmat.hkdf(ikm, new Uint8Array(0), Bytes.concat(Bytes.utf8(labels.masterKek), Uint8Array.of(0)), 32)
          expect(toHex(a)).toBe(toHex(manual))
          expect(Either.isLeft(yield* Effect.either(crypto.hkdf({ ikm, label: labels.masterKek, length: 8161 })))).toBe(true)
          expect(Either.isLeft(yield* Effect.either(crypto.hkdf({ ikm, label: labels.masterKek, length: 0 })))).toBe(true)
        }))

      it.effect("signatures: sign/verify round trip; any change to message, signature or key fails", () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          const { key } = yield* crypto.ed25519.generate()
          const { key: other } = yield* crypto.ed25519.generate()
          const message = Bytes.utf8("authored by this device")
          const signature = yield* crypto.ed25519.sign(key, message)
          expect(signature.length).toBe(64)
          expect(yield* crypto.ed25519.verify(key.publicKey, message, signature)).toBe(true)
          expect(yield* crypto.ed25519.verify(other.publicKey, message, signature)).toBe(false)
          expect(yield* crypto.ed25519.verify(key.publicKey, flipBit(message, 3), signature)).toBe(false)
          for (let bit = 0; bit < 512; bit += 7) {
            expect(yield* crypto.ed25519.verify(key.publicKey, message, flipBit(signature, bit))).toBe(false)
          }
          expect(yield* crypto.ed25519.verify(key.publicKey, message, signature.subarray(0, 63))).toBe(false)
          expect(yield* crypto.ed25519.verify(key.publicKey.subarray(1), message, signature)).toBe(false)
        }))

      it.effect("key agreement: both sides derive the same secret; low-order points are refused", () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          const alice = yield* crypto.x25519.generate()
          const bob = yield* crypto.x25519.generate()
          const ab = yield* crypto.x25519.agree(alice.key, bob.key.publicKey)
          const ba = yield* crypto.x25519.agree(bob.key, alice.key.publicKey)
          expect(toHex(ab)).toBe(toHex(ba))
          for (const lowOrder of [new Uint8Array(32), hex("0100000000000000000000000000000000000000000000000000000000000000")]) {
            const result = yield* Effect.either(crypto.x25519.agree(alice.key, lowOrder))
            expect(Either.isLeft(result) && result.left.reason).toBe("low-order")
          }
          expect(Either.isLeft(yield* Effect.either(crypto.x25519.agree(alice.key, new Uint8Array(31))))).toBe(true)
        }))

      it.effect("HPKE single-shot: only the recipient opens; info, aad, enc and ciphertext are all bound", () =>
        Effect.gen(function*() {
          const crypto = yield* Crypto.Crypto
          const recipient = yield* crypto.x25519.generate()
          const intruder = yield* crypto.x25519.generate()
          const plaintext = yield* crypto.randomBytes(32)
          const info = Bytes.concat(Bytes.utf8(labels.kekBlob), Bytes.utf8("store-1"))
          const aad = Bytes.utf8("kek-version-3")
          const sealed = yield* Hpke.sealBase({ recipientPublicKey: recipient.key.publicKey, info, aad, plaintext })
          const open = (over: Partial<Parameters<typeof Hpke.openBase>[0]>) =>
            Effect.either(Hpke.openBase({ recipient: recipient.key, enc: sealed.enc, info, aad, ciphertext: sealed.ciphertext, ...over }))
          expect(Either.getOrThrow(yield* open({}))).toEqual(plaintext)
          for (const attempt of [
            open({ recipient: intruder.key }),
            open({ info: Bytes.utf8("other") }),
            open({ aad: Bytes.utf8("kek-version-4") }),
            open({ enc: flipBit(sealed.enc, 9) }),
            open({ enc: new Uint8Array(32) }),
            open({ ciphertext: flipBit(sealed.ciphertext, 17) })
          ]) {
            const result = yield* attempt
            expect(Either.isLeft(result) && result.left._tag).toBe("DecryptionFailed")
          }
        }))

      it.effect("INV-016 errors never contain keys, plaintexts or passphrases (canaries)", () =>
        Effect.gen(function*() {
          expect(yield* checks.leaks(yield* Crypto.Crypto)).toEqual([])
        }))

      describe("public vectors", () => {
        it.effect("Wycheproof AES-256-GCM, ChaCha20-Poly1305, XChaCha20-Poly1305", () =>
          Effect.gen(function*() {
            const crypto = yield* Crypto.Crypto
            const aes = yield* aeadVectors(crypto, "AES-256-GCM", wycheproof.aesGcm)
            expect(aes).toEqual({ valid: 39, invalid: 27 })
            report(`[${name}] Wycheproof AES-256-GCM: ${aes.valid} valid accepted, ${aes.invalid} invalid rejected`)
            const cc = yield* aeadVectors(crypto, "ChaCha20-Poly1305", wycheproof.chacha20Poly1305)
            report(`[${name}] Wycheproof ChaCha20-Poly1305: ${cc.valid} valid accepted, ${cc.invalid} invalid rejected`)
            const xc = yield* aeadVectors(crypto, "XChaCha20-Poly1305", wycheproof.xchacha20Poly1305)
            report(`[${name}] Wycheproof XChaCha20-Poly1305: ${xc.valid} valid accepted, ${xc.invalid} invalid rejected`)
          }))

        it.effect("Wycheproof X25519: valid cases agree; acceptable ones agree or are refused (all-zero always refused)", () =>
          Effect.gen(function*() {
            const crypto = yield* Crypto.Crypto
            let valid = 0
            let acceptedAcceptable = 0
            let refusedAcceptable = 0
            for (const c of wycheproof.x25519) {
              const key = yield* crypto.x25519.importSecret(hex(c.private))
              const result = yield* Effect.either(crypto.x25519.agree(key, hex(c.public)))
              const zero = /^(00)+$/.test(c.shared)
              if (c.result === "valid" && !zero) {
                expect(Either.isRight(result) && toHex(result.right), `tcId ${c.tcId}`).toBe(c.shared)
                valid++
              } else if (Either.isRight(result)) {
                expect(zero, `tcId ${c.tcId}: an all-zero shared secret must be refused`).toBe(false)
                expect(toHex(result.right), `tcId ${c.tcId}`).toBe(c.shared)
                acceptedAcceptable++
              } else {
                refusedAcceptable++
              }
              yield* crypto.destroyKey(key)
            }
            expect(valid + acceptedAcceptable + refusedAcceptable).toBe(518)
            report(`[${name}] Wycheproof X25519: ${valid} valid agreed, ${acceptedAcceptable} acceptable agreed, ` +
              `${refusedAcceptable} acceptable refused (low-order / zero output)`)
          }))

        it.effect("Wycheproof Ed25519: every valid signature verifies, every invalid one is rejected", () =>
          Effect.gen(function*() {
            const crypto = yield* Crypto.Crypto
            let valid = 0
            let invalid = 0
            for (const c of wycheproof.ed25519) {
              const ok = yield* crypto.ed25519.verify(hex(c.publicKey), hex(c.msg), hex(c.sig))
              expect(ok, `tcId ${c.tcId} (${c.flags.join(",")})`).toBe(c.result === "valid")
              if (ok) valid++
              else invalid++
            }
            expect({ valid, invalid }).toEqual({ valid: 88, invalid: 63 })
            report(`[${name}] Wycheproof Ed25519: ${valid} valid verified, ${invalid} invalid rejected`)
          }))

        it.effect("Wycheproof HKDF-SHA256 and HMAC-SHA256", () =>
          Effect.gen(function*() {
            const crypto = yield* Crypto.Crypto
            const hk = { valid: 0, invalid: 0 }
            for (const c of wycheproof.hkdf) {
              const result = yield* Effect.either(crypto.hazmat.hkdf(hex(c.ikm), hex(c.salt), hex(c.info), c.size))
              if (c.result === "valid") {
                expect(Either.isRight(result) && toHex(result.right), `tcId ${c.tcId}`).toBe(c.okm)
                hk.valid++
              } else {
                expect(Either.isLeft(result), `tcId ${c.tcId} must be rejected`).toBe(true)
                hk.invalid++
              }
            }
            expect(hk).toEqual({ valid: 83, invalid: 3 })
            const mac = { valid: 0, invalid: 0 }
            for (const c of wycheproof.hmac) {
              const full = yield* crypto.hmacSha256(hex(c.key), hex(c.msg))
              const tag = full.subarray(0, c.tagSize / 8)
              const matches = crypto.timingSafeEqual(tag, hex(c.tag))
              expect(matches, `tcId ${c.tcId}`).toBe(c.result === "valid")
              mac[c.result === "valid" ? "valid" : "invalid"]++
            }
            expect(mac).toEqual({ valid: 66, invalid: 108 })
            report(`[${name}] Wycheproof HKDF: ${hk.valid} valid, ${hk.invalid} invalid rejected; HMAC: ${mac.valid} valid, ${mac.invalid} invalid rejected`)
          }))

        it.effect("RFC 5869 HKDF (extract, expand and both)", () =>
          Effect.gen(function*() {
            const crypto = yield* Crypto.Crypto
            for (const c of rfc.rfc5869.cases) {
              expect(toHex(yield* crypto.hazmat.hkdfExtract(hex(c.salt), hex(c.ikm)))).toBe(c.prk)
              expect(toHex(yield* crypto.hazmat.hkdfExpand(hex(c.prk), hex(c.info), c.L))).toBe(c.okm)
              expect(toHex(yield* crypto.hazmat.hkdf(hex(c.ikm), hex(c.salt), hex(c.info), c.L))).toBe(c.okm)
            }
            report(`[${name}] RFC 5869: ${rfc.rfc5869.cases.length} cases`)
          }))

        it.effect("RFC 8032 Ed25519: public keys, deterministic signatures, verification", () =>
          Effect.gen(function*() {
            const crypto = yield* Crypto.Crypto
            for (const c of rfc.rfc8032.cases) {
              const key = yield* crypto.ed25519.importSeed(hex(c.secretKey))
              expect(toHex(key.publicKey), c.name).toBe(c.publicKey)
              expect(toHex(yield* crypto.ed25519.sign(key, hex(c.message))), c.name).toBe(c.signature)
              expect(yield* crypto.ed25519.verify(hex(c.publicKey), hex(c.message), hex(c.signature))).toBe(true)
            }
            report(`[${name}] RFC 8032: ${rfc.rfc8032.cases.length} cases`)
          }))

        it.effect(`RFC 7748 X25519: scalar multiplications, iterated${options.iteratedMillion ? " (to 1,000,000)" : " (1 and 1,000 rounds)"}, Alice and Bob`, () =>
          Effect.gen(function*() {
            const crypto = yield* Crypto.Crypto
            for (const c of rfc.rfc7748.x25519) {
              const key = yield* crypto.x25519.importSecret(hex(c.scalar))
              expect(toHex(yield* crypto.x25519.agree(key, hex(c.uCoordinate))), c.name).toBe(c.output)
            }
            let k = hex(rfc.rfc7748.iterated.initial)
            let u = hex(rfc.rfc7748.iterated.initial)
            let rounds = 0
            for (const expected of rfc.rfc7748.iterated.results) {
              if (expected.iterations > 1000 && !options.iteratedMillion) continue
              while (rounds < expected.iterations) {
                const key = yield* crypto.x25519.importSecret(k)
                const r = yield* crypto.x25519.agree(key, u)
                u = k
                k = r
                rounds++
              }
              expect(toHex(k), `${expected.iterations} rounds`).toBe(expected.output)
            }
            const dh = rfc.rfc7748.diffieHellman
            const alice = yield* crypto.x25519.importSecret(hex(dh.alicePrivate))
            const bob = yield* crypto.x25519.importSecret(hex(dh.bobPrivate))
            expect(toHex(alice.publicKey)).toBe(dh.alicePublic)
            expect(toHex(bob.publicKey)).toBe(dh.bobPublic)
            expect(toHex(yield* crypto.x25519.agree(alice, bob.publicKey))).toBe(dh.sharedSecret)
            expect(toHex(yield* crypto.x25519.agree(bob, alice.publicKey))).toBe(dh.sharedSecret)
            report(`[${name}] RFC 7748: ${rfc.rfc7748.x25519.length} scalar mults, iterated to ${rounds.toLocaleString("en")} rounds, DH exchange`)
          }), 180_000)

        it.effect("RFC 9106 / PHC reference Argon2id (v=0x13); the legacy v=0x10 is refused", () =>
          Effect.gen(function*() {
            const crypto = yield* Crypto.Crypto
            let run = 0
            for (const c of [...rfc.rfc9106.cases, ...rfc.argon2Phc.cases]) {
              const params = { algorithm: "argon2id" as const, version: c.version as 0x13, memoryKiB: c.memoryKiB, iterations: c.iterations, parallelism: c.parallelism, length: c.tagLength }
              const extra = { secret: hex(c.secret), associatedData: hex(c.associatedData) }
              if (c.version !== 0x13) {
                const refused = yield* Effect.either(crypto.argon2id(hex(c.password), hex(c.salt), params, extra))
                expect(Either.isLeft(refused) && refused.left.reason).toBe("parameters")
                continue
              }
              if (c.memoryKiB >= 131072 && options.largeArgon2 === false) continue
              expect(toHex(yield* crypto.argon2id(hex(c.password), hex(c.salt), params, extra)), c.name).toBe(c.tag)
              run++
            }
            report(`[${name}] Argon2id: ${run} known answers (RFC 9106 + PHC test.c), v=0x10 refused`)
          }), 180_000)

        it.effect("RFC 9180 HPKE DHKEM(X25519, HKDF-SHA256): key schedule, encryptions, exports, both modes", () =>
          Effect.gen(function*() {
            let encryptions = 0
            let exports = 0
            for (const v of rfc.rfc9180.vectors) {
              const mode = v.mode as Hpke.Mode
              const aeadId = v.aead_id as Hpke.AeadId
              const psk = "psk" in v ? hex(v.psk as string) : undefined
              const pskId = "psk_id" in v ? hex(v.psk_id as string) : undefined
              const r = yield* Hpke.deriveKeyPair(hex(v.ikmR))
              expect(toHex(r.secret)).toBe(v.skRm)
              expect(toHex(r.publicKey)).toBe(v.pkRm)
              const e = yield* Hpke.deriveKeyPair(hex(v.ikmE))
              expect(toHex(e.secret)).toBe(v.skEm)
              expect(toHex(e.publicKey)).toBe(v.pkEm)
              const { enc, context } = yield* Hpke.setupSender({
                mode, aeadId, recipientPublicKey: hex(v.pkRm), info: hex(v.info), ikmE: hex(v.ikmE),
                ...(psk ? { psk } : {}), ...(pskId ? { pskId } : {})
              })
              expect(toHex(enc)).toBe(v.enc)
              expect(toHex(context.key)).toBe(v.key)
              expect(toHex(context.baseNonce)).toBe(v.base_nonce)
              expect(toHex(context.exporterSecret)).toBe(v.exporter_secret)
              const receiver = yield* Hpke.setupRecipient({
                mode, aeadId, enc, recipient: r.key, info: hex(v.info), ...(psk ? { psk } : {}), ...(pskId ? { pskId } : {})
              })
              for (const x of v.encryptions) {
                expect(toHex(yield* context.seal(hex(x.aad), hex(x.pt)))).toBe(x.ct)
                expect(toHex(yield* receiver.open(hex(x.aad), hex(x.ct)))).toBe(x.pt)
                encryptions++
              }
              for (const x of v.exports) {
                expect(toHex(yield* context.export(hex(x.exporter_context), x.L))).toBe(x.exported_value)
                expect(toHex(yield* receiver.export(hex(x.exporter_context), x.L))).toBe(x.exported_value)
                exports++
              }
            }
            report(`[${name}] RFC 9180: ${rfc.rfc9180.vectors.length} vectors, ${encryptions} encryptions, ${exports} exports`)
          }))
      })
    })
  })
}
