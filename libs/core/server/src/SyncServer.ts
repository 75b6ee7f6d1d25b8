/**
 * The sync server as Layers, host-free: the `SyncApi` implementation with
 * its authentication and API-wide middleware, and `/openapi.json`. An app
 * adds an `HttpServer` (e.g. `NodeHttpServer`), a `ServerStore` adapter, a
 * `Crypto` adapter and a `ServerConfig`.
 *
 * @since 0.1.0
 */
import type { Crypto } from "@cipherlog/crypto"
import { SyncApi } from "@cipherlog/sync-api"
import { HttpApiBuilder, type HttpApi, type HttpRouter, type HttpServer } from "@effect/platform"
import { Layer } from "effect"
import { AuthenticationLive, groups, SessionCacheLive } from "./internal/handlers.js"
import * as Middleware from "./internal/middleware.js"
import * as Routes from "./internal/routes.js"
import * as Metrics from "./Metrics.js"
import type { ServerConfig } from "./ServerConfig.js"
import type { ServerStore } from "./ServerStore.js"

/**
 * The API, implemented: handlers, authentication, the API-wide middleware
 * and `GET /openapi.json`. Provides a fresh {@link Metrics} registry.
 *
 * @since 0.1.0
 * @category layers
 */
export const api: Layer.Layer<
  HttpApi.Api | Metrics.Metrics,
  never,
  ServerStore | Crypto.Crypto | ServerConfig
> = Layer.mergeAll(Middleware.layer, HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })).pipe(
  Layer.provideMerge(HttpApiBuilder.api(SyncApi).pipe(Layer.provide(groups), Layer.provide(AuthenticationLive), Layer.provide(SessionCacheLive))),
  Layer.provideMerge(Metrics.layer)
)

/**
 * Serves {@link api} on the `HttpServer` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const serve: Layer.Layer<
  Metrics.Metrics,
  never,
  ServerStore | Crypto.Crypto | ServerConfig | HttpServer.HttpServer | HttpRouter.HttpRouter.DefaultServices
> = HttpApiBuilder.serve().pipe(Layer.provideMerge(api))

/**
 * Every route template (method and path) the server answers.
 *
 * @since 0.1.0
 * @category getters
 */
export const routes = (): ReadonlyArray<{ readonly method: string; readonly path: string }> => Routes.all()

/**
 * How a request fails, for logs: the HTTP status a failure cause is
 * answered with.
 *
 * @since 0.1.0
 * @category getters
 */
export const statusOf = Middleware.statusOf
