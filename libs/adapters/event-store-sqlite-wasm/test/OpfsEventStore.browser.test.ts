import { EventStoreConformance } from "@cipherlog/event-store-conformance"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { OpfsEventStore } from "../src/index.js"

const worker = () => new Worker(new URL("../src/worker.ts", import.meta.url), { type: "module" })

EventStoreConformance.suite({
  name: "sqlite-wasm on OPFS (SAH pool, in a worker, Chromium)",
  open: (id) => OpfsEventStore.layer({ name: id, worker }),
  persistent: true,
  exclusive: true,
  // Every call crosses to the worker: fewer property runs keep the suite under a minute.
  propertyRuns: 6
})

describe("OpfsEventStore in Chromium", () => {
  it.scoped("reports what the browser offers: OPFS, the SAH pool, Web Locks", () =>
    Effect.gen(function*() {
      const store = yield* OpfsEventStore.make({ name: `caps${Date.now()}`, worker })
      expect(store.capabilities).toMatchObject({ vfs: "opfs-sahpool", opfs: true, sahPool: true, webLocks: true })
      expect(yield* store.integrityCheck).toBe("ok")
    }))
})
