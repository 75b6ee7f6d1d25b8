/**
 * The rules every ServerStore adapter applies inside its transaction, as
 * pure functions, so the memory, SQLite and PostgreSQL adapters cannot
 * drift apart: the adapter fetches what the rules need (under its lock),
 * asks the rules, and writes the plan or fails.
 */
import type { Models } from "@cipherlog/sync-api"
import { Either } from "effect"

/** A record as pushed: its header coordinates and its exact text. */
export interface IncomingRecord {
  readonly eventId: string
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
  readonly recordJson: string
}

/** An event already stored. */
export interface ExistingEvent {
  readonly globalSequence: number
  readonly recordJson: string
}

/** The key of an aggregate within a store. */
export const aggregateKey = (aggregateType: string, aggregateId: string): string => `${aggregateType}\n${aggregateId}`

export interface AppendPlan {
  readonly inserts: ReadonlyArray<{ readonly record: IncomingRecord; readonly globalSequence: number }>
  readonly results: ReadonlyArray<{ readonly eventId: string; readonly globalSequence: number; readonly duplicate: boolean }>
  readonly head: number
}

export type AppendRefusal =
  | { readonly _tag: "Mismatch"; readonly eventId: string }
  | {
    readonly _tag: "Conflict"
    readonly aggregateType: string
    readonly aggregateId: string
    /** The version the record expects the aggregate to be at (its version − 1). */
    readonly expected: number
    /** The aggregate's stored version. */
    readonly actual: number
    /** Stored records of the aggregate from this version on are what the writer misses. */
    readonly fromVersion: number
  }
  | {
    /**
     * The record does not follow an earlier record of the same batch (a repeated version, or a gap after
     * it): nothing stored is missing, the batch itself is malformed — pulling and rebasing cannot fix it.
     */
    readonly _tag: "BatchOrder"
    /** The record's position in the batch. */
    readonly index: number
    readonly aggregateType: string
    readonly aggregateId: string
    readonly version: number
    /** The version the batch's earlier records bring the aggregate to. */
    readonly batchVersion: number
  }

/**
 * Plans an append (INV-002, INV-003, INV-005): an event id stored (or
 * earlier in the batch) with the same text is acknowledged with its
 * sequence; with other text the batch is refused; every new record must
 * continue its aggregate by exactly one version; new records take the next
 * sequences after `head`, in batch order.
 *
 * `existing` holds the stored events among the batch's event ids and
 * `versions` the stored version of every aggregate in the batch (absent = 0).
 */
export const planAppend = (
  head: number,
  records: ReadonlyArray<IncomingRecord>,
  existing: ReadonlyMap<string, ExistingEvent>,
  versions: ReadonlyMap<string, number>
): Either.Either<AppendPlan, AppendRefusal> => {
  const seen = new Map<string, ExistingEvent>()
  const current = new Map(versions)
  const inserts: Array<AppendPlan["inserts"][number]> = []
  const results: Array<AppendPlan["results"][number]> = []
  let next = head
  for (let index = 0; index < records.length; index++) {
    const record = records[index]!
    const prior = existing.get(record.eventId) ?? seen.get(record.eventId)
    if (prior !== undefined) {
      if (prior.recordJson !== record.recordJson) return Either.left({ _tag: "Mismatch", eventId: record.eventId })
      results.push({ eventId: record.eventId, globalSequence: prior.globalSequence, duplicate: true })
      continue
    }
    const key = aggregateKey(record.aggregateType, record.aggregateId)
    const at = current.get(key) ?? 0
    if (record.version !== at + 1) {
      const stored = versions.get(key) ?? 0
      if (at !== stored && record.version > stored) {
        return Either.left({
          _tag: "BatchOrder",
          index,
          aggregateType: record.aggregateType,
          aggregateId: record.aggregateId,
          version: record.version,
          batchVersion: at
        })
      }
      return Either.left({
        _tag: "Conflict",
        aggregateType: record.aggregateType,
        aggregateId: record.aggregateId,
        expected: record.version - 1,
        actual: stored,
        fromVersion: record.version
      })
    }
    current.set(key, record.version)
    next += 1
    inserts.push({ record, globalSequence: next })
    seen.set(record.eventId, { globalSequence: next, recordJson: record.recordJson })
    results.push({ eventId: record.eventId, globalSequence: next, duplicate: false })
  }
  return Either.right({ inserts, results, head: next })
}

/** The distinct aggregates of a batch. */
export const aggregatesOf = (records: ReadonlyArray<IncomingRecord>) => {
  const out = new Map<string, { readonly aggregateType: string; readonly aggregateId: string }>()
  for (const r of records) out.set(aggregateKey(r.aggregateType, r.aggregateId), r)
  return [...out.values()]
}

/** Whether a membership change leaves at least one admin. */
export const leavesAnAdmin = (
  members: ReadonlyMap<string, Models.Role>,
  change: { readonly userId: string; readonly role: Models.Role | undefined }
): boolean => {
  for (const [userId, role] of members) {
    const after = userId === change.userId ? change.role : role
    if (after === "admin") return true
  }
  return change.role === "admin"
}

export type BlobRefusal =
  | { readonly _tag: "DuplicateUser"; readonly userIds: ReadonlyArray<string> }
  | { readonly _tag: "NotMembers"; readonly userIds: ReadonlyArray<string> }
  | { readonly _tag: "Mismatch"; readonly missing: ReadonlyArray<string>; readonly unexpected: ReadonlyArray<string> }

const duplicates = (ids: ReadonlyArray<string>) => {
  const seen = new Set<string>()
  const dup = new Set<string>()
  for (const id of ids) (seen.has(id) ? dup : seen).add(id)
  return [...dup]
}

