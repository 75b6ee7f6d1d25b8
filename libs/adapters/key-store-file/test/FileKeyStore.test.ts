import { NodeCrypto } from "@cipherlog/crypto-node"
import { KeyStoreConformance } from "@cipherlog/key-store-conformance"
import { KeyStore, Vault } from "@cipherlog/keys"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Redacted } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { FileKeyStore } from "../src/index.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "cipherlog-keystore-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const files = (dir: string): Array<string> =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(path.join(dir, d.name)) : [path.join(dir, d.name)]))
    : []

const harness: KeyStoreConformance.Harness = {
  name: "file",
  open: (id) => FileKeyStore.layer(path.join(root, id), { lockWaitMs: 500 }),
  persisted: (id) => Effect.sync(() => files(path.join(root, id)).map((f) => ({ name: f, bytes: new Uint8Array(fs.readFileSync(f)) }))),
  corrupt: (id, entry) => Effect.sync(() => {
    const file = path.join(root, id, ...entry.split("/")) + ".enc"
    const bytes = fs.readFileSync(file)
    bytes[bytes.length - 1]! ^= 0xff
    fs.writeFileSync(file, bytes)
  })
}

KeyStoreConformance.suite(harness, NodeCrypto.layer)

describe("FileKeyStore", () => {
  it.effect("directory 0700, files 0600, seed 002's layout, no temporary files left behind", () =>
    Effect.gen(function*() {
      const dir = path.join(root, "layout")
      const vault = yield* Vault.create(Redacted.make("layout passphrase"), { policy: Vault.insecureTestPolicy }).pipe(
        Effect.provide(Layer.merge(FileKeyStore.layer(dir), NodeCrypto.layer))
      )
      yield* vault.put("identity", new Uint8Array(32))
      yield* vault.put("stores/s1/kek/v1", new Uint8Array(32))
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
      expect(fs.statSync(path.join(dir, "stores", "s1")).mode & 0o777).toBe(0o700)
      const all = files(dir).map((f) => path.relative(dir, f)).sort()
      expect(all).toEqual(["identity.enc", "keystore.json", path.join("stores", "s1", "kek", "v1.enc")])
      for (const f of files(dir)) expect(fs.statSync(f).mode & 0o777, f).toBe(0o600)
    }))

  it.effect("an unwritable location is a typed I/O error that names it and says what to check", () =>
    Effect.gen(function*() {
      const blocker = path.join(root, "blocker")
      fs.writeFileSync(blocker, "a file where a directory should be")
      const result = yield* Effect.either(Effect.flatMap(KeyStore.KeyStore, (s) => s.write("identity", new Uint8Array(1))).pipe(
        Effect.provide(FileKeyStore.layer(path.join(blocker, "ks")))
      ))
      expect(Either.isLeft(result) && result.left._tag === "KeyStoreError" && result.left.reason).toBe("io")
      expect(Either.isLeft(result) && result.left.message).toMatch(/permissions and free space/)
    }))

  it.effect("INV-011 another process holding the lock makes this one fail clearly, and nothing is corrupted", () =>
    Effect.gen(function*() {
      const dir = path.join(root, "contended")
      const holder = fileURLToPath(new URL("./hold-lock.mjs", import.meta.url))
      const child = execFile(process.execPath, [holder, dir, "1500"])
      const ready = yield* Effect.promise(() => new Promise<string>((resolve) => child.stdout!.once("data", (d) => resolve(String(d)))))
      expect(ready).toMatch(/locked/)
      const second = yield* Effect.either(Effect.scoped(Effect.flatMap(KeyStore.KeyStore, (s) => s.lock)).pipe(
        Effect.provide(FileKeyStore.layer(dir, { lockWaitMs: 300 }))
      ))
      expect(Either.isLeft(second) && second.left._tag).toBe("KeyStoreLocked")
      yield* Effect.promise(() => new Promise((resolve) => child.once("exit", resolve)))
      // After the other process released it, this one gets the lock and sees the other's write.
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* KeyStore.KeyStore
        yield* store.lock
        expect(yield* store.list("")).toEqual(["written-by-other"])
      })).pipe(Effect.provide(FileKeyStore.layer(dir, { lockWaitMs: 300 })))
    }), 20_000)
})
