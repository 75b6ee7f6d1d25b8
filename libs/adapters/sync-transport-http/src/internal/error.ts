/**
 * The one place where the HTTP API's failures (the typed client's errors)
 * become the SyncTransport port's errors; used by the transport and by
 * the sharing module.
 */
import { SyncTransport } from "@cipherlog/sync"

export type Failure = { readonly _tag: string; readonly message?: string; readonly retryAfterSeconds?: number }

export const unavailable = (reason: SyncTransport.TransportUnavailable["reason"], detail: string, retryAfterMs?: number) =>
  new SyncTransport.TransportUnavailable(retryAfterMs === undefined ? { reason, detail } : { reason, detail, retryAfterMs })

/**
 * Maps the failures every endpoint shares (transport, server, limits,
 * access) to the port's errors; others are left to the caller.
 */
export const common = (storeId: string | undefined, error: Failure): SyncTransport.TransportError | undefined => {
  switch (error._tag) {
    case "RequestError":
      return unavailable("network", "the server could not be reached")
    case "ResponseError":
      return unavailable("bad-response", "the server's answer could not be read")
    case "ParseError":
      return unavailable("bad-response", "the server's answer did not match the API")
    case "TimeoutException":
      return unavailable("timeout", "the request timed out")
    case "TooManyRequests":
      return unavailable("rate-limited", "the server rate-limited this client", (error.retryAfterSeconds ?? 1) * 1000)
    case "ServiceUnavailable":
      return unavailable("unavailable", "the server's storage is unavailable")
    case "InternalError":
      return unavailable("server-error", "the server failed")
    case "Unauthorized":
      return new SyncTransport.AccessDenied(storeId === undefined
        ? { status: 401, detail: "the session was refused" }
        : { status: 401, storeId, detail: "the session was refused" })
    case "Forbidden":
      return new SyncTransport.AccessDenied(storeId === undefined
        ? { status: 403, detail: error.message ?? "forbidden" }
        : { status: 403, storeId, detail: "this user is not allowed to do that in the store" })
    case "RouteNotFound":
    case "MethodNotAllowed":
    case "UnsupportedMediaType":
    case "NotFound":
      return unavailable("bad-response", `the server does not offer this endpoint (${error._tag}); check the base URL and versions`)
    default:
      return undefined
  }
}
