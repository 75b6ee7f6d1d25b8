/** Rule refusals as the API's errors, the same for every adapter. */
import { InvalidRecord, InvalidRotation, LastAdmin, RotationConflict, type StoredRecord, Unprocessable } from "@cipherlog/sync-api"
import { DuplicateEventMismatch, VersionConflict } from "@cipherlog/sync-api"
import type { AppendRefusal, BlobRefusal, IdentityRotationRefusal, RotationRefusal } from "./rules.js"

export const appendError = (
  storeId: string,
  refusal: AppendRefusal,
  missing: ReadonlyArray<StoredRecord>
): VersionConflict | DuplicateEventMismatch | InvalidRecord =>
  refusal._tag === "Mismatch"
    ? DuplicateEventMismatch.of(storeId, refusal.eventId)
    : refusal._tag === "BatchOrder"
    ? InvalidRecord.of(
      refusal.index,
      `${refusal.aggregateType}/${refusal.aggregateId} version ${refusal.version} does not follow version ${refusal.batchVersion}, ` +
        `which earlier records of this batch bring it to; within a batch an aggregate's versions must go up by one`
    )
    : VersionConflict.of({
      storeId,
      aggregateType: refusal.aggregateType,
      aggregateId: refusal.aggregateId,
      expected: refusal.expected,
      actual: refusal.actual,
      missing
    })

export const blobError = (refusal: BlobRefusal): Unprocessable => {
  switch (refusal._tag) {
    case "DuplicateUser":
      return Unprocessable.of("duplicate-user", refusal.userIds, `Users ${refusal.userIds.join(", ")} appear more than once`)
    case "NotMembers":
      return Unprocessable.of(
        "not-a-member",
        refusal.userIds,
        `Users ${refusal.userIds.join(", ")} are not members of the store (add them first)`
      )
    case "Mismatch":
      return Unprocessable.of(
        "blobs-mismatch",
        [...refusal.missing, ...refusal.unexpected],
        `The blobs must cover exactly the remaining members: missing for ${
          refusal.missing.join(", ") || "nobody"
        }, unexpected for ${refusal.unexpected.join(", ") || "nobody"}`
      )
  }
}

export const rotationError = (storeId: string, refusal: RotationRefusal): Unprocessable | LastAdmin =>
  refusal._tag === "LastAdmin" ? LastAdmin.of(storeId) : blobError(refusal)

export const unknownUser = (userId: string): Unprocessable =>
  Unprocessable.of("unknown-user", [userId], `User ${userId} is not registered (register it first)`)

export const notMember = (userId: string): Unprocessable =>
  Unprocessable.of("not-a-member", [userId], `User ${userId} is not a member of the store (add it first)`)

export const prekeyIdTaken = (userId: string): Unprocessable =>
  Unprocessable.of(
    "duplicate-prekey",
    [userId],
    "A one-time prekey id in the upload was uploaded before (or twice in it); an id is usable once, ever. Generate new prekeys"
  )

export const prekeyLimit = (userId: string, max: number): Unprocessable =>
  Unprocessable.of(
    "prekey-limit",
    [userId],
    `The server keeps at most ${max} unclaimed one-time prekeys per user; read the status and upload only what is missing`
  )

export const identityRotationError = (userId: string, refusal: IdentityRotationRefusal): RotationConflict | InvalidRotation =>
  refusal._tag === "Conflict" ? RotationConflict.of(userId, refusal.reason) : InvalidRotation.of(userId, refusal.problem)
