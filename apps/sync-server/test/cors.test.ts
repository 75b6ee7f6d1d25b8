/**
 * CORS (`CORS_ORIGINS`): browser pages on other origins may call the API
 * only when the server names their origin; by default it sends no CORS
 * headers at all.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Servers from "./support/server.js"

let open: Awaited<ReturnType<typeof Servers.startSqlite>>
let closed: Awaited<ReturnType<typeof Servers.startSqlite>>
beforeAll(async () => {
  ;[open, closed] = await Promise.all([Servers.startSqlite({ CORS_ORIGINS: "https://app.example,http://localhost:5173" }), Servers.startSqlite()])
})
afterAll(async () => {
  await Promise.all([open?.stop(), closed?.stop()])
})

const preflight = (base: string, origin: string) =>
  fetch(`${base}/v1/stores/s1/records`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" }
  })

describe("CORS", () => {
  it("a listed origin gets its preflight answered, before routing and login, and CORS headers on answers", async () => {
    const answer = await preflight(open.url, "https://app.example")
    expect(answer.status).toBeLessThan(300)
    expect(answer.headers.get("access-control-allow-origin")).toBe("https://app.example")
    expect(answer.headers.get("access-control-allow-methods")).toContain("POST")
    expect(answer.headers.get("access-control-allow-headers")).toContain("authorization")
    expect(answer.headers.get("access-control-allow-credentials")).toBeNull()
    const health = await fetch(`${open.url}/healthz`, { headers: { origin: "http://localhost:5173" } })
    expect(health.status).toBe(200)
    expect(health.headers.get("access-control-allow-origin")).toBe("http://localhost:5173")
    // An error answer carries them too, so a page can read why it failed.
    const refused = await fetch(`${open.url}/v1/stores/s1/records`, { headers: { origin: "https://app.example" } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get("access-control-allow-origin")).toBe("https://app.example")
  })

  it("an origin not listed gets no CORS headers (the browser then refuses the answer to the page)", async () => {
    const answer = await preflight(open.url, "https://evil.example")
    expect(answer.headers.get("access-control-allow-origin")).toBeNull()
    const health = await fetch(`${open.url}/healthz`, { headers: { origin: "https://evil.example" } })
    expect(health.headers.get("access-control-allow-origin")).toBeNull()
  })

  it("by default (no CORS_ORIGINS) no origin gets CORS headers", async () => {
    const answer = await preflight(closed.url, "https://app.example")
    expect(answer.headers.get("access-control-allow-origin")).toBeNull()
    const health = await fetch(`${closed.url}/healthz`, { headers: { origin: "https://app.example" } })
    expect(health.status).toBe(200)
    expect(health.headers.get("access-control-allow-origin")).toBeNull()
  })
})
