/**
 * The event envelope: an event as the application sees it before it is
 * sealed (and after it is opened). The envelope declares its key
 * dependencies (seed 003); a resolver supplies the key material and pure
 * handlers turn it into a sync record and back.
 *
 * Only the header fields become plaintext metadata; `payload` and `meta`
 * travel inside the ciphertext as the event body (docs/formats.md).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Dependency } from "./Dependency.js"
import { EventId } from "./EventId.js"
import { AggregateId, AggregateType, EventType, StoreId, Timestamp, Version } from "./Identifiers.js"
import { Author } from "./Record.js"

/**
 * A JSON value: what a payload may be.
 *
 * @since 0.1.0
 * @category schemas
 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * @since 0.1.0
 * @category schemas
 */
export const Json: Schema.Schema<Json> = Schema.suspend(() =>
  Schema.Union(
    Schema.Null,
    Schema.Boolean,
    Schema.Number.pipe(Schema.finite({ message: () => "JSON numbers are finite" })),
    Schema.String,
    Schema.Array(Json),
    Schema.Record({ key: Schema.String, value: Json })
  )
).annotations({ identifier: "Json" })

/**
 * Free-form, encrypted metadata (causation/correlation ids and the like).
 *
 * @since 0.1.0
 * @category schemas
 */
export const EventMeta = Schema.Record({ key: Schema.String, value: Schema.String }).annotations({ identifier: "EventMeta" })
/** @since 0.1.0 */
export type EventMeta = typeof EventMeta.Type

/**
 * The body that is encrypted: format version, payload and metadata.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EventBody = Schema.Struct({
  v: Schema.Literal(1),
  payload: Json,
  meta: EventMeta
}).annotations({ identifier: "EventBody" })
/** @since 0.1.0 */
export type EventBody = typeof EventBody.Type

/**
 * An event with its metadata, payload and declared key dependencies.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EventEnvelope = Schema.Struct({
  storeId: StoreId,
  aggregateType: AggregateType,
  aggregateId: AggregateId,
  eventId: EventId,
  eventType: EventType,
  version: Version,
  createdAt: Timestamp,
  author: Author,
  deps: Schema.Array(Dependency).pipe(
    Schema.filter((deps) => new Set(deps).size === deps.length || "a dependency is declared at most once")
  ),
  payload: Json,
  meta: EventMeta
}).annotations({ identifier: "EventEnvelope" })
/** @since 0.1.0 */
export type EventEnvelope = typeof EventEnvelope.Type

/**
 * The body of an envelope: what its ciphertext holds.
 *
 * @since 0.1.0
 * @category getters
 */
export const body = (envelope: EventEnvelope): EventBody => ({ v: 1, payload: envelope.payload, meta: envelope.meta })
