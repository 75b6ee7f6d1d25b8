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

const FORBIDDEN_KEY = "__proto__"

const isPlainObject = (u: object): boolean => {
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/**
 * True for JSON values: finite numbers, strings, booleans, null, arrays and
 * plain objects, without a `__proto__` key anywhere (JavaScript cannot hold
 * one as data reliably: copying it sets a prototype instead).
 *
 * @since 0.1.0
 * @category guards
 */
export const isJson = (u: unknown, depth = 0): u is Json => {
  if (depth > 64) return false
  if (u === null || typeof u === "string" || typeof u === "boolean") return true
  if (typeof u === "number") return Number.isFinite(u)
  if (Array.isArray(u)) return u.every((v) => isJson(v, depth + 1))
  if (typeof u === "object" && isPlainObject(u)) {
    if (Object.prototype.hasOwnProperty.call(u, FORBIDDEN_KEY)) return false
    return Object.values(u).every((v) => isJson(v, depth + 1))
  }
  return false
}

const withoutProtoKeys = (u: unknown): unknown => {
  if (Array.isArray(u)) return u.map(withoutProtoKeys)
  if (u !== null && typeof u === "object") {
    return Object.fromEntries(Object.entries(u).filter(([k]) => k !== FORBIDDEN_KEY).map(([k, v]) => [k, withoutProtoKeys(v)]))
  }
  return Object.is(u, -0) ? 0 : u
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const Json: Schema.Schema<Json> = Schema.declare((u: unknown): u is Json => isJson(u), {
  identifier: "Json",
  description: "JSON: finite numbers, strings, booleans, null, arrays and plain objects (no __proto__ keys, at most 64 levels)",
  message: () => "must be JSON: finite numbers, strings, booleans, null, arrays and plain objects, without __proto__ keys, at most 64 levels deep",
  arbitrary: () => (fc) => fc.jsonValue({ maxDepth: 3 }).map((v) => withoutProtoKeys(v) as Json)
})

/**
 * Free-form, encrypted metadata (causation/correlation ids and the like).
 *
 * @since 0.1.0
 * @category schemas
 */
export const EventMeta: Schema.Schema<{ readonly [key: string]: string }> = Schema.declare(
  (u: unknown): u is { readonly [key: string]: string } =>
    typeof u === "object" && u !== null && !Array.isArray(u) && isPlainObject(u) &&
    !Object.prototype.hasOwnProperty.call(u, FORBIDDEN_KEY) && Object.values(u).every((v) => typeof v === "string"),
  {
    identifier: "EventMeta",
    message: () => "metadata must be an object of string values, without a __proto__ key",
    arbitrary: () => (fc) => fc.dictionary(fc.string().filter((k) => k !== FORBIDDEN_KEY), fc.string(), { maxKeys: 4 })
  }
)
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
