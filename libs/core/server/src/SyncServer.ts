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
import { type HttpApi, HttpApiBuilder, type HttpApp, HttpMiddleware, type HttpRouter, type HttpServer } from "@effect/platform"
import { Effect, Layer } from "effect"
import { AuthenticationLive, groups, SessionCacheLive } from "./internal/handlers.js"
import * as Middleware from "./internal/middleware.js"
import * as Routes from "./internal/routes.js"
import * as Metrics from "./Metrics.js"
import { ServerConfig } from "./ServerConfig.js"
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
 * CORS for the configured browser origins (`ServerConfig.corsOrigins`),
 * outermost, so that preflight requests are answered before routing and
 * rate limits; no origin configured, no CORS headers.
 */
const cors = (origins: ReadonlyArray<string>) => (app: HttpApp.Default): HttpApp.Default =>
  origins.length === 0 ? app : HttpMiddleware.cors({
    allowedOrigins: origins.includes("*") ? ["*"] : origins,
    allowedMethods: ["GET", "HEAD", "POST", "PUT", "DELETE"],
    // Effect's HttpClient propagates its tracing context (b3, traceparent) unless told not to.
    allowedHeaders: ["authorization", "content-type", "accept", "x-registration-token", "b3", "traceparent", "tracestate"],
    exposedHeaders: ["retry-after", "allow"],
    maxAge: 600,
    credentials: false
  })(app)

/**
 * Serves {@link api} on the `HttpServer` in context (with CORS for the
 * origins in `ServerConfig.corsOrigins`).
 *
 * @since 0.1.0
 * @category layers
 */
export const serve: Layer.Layer<
  Metrics.Metrics,
  never,
  ServerStore | Crypto.Crypto | ServerConfig | HttpServer.HttpServer | HttpRouter.HttpRouter.DefaultServices
> = Layer.unwrapEffect(Effect.map(ServerConfig, (config) => HttpApiBuilder.serve(cors(config.corsOrigins)))).pipe(
  Layer.provideMerge(api)
)

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
