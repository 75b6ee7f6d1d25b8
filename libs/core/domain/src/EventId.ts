/**
 * Event identifiers: UUIDv7 (RFC 9562 §5.7) in lowercase text form, so that
 * ids sort by creation time both as text and as bytes. Generation is pure:
 * the caller supplies the clock reading and 10 random bytes (from the Crypto
 * port's CSPRNG), and a {@link Generator} keeps ids strictly increasing
 * within one writer even when the clock stalls or steps back.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The text form of an event id: a lowercase UUIDv7.
 *
 * @since 0.1.0
 * @category constants
 */
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/**
 * A UUIDv7 in canonical lowercase text form.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EventId = Schema.String.pipe(
  Schema.pattern(UUID_V7, { message: () => "an event id is a lowercase UUIDv7, e.g. 0192f1c4-9a3b-7c2d-8e4f-0123456789ab" }),
  Schema.brand("EventId")
).annotations({ identifier: "EventId" })
/** @since 0.1.0 */
export type EventId = typeof EventId.Type

/** Largest timestamp a UUIDv7 can hold: 2^48 - 1 ms. */
const MAX_MS = 2 ** 48 - 1
const MAX_COUNTER = 0xfff

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))
const hex = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!]!
  return out
}

/**
 * Builds a UUIDv7 from a millisecond timestamp, a 12-bit `rand_a` field and
 * 8 random bytes for `rand_b` (of which 62 bits are used).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromParts = (unixMs: number, randA: number, randB: Uint8Array): EventId => {
  if (!Number.isInteger(unixMs) || unixMs < 0 || unixMs > MAX_MS) throw new RangeError("timestamp outside UUIDv7 range")
  if (!Number.isInteger(randA) || randA < 0 || randA > MAX_COUNTER) throw new RangeError("rand_a outside 12 bits")
  if (randB.length < 8) throw new RangeError("rand_b needs 8 bytes")
  const bytes = new Uint8Array(16)
  const hi = Math.floor(unixMs / 0x1_0000)
  const lo = unixMs % 0x1_0000
  bytes[0] = (hi >>> 24) & 0xff
  bytes[1] = (hi >>> 16) & 0xff
  bytes[2] = (hi >>> 8) & 0xff
  bytes[3] = hi & 0xff
  bytes[4] = (lo >>> 8) & 0xff
  bytes[5] = lo & 0xff
  bytes[6] = 0x70 | ((randA >>> 8) & 0x0f)
  bytes[7] = randA & 0xff
  bytes.set(randB.subarray(0, 8), 8)
  bytes[8] = 0x80 | (bytes[8]! & 0x3f)
  const h = hex(bytes)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` as EventId
}

/**
 * The creation time (ms since the Unix epoch) an event id carries.
 *
 * @since 0.1.0
 * @category getters
 */
export const timestampOf = (id: EventId): number => parseInt(id.slice(0, 8) + id.slice(9, 13), 16)

/**
 * A strictly increasing UUIDv7 source for one writer (RFC 9562 §6.2,
 * method 1: a 12-bit counter in `rand_a`, seeded randomly each millisecond,
 * and the timestamp advanced by one when the counter would overflow).
 *
 * @since 0.1.0
 * @category models
 */
export interface Generator {
  /** `random` must be 10 bytes from a CSPRNG. */
  readonly next: (unixMs: number, random: Uint8Array) => EventId
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const makeGenerator = (): Generator => {
  let lastMs = -1
  let counter = 0
  return {
    next(unixMs, random) {
      if (random.length < 10) throw new RangeError("an event id needs 10 random bytes")
      if (unixMs > lastMs) {
        lastMs = unixMs
        // Seed with 11 random bits so at least 2048 ids fit in the millisecond.
        counter = ((random[8]! << 8) | random[9]!) & 0x7ff
      } else if (counter < MAX_COUNTER) {
        counter += 1
      } else {
        lastMs += 1
        counter = ((random[8]! << 8) | random[9]!) & 0x7ff
      }
      return fromParts(Math.min(lastMs, MAX_MS), counter, random)
    }
  }
}
