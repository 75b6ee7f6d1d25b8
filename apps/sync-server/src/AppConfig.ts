/**
 * The server's configuration, from the environment (docs/http-api.md,
 * "Running").
 */
import { ServerConfig } from "@cipherlog/server"
import { Config, type ConfigError, Effect, Layer, LogLevel, Option, Redacted } from "effect"

/** Where to listen and which store to use. */
export const listen = Config.all({
  port: Config.integer("PORT").pipe(Config.withDefault(8787)),
  // Loopback by default: nothing is exposed until HOST says so (0.0.0.0 in containers / behind a proxy).
  host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1"))
})

export const storage = Config.all({
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")),
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./data")),
  pgMaxConnections: Config.integer("PG_MAX_CONNECTIONS").pipe(Config.withDefault(10))
})

export const logLevel = Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info))

const limit = (name: string, rate: number, burst: number) =>
  Config.all({
    ratePerSecond: Config.number(`${name}_PER_SECOND`).pipe(Config.withDefault(rate)),
    burst: Config.number(`${name}_BURST`).pipe(Config.withDefault(burst))
  })

/** An origin as browsers send it: scheme, host and optional port, nothing after. */
const isOrigin = (value: string) => {
  try {
    const url = new URL(value)
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value
  } catch (_) {
    return false
  }
}

/** `CORS_ORIGINS`: comma-separated origins (`https://app.example`), or `*`; empty or unset: none. */
const corsOrigins: Config.Config<ReadonlyArray<string>> = Config.string("CORS_ORIGINS").pipe(
  Config.withDefault(""),
  Config.map((text) => text.split(",").map((o) => o.trim()).filter((o) => o !== "")),
  Config.validate({
    message: "CORS_ORIGINS must be * or a comma-separated list of origins such as https://app.example (scheme, host, port; no path)",
    validation: (origins) => origins.every((o) => o === "*" || isOrigin(o))
  })
)

/** `TRUSTED_PROXIES`: comma-separated addresses of reverse proxies in front of the server; empty or unset: none. */
const trustedProxies: Config.Config<ReadonlyArray<string>> = Config.string("TRUSTED_PROXIES").pipe(
  Config.withDefault(""),
  Config.map((text) => text.split(",").map((a) => a.trim()).filter((a) => a !== "")),
  Config.validate({
    message: "TRUSTED_PROXIES must be a comma-separated list of IP addresses (such as 127.0.0.1 or ::1; no ports, no ranges)",
    validation: (addresses) => addresses.every(ServerConfig.isAddress)
  })
)

/** The server settings; every one has a default (ServerConfig.defaults). */
export const server: Config.Config<ServerConfig.ServerConfig> = Config.all({
  tokenTtlSeconds: Config.integer("TOKEN_TTL_SECONDS").pipe(Config.withDefault(ServerConfig.defaults.tokenTtlSeconds)),
  registrationToken: Config.option(Config.redacted("REGISTRATION_TOKEN")),
  maxBodyBytes: Config.integer("MAX_BODY_BYTES").pipe(Config.withDefault(ServerConfig.defaults.maxBodyBytes)),
  perIpLimit: limit("RATE_LIMIT_IP", ServerConfig.defaults.perIpLimit.ratePerSecond, ServerConfig.defaults.perIpLimit.burst),
  perUserLimit: limit("RATE_LIMIT_USER", ServerConfig.defaults.perUserLimit.ratePerSecond, ServerConfig.defaults.perUserLimit.burst),
  recoveryLimit: Config.map(
    Config.number("RECOVERY_READS_PER_MINUTE").pipe(Config.withDefault(ServerConfig.defaults.recoveryLimit.burst)),
    (perMinute) => ({ ratePerSecond: perMinute / 60, burst: perMinute })
  ),
  longPollRecheckMs: Config.integer("LONG_POLL_RECHECK_MS").pipe(Config.withDefault(ServerConfig.defaults.longPollRecheckMs)),
  corsOrigins: corsOrigins,
  trustedProxies
}).pipe(
  Config.validate({
    message: "TOKEN_TTL_SECONDS, MAX_BODY_BYTES and the rate limits must be positive, LONG_POLL_RECHECK_MS at least 10",
    validation: (c) =>
      c.tokenTtlSeconds > 0 && c.maxBodyBytes > 0 && c.longPollRecheckMs >= 10 &&
      [c.perIpLimit, c.perUserLimit, c.recoveryLimit].every((l) => l.ratePerSecond > 0 && l.burst >= 1)
  })
)

/** ServerConfig from the environment. */
export const layer: Layer.Layer<ServerConfig.ServerConfig, ConfigError.ConfigError> = Layer.effect(
  ServerConfig.ServerConfig,
  // An empty REGISTRATION_TOKEN means none (not "the empty token").
  Effect.map(server, (c) => ({ ...c, registrationToken: Option.filter(c.registrationToken, (t) => Redacted.value(t) !== "") }))
)
