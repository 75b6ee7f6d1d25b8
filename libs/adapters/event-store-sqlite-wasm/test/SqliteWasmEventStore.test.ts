import { EventStoreConformance } from "@cipherlog/event-store-conformance"
import { SqliteWasmEventStore } from "../src/index.js"

EventStoreConformance.suite({
  name: "sqlite-wasm (in memory, Node.js)",
  open: () => SqliteWasmEventStore.layerMemory,
  persistent: false,
  exclusive: false
})
