/**
 * Prekey maintenance and claims over the in-process server (memory store):
 * the schedule (first publication, replenishment below the threshold,
 * rotation after 30 days, erasure after the grace window) on an injected
 * time, and a claim whose bundle does not verify falling back to none.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import type { StoreId, UserId } from "@cipherlog/domain"
import { Prekeys } from "@cipherlog/keys"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { PrekeyClient } from "../src/index.js"
import { keyringUser, serverRuntime, urlOf } from "./support.js"

const runtime = serverRuntime()
afterAll(() => runtime.dispose())
const baseUrl = Effect.promise(() => runtime.runPromise(urlOf))
const DAY = 24 * 3600 * 1000
const T0 = 1_800_000_000_000

let n = 0
const person = (name: string) => Effect.flatMap(baseUrl, (url) => keyringUser(url, name))

const summary = (m: PrekeyClient.Maintained) => [Option.isSome(m.publishedSigned), m.uploaded, m.erased.length, m.oneTimeOnServer]

describe("PrekeyClient", () => {
  it.live("first maintenance publishes; claims are rate limited per claimer across stores; nothing to do while enough remain, replenished below the threshold", () =>
    Effect.gen(function*() {
      const bob = yield* person("bob")
      const alice = yield* person("alice")
      const maintain = (now: number) => Effect.provide(PrekeyClient.maintain(bob.client, bob.keyring, { now }), NodeCrypto.layer)
      expect(summary(yield* maintain(T0))).toEqual([true, 100, 0, 100])
      expect(summary(yield* maintain(T0 + DAY))).toEqual([false, 0, 0, 100])
      // alice, admin of two stores bob is in, claims 12 times: 10 one-time prekeys, then the signed prekey alone.
      let handedOut = 0
      for (let s = 0; s < 2; s++) {
        const storeId = `pk${Date.now().toString(36)}${n++}` as StoreId
        yield* alice.client.authenticated((api) => api.stores.create({ payload: { storeId } }))
        yield* alice.client.authenticated((api) => api.stores.putMember({ path: { storeId, userId: bob.userId as UserId }, payload: { role: "member" } }))
        for (let i = 0; i < 6; i++) {
          const bundle = yield* alice.client.authenticated((api) => api.prekeys.claim({ path: { storeId, userId: bob.userId as UserId } }))
          if (bundle.oneTimePrekey !== undefined) handedOut++
        }
      }
      expect(handedOut).toBe(10)
      expect(summary(yield* maintain(T0 + 2 * DAY))).toEqual([false, 0, 0, 90])
      // Below the threshold (here 95 of 100), maintenance replenishes to the target.
      const replenish = { ...Prekeys.defaultPolicy, oneTimeThreshold: 95 }
      expect(summary(yield* Effect.provide(PrekeyClient.maintain(bob.client, bob.keyring, { now: T0 + 3 * DAY, policy: replenish }), NodeCrypto.layer)))
        .toEqual([false, 10, 0, 100])
    }))

  it.live("a new signed prekey at 30 days; the old one's secret is erased 7 days later", () =>
    Effect.gen(function*() {
      const bob = yield* person("bob")
      const policy = { ...Prekeys.defaultPolicy, oneTimeTarget: 12, oneTimeThreshold: 10 }
      const maintain = (now: number, p: Prekeys.PrekeyPolicy = policy) => Effect.provide(PrekeyClient.maintain(bob.client, bob.keyring, { now, policy: p }), NodeCrypto.layer)
      expect(summary(yield* maintain(T0))).toEqual([true, 12, 0, 12])
      // Above the threshold nothing is uploaded; with the default policy (threshold 10, target 100) neither at 12.
      expect(summary(yield* maintain(T0 + DAY, Prekeys.defaultPolicy))).toEqual([false, 0, 0, 12])
      const first = Option.getOrThrow(yield* Prekeys.currentSigned(bob.keyring.vault))
      expect(summary(yield* maintain(T0 + 30 * DAY))).toEqual([true, 0, 0, 12])
      const second = Option.getOrThrow(yield* Prekeys.currentSigned(bob.keyring.vault))
      expect(second.prekeyId).not.toBe(first.prekeyId)
      expect(Option.isSome(yield* Effect.provide(Prekeys.handle(bob.keyring.vault, "signed", first.prekeyId), NodeCrypto.layer))).toBe(true)
      expect(summary(yield* maintain(T0 + 37 * DAY))).toEqual([false, 0, 1, 12])
      expect(Option.isNone(yield* Effect.provide(Prekeys.handle(bob.keyring.vault, "signed", first.prekeyId), NodeCrypto.layer))).toBe(true)
      const status = yield* bob.client.authenticated((api) => api.prekeys.status({ path: { userId: bob.userId as UserId } }))
      expect(status.signedPrekey?.prekeyId).toBe(second.prekeyId)
    }))

  it.effect("the time comes from the Clock service when none is given (here a TestClock)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const bob = yield* person("bob")
      yield* Effect.provide(PrekeyClient.maintain(bob.client, bob.keyring), NodeCrypto.layer)
      expect(Option.getOrThrow(yield* Prekeys.currentSigned(bob.keyring.vault)).createdAt).toBe(T0)
      const status = yield* bob.client.authenticated((api) => api.prekeys.status({ path: { userId: bob.userId as UserId } }))
      expect(status.signedPrekey?.createdAt).toBe(T0)
    }))

  it.live("a claimed bundle that does not verify against the member's identity is not sealed to (none: the identity key then)", () =>
    Effect.gen(function*() {
      const alice = yield* person("alice")
      const bob = yield* person("bob")
      const mallory = yield* person("mallory")
      const storeId = `pkv${Date.now().toString(36)}${n++}` as StoreId
      yield* alice.client.authenticated((api) => api.stores.create({ payload: { storeId } }))
      yield* alice.client.authenticated((api) => api.stores.putMember({ path: { storeId, userId: bob.userId as UserId }, payload: { role: "member" } }))
      yield* Effect.provide(PrekeyClient.maintain(bob.client, bob.keyring, { now: Date.now() }), NodeCrypto.layer)
      // Checked against bob's identity: a prekey to seal to.
      const good = yield* Effect.provide(PrekeyClient.claimFor(alice.client, storeId, bob.public), NodeCrypto.layer)
      expect(Option.map(good, (t) => t.kind)).toEqual(Option.some("one-time"))
      // Checked against another identity (as if the server had substituted bob's bundle): none.
      const forged = yield* Effect.provide(PrekeyClient.claimFor(alice.client, storeId, { ...mallory.public, userId: bob.userId }), NodeCrypto.layer)
      expect(Option.isNone(forged)).toBe(true)
      // A member without prekeys: none.
      yield* alice.client.authenticated((api) => api.stores.putMember({ path: { storeId, userId: mallory.userId as UserId }, payload: { role: "member" } }))
      expect(Option.isNone(yield* Effect.provide(PrekeyClient.claimFor(alice.client, storeId, mallory.public), NodeCrypto.layer))).toBe(true)
    }))
})
