import { NodeCrypto } from "@cipherlog/crypto-node"
import { Effect, Layer, Redacted } from "effect"
import { type Identity, Keyring, KeyStore, Vault } from "../src/index.js"

/** Cheap Argon2 for tests; production code never uses it. */
export const policy = Vault.insecureTestPolicy
export const passphrase = Redacted.make("correct horse battery staple")

/** A fresh in-memory store whose contents the test can inspect (and "reopen"). */
export const memory = () => {
  const contents = KeyStore.memoryContents()
  return { contents, layer: Layer.merge(KeyStore.layerMemory("memory", contents), NodeCrypto.layer) }
}

/** Every byte a key store adapter was given: header and entries. */
export const everything = (contents: KeyStore.MemoryContents): ReadonlyArray<Uint8Array> => [
  ...(contents.header ? [contents.header] : []),
  ...contents.entries.values()
]

export const contains = (haystack: Uint8Array, needle: Uint8Array): boolean => {
  if (needle.length === 0) return true
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return true
  }
  return false
}

/** A new keyring for user u1 / device d1 in a fresh vault. */
export const newKeyring = (keyPolicy: Keyring.KeyPolicy = Keyring.defaultPolicy) =>
  Effect.gen(function*() {
    const vault = yield* Vault.create(passphrase, { policy })
    return yield* Keyring.initialize(vault, { userId: "u1", deviceId: "d1" }, keyPolicy)
  })

/** A keyring for `userId` (device `<userId>-laptop`) in its own in-memory key store; with `identity`, that identity. */
export const userKeyring = (userId: string, identity?: Identity.IdentitySecrets) =>
  Effect.gen(function*() {
    const vault = yield* Vault.create(passphrase, { policy })
    return yield* Keyring.initialize(vault, { userId, deviceId: `${userId}-laptop`, ...(identity ? { identity } : {}) })
  }).pipe(Effect.provide(memory().layer))
