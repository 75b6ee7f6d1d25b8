/**
 * Aggregate version rules (INV-002): an aggregate's events are numbered
 * 1..n with no gap and no duplicate; an append states the version it
 * expects the aggregate to be at, and a stale expectation is a conflict,
 * never a silent merge.
 *
 * @since 0.1.0
 */
import { Either, Schema } from "effect"
import { VersionConflict } from "./Errors.js"
import type { Version } from "./Identifiers.js"

/**
 * What an append expects of the aggregate: `{ _tag: "Exactly", version }`
 * (0 = the aggregate must not exist yet) or `{ _tag: "Any" }` (append at
 * the end, whatever it is — for commands that cannot conflict).
 *
 * @since 0.1.0
 * @category models
 */
export const ExpectedVersion = Schema.Union(
  Schema.TaggedStruct("Exactly", { version: Schema.NonNegativeInt }),
  Schema.TaggedStruct("Any", {})
).annotations({ identifier: "ExpectedVersion" })
/** @since 0.1.0 */
export type ExpectedVersion = typeof ExpectedVersion.Type

/**
 * @since 0.1.0
 * @category constructors
 */
export const exactly = (version: number): ExpectedVersion => ({ _tag: "Exactly", version })

/**
 * @since 0.1.0
 * @category constructors
 */
export const any: ExpectedVersion = { _tag: "Any" }

/**
 * Checks an append of `count` events to an aggregate currently at `current`
 * (0 when it has no events) and returns the versions they get:
 * `current+1 .. current+count`.
 *
 * @since 0.1.0
 * @category rules
 */
export const checkAppend = (
  aggregate: { readonly storeId: string; readonly aggregateType: string; readonly aggregateId: string },
  current: number,
  expected: ExpectedVersion,
  count: number
): Either.Either<ReadonlyArray<Version>, VersionConflict> => {
  if (!Number.isSafeInteger(current) || current < 0) throw new RangeError("current version must be a non-negative integer")
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError("an append has at least one event")
  if (expected._tag === "Exactly" && expected.version !== current) {
    return Either.left(new VersionConflict({ ...aggregate, expected: expected.version, actual: current }))
  }
  return Either.right(Array.from({ length: count }, (_, i) => (current + 1 + i) as Version))
}

/**
 * True when `versions`, in log order, are exactly 1, 2, …, n.
 *
 * @since 0.1.0
 * @category rules
 */
export const isContiguousFromOne = (versions: ReadonlyArray<number>): boolean =>
  versions.every((v, i) => v === i + 1)

/**
 * The version an event must have to follow an aggregate at `current`:
 * the rule a store applies to an incoming record.
 *
 * @since 0.1.0
 * @category rules
 */
export const follows = (current: number, incoming: number): boolean => incoming === current + 1
