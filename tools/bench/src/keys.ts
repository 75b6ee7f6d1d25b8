/**
 * Key hierarchy benchmarks: unlocking a key store that holds N data keys,
 * beside the bare Argon2id derivation it cannot avoid (the baseline).
 * Unlock reads the header and the profile only; data keys are decrypted
 * lazily, when a record needs them.
 */
import { Argon2, Crypto } from "@cipherlog/crypto"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { FileKeyStore } from "@cipherlog/key-store-file"
import { Keyring, KeyStore, Vault } from "@cipherlog/keys"
import { Effect, Layer, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { compare, type Row } from "./harness.ts"

const passphrase = Redacted.make("benchmark passphrase")

/** Builds a file key store with `n` DEKs (writing files without fsync: this is set-up, not the measured part). */
const fixture = (n: number) =>
  Effect.gen(function*() {
    const contents = KeyStore.memoryContents()
    yield* Effect.gen(function*() {
      const vault = yield* Vault.create(passphrase)
      const keyring = yield* Keyring.initialize(vault, { userId: "u1", deviceId: "d1" })
      yield* keyring.createKek("s1", "v1")
      for (let i = 0; i < n; i++) {
        const { grants } = yield* keyring.dekForWrite("s1", "Goal", `g${i}`)
        yield* keyring.markPublished(grants)
      }
    }).pipe(Effect.provide(Layer.merge(KeyStore.layerMemory("fixture", contents), NodeCrypto.layer)))
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cipherlog-bench-keys-${n}-`))
    fs.writeFileSync(path.join(dir, "keystore.json"), contents.header!)
    for (const [name, bytes] of contents.entries) {
      const file = path.join(dir, ...name.split("/")) + ".enc"
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, bytes)
    }
    return { dir, entries: contents.entries.size }
  })

export const run = async (options: { quick: boolean }): Promise<ReadonlyArray<Row>> => {
  const crypto = NodeCrypto.make()
  const sizes = options.quick ? [10, 1000, 10_000] : [10, 1000, 100_000]
  const fixtures = await Effect.runPromise(Effect.forEach(sizes, (n) => Effect.map(fixture(n), (f) => ({ n, ...f }))))
  const salt = crypto.randomBytes(16)
  const unlock = (dir: string) =>
    Effect.runPromise(Effect.gen(function*() {
      const vault = yield* Vault.unlock(passphrase)
      const keyring = yield* Keyring.make(vault)
      // The first data key a reader needs, resolved lazily.
      yield* keyring.dekForWrite("s1", "Goal", "g0")
      yield* keyring.close
    }).pipe(Effect.provide(Layer.merge(FileKeyStore.layer(dir), NodeCrypto.layer))))
  try {
    return await compare({
      title: "Unlock a file key store holding N data keys, and resolve one (vs the bare Argon2id m=64 MiB t=3 it must do; lower is better)",
      timeRatio: true,
      baseline: {
        name: "bare Argon2id (node adapter)", batch: 1,
        fn: () => Effect.runPromise(Effect.flatMap(Crypto.Crypto, (c) => c.argon2id(new TextEncoder().encode(Redacted.value(passphrase)), Effect.runSync(salt), Argon2.defaults)).pipe(Effect.provide(NodeCrypto.layer)))
      },
      candidates: fixtures.map((f) => ({
        name: `unlock with N = ${f.n.toLocaleString("en")} (${f.entries.toLocaleString("en")} entries)`,
        batch: 1,
        fn: () => unlock(f.dir),
        target: { max: 2, note: "≤ 2× Argon2id" }
      }))
    }, { time: options.quick ? 1500 : 4000, iterations: options.quick ? 3 : 8 })
  } finally {
    for (const f of fixtures) fs.rmSync(f.dir, { recursive: true, force: true })
  }
}
