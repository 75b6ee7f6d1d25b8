/**
 * Crypto port benchmarks: each adapter beside raw `node:crypto` and raw
 * `crypto.subtle`, measured in the same run.
 */
import type { SigningKey, SymmetricKey } from "@cipherlog/crypto"
import { NobleCrypto } from "@cipherlog/crypto-noble"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { WebCryptoCrypto } from "@cipherlog/crypto-webcrypto"
import argon2 from "argon2"
import { Effect } from "effect"
import * as nodeCrypto from "node:crypto"
import { type Comparison, compare, type Row } from "./harness.ts"

const subtle = globalThis.crypto.subtle

const rawGcmSeal = (key: Buffer, plaintext: Uint8Array, aad: Uint8Array) => {
  const nonce = nodeCrypto.randomFillSync(new Uint8Array(12))
  const cipher = nodeCrypto.createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 })
  cipher.setAAD(aad)
  const head = cipher.update(plaintext)
  const tail = cipher.final()
  return [nonce, head, tail, cipher.getAuthTag()]
}

const rawGcmOpen = (key: Buffer, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array) => {
  const decipher = nodeCrypto.createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 })
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
  decipher.setAAD(aad)
  return [decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]
}

const loop = <A, E>(n: number, body: () => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* body()
  })

