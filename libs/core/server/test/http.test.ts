import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { sanitize } from "../src/internal/middleware.js"
import * as Routes from "../src/internal/routes.js"
import * as Metrics from "../src/Metrics.js"
import * as RateLimiter from "../src/RateLimiter.js"

describe("route templates", () => {
  it("match paths to the most specific template; other methods are 405; unknown paths 404", () => {
    expect(Routes.match("GET", "/v1/stores/s1/kek/versions/active")).toEqual({ _tag: "Route", route: "/v1/stores/:storeId/kek/versions/active" })
    expect(Routes.match("GET", "/v1/stores/s1/kek/blobs/me")).toEqual({ _tag: "Route", route: "/v1/stores/:storeId/kek/blobs/me" })
    expect(Routes.match("PUT", "/v1/stores/s1/kek/versions/v1/status")).toEqual({ _tag: "Route", route: "/v1/stores/:storeId/kek/versions/:versionId/status" })
    expect(Routes.match("DELETE", "/v1/stores/s1/records")).toEqual({ _tag: "WrongMethod", allowed: ["POST", "GET"] })
    expect(Routes.match("GET", "/v2/anything")).toEqual({ _tag: "None" })
    expect(Routes.match("POST", "/v1/stores/s1/members/u1/prekeys/claim")).toEqual({ _tag: "Route", route: "/v1/stores/:storeId/members/:userId/prekeys/claim" })
    expect(Routes.match("GET", "/v1/users/u1/prekeys/signed")).toEqual({ _tag: "WrongMethod", allowed: ["PUT"] })
    expect(Routes.match("DELETE", "/v1/auth/session")).toEqual({ _tag: "Route", route: "/v1/auth/session" })
    expect(Routes.all().length).toBe(33) // 32 endpoints (4 of them prekeys, 2 identity rotation, logout) and /openapi.json
  })
})

describe("issue messages", () => {
  it.prop("INV-016 a sanitized schema message never repeats the offending value", [fc.string({ minLength: 4 })], ([value]) => {
    for (const message of [
      `Expected string, actual ${JSON.stringify(value)}`,
      `Expected a string matching the pattern ^x$, actual ${JSON.stringify(value)}`,
      `Unable to decode ${JSON.stringify(value)} into a number`,
      `Expected "admin" | "member", actual ${JSON.stringify(value)}`
    ]) {
      expect(sanitize(message)).not.toContain(JSON.stringify(value))
    }
  })
})

describe("rate limiter", () => {
  it("allows the burst, then refuses with a wait, then refills", () => {
    const limiter = RateLimiter.make({ ratePerSecond: 2, burst: 3 })
    expect([0, 0, 0].map(() => limiter.take("k", 1000))).toEqual([0, 0, 0])
    expect(limiter.take("k", 1000)).toBe(1)
    expect(limiter.take("other", 1000)).toBe(0)
    expect(limiter.take("k", 1500)).toBe(0)
    expect(limiter.take("k", 1500)).toBeGreaterThan(0)
  })

  it("forgets the least recently used keys beyond its bound", () => {
    const limiter = RateLimiter.make({ ratePerSecond: 1, burst: 1 }, 2)
    expect(limiter.take("a", 0)).toBe(0)
    expect(limiter.take("b", 0)).toBe(0)
    expect(limiter.take("c", 0)).toBe(0) // forgets "a"
    expect(limiter.take("a", 0)).toBe(0)
    expect(limiter.take("c", 0)).toBe(1)
  })
})

describe("metrics", () => {
  it("render the Prometheus text format with templates and statuses as labels", () => {
    const m = Metrics.make()
    m.request({ method: "GET", route: "/v1/stores/:storeId/records", status: 200 }, 0.004)
    m.recordsAppended(3, 1)
    m.rateLimited("ip")
    const text = m.render()
    expect(text).toContain('cipherlog_http_requests_total{method="GET",route="/v1/stores/:storeId/records",status="200"} 1')
    expect(text).toContain('cipherlog_http_request_duration_seconds_bucket{method="GET",route="/v1/stores/:storeId/records",le="0.005"} 1')
    expect(text).toContain("cipherlog_records_appended_total 3")
    expect(text).toContain("cipherlog_records_duplicate_total 1")
    expect(text).toContain('cipherlog_rate_limited_total{limit="ip"} 1')
    expect(text.endsWith("\n")).toBe(true)
  })
})
