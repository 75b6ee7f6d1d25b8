import { libBuild } from "../../../tsup.shared.ts"

export default libBuild()
