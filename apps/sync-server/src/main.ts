/**
 * `node dist/main.js`: runs the sync server until SIGINT or SIGTERM, then
 * stops accepting requests, lets those in flight finish and closes the store.
 * Its fibers run on the TurnScheduler, so the event loop keeps turning (and
 * accepting connections) under load.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { MainLayer } from "./MainLayer.js"
import * as TurnScheduler from "./TurnScheduler.js"

NodeRuntime.runMain(Layer.launch(MainLayer).pipe(Effect.withScheduler(TurnScheduler.make())), { disablePrettyLogger: true })
