import { libConfig } from "../../../vitest.shared"

export default libConfig(import.meta.dirname)
