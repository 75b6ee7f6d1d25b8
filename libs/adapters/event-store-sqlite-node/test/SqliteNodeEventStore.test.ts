import { EventStoreConformance } from "@cipherlog/event-store-conformance"
import { afterAll } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { SqliteNodeEventStore } from "../src/index.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "cipherlog-events-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
const file = (id: string) => path.join(root, `${id}.db`)

EventStoreConformance.suite({
  name: "sqlite-node (file, WAL)",
  open: (id) => SqliteNodeEventStore.layer(file(id), { busyTimeoutMs: 200 }),
  persistent: true,
  exclusive: true,
  raw: (id, sql) =>
    Effect.try({
      try: () => {
        const db = new Database(file(id))
        try {
          db.exec(sql)
        } finally {
          db.close()
        }
      },
      catch: (error) => error
    })
})
