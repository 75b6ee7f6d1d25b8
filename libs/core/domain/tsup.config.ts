import { libBuild } from "../../../tsup.shared"

export default libBuild()
