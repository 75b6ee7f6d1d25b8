import { browserConfig } from "../../../vitest.shared.ts"

// The suites run in Chromium; the sync server they talk to runs in Node (test/browser-server.setup.ts).
export default browserConfig(import.meta.dirname, { testTimeout: 120_000, globalSetup: "test/browser-server.setup.ts" })
