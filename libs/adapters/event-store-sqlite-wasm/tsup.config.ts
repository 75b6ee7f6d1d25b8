import { libBuild } from "../../../tsup.shared.ts"

export default libBuild({ entry: ["src/index.ts", "src/worker.ts"] })
