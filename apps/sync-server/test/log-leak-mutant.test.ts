/**
 * INV-006 / INV-016 mutant for the log scan: the same server built in
 * process, once as shipped and once with the platform's stock request
 * logger added (it logs every request's URL). The scan that passes on the
 * real server must catch the stock logger leaking a recovery locator (a
 * capability) and query values — so the real server's clean logs are
 * evidence, not luck.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import { Bytes } from "@cipherlog/domain"
import { ServerConfig, ServerStore, SyncServer } from "@cipherlog/server"
import { HttpApiBuilder, HttpMiddleware, HttpServer } from "@effect/platform"
import { FastCheck as fc, Layer, Logger } from "effect"
import { describe, expect, it } from "vitest"
import { found } from "./support/scan.js"

const serve = (leaky: boolean) => {
  const lines: Array<string> = []
  const capture = Logger.replace(Logger.defaultLogger, Logger.make((options) => void lines.push(Logger.logfmtLogger.log(options))))
  const dependencies = Layer.mergeAll(ServerStore.layerMemory, NodeCrypto.layer, ServerConfig.layer())
  const { dispose, handler } = HttpApiBuilder.toWebHandler(
    Layer.mergeAll(SyncServer.api, HttpServer.layerContext).pipe(Layer.provide(dependencies), Layer.provide(capture)),
    leaky ? { middleware: HttpMiddleware.logger } : {}
  )
  return { lines, dispose, request: (path: string) => handler(new Request(`http://localhost${path}`)) }
}

const leaksOf = async (leaky: boolean, locator: string, canary: string) => {
  const server = serve(leaky)
  try {
    expect((await server.request(`/v1/recovery/${locator}`)).status).toBe(404)
    expect((await server.request(`/v1/stores/s1/records?after=${canary}`)).status).toBe(401)
    expect(server.lines.length).toBeGreaterThan(0)
    return found(server.lines.join("\n"), [locator, canary])
  } finally {
    await server.dispose()
  }
}

describe("the log scan catches a leaking request logger", () => {
  it("INV-006 mutant: the stock request logger leaks locators and query values; the shipped server logs route templates only", async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.stringMatching(/^[a-z]{16}$/), async (bytes, word) => {
      const locator = Bytes.toBase64Url(bytes)
      const canary = `QUERYCANARY${word}`
      expect(await leaksOf(false, locator, canary)).toEqual([])
      expect(await leaksOf(true, locator, canary)).toEqual([locator, canary])
    }), { numRuns: 5 })
  })
})
