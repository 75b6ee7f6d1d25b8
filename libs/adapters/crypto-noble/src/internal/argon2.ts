import type { Argon2 } from "@cipherlog/crypto"
import { argon2idAsync } from "@noble/hashes/argon2.js"
import { Effect } from "effect"
import { argon2id } from "hash-wasm"

/**
 * Argon2id from hash-wasm (WASM; within 15–25 % of native here). hash-wasm
 * takes no associated data, which Cipherlog never uses but RFC 9106's
 * vectors do: with associated data the derivation goes to @noble/hashes.
 */
export const argon2 = (
  password: Uint8Array,
  salt: Uint8Array,
  params: Argon2.Argon2Params,
  extra: { readonly secret: Uint8Array; readonly associatedData: Uint8Array }
): Effect.Effect<Uint8Array> =>
  extra.associatedData.length > 0
    ? Effect.promise(() =>
      argon2idAsync(password, salt, {
        t: params.iterations, m: params.memoryKiB, p: params.parallelism, dkLen: params.length,
        version: params.version, key: extra.secret, personalization: extra.associatedData, maxmem: 2 ** 32 - 1
      })
    )
    : Effect.promise(() =>
      argon2id({
        password, salt, secret: extra.secret, iterations: params.iterations, memorySize: params.memoryKiB,
        parallelism: params.parallelism, hashLength: params.length, outputType: "binary"
      })
    )