export const run = async (options: { quick: boolean }): Promise<ReadonlyArray<Row>> => {
  const adapters = {
    node: NodeCrypto.make(),
    webcrypto: await Effect.runPromise(WebCryptoCrypto.make),
    noble: NobleCrypto.make()
  } as const
  const raw = nodeCrypto.randomBytes(32)
  const aad = nodeCrypto.randomBytes(64)
  const keys = Object.fromEntries(
    await Promise.all(Object.entries(adapters).map(async ([name, c]) => [name, await Effect.runPromise(c.importKey("dek", raw))] as const))
  ) as Record<keyof typeof adapters, SymmetricKey<"dek">>
  const subtleKey = await subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"])
  const time = options.quick ? 400 : 1500
  const rows: Array<Row> = []
  const runComparison = async (c: Comparison, iterations?: number) => {
    rows.push(...await compare(c, { time, ...(iterations ? { iterations } : {}) }))
  }

  for (const [size, batch] of [[1024, 1000], [65536, 50]] as const) {
    const plaintext = nodeCrypto.randomBytes(size)
    const items = Array.from({ length: batch }, () => ({ plaintext, aad }))
    const label = size === 1024 ? "1 KiB" : "64 KiB"
    await runComparison({
      title: `AES-256-GCM seal, ${label} (vs raw node:crypto: createCipheriv per message, random nonce)`,
      baseline: { name: "raw node:crypto", batch, bytes: size, fn: () => { for (let i = 0; i < batch; i++) rawGcmSeal(raw, plaintext, aad) } },
      candidates: [
        { name: "node adapter, seal one by one", batch, bytes: size, fn: () => Effect.runSync(loop(batch, () => adapters.node.seal(keys.node, plaintext, aad))), ...(size === 1024 ? { target: { min: 0.8, note: "≥ 0.8×" } } : {}) },
        { name: "node adapter, sealMany", batch, bytes: size, fn: () => Effect.runSync(adapters.node.sealMany(keys.node, items)), ...(size === 1024 ? { target: { min: 0.8, note: "≥ 0.8×" } } : {}) },
        { name: "webcrypto adapter, sealMany", batch, bytes: size, fn: () => Effect.runPromise(adapters.webcrypto.sealMany(keys.webcrypto, items)) },
        { name: "noble adapter, sealMany", batch: Math.max(1, batch / 10), bytes: size, fn: () => Effect.runSync(adapters.noble.sealMany(keys.noble, items.slice(0, Math.max(1, batch / 10)))) }
      ]
    })
    await runComparison({
      title: `AES-256-GCM seal, ${label}, WebCrypto (vs raw crypto.subtle, ${batch} encrypt calls overlapped with Promise.all)`,
      baseline: {
        name: "raw crypto.subtle, batched", batch, bytes: size,
        fn: () => Promise.all(items.map((item) => subtle.encrypt({ name: "AES-GCM", iv: nodeCrypto.randomFillSync(new Uint8Array(12)), additionalData: item.aad }, subtleKey, item.plaintext)))
      },
      candidates: [
        { name: "webcrypto adapter, sealMany", batch, bytes: size, fn: () => Effect.runPromise(adapters.webcrypto.sealMany(keys.webcrypto, items)), ...(size === 1024 ? { target: { min: 0.9, note: "≥ 0.9×" } } : {}) },
        {
          name: "raw crypto.subtle, one await at a time", batch: batch / 10, bytes: size,
          fn: async () => {
            for (let i = 0; i < batch / 10; i++) await subtle.encrypt({ name: "AES-GCM", iv: nodeCrypto.randomFillSync(new Uint8Array(12)), additionalData: aad }, subtleKey, plaintext)
          }
        },
        { name: "webcrypto adapter, seal one by one", batch: batch / 10, bytes: size, fn: () => Effect.runPromise(loop(batch / 10, () => adapters.webcrypto.seal(keys.webcrypto, plaintext, aad))) }
      ]
    })
  }

  {
    const plaintext = nodeCrypto.randomBytes(1024)
    const batch = 1000
    const sealed = Effect.runSync(adapters.node.sealMany(keys.node, Array.from({ length: batch }, () => ({ plaintext, aad }))))
    const opens = sealed.map((s) => ({ sealed: s, aad }))
    await runComparison({
      title: "AES-256-GCM open, 1 KiB (vs raw node:crypto createDecipheriv)",
      baseline: { name: "raw node:crypto", batch, bytes: 1024, fn: () => { for (const s of sealed) rawGcmOpen(raw, s.nonce, s.ciphertext, aad) } },
      candidates: [
        { name: "node adapter, openMany", batch, bytes: 1024, fn: () => Effect.runSync(adapters.node.openMany(keys.node, opens)) },
        { name: "webcrypto adapter, openMany", batch, bytes: 1024, fn: () => Effect.runPromise(adapters.webcrypto.openMany(keys.webcrypto, opens)) },
        { name: "noble adapter, openMany", batch: 100, bytes: 1024, fn: () => Effect.runSync(adapters.noble.openMany(keys.noble, opens.slice(0, 100))) }
      ]
    })
  }

  {
    const seed = nodeCrypto.randomBytes(32)
    const message = nodeCrypto.randomBytes(128)
    const rawKey = nodeCrypto.createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" })
    const rawPub = nodeCrypto.createPublicKey(rawKey)
    const signing = Object.fromEntries(
      await Promise.all(Object.entries(adapters).map(async ([n, c]) => [n, await Effect.runPromise(c.ed25519.importSeed(seed))] as const))
    ) as Record<keyof typeof adapters, SigningKey>
    const signature = nodeCrypto.sign(null, message, rawKey)
    const publicKey = signing.node.publicKey
    const n = 200
    await runComparison({
      title: "Ed25519 sign (vs raw node:crypto sign)",
      baseline: { name: "raw node:crypto", batch: n, fn: () => { for (let i = 0; i < n; i++) nodeCrypto.sign(null, message, rawKey) } },
      candidates: [
        { name: "node adapter", batch: n, fn: () => Effect.runSync(loop(n, () => adapters.node.ed25519.sign(signing.node, message))) },
        { name: "webcrypto adapter", batch: n, fn: () => Effect.runPromise(loop(n, () => adapters.webcrypto.ed25519.sign(signing.webcrypto, message))) },
        { name: "noble adapter", batch: n / 10, fn: () => Effect.runSync(loop(n / 10, () => adapters.noble.ed25519.sign(signing.noble, message))) }
      ]
    })
    await runComparison({
      title: "Ed25519 verify (vs raw node:crypto verify)",
      baseline: { name: "raw node:crypto", batch: n, fn: () => { for (let i = 0; i < n; i++) nodeCrypto.verify(null, message, rawPub, signature) } },
      candidates: [
        { name: "node adapter", batch: n, fn: () => Effect.runSync(loop(n, () => adapters.node.ed25519.verify(publicKey, message, signature))) },
        { name: "webcrypto adapter", batch: n, fn: () => Effect.runPromise(loop(n, () => adapters.webcrypto.ed25519.verify(publicKey, message, signature))) },
        { name: "noble adapter", batch: n / 10, fn: () => Effect.runSync(loop(n / 10, () => adapters.noble.ed25519.verify(publicKey, message, signature))) }
      ]
    })
  }

  {
    const secret = nodeCrypto.randomBytes(32)
    const peer = nodeCrypto.generateKeyPairSync("x25519")
    const peerRaw = new Uint8Array(peer.publicKey.export({ format: "der", type: "spki" })).slice(-32)
    const rawKey = nodeCrypto.createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), secret]), format: "der", type: "pkcs8" })
    const agreement = Object.fromEntries(
      await Promise.all(Object.entries(adapters).map(async ([name, c]) => [name, await Effect.runPromise(c.x25519.importSecret(secret))] as const))
    )
    const n = 200
    await runComparison({
      title: "X25519 agreement (vs raw node:crypto diffieHellman)",
      baseline: { name: "raw node:crypto", batch: n, fn: () => { for (let i = 0; i < n; i++) nodeCrypto.diffieHellman({ privateKey: rawKey, publicKey: peer.publicKey }) } },
      candidates: (Object.keys(adapters) as Array<keyof typeof adapters>).map((name) => ({
        name: `${name} adapter`,
        batch: name === "noble" ? n / 10 : n,
        fn: () => Effect.runPromise(loop(name === "noble" ? n / 10 : n, () => adapters[name].x25519.agree(agreement[name]!, peerRaw)))
      }))
    })
  }

  {
    const ikm = nodeCrypto.randomBytes(32)
    const salt = nodeCrypto.randomBytes(32)
    const info = Buffer.from("cipherlog/v1/bench")
    const n = 500
    await runComparison({
      title: "HKDF-SHA256, 32 bytes (vs raw node:crypto hkdfSync)",
      baseline: { name: "raw node:crypto", batch: n, fn: () => { for (let i = 0; i < n; i++) nodeCrypto.hkdfSync("sha256", ikm, salt, info, 32) } },
      candidates: (Object.keys(adapters) as Array<keyof typeof adapters>).map((name) => ({
        name: `${name} adapter`, batch: n,
        fn: () => Effect.runPromise(loop(n, () => adapters[name].hazmat.hkdf(ikm, salt, info, 32)))
      }))
    })
  }

  for (const params of [
    { algorithm: "argon2id" as const, version: 0x13 as const, memoryKiB: 65536, iterations: 3, parallelism: 1, length: 32 },
    { algorithm: "argon2id" as const, version: 0x13 as const, memoryKiB: 19456, iterations: 2, parallelism: 1, length: 32 }
  ]) {
    const password = Buffer.from("correct horse battery staple")
    const salt = nodeCrypto.randomBytes(16)
    rows.push(...await compare({
      title: `Argon2id m=${params.memoryKiB / 1024} MiB t=${params.iterations} p=1 (time per derivation vs native argon2; lower is better)`,
      timeRatio: true,
      baseline: {
        name: "native argon2 (node-argon2)", batch: 1,
        fn: () => argon2.hash(password, { type: argon2.argon2id, memoryCost: params.memoryKiB, timeCost: params.iterations, parallelism: 1, salt, raw: true, hashLength: 32 })
      },
      // The Node adapter runs native Argon2 (hash-wasm measured 1.8× native here); the WebCrypto and
      // noble adapters, which must also run in browsers, use hash-wasm: shown for information.
      candidates: (Object.keys(adapters) as Array<keyof typeof adapters>).map((name) => ({
        name: `${name} adapter (${name === "node" ? "native argon2" : "hash-wasm"})`, batch: 1,
        fn: () => Effect.runPromise(adapters[name].argon2id(password, salt, params)),
        ...(params.memoryKiB === 65536 && name === "node" ? { target: { max: 1.3, note: "≤ 1.3× the native time" } } : {})
      }))
    }, { time: options.quick ? 1000 : 3000, iterations: options.quick ? 3 : 8 }))
  }
  return rows
}
