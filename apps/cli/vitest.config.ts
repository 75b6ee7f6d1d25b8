import { libConfig } from "../../vitest.shared.ts"

export default libConfig(import.meta.dirname)
