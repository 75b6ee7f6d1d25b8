import { Arbitrary, FastCheck as fc } from "effect"
import { nonceLength, SyncRecord, type SuiteId } from "../src/index.js"

/** Headers straight from the schema (its patterns and filters included). */
export const header = Arbitrary.make(SyncRecord.RecordHeader)

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max })

/** Whole records with nonces of the right length for their suite. */
export const record: fc.Arbitrary<SyncRecord.SyncRecord> = header.chain((h) =>
  fc.record({
    nonce: bytes(nonceLength[h.suite as SuiteId], nonceLength[h.suite as SuiteId]),
    ciphertext: bytes(16, 200),
    signature: fc.option(bytes(64, 64), { nil: undefined })
  }).map(({ nonce, ciphertext, signature }) => ({
    v: 1 as const,
    ...h,
    nonce,
    ciphertext,
    ...(signature === undefined ? {} : { signature })
  }))
)
