/**
 * Revoking a device (seed 002): the identity's signed revocation cuts the
 * device's hash chain; every device that syncs it rejects the revoked
 * device's later records — also those it had already accepted — while
 * everything before the cut stays readable.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { append, deviceOn, engineFor, firstDevice, memoryTransport, secondDevice, serverLog, view } from "./fixtures.js"
import type { Device } from "./fixtures.js"

/** What `readAll({ verify: true })` shows, as `title` or `Rejected(reason)`. */
const shown = (d: Device) =>
  Effect.map(Stream.runCollect(d.store.readAll({ verify: true })), (items) =>
    Array.from(items).map((i) =>
      i._tag === "Event" ? (i.event.payload as { title: string }).title : i._tag === "Rejected" ? `Rejected(${i.error.reason})` : i._tag
    ).sort())

describe("revoking a device", () => {
  it.scopedLive("records of the revoked device after the cut are rejected (author) everywhere, even if accepted before the revocation arrived", () =>
    Effect.gen(function*() {
      const log = yield* serverLog
      const a = yield* firstDevice()
      const lost = yield* secondDevice(a, "d2")
      const c = yield* secondDevice(a, "d3")
      const sync = (d: Device) => Effect.flatMap(engineFor(d, memoryTransport(log)), (e) => e.syncOnce)
      yield* append(lost, "g1", "before")
      yield* sync(lost)
      yield* sync(a)
      const { lastSeq } = yield* a.store.revokeDevice("d2")
      expect(lastSeq).toBeGreaterThan(0)
      // The lost device writes again and syncs before the revocation reaches the server; d3 accepts it for now.
      yield* append(lost, "g2", "after")
      yield* sync(lost)
      yield* sync(c)
      expect(yield* shown(c)).toEqual(["after", "before"])
      // The revocation travels; both other devices now reject what came after the cut.
      const ra = yield* sync(a)
      expect(ra.rejected).toBe(2) // the event, and the grant of the new aggregate's key that came with it
      const rc = yield* sync(c)
      expect(rc.pulled).toBeGreaterThan(0)
      expect(yield* shown(a)).toEqual(["Rejected(author)", "before"])
      expect(yield* shown(c)).toEqual(["Rejected(author)", "before"])
      // d3 had accepted them: they are now counted as rejected there too (diagnostics).
      expect((yield* c.events.counts("s1")).rejected).toBe(2)
      // Still holds in a new session on the same database (the revocation is read back from the log).
      const reopened = yield* deviceOn(c.keyring, c.events)
      expect(yield* shown(reopened)).toEqual(["Rejected(author)", "before"])
      // The rest of the log is untouched: a's and d3's own writes go on.
      yield* append(c, "g3", "from d3")
      yield* sync(c)
      yield* sync(a)
      expect(yield* view(a)).toContain('g3@0001:{"title":"from d3"}')
    }))

  it.scopedLive("refuses to revoke the device itself or an unknown device, and changes nothing", () =>
    Effect.gen(function*() {
      const a = yield* firstDevice()
      yield* append(a, "g1", "x")
      const before = yield* a.events.counts("s1")
      const self = yield* Effect.flip(a.store.revokeDevice("d1"))
      const unknown = yield* Effect.flip(a.store.revokeDevice("nope"))
      expect([self._tag, unknown._tag]).toEqual(["InvalidInput", "InvalidInput"])
      expect(self.message).toContain("another device")
      expect(yield* a.events.counts("s1")).toEqual(before)
    }))
})
