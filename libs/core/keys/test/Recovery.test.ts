import { describe, expect, it } from "@effect/vitest"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { Bytes } from "@cipherlog/domain"
import { entropyToMnemonic, mnemonicToSeedSync } from "@scure/bip39"
import { wordlist } from "@scure/bip39/wordlists/english.js"
import { Effect, Either, Encoding, Redacted } from "effect"
import { Identity, Recovery } from "../src/index.js"
import vectors from "./vectors/bip39_english.json" with { type: "json" }

const hex = (s: string) => Either.getOrThrow(Encoding.decodeHex(s))

describe("Recovery phrase", () => {
  it("BIP39 English vectors: entropy → mnemonic → seed (passphrase TREZOR), all 24 cases", () => {
    for (const c of vectors.cases) {
      expect(entropyToMnemonic(hex(c.entropy), wordlist)).toBe(c.mnemonic)
      expect(Encoding.encodeHex(mnemonicToSeedSync(c.mnemonic, vectors.passphrase))).toBe(c.seed)
    }
    expect(vectors.cases.length).toBe(24)
  })

  it.effect("a new phrase is 24 valid words; derivation is deterministic per store and differs between stores", () =>
    Effect.gen(function*() {
      const phrase = yield* Recovery.generatePhrase
      expect(Redacted.value(phrase).split(" ")).toHaveLength(24)
      expect(Either.isRight(Recovery.normalize(phrase))).toBe(true)
      const a = yield* Recovery.derive(phrase, "store-a")
      const a2 = yield* Recovery.derive(Redacted.make(`  ${Redacted.value(phrase).toUpperCase()}  `), "store-a")
      const b = yield* Recovery.derive(phrase, "store-b")
      expect(a.locator).toBe(a2.locator)
      expect(a.locator).not.toBe(b.locator)
      expect(String(phrase)).not.toContain(Redacted.value(phrase).split(" ")[0]!)
    }).pipe(Effect.provide(NodeCrypto.layer)))

  it("invalid phrases say what is wrong, without repeating the words", () => {
    const valid = vectors.cases[vectors.cases.length - 1]!.mnemonic
    const words = valid.split(" ")
    const cases: Array<[string, RegExp]> = [
      [words.slice(0, 12).join(" "), /12 words/],
      [[...words.slice(0, 23), "notaword"].join(" "), /word 24/],
      [[words[1], words[0], ...words.slice(2)].join(" "), /checksum/]
    ]
    for (const [text, expected] of cases) {
      const result = Recovery.normalize(Redacted.make(text))
      expect(Either.isLeft(result) && result.left.message).toMatch(expected)
      expect(Either.isLeft(result) && result.left.message).not.toContain(words[5])
    }
  })

  it.effect("recovery material: the phrase opens it, another phrase or store does not, tampering is caught", () =>
    Effect.gen(function*() {
      const phrase = yield* Recovery.generatePhrase
      const identity = yield* Identity.generate("alice", 0)
      const master = yield* Recovery.derive(phrase, "s1")
      const { material, root } = yield* Recovery.seal(master, "s1", identity)
      const opened = yield* Recovery.open(master, material)
      expect(opened.identity.genesis).toEqual(identity.genesis)
      expect(opened.root).toEqual(root)
      const wrong = yield* Recovery.derive(yield* Recovery.generatePhrase, "s1")
      const refused = yield* Effect.either(Recovery.open(wrong, material))
      expect(Either.isLeft(refused) && refused.left._tag).toBe("RecoveryFailed")
      const otherStore = yield* Recovery.derive(phrase, "s2")
      expect(Either.isLeft(yield* Effect.either(Recovery.open(otherStore, material)))).toBe(true)
      const tampered = { ...material, identity: { ...material.identity, ciphertext: Bytes.concat(material.identity.ciphertext.subarray(1), Uint8Array.of(0)) } }
      const broken = yield* Effect.either(Recovery.open(master, tampered))
      expect(Either.isLeft(broken) && broken.left.message).toMatch(/altered/)
    }).pipe(Effect.provide(NodeCrypto.layer)))
})
