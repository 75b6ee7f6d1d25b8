/**
 * The server's settings. The app reads them from the environment
 * (docs/http-api.md, "Running"); tests build them with {@link layer}.
 *
 * @since 0.1.0
 */
import { Context, Layer, Option, type Redacted } from "effect"
import { isAddress as internalIsAddress } from "./internal/clientAddress.js"

/**
 * A token bucket: `ratePerSecond` tokens are added each second up to
 * `burst`; a request takes one.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimit {
  readonly ratePerSecond: number
  readonly burst: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerConfig {
  /** Session lifetime (default 900 s = 15 min). */
  readonly tokenTtlSeconds: number
  /** When set, `POST /v1/users` needs header `x-registration-token` with this value. */
  readonly registrationToken: Option.Option<Redacted.Redacted<string>>
  /** Largest request body (default 16 MiB); larger ones get 413. */
  readonly maxBodyBytes: number
  /** Per client address, every route but /healthz and /metrics. */
  readonly perIpLimit: RateLimit
  /** Per authenticated user. */
  readonly perUserLimit: RateLimit
  /** Per client address, `GET` (and `HEAD`) `/v1/recovery/:locator` only (it needs no login). */
  readonly recoveryLimit: RateLimit
  /** How often a long poll re-reads even without a notification (default 1000 ms). */
  readonly longPollRecheckMs: number
  /**
   * Browser origins (e.g. `https://app.example`) allowed to call the API
   * from another origin (CORS); `["*"]` allows any. Default none: only
   * same-origin pages and non-browser clients. Sessions are bearer tokens,
   * never cookies, so no ambient credential is ever exposed to an origin.
   */
  readonly corsOrigins: ReadonlyArray<string>
  /**
   * Addresses of reverse proxies in front of the server (e.g. `127.0.0.1`
   * for a proxy on the same machine). A request from one of them is
   * counted against the client address it forwarded in `X-Forwarded-For`
   * (read from the right, past other trusted proxies). Default none: the
   * TCP peer, and `X-Forwarded-For` is ignored (anyone could write it).
   */
  readonly trustedProxies: ReadonlyArray<string>
}

/**
 * The defaults.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: ServerConfig = {
  tokenTtlSeconds: 900,
  registrationToken: Option.none(),
  maxBodyBytes: 16 * 1024 * 1024,
  perIpLimit: { ratePerSecond: 200, burst: 400 },
  perUserLimit: { ratePerSecond: 100, burst: 200 },
  recoveryLimit: { ratePerSecond: 5 / 60, burst: 5 },
  longPollRecheckMs: 1000,
  corsOrigins: [],
  trustedProxies: []
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const ServerConfig: Context.Tag<ServerConfig, ServerConfig> = Context.GenericTag<ServerConfig>(
  "@cipherlog/server/ServerConfig"
)

/**
 * The defaults, overridden by `overrides`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (overrides: Partial<ServerConfig> = {}): Layer.Layer<ServerConfig> =>
  Layer.succeed(ServerConfig, { ...defaults, ...overrides })

/**
 * Whether a text is an IPv4 or IPv6 address (no port, zone or brackets):
 * what `trustedProxies` holds.
 *
 * @since 0.1.0
 * @category validation
 */
export const isAddress: (text: string) => boolean = internalIsAddress
