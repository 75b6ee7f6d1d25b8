import { browserConfig } from "../../../vitest.shared.ts"

export default browserConfig(import.meta.dirname, { testTimeout: 120_000 })
