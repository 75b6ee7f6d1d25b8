/**
 * The API-wide middleware: per-address rate limits, body size and media
 * type checks, 404/405 for unknown routes, clean 4xx for malformed bodies
 * and schema failures (naming fields, never echoing values), one structured
 * log line and metrics per request — by route template, never by path,
 * body, token or record contents.
 */
import * as ApiError from "@cipherlog/sync-api"
import { SyncApi } from "@cipherlog/sync-api"
import {
  HttpApiBuilder,
  type HttpApiError,
  HttpApiSchema,
  HttpApp,
  HttpIncomingMessage,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { Cause, Clock, Effect, Exit, Option } from "effect"
import { clientAddress, normalize } from "./clientAddress.js"
import { Metrics } from "../Metrics.js"
import * as RateLimiter from "../RateLimiter.js"
import { ServerConfig } from "../ServerConfig.js"
import * as Routes from "./routes.js"

const errorClasses = [
  ApiError.InvalidRequest,
  ApiError.InvalidRecord,
  ApiError.Unauthorized,
  ApiError.Forbidden,
  ApiError.NotFound,
  ApiError.RouteNotFound,
  ApiError.MethodNotAllowed,
  ApiError.UserKeysMismatch,
  ApiError.StoreExists,
  ApiError.VersionConflict,
  ApiError.DuplicateEventMismatch,
  ApiError.KekVersionExists,
  ApiError.LastAdmin,
  ApiError.PayloadTooLarge,
  ApiError.UnsupportedMediaType,
  ApiError.Unprocessable,
  ApiError.TooManyRequests,
  ApiError.ServiceUnavailable,
  ApiError.InternalError
]

const statusByTag = new Map<string, number>([
  ...errorClasses.map((E) => [E._tag, HttpApiSchema.getStatusErrorAST(E.ast)] as const),
  ["HttpApiDecodeError", 400]
])

const tagOf = (u: unknown): string | undefined =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string" ? u._tag : undefined

/** The HTTP status a failed request is answered with. */
export const statusOf = (cause: Cause.Cause<unknown>): number => {
  if (Cause.isInterruptedOnly(cause)) return 499
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return 500
  return statusByTag.get(tagOf(failure.value) ?? "") ?? 500
}

/** A parse-issue message without the offending value: schema messages append it ("…, actual <value>"). */
export const sanitize = (message: string): string =>
  message
    .replace(/,?\s*actual\b[\s\S]*$/, "")
    .replace(/Unable to decode[\s\S]*$/, "cannot be decoded")
    .replace(/"(?:[^"\\]|\\.)*"/g, "<value>")
    .slice(0, 200)

const fromDecodeError = (error: HttpApiError.HttpApiDecodeError): ApiError.InvalidRequest =>
  ApiError.InvalidRequest.of(
    error.issues.slice(0, 20).map((issue) => ({
      path: issue.path.map(String).join("."),
      problem: sanitize(issue.message)
    })),
    "The request does not match the endpoint's schema"
  )

const isMaxBytes = (defect: unknown): boolean => {
  if (tagOf(defect) !== "RequestError" || typeof defect !== "object" || defect === null || !("cause" in defect)) return false
  const cause = defect.cause
  return cause instanceof Error && cause.message === "maxBytes exceeded"
}

type Refusal =
  | ApiError.InvalidRequest
  | ApiError.RouteNotFound
  | ApiError.MethodNotAllowed
  | ApiError.PayloadTooLarge
  | ApiError.UnsupportedMediaType
  | ApiError.TooManyRequests
  | ApiError.InternalError

/**
 * Turns what the router and the body parser fail with into the API's
 * errors; typed API errors pass through unchanged.
 */
const mapCause = (maxBodyBytes: number) => (cause: Cause.Cause<unknown>): Effect.Effect<never, Refusal> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    switch (tagOf(error)) {
      case "HttpApiDecodeError":
        return Effect.fail(fromDecodeError(error as HttpApiError.HttpApiDecodeError))
      case "RouteNotFound":
        return Effect.fail(ApiError.RouteNotFound.instance)
      default:
        return Effect.failCause(cause as Cause.Cause<never>)
    }
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect) && tagOf(defect.value) === "RequestError") {
    return Effect.fail(
      isMaxBytes(defect.value)
        ? ApiError.PayloadTooLarge.of(maxBodyBytes)
        : ApiError.InvalidRequest.of([{ path: "", problem: "the body is not valid JSON" }], "The request body cannot be read")
    )
  }
  // Pathological input (e.g. JSON nested 100 000 deep) can exhaust the stack while it is decoded or
  // while a decoding failure is described: that is the client's input, not a server bug.
  if (Option.isSome(defect) && defect.value instanceof RangeError && /call stack/i.test(defect.value.message)) {
    return Effect.fail(ApiError.InvalidRequest.of([{ path: "", problem: "the body is nested too deeply" }], "The request body cannot be decoded"))
  }
  // A bug. Log what kind of failure it was, never its message (it could quote input).
  const name = Option.match(defect, {
    onNone: () => "unknown",
    onSome: (d) => (d instanceof Error ? d.name : tagOf(d) ?? typeof d)
  })
  return Effect.zipRight(
    Effect.logError("unexpected failure while handling a request").pipe(Effect.annotateLogs("defect", name)),
    Effect.fail(ApiError.InternalError.instance)
  )
}

