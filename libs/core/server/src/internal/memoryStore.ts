/**
 * The in-memory ServerStore. Every operation runs in one synchronous step,
 * which makes it atomic on a single JavaScript thread.
 */
import { Bytes, type UserId } from "@cipherlog/domain"
import {
  Forbidden,
  KekVersionExists,
  LastAdmin,
  type Models,
  NotFound,
  type StoredRecord,
  StoreExists,
  Unprocessable,
  UserKeysMismatch
} from "@cipherlog/sync-api"
import { Effect, Either, Option, PubSub } from "effect"
import type { AppendOutcome, ChallengeRecord, ServerStore, SessionRecord, StoreHead, UserRecord } from "../ServerStore.js"
import { linesOf, MAX_MISSING, MAX_PAGE_CHARACTERS } from "../ServerStore.js"
import { appendError, blobError, identityRotationError, notMember, prekeyIdTaken, prekeyLimit, rotationError, unknownUser } from "./refusals.js"
import {
  aggregateKey,
  checkBlobs,
  checkIdentityRotation,
  checkRotation,
  checkStatusChange,
  type ExistingEvent,
  leavesAnAdmin,
  planAppend
} from "./rules.js"

interface Row extends StoredRecord {
  readonly eventId: string
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
}

interface StoreState {
  readonly records: Array<Row>
  readonly byEvent: Map<string, Row>
  /** Per aggregate, its rows in version order (index = version − 1). */
  readonly aggregates: Map<string, Array<Row>>
  readonly members: Map<string, Models.Member>
  readonly versions: Map<string, Models.KekVersion>
  /** `${versionId}\n${userId}` → blob. */
  readonly blobs: Map<string, Models.KekBlob>
  readonly audit: Array<Models.AuditEntry>
}

type AuditInput = Omit<Models.AuditEntry, "seq" | "at" | "actorUserId">

