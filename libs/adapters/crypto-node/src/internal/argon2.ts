import type { Argon2 } from "@cipherlog/crypto"
import argon2 from "argon2"
import { Effect } from "effect"

const buffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/**
 * Argon2id from the native reference implementation (`argon2`, prebuilt in
 * its npm package), run on libuv's thread pool. Measured here: hash-wasm is
 * 1.8× the native time at 64 MiB/t=3 and 3.6× at 19 MiB/t=2, so the Node
 * adapter uses native code (tools/bench, "Argon2id").
 */
export const argon2id = (
  password: Uint8Array,
  salt: Uint8Array,
  params: Argon2.Argon2Params,
  extra: { readonly secret: Uint8Array; readonly associatedData: Uint8Array }
): Effect.Effect<Uint8Array> =>
  Effect.promise(() =>
    argon2.hash(buffer(password), {
      type: argon2.argon2id,
      version: params.version,
      memoryCost: params.memoryKiB,
      timeCost: params.iterations,
      parallelism: params.parallelism,
      hashLength: params.length,
      salt: buffer(salt),
      ...(extra.secret.length > 0 ? { secret: buffer(extra.secret) } : {}),
      ...(extra.associatedData.length > 0 ? { associatedData: buffer(extra.associatedData) } : {}),
      raw: true
    })
  ).pipe(Effect.map((hash) => new Uint8Array(hash)))
