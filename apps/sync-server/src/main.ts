/**
 * `node dist/main.js`: runs the sync server until SIGINT or SIGTERM, then
 * stops accepting requests, lets those in flight finish and closes the store.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { MainLayer } from "./MainLayer.js"

NodeRuntime.runMain(Layer.launch(MainLayer), { disablePrettyLogger: true })