export const make: Effect.Effect<ServerStore> = Effect.gen(function*() {
  const users = new Map<string, UserRecord>()
  const challenges = new Map<string, ChallengeRecord>()
  const sessions = new Map<string, SessionRecord>()
  const stores = new Map<string, StoreState>()
  const recovery = new Map<string, { readonly owner: string; blob: string }>()
  const signedPrekeys = new Map<string, Models.SignedPrekey>()
  /** Per user, every one-time prekey ever uploaded, in upload order; claimed ones stay (an id is used once, ever). */
  const oneTimePrekeys = new Map<string, Array<{ readonly prekey: Models.OneTimePrekey; claimedBy?: string; claimedAt?: number }>>()
  const prekeyStatus = (userId: string): Models.PrekeyStatus => {
    const signed = signedPrekeys.get(userId)
    return {
      ...(signed === undefined ? {} : { signedPrekey: { prekeyId: signed.prekeyId, createdAt: signed.createdAt } }),
      oneTimeCount: (oneTimePrekeys.get(userId) ?? []).filter((p) => p.claimedAt === undefined).length
    }
  }
  const genesis = new Map<string, UserRecord>()
  const rotations = new Map<string, Array<Models.IdentityRotation>>()
  const heads = yield* PubSub.sliding<StoreHead>(4096)

  const roles = (s: StoreState) => new Map([...s.members].map(([id, m]) => [id, m.role]))
  const audit = (s: StoreState, actor: UserId, at: number, entries: ReadonlyArray<AuditInput>) => {
    for (const e of entries) s.audit.push({ seq: s.audit.length + 1, at, actorUserId: actor, ...e })
  }
  const sameKeys = (a: UserRecord, b: UserRecord) =>
    Bytes.equalsPublic(a.signingPublicKey, b.signingPublicKey) &&
    Bytes.equalsPublic(a.encryptionPublicKey, b.encryptionPublicKey)
  const stored = (r: Row): StoredRecord => ({ globalSequence: r.globalSequence, receivedAt: r.receivedAt, recordJson: r.recordJson })
  const store = (storeId: string) => stores.get(storeId)
  const readAfter: ServerStore["readAfter"] = ({ after, limit, storeId }) =>
    Effect.sync(() => {
      const s = store(storeId)
      if (s === undefined) return { records: [], head: 0 }
      const records: Array<StoredRecord> = []
      let characters = 0
      for (const row of s.records.slice(after, after + limit)) {
        if (records.length > 0 && characters + row.recordJson.length > MAX_PAGE_CHARACTERS) break
        characters += row.recordJson.length
        records.push(stored(row))
      }
      return { records, head: s.records.length }
    })
  const setBlob = (s: StoreState, versionId: string, userId: UserId, blob: string, at: number) => {
    const b: Models.KekBlob = { versionId: versionId as Models.KekVersionId, userId, blob, createdAt: at }
    s.blobs.set(`${versionId}\n${userId}`, b)
    return b
  }
  /** Deletes the blobs of users leaving a store; the audit entries of what went. */
  const dropBlobs = (s: StoreState, userIds: ReadonlyArray<string>): Array<AuditInput> => {
    const leaving = new Set(userIds)
    const dropped: Array<AuditInput> = []
    for (const [key, b] of s.blobs) {
      if (!leaving.has(b.userId)) continue
      s.blobs.delete(key)
      dropped.push({ action: "kek.blob.delete", versionId: b.versionId, targetUserId: b.userId })
    }
    return dropped
  }
  const newVersion = (s: StoreState, versionId: string, reason: string, actor: UserId, at: number) => {
    for (const [id, v] of s.versions) if (v.status === "active") s.versions.set(id, { ...v, status: "decrypt-only" })
    const version: Models.KekVersion = {
      versionId: versionId as Models.KekVersionId,
      status: "active",
      reason,
      createdAt: at,
      createdBy: actor
    }
    s.versions.set(versionId, version)
    return version
  }

  const service: ServerStore = {
    ping: Effect.void,

    registerUser: (user) =>
      Effect.gen(function*() {
        const known = users.get(user.userId)
        if (known === undefined) {
          users.set(user.userId, user)
          return { user, created: true }
        }
        if (!sameKeys(known, user)) return yield* Effect.fail(UserKeysMismatch.of(user.userId))
        return { user: known, created: false }
      }),
    getUser: (userId) => Effect.sync(() => Option.fromNullable(users.get(userId))),
    putChallenge: (challenge, now) =>
      Effect.sync(() => {
        for (const [id, c] of challenges) if (c.expiresAt < now) challenges.delete(id)
        for (const [id, s] of sessions) if (s.expiresAt < now) sessions.delete(id)
        challenges.set(challenge.challengeId, challenge)
      }),
    takeChallenge: (challengeId) =>
      Effect.sync(() => {
        const c = challenges.get(challengeId)
        challenges.delete(challengeId)
        return Option.fromNullable(c)
      }),
    putSession: (session) => Effect.sync(() => void sessions.set(session.tokenHash, session)),
    getSession: (tokenHash) => Effect.sync(() => Option.fromNullable(sessions.get(tokenHash))),
    endSession: (tokenHash) => Effect.sync(() => sessions.delete(tokenHash)),

    rotateIdentity: ({ at, statement }) =>
      Effect.gen(function*() {
        const userId = statement.userId
        const user = users.get(userId)
        if (user === undefined) return yield* Effect.fail(NotFound.of(`user ${userId}`))
        const chain = rotations.get(userId) ?? []
        const checked = checkIdentityRotation(user, chain, statement)
        if (Either.isLeft(checked)) return yield* Effect.fail(identityRotationError(userId, checked.left))
        if (!genesis.has(userId)) genesis.set(userId, user)
        chain.push(statement)
        rotations.set(userId, chain)
        const next: UserRecord = {
          ...user,
          signingPublicKey: statement.newSigningPublicKey,
          encryptionPublicKey: statement.newEncryptionPublicKey
        }
        users.set(userId, next)
        for (const [hash, session] of sessions) {
          if (session.userId !== userId) continue
          if (statement.kind === "emergency") sessions.delete(hash)
          else if (session.expiresAt > statement.migrationUntil) sessions.set(hash, { ...session, expiresAt: statement.migrationUntil })
        }
        for (const s of stores.values()) {
          if (s.members.has(userId)) audit(s, userId, at, [{ action: "identity.rotate", targetUserId: userId, reason: statement.kind }])
        }
        return { user: next, seq: chain.length }
      }),
    identityChain: (userId) =>
      Effect.sync(() => {
        const user = users.get(userId)
        if (user === undefined) return Option.none()
        const first = genesis.get(userId) ?? user
        const chain: Models.IdentityChain = {
          userId,
          genesis: { signingPublicKey: first.signingPublicKey, encryptionPublicKey: first.encryptionPublicKey, registeredAt: first.registeredAt },
          rotations: [...(rotations.get(userId) ?? [])]
        }
        return Option.some(chain)
      }),

    createStore: ({ actor, at, storeId }) =>
      Effect.gen(function*() {
        if (stores.has(storeId)) return yield* Effect.fail(StoreExists.of(storeId))
        const admin: Models.Member = { userId: actor, role: "admin", addedAt: at }
        const s: StoreState = {
          records: [],
          byEvent: new Map(),
          aggregates: new Map(),
          members: new Map([[actor, admin]]),
          versions: new Map(),
          blobs: new Map(),
          audit: []
        }
        stores.set(storeId, s)
        audit(s, actor, at, [{ action: "store.create", targetUserId: actor, role: "admin" }])
        return admin
      }),
    getRole: (storeId, userId) => Effect.sync(() => Option.fromNullable(store(storeId)?.members.get(userId)?.role)),
    listMembers: (storeId) =>
      Effect.sync(() =>
        [...(store(storeId)?.members.values() ?? [])].sort((a, b) => a.addedAt - b.addedAt || (a.userId < b.userId ? -1 : 1))
      ),
    putMember: ({ actor, at, role, storeId, userId }) =>
      Effect.gen(function*() {
        const s = store(storeId)
        if (s === undefined) return yield* Effect.die(new Error("putMember on a store that does not exist"))
        if (!users.has(userId)) return yield* Effect.fail(unknownUser(userId))
        if (!leavesAnAdmin(roles(s), { userId, role })) return yield* Effect.fail(LastAdmin.of(storeId))
        const member: Models.Member = { userId, role, addedAt: s.members.get(userId)?.addedAt ?? at }
        s.members.set(userId, member)
        audit(s, actor, at, [{ action: "member.put", targetUserId: userId, role }])
        return member
      }),
    removeMember: ({ actor, at, storeId, userId }) =>
      Effect.gen(function*() {
        const s = store(storeId)
        if (s === undefined || !s.members.has(userId)) return yield* Effect.fail(NotFound.of(`member ${userId}`))
        if (!leavesAnAdmin(roles(s), { userId, role: undefined })) return yield* Effect.fail(LastAdmin.of(storeId))
        s.members.delete(userId)
        audit(s, actor, at, [{ action: "member.remove", targetUserId: userId }, ...dropBlobs(s, [userId])])
        return
      }),

    append: ({ receivedAt, records, storeId }) =>
      Effect.gen(function*() {
        const s = store(storeId)
        if (s === undefined) return yield* Effect.die(new Error("append to a store that does not exist"))
        const existing = new Map<string, ExistingEvent>()
        const versions = new Map<string, number>()
        for (const r of records) {
          const row = s.byEvent.get(r.eventId)
          if (row !== undefined) existing.set(r.eventId, row)
          const key = aggregateKey(r.aggregateType, r.aggregateId)
          versions.set(key, s.aggregates.get(key)?.length ?? 0)
        }
        const plan = planAppend(s.records.length, records, existing, versions)
        if (Either.isLeft(plan)) {
          const refusal = plan.left
          const missing = refusal._tag === "Conflict"
            ? (s.aggregates.get(aggregateKey(refusal.aggregateType, refusal.aggregateId)) ?? [])
              .slice(refusal.fromVersion - 1, refusal.fromVersion - 1 + MAX_MISSING)
              .map(stored)
            : []
          return yield* Effect.fail(appendError(storeId, refusal, missing))
        }
        for (const { globalSequence, record } of plan.right.inserts) {
          const row: Row = { ...record, globalSequence, receivedAt }
          s.records.push(row)
          s.byEvent.set(record.eventId, row)
          const key = aggregateKey(record.aggregateType, record.aggregateId)
          const rows = s.aggregates.get(key) ?? []
          rows.push(row)
          s.aggregates.set(key, rows)
        }
        const outcome: AppendOutcome = {
          results: plan.right.results.map((r) => ({ ...r, eventId: r.eventId as AppendOutcome["results"][number]["eventId"] })),
          head: plan.right.head
        }
        if (plan.right.inserts.length > 0) yield* PubSub.publish(heads, { storeId, head: outcome.head })
        return outcome
      }),
    readAfter,
    readLinesAfter: (input) => Effect.map(readAfter(input), linesOf),
    readAggregate: ({ aggregateId, aggregateType, fromVersion, limit, storeId }) =>
      Effect.sync(() =>
        (store(storeId)?.aggregates.get(aggregateKey(aggregateType, aggregateId)) ?? [])
          .slice(Math.max(0, fromVersion - 1), Math.max(0, fromVersion - 1) + limit)
          .map(stored)
      ),
    findEvent: (storeId, eventId) =>
      Effect.sync(() => Option.map(Option.fromNullable(store(storeId)?.byEvent.get(eventId)), stored)),
    subscribe: PubSub.subscribe(heads),

    listKekVersions: (storeId) =>
      Effect.sync(() => [...(store(storeId)?.versions.values() ?? [])].sort((a, b) => a.createdAt - b.createdAt)),
    activeKekVersion: (storeId) =>
      Effect.sync(() => Option.fromNullable([...(store(storeId)?.versions.values() ?? [])].find((v) => v.status === "active"))),
    createKekVersion: ({ actor, at, blobs, reason, storeId, versionId }) =>
      Effect.gen(function*() {
        const s = store(storeId)
        if (s === undefined) return yield* Effect.die(new Error("createKekVersion on a store that does not exist"))
        if (s.versions.has(versionId)) return yield* Effect.fail(KekVersionExists.of(storeId, versionId))
        const checked = checkBlobs(roles(s), blobs)
        if (Either.isLeft(checked)) return yield* Effect.fail(blobError(checked.left))
        const version = newVersion(s, versionId, reason, actor, at)
        for (const b of blobs) setBlob(s, versionId, b.userId, b.blob, at)
        audit(s, actor, at, [
          { action: "kek.version.create", versionId: version.versionId, status: "active", reason },
          ...blobs.map((b): AuditInput => ({ action: "kek.blob.provision", versionId: version.versionId, targetUserId: b.userId }))
        ])
        return version
      }),
    setKekStatus: ({ actor, at, status, storeId, versionId }) =>
      Effect.gen(function*() {
        const s = store(storeId)
        const version = s?.versions.get(versionId)
        if (s === undefined || version === undefined) return yield* Effect.fail(NotFound.of(`KEK version ${versionId}`))
        const change = checkStatusChange(version.status, status)
        if (Either.isLeft(change)) return yield* Effect.fail(Unprocessable.of("status-transition", [], `KEK version ${versionId} is ${version.status}: ${change.left}`))
        if (change.right === "unchanged") return version
        const updated = { ...version, status }
        s.versions.set(versionId, updated)
        audit(s, actor, at, [{ action: "kek.version.status", versionId: version.versionId, status }])
        return updated
      }),
    rotateKek: ({ actor, at, blobs, reason, removeUserIds, storeId, versionId }) =>
      Effect.gen(function*() {
        const s = store(storeId)
        if (s === undefined) return yield* Effect.die(new Error("rotateKek on a store that does not exist"))
        if (s.versions.has(versionId)) return yield* Effect.fail(KekVersionExists.of(storeId, versionId))
        const checked = checkRotation(roles(s), removeUserIds, blobs)
        if (Either.isLeft(checked)) return yield* Effect.fail(rotationError(storeId, checked.left))
        for (const id of removeUserIds) s.members.delete(id)
        const dropped = dropBlobs(s, removeUserIds)
        const version = newVersion(s, versionId, reason, actor, at)
        for (const b of blobs) setBlob(s, versionId, b.userId, b.blob, at)
        audit(s, actor, at, [
          ...removeUserIds.map((id): AuditInput => ({ action: "member.remove", targetUserId: id })),
          ...dropped,
          { action: "kek.rotate", versionId: version.versionId, status: "active", reason },
          ...blobs.map((b): AuditInput => ({ action: "kek.blob.provision", versionId: version.versionId, targetUserId: b.userId }))
        ])
        return { version, removedUserIds: removeUserIds }
      }),
    putBlob: ({ actor, at, blob, storeId, userId, versionId }) =>
      Effect.gen(function*() {
        const s = store(storeId)
        if (s === undefined || !s.versions.has(versionId)) return yield* Effect.fail(NotFound.of(`KEK version ${versionId}`))
        if (!s.members.has(userId)) return yield* Effect.fail(notMember(userId))
        const b = setBlob(s, versionId, userId, blob, at)
        audit(s, actor, at, [{ action: "kek.blob.provision", versionId: b.versionId, targetUserId: userId }])
        return b
      }),
    listBlobs: ({ actor, at, storeId, userId }) =>
      Effect.sync(() => {
        const s = store(storeId)
        if (s === undefined) return []
        const found = [...s.blobs.values()].filter((b) => b.userId === userId).sort((a, b) => a.createdAt - b.createdAt)
        audit(s, actor, at, [{ action: "kek.blob.read", targetUserId: userId }])
        return found
      }),
    getBlob: ({ actor, at, storeId, userId, versionId }) =>
      Effect.sync(() => {
        const s = store(storeId)
        if (s === undefined) return Option.none()
        const found = s.blobs.get(`${versionId}\n${userId}`)
        if (found !== undefined) audit(s, actor, at, [{ action: "kek.blob.read", versionId: found.versionId, targetUserId: userId }])
        return Option.fromNullable(found)
      }),
    deleteBlob: ({ actor, at, storeId, userId, versionId }) =>
      Effect.gen(function*() {
        const s = store(storeId)
        const key = `${versionId}\n${userId}`
        const found = s?.blobs.get(key)
        if (s === undefined || found === undefined) return yield* Effect.fail(NotFound.of(`blob of ${userId} for KEK version ${versionId}`))
        s.blobs.delete(key)
        audit(s, actor, at, [{ action: "kek.blob.delete", versionId: found.versionId, targetUserId: userId }])
        return
      }),
    listAudit: ({ after, limit, storeId }) => Effect.sync(() => (store(storeId)?.audit ?? []).slice(after, after + limit)),

    putSignedPrekey: ({ prekey, userId }) =>
      Effect.sync(() => {
        signedPrekeys.set(userId, prekey)
        return prekeyStatus(userId)
      }),
    addOneTimePrekeys: ({ max, prekeys, userId }) =>
      Effect.suspend(() => {
        const held = oneTimePrekeys.get(userId) ?? []
        const ids = new Set(held.map((p) => p.prekey.prekeyId))
        const repeated = prekeys.filter((p, i) => ids.has(p.prekeyId) || prekeys.findIndex((q) => q.prekeyId === p.prekeyId) !== i)
        if (repeated.length > 0) return Effect.fail(prekeyIdTaken(userId))
        if (held.filter((p) => p.claimedAt === undefined).length + prekeys.length > max) return Effect.fail(prekeyLimit(userId, max))
        oneTimePrekeys.set(userId, [...held, ...prekeys.map((prekey) => ({ prekey }))])
        return Effect.succeed(prekeyStatus(userId))
      }),
    prekeyStatus: (userId) => Effect.sync(() => prekeyStatus(userId)),
    claimPrekeys: ({ actor, at, perWindow, storeId, userId, windowMs }) =>
      Effect.sync(() => {
        const signed = signedPrekeys.get(userId)
        if (signed === undefined) return Option.none()
        const held = oneTimePrekeys.get(userId) ?? []
        const recent = held.filter((p) => p.claimedBy === actor && p.claimedAt !== undefined && p.claimedAt > at - windowMs).length
        const next = recent < perWindow ? held.find((p) => p.claimedAt === undefined) : undefined
        if (next !== undefined) {
          next.claimedAt = at
          next.claimedBy = actor
        }
        const s = store(storeId)
        if (s !== undefined) audit(s, actor, at, [{ action: "prekey.claim", targetUserId: userId }])
        const bundle: Models.PrekeyBundle = { userId, signedPrekey: signed, ...(next === undefined ? {} : { oneTimePrekey: next.prekey }) }
        return Option.some(bundle)
      }),

    putRecovery: ({ blob, locator, userId }) =>
      Effect.gen(function*() {
        const known = recovery.get(locator)
        if (known !== undefined && known.owner !== userId) {
          return yield* Effect.fail(Forbidden.of("This recovery locator belongs to another user"))
        }
        recovery.set(locator, { owner: userId, blob })
        return
      }),
    getRecovery: (locator) => Effect.sync(() => Option.map(Option.fromNullable(recovery.get(locator)), (r) => r.blob))
  }
  return service
})
