/** The server's configuration from the environment: defaults, and values it refuses. */
import { ConfigProvider, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import * as AppConfig from "../src/AppConfig.js"

const read = (env: Record<string, string>) =>
  Effect.runSync(Effect.either(Effect.withConfigProvider(AppConfig.server, ConfigProvider.fromMap(new Map(Object.entries(env))))))

describe("AppConfig", () => {
  it("has a default for every setting", () => {
    const c = read({})
    expect(Either.isRight(c)).toBe(true)
  })

  it.each([
    ["LONG_POLL_RECHECK_MS", "0"],
    ["LONG_POLL_RECHECK_MS", "-5"],
    ["TOKEN_TTL_SECONDS", "0"],
    ["MAX_BODY_BYTES", "-1"],
    ["RATE_LIMIT_IP_PER_SECOND", "0"],
    ["CORS_ORIGINS", "app.example"],
    ["CORS_ORIGINS", "https://app.example/path"],
    ["CORS_ORIGINS", "https://app.example, ftp://files.example"],
    ["TRUSTED_PROXIES", "10.0.0.0/8"],
    ["TRUSTED_PROXIES", "127.0.0.1:8080"],
    ["TRUSTED_PROXIES", "proxy.internal"]
  ])("refuses %s=%s with a message naming the settings", (name, value) => {
    const c = read({ [name]: value })
    expect(Either.isLeft(c)).toBe(true)
    if (Either.isLeft(c)) expect(String(c.left)).toContain(name.startsWith("RATE") ? "rate limits" : name)
  })

  it("CORS_ORIGINS: none by default; a list of origins, or *", () => {
    const origins = (env: Record<string, string>) => Either.map(read(env), (c) => c.corsOrigins)
    expect(origins({})).toEqual(Either.right([]))
    expect(origins({ CORS_ORIGINS: " https://app.example , http://localhost:5173 " })).toEqual(
      Either.right(["https://app.example", "http://localhost:5173"])
    )
    expect(origins({ CORS_ORIGINS: "*" })).toEqual(Either.right(["*"]))
  })

  it("TRUSTED_PROXIES: none by default; a comma-separated list of addresses", () => {
    const proxies = (env: Record<string, string>) => Either.map(read(env), (c) => c.trustedProxies)
    expect(proxies({})).toEqual(Either.right([]))
    expect(proxies({ TRUSTED_PROXIES: " 127.0.0.1 , ::1,10.1.2.3 " })).toEqual(Either.right(["127.0.0.1", "::1", "10.1.2.3"]))
  })
})
