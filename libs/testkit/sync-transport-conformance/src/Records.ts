/**
 * Well-formed `record_json` texts for transport tests: the transport and
 * the server never open ciphertext, so random bytes stand where it goes.
 *
 * @since 0.1.0
 */
import { EventId, SyncRecord } from "@cipherlog/domain"

const ids = EventId.makeGenerator()
let clock = 1_700_000_000_000

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
 * A record's canonical text.
 *
 * @since 0.1.0
 */
export const text = (o: {
  readonly storeId: string
  readonly userId: string
  readonly aggregateId: string
  readonly version: number
  readonly eventId?: string
  readonly size?: number
  readonly deviceId?: string
}): string =>
  SyncRecord.encodeJson({
    v: 1,
    storeId: o.storeId,
    aggregateType: "Note",
    aggregateId: o.aggregateId,
    eventId: o.eventId ?? eventId(),
    eventType: "Written",
    version: o.version,
    createdAt: clock++,
    key: { id: "k1", epoch: 0 },
    suite: "A256GCM",
    author: { userId: o.userId, deviceId: o.deviceId ?? `${o.userId}-d1` },
    chain: { seq: 1 },
    nonce: random(12),
    ciphertext: random(16 + (o.size ?? 32))
  } as unknown as SyncRecord.SyncRecord)

/**
 * The event id inside a record's text.
 *
 * @since 0.1.0
 */
export const eventIdOf = (recordJson: string): string => (JSON.parse(recordJson) as { eventId: string }).eventId
