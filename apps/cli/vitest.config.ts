import { libConfig } from "../../vitest.shared.ts"

// End-to-end: every test runs the built binary many times (each unlock is an Argon2id derivation).
export default libConfig(import.meta.dirname, { testTimeout: 120_000 })