const contentLength = (request: HttpServerRequest.HttpServerRequest): number | undefined => {
  const header = request.headers["content-length"]
  if (header === undefined) return undefined
  const n = Number(header)
  return Number.isFinite(n) ? n : undefined
}

/** The middleware, as a layer for `HttpApiBuilder`. */
export const layer = HttpApiBuilder.middleware(
  SyncApi,
  Effect.gen(function*() {
    const config = yield* ServerConfig
    const metrics = yield* Metrics
    const perIp = RateLimiter.make(config.perIpLimit)
    const recovery = RateLimiter.make(config.recoveryLimit)
    const limitBody = HttpIncomingMessage.withMaxBodySize(Option.some(config.maxBodyBytes))
    const retryAfter = (seconds: number) =>
      HttpApp.appendPreResponseHandler((_request, response) =>
        Effect.succeed(HttpServerResponse.setHeader(response, "retry-after", String(seconds)))
      )

    const allow = (methods: ReadonlyArray<string>) =>
      HttpApp.appendPreResponseHandler((_request, response) =>
        Effect.succeed(HttpServerResponse.setHeader(response, "allow", methods.join(", ")))
      )

    const trustedProxies = new Set(config.trustedProxies.map(normalize))
    return (app) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const startedNs = yield* Clock.currentTimeNanos
        const method = request.method
        const path = request.url.split("?")[0] ?? "/"
        const match = Routes.match(method, path)
        const route = match._tag === "Route" ? match.route : "unmatched"

        const handle = Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const ip = clientAddress(Option.getOrUndefined(request.remoteAddress), request.headers["x-forwarded-for"], trustedProxies)
          if (route !== "/healthz" && route !== "/metrics") {
            const wait = perIp.take(ip, now)
            if (wait > 0) {
              metrics.rateLimited("ip")
              return yield* Effect.fail(ApiError.TooManyRequests.of(wait))
            }
          }
          if (route === "/v1/recovery/:locator" && (method === "GET" || method === "HEAD")) {
            const wait = recovery.take(ip, now)
            if (wait > 0) {
              metrics.rateLimited("recovery")
              return yield* Effect.fail(ApiError.TooManyRequests.of(wait))
            }
          }
          if (match._tag === "None") return yield* Effect.fail(ApiError.RouteNotFound.instance)
          if (match._tag === "WrongMethod") return yield* Effect.fail(ApiError.MethodNotAllowed.of(match.allowed))
          const length = contentLength(request)
          if (length !== undefined && length > config.maxBodyBytes) {
            return yield* Effect.fail(ApiError.PayloadTooLarge.of(config.maxBodyBytes))
          }
          // Only JSON bodies are read (anything else, even empty, could reach the multipart or form parsers).
          const type = request.headers["content-type"]
          if (type !== undefined && method !== "GET" && method !== "HEAD" && !type.toLowerCase().includes("application/json")) {
            return yield* Effect.fail(ApiError.UnsupportedMediaType.instance)
          }
          return yield* limitBody(app)
        })

        return yield* handle.pipe(
          Effect.catchAllCause(mapCause(config.maxBodyBytes)),
          Effect.tapError((error) =>
            error._tag === "TooManyRequests"
              ? retryAfter(error.retryAfterSeconds)
              : error._tag === "MethodNotAllowed"
              ? allow(error.allowed)
              : Effect.void
          ),
          Effect.onExit((exit) =>
            Effect.gen(function*() {
              const status = Exit.isSuccess(exit) ? exit.value.status : statusOf(exit.cause)
              const seconds = Number((yield* Clock.currentTimeNanos) - startedNs) / 1e9
              metrics.request({ method, route, status }, seconds)
              yield* Effect.logInfo("http").pipe(
                Effect.annotateLogs({ method, route, status, durationMs: Math.round(seconds * 1e4) / 10 })
              )
            })
          )
        )
      })
  }),
  { withContext: true }
)
