/**
 * OPFS persistence across a real page reload, and one writer across tabs,
 * in Debian's Chromium driven by Playwright (vite serves the page, its
 * worker and sqlite-wasm).
 */
import { chromium, type Browser } from "playwright"
import { createServer, type ViteDevServer } from "vite"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chromiumArgs, chromiumPath } from "../../../../vitest.shared.ts"

let server: ViteDevServer
let browser: Browser
let url: string

beforeAll(async () => {
  server = await createServer({
    root: new URL("./reload-page", import.meta.url).pathname,
    configFile: false,
    logLevel: "error",
    resolve: { tsconfigPaths: true },
    optimizeDeps: { exclude: ["@sqlite.org/sqlite-wasm"] },
    server: { port: 0, host: "127.0.0.1", fs: { allow: [new URL("../../../../", import.meta.url).pathname] } }
  })
  await server.listen()
  const address = server.httpServer!.address()
  url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/`
  browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

type Api = {
  open: (name: string) => Promise<{ ok?: boolean; error?: string }>
  write: (n: number) => Promise<Array<string>>
  read: () => Promise<Array<string>>
}
const call = <K extends keyof Api>(page: import("playwright").Page, method: K, ...args: Parameters<Api[K]>) =>
  page.evaluate(([m, a]) => ((globalThis as unknown as { cipherlog: Record<string, (...x: Array<unknown>) => unknown> }).cipherlog[m as string]!)(...(a as Array<unknown>)), [method, args] as const) as ReturnType<Api[K]>

describe("OPFS event store in Chromium", () => {
  it("data survives a page reload; while a tab holds the store, another tab gets StoreLocked", async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(url)
    await page.waitForFunction(() => document.title === "ready")
    const name = `reload${Date.now()}`
    expect(await call(page, "open", name)).toEqual({ ok: true })
    const written = await call(page, "write", 5)

    const other = await context.newPage()
    await other.goto(url)
    await other.waitForFunction(() => document.title === "ready")
    expect(await call(other, "open", name)).toEqual({ error: "StoreLocked" })
    await other.close()

    await page.reload()
    await page.waitForFunction(() => document.title === "ready")
    // After the reload the previous context (and its lock) is gone: open again and read what was written.
    let opened = await call(page, "open", name)
    for (let i = 0; i < 20 && opened.error === "StoreLocked"; i++) {
      await page.waitForTimeout(100)
      opened = await call(page, "open", name)
    }
    expect(opened).toEqual({ ok: true })
    expect(await call(page, "read")).toEqual(written)
    await context.close()
  }, 120_000)
})
