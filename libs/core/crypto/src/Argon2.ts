/**
 * Argon2id parameters (RFC 9106). They are stored beside the salt wherever a
 * passphrase-derived key is used, so that they can be raised later and the
 * keys re-wrapped on the next unlock.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * @since 0.1.0
 * @category schemas
 */
export const Argon2Params = Schema.Struct({
  algorithm: Schema.Literal("argon2id"),
  version: Schema.Literal(0x13),
  memoryKiB: Schema.Int.pipe(Schema.between(8, 4 * 1024 * 1024)),
  iterations: Schema.Int.pipe(Schema.between(1, 1024)),
  parallelism: Schema.Int.pipe(Schema.between(1, 255)),
  length: Schema.Int.pipe(Schema.between(4, 1024))
}).pipe(
  Schema.filter((p) => p.memoryKiB >= 8 * p.parallelism || "memoryKiB must be at least 8 × parallelism (RFC 9106 §3.1)")
).annotations({ identifier: "Argon2Params" })
/** @since 0.1.0 */
export type Argon2Params = typeof Argon2Params.Type

/**
 * The default: m = 64 MiB, t = 3, p = 1 (RFC 9106 §4, second recommended option).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: Argon2Params = { algorithm: "argon2id", version: 0x13, memoryKiB: 65536, iterations: 3, parallelism: 1, length: 32 }

/**
 * OWASP's minimum for Argon2id (m = 19 MiB, t = 2, p = 1), for constrained devices.
 *
 * @since 0.1.0
 * @category constants
 */
export const owaspMinimum: Argon2Params = { algorithm: "argon2id", version: 0x13, memoryKiB: 19456, iterations: 2, parallelism: 1, length: 32 }

/**
 * True when `params` are at least as costly as the OWASP minimum: the floor
 * below which a passphrase-derived key is refused outside tests.
 *
 * @since 0.1.0
 * @category predicates
 */
export const meetsMinimum = (params: Argon2Params): boolean =>
  params.memoryKiB >= owaspMinimum.memoryKiB && params.iterations >= owaspMinimum.iterations

/**
 * True when `next` costs more than `current` in memory or time and less in
 * neither (so keys should be re-wrapped under it on the next unlock).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isStronger = (next: Argon2Params, current: Argon2Params): boolean =>
  next.memoryKiB >= current.memoryKiB && next.iterations >= current.iterations &&
  next.parallelism === current.parallelism && next.length === current.length &&
  (next.memoryKiB > current.memoryKiB || next.iterations > current.iterations)
