/**
 * Identifiers and counters of the event-sourcing vocabulary, as branded
 * `effect/Schema` types. Every identifier is restricted to a small, printable
 * alphabet so that it can appear in URLs, file names, dependency strings and
 * canonical encodings without escaping.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const ID_ALPHABET = /^[A-Za-z0-9_-]{1,64}$/

const identifier = <const B extends string>(brand: B, what: string) =>
  Schema.String.pipe(
    Schema.pattern(ID_ALPHABET, {
      message: () => `${what} must be 1 to 64 characters from A-Z a-z 0-9 _ -`
    }),
    Schema.brand(brand)
  ).annotations({ identifier: brand, description: what })

/**
 * A local store / tenant: the unit of sync and of key scoping.
 *
 * @since 0.1.0
 * @category identifiers
 */
export const StoreId = identifier("StoreId", "a store id")
/** @since 0.1.0 */
export type StoreId = typeof StoreId.Type

/**
 * The identity of an aggregate instance within its type.
 *
 * @since 0.1.0
 * @category identifiers
 */
export const AggregateId = identifier("AggregateId", "an aggregate id")
/** @since 0.1.0 */
export type AggregateId = typeof AggregateId.Type

/**
 * A user (a person or service with an identity key).
 *
 * @since 0.1.0
 * @category identifiers
 */
export const UserId = identifier("UserId", "a user id")
/** @since 0.1.0 */
export type UserId = typeof UserId.Type

/**
 * One device of a user; device keys are certified by the user's identity.
 *
 * @since 0.1.0
 * @category identifiers
 */
export const DeviceId = identifier("DeviceId", "a device id")
/** @since 0.1.0 */
export type DeviceId = typeof DeviceId.Type

/**
 * A key in the keyring (a DEK, a KEK version, an identity key…).
 *
 * @since 0.1.0
 * @category identifiers
 */
export const KeyId = identifier("KeyId", "a key id")
/** @since 0.1.0 */
export type KeyId = typeof KeyId.Type

const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/

/**
 * The kind of an aggregate, e.g. `Goal`.
 *
 * @since 0.1.0
 * @category identifiers
 */
export const AggregateType = Schema.String.pipe(
  Schema.pattern(NAME, {
    message: () => "an aggregate type must start with a letter and have at most 64 characters from A-Z a-z 0-9 _ . -"
  }),
  Schema.brand("AggregateType")
).annotations({ identifier: "AggregateType" })
/** @since 0.1.0 */
export type AggregateType = typeof AggregateType.Type

/**
 * The name of an event type, e.g. `GoalCreated` or `goal.renamed`.
 *
 * @since 0.1.0
 * @category identifiers
 */
export const EventType = Schema.String.pipe(
  Schema.pattern(NAME, {
    message: () => "an event type must start with a letter and have at most 64 characters from A-Z a-z 0-9 _ . -"
  }),
  Schema.brand("EventType")
).annotations({ identifier: "EventType" })
/** @since 0.1.0 */
export type EventType = typeof EventType.Type

/**
 * An aggregate version: its events are numbered 1, 2, 3, … (INV-002).
 *
 * @since 0.1.0
 * @category counters
 */
export const Version = Schema.Int.pipe(
  Schema.greaterThanOrEqualTo(1, { message: () => "a version is an integer from 1" }),
  Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER),
  Schema.brand("Version")
).annotations({ identifier: "Version" })
/** @since 0.1.0 */
export type Version = typeof Version.Type

/**
 * A keyring epoch: a DEK rotates by moving to the next epoch; older epochs
 * stay readable.
 *
 * @since 0.1.0
 * @category counters
 */
export const Epoch = Schema.Int.pipe(
  Schema.between(0, 0xffff_ffff, { message: () => "an epoch is an integer from 0 to 2^32-1" }),
  Schema.brand("Epoch")
).annotations({ identifier: "Epoch" })
/** @since 0.1.0 */
export type Epoch = typeof Epoch.Type

/**
 * The server-assigned, per-store, strictly increasing and gapless position
 * of a record (INV-003). The first record of a store has sequence 1.
 *
 * @since 0.1.0
 * @category counters
 */
export const GlobalSequence = Schema.Int.pipe(
  Schema.greaterThanOrEqualTo(1, { message: () => "a global sequence is an integer from 1" }),
  Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER),
  Schema.brand("GlobalSequence")
).annotations({ identifier: "GlobalSequence" })
/** @since 0.1.0 */
export type GlobalSequence = typeof GlobalSequence.Type

/**
 * A pull cursor: the last global sequence a client holds (0 = nothing yet).
 *
 * @since 0.1.0
 * @category counters
 */
export const Cursor = Schema.Int.pipe(
  Schema.greaterThanOrEqualTo(0, { message: () => "a cursor is an integer from 0" }),
  Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER),
  Schema.brand("Cursor")
).annotations({ identifier: "Cursor" })
/** @since 0.1.0 */
export type Cursor = typeof Cursor.Type

/**
 * A device's own sequence number for the records it authors in a store
 * (1, 2, 3, …), the position of a record in the device's hash chain.
 *
 * @since 0.1.0
 * @category counters
 */
export const DeviceSeq = Schema.Int.pipe(
  Schema.greaterThanOrEqualTo(1, { message: () => "a device sequence is an integer from 1" }),
  Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER),
  Schema.brand("DeviceSeq")
).annotations({ identifier: "DeviceSeq" })
/** @since 0.1.0 */
export type DeviceSeq = typeof DeviceSeq.Type

/**
 * Milliseconds since the Unix epoch.
 *
 * @since 0.1.0
 * @category counters
 */
export const Timestamp = Schema.Int.pipe(
  Schema.between(0, Number.MAX_SAFE_INTEGER, { message: () => "a timestamp is a non-negative integer of milliseconds" }),
  Schema.brand("Timestamp")
).annotations({ identifier: "Timestamp" })
/** @since 0.1.0 */
export type Timestamp = typeof Timestamp.Type