/** Blobs of a new KEK version: one per user at most, members only. */
export const checkBlobs = (
  members: ReadonlyMap<string, Models.Role>,
  blobs: ReadonlyArray<Models.UserBlob>
): Either.Either<void, BlobRefusal> => {
  const dup = duplicates(blobs.map((b) => b.userId))
  if (dup.length > 0) return Either.left({ _tag: "DuplicateUser", userIds: dup })
  const strangers = blobs.filter((b) => !members.has(b.userId)).map((b) => b.userId)
  return strangers.length > 0 ? Either.left({ _tag: "NotMembers", userIds: strangers }) : Either.void
}

export type RotationRefusal = BlobRefusal | { readonly _tag: "LastAdmin" }

/**
 * A rotation: the removed users must be members; afterwards an admin must
 * remain; blobs must cover exactly the remaining members.
 */
export const checkRotation = (
  members: ReadonlyMap<string, Models.Role>,
  removeUserIds: ReadonlyArray<string>,
  blobs: ReadonlyArray<Models.UserBlob>
): Either.Either<ReadonlyMap<string, Models.Role>, RotationRefusal> => {
  const dupRemoved = duplicates(removeUserIds)
  if (dupRemoved.length > 0) return Either.left({ _tag: "DuplicateUser", userIds: dupRemoved })
  const dupBlobs = duplicates(blobs.map((b) => b.userId))
  if (dupBlobs.length > 0) return Either.left({ _tag: "DuplicateUser", userIds: dupBlobs })
  const strangers = removeUserIds.filter((id) => !members.has(id))
  if (strangers.length > 0) return Either.left({ _tag: "NotMembers", userIds: strangers })
  const remaining = new Map(members)
  for (const id of removeUserIds) remaining.delete(id)
  if (![...remaining.values()].includes("admin")) return Either.left({ _tag: "LastAdmin" })
  const covered = new Set<string>(blobs.map((b) => b.userId))
  const missing = [...remaining.keys()].filter((id) => !covered.has(id))
  const unexpected = blobs.map((b) => b.userId).filter((id) => !remaining.has(id))
  if (missing.length > 0 || unexpected.length > 0) return Either.left({ _tag: "Mismatch", missing, unexpected })
  return Either.right(remaining)
}

/**
 * A KEK version's status change. A version moves forward only: `active` is
 * reached by creating (or rotating to) a version, never set — an older
 * version made active again would seal new keys under a KEK that members
 * removed since may hold (INV-015) — and the active version is replaced by a
 * new one, never set aside (a store that has versions always has an active
 * one). `decrypt-only` and `deprecated` may follow each other. The same
 * status again is no change.
 */
export const checkStatusChange = (
  current: Models.KekStatus,
  next: Models.KekStatus
): Either.Either<"unchanged" | "changed", string> => {
  if (current === next) return Either.right("unchanged")
  if (next === "active") {
    return Either.left("a version that is no longer active cannot become active again (members removed since may hold it); create or rotate to a new version instead")
  }
  if (current === "active") {
    return Either.left("the active version is replaced by creating or rotating to a new version, not set aside")
  }
  return Either.right("changed")
}

/** Why an identity rotation does not continue the chain the store holds. */
export type IdentityRotationRefusal =
  | { readonly _tag: "Conflict"; readonly reason: "replayed" | "forked" | "stale" }
  | { readonly _tag: "Invalid"; readonly problem: string }

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/**
 * An identity rotation against the user's chain (under the adapter's lock
 * on the user): the same statement again is `replayed`; another statement
 * from an old key already rotated away from is `forked`; an old key that is
 * not the current one is `stale`; a `rotatedAt` before the last rotation's
 * (or before registration) is invalid.
 */
export const checkIdentityRotation = (
  current: { readonly signingPublicKey: Uint8Array; readonly registeredAt: number },
  rotations: ReadonlyArray<Models.IdentityRotation>,
  statement: Models.IdentityRotation
): Either.Either<void, IdentityRotationRefusal> => {
  const same = rotations.find((r) => sameBytes(r.oldSignature, statement.oldSignature) && sameBytes(r.newSignature, statement.newSignature))
  if (same !== undefined) return Either.left({ _tag: "Conflict", reason: "replayed" })
  if (rotations.some((r) => sameBytes(r.oldSigningPublicKey, statement.oldSigningPublicKey))) {
    return Either.left({ _tag: "Conflict", reason: "forked" })
  }
  if (!sameBytes(current.signingPublicKey, statement.oldSigningPublicKey)) return Either.left({ _tag: "Conflict", reason: "stale" })
  const last = rotations.length === 0 ? current.registeredAt : rotations[rotations.length - 1]!.rotatedAt
  if (statement.rotatedAt < last) {
    return Either.left({ _tag: "Invalid", problem: "its rotatedAt is earlier than the previous rotation (or the registration)" })
  }
  return Either.right(undefined)
}

/**
 * The signing keys that may log in at `now`: the current key, and the old
 * key of each planned rotation whose window is still open and that no later
 * emergency rotation cut off. With the latest time each may hold a session.
 */
export const loginKeys = (
  current: Uint8Array,
  rotations: ReadonlyArray<Models.IdentityRotation>,
  now: number
): ReadonlyArray<{ readonly signingPublicKey: Uint8Array; readonly until: number }> => {
  const keys: Array<{ signingPublicKey: Uint8Array; until: number }> = [{ signingPublicKey: current, until: Number.POSITIVE_INFINITY }]
  for (let i = rotations.length - 1; i >= 0; i--) {
    const r = rotations[i]!
    if (r.kind === "emergency") break
    if (r.migrationUntil > now) keys.push({ signingPublicKey: r.oldSigningPublicKey, until: r.migrationUntil })
  }
  return keys
}
