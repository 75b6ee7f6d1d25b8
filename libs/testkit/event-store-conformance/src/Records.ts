/**
 * Well-formed sync records for store tests. The EventStore port stores
 * ciphertext it never opens, so these carry random bytes where the
 * ciphertext goes.
 *
 * @since 0.1.0
 */
import { EventId, type SyncRecord } from "@cipherlog/domain"
import { SyncRecord as SR } from "@cipherlog/domain"
import type { EventStore } from "@cipherlog/event-store"

const ids = EventId.makeGenerator()
let clock = 1_700_000_000_000
let salt = 0

const random = (n: number) => {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (Math.random() * 256) | 0
  return out
}

/**
 * A fresh UUIDv7 event id.
 *
 * @since 0.1.0
 */
export const eventId = (): string => ids.next(clock++, random(10))

/**
 * A record for an aggregate at a version (a new event id unless given).
 *
 * @since 0.1.0
 */
export const make = (o: {
  readonly storeId: string
  readonly aggregateType?: string
  readonly aggregateId: string
  readonly version: number
  readonly eventId?: string
  readonly device?: string
  readonly payloadSize?: number
}): EventStore.NewRecord => {
  const header = {
    storeId: o.storeId,
    aggregateType: o.aggregateType ?? "Goal",
    aggregateId: o.aggregateId,
    eventId: o.eventId ?? eventId(),
    eventType: "Happened",
    version: o.version,
    createdAt: clock++,
    key: { id: "k1", epoch: 0 },
    suite: "A256GCM",
    author: { userId: "u1", deviceId: o.device ?? "d1" },
    chain: { seq: 1 }
  } as unknown as SyncRecord.RecordHeader
  const nonce = random(12)
  const ciphertext = random(16 + (o.payloadSize ?? (salt++ % 40)))
  const record = { v: 1 as const, ...header, nonce, ciphertext }
  // Half of the records come as text (as if received), half as parts (as if written here): both paths are exercised.
  return salt % 2 === 0
    ? { header, nonce, ciphertext, signature: undefined, recordJson: SR.encodeJson(record as unknown as SyncRecord.SyncRecord) }
    : { header, nonce, ciphertext, signature: undefined }
}
