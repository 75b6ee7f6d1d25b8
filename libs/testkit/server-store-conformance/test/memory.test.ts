import { ServerStore } from "@cipherlog/server"
import { ServerStoreConformance } from "../src/index.js"

ServerStoreConformance.suite("memory", ServerStore.layerMemory, { runs: 25 })
