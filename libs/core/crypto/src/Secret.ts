/**
 * Secret hygiene: zeroing buffers after use and scoping a secret's lifetime.
 * Zeroing in JavaScript is best effort (the engine may have copied the
 * bytes), so it is done consistently: every buffer that held key material
 * is overwritten as soon as it is no longer needed.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"

/**
 * Overwrites each buffer with zeros.
 *
 * @since 0.1.0
 * @category hygiene
 */
export const zeroize = (...buffers: ReadonlyArray<Uint8Array | undefined>): void => {
  for (const buffer of buffers) buffer?.fill(0)
}

/**
 * Runs `use` with a secret buffer and zeroes the buffer afterwards, whether
 * `use` succeeds, fails or is interrupted.
 *
 * @since 0.1.0
 * @category hygiene
 */
export const useThenZeroize = <A, E, R, E2, R2>(
  acquire: Effect.Effect<Uint8Array, E, R>,
  use: (secret: Uint8Array) => Effect.Effect<A, E2, R2>
): Effect.Effect<A, E | E2, R | R2> =>
  Effect.acquireUseRelease(acquire, use, (secret) => Effect.sync(() => zeroize(secret)))
