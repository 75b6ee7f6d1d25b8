/**
 * Requests that reach the HTTP server before its handler is installed.
 *
 * @since 0.1.0
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http"

/**
 * The HTTP layer listens before `serve` installs the request handler; a
 * request arriving in between would be parsed and never answered (seen once
 * the TurnScheduler let the event loop poll between the two). Such requests
 * are held and handed to the handler as soon as it is installed.
 */
export const holdEarlyRequests = (server: Server): Server => {
  const held: Array<readonly [IncomingMessage, ServerResponse]> = []
  const emit: (event: string, ...args: Array<unknown>) => boolean = server.emit.bind(server)
  const holding = (event: string, ...args: Array<unknown>): boolean => {
    if (event !== "request" || server.listenerCount("request") > 0) return emit(event, ...args)
    held.push(args as unknown as readonly [IncomingMessage, ServerResponse])
    return true
  }
  server.emit = holding as Server["emit"]
  server.on("newListener", (event) => {
    // Emitted before the listener is added: hand the held requests over once it is.
    if (event === "request" && held.length > 0) {
      queueMicrotask(() => {
        for (const [request, response] of held.splice(0)) emit("request", request, response)
      })
    }
  })
  return server
}
