/**
 * Loaded into the sync server (`node --import`) when the server bench runs
 * with CIPHERLOG_BENCH_SERVER_TRACE=<dir>: writes one JSON line per request
 * to <dir>/server-<pid>.jsonl with when (epoch ms, sub-millisecond) the
 * server accepted its connection, saw the request, read its body and
 * finished the response — matched with the client's own timestamps by the
 * `x-bench-id` header — and one line a second with the event-loop delay and
 * the connections accepted. Bench tooling only: never part of the server.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { monitorEventLoopDelay, performance } from "node:perf_hooks"

const dir = process.env["CIPHERLOG_BENCH_SERVER_TRACE"]
if (dir !== undefined && dir !== "") {
  const out = fs.openSync(path.join(dir, `server-${process.pid}.jsonl`), "w")
  const lines = []
  const flush = () => {
    if (lines.length > 0) fs.writeSync(out, lines.splice(0).join("\n") + "\n")
  }
  const now = () => performance.timeOrigin + performance.now()
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  let accepted = 0
  setInterval(() => {
    lines.push(JSON.stringify({ t: now(), loopDelayMaxMs: delay.max / 1e6, accepted }))
    delay.reset()
    flush()
  }, 1000).unref()
  process.on("exit", flush)

  const emit = http.Server.prototype.emit
  http.Server.prototype.emit = function(event, ...args) {
    if (event === "connection") {
      const socket = args[0]
      accepted++
      socket.benchAccepted = now()
      socket.benchRequests = 0
    } else if (event === "request") {
      const [request, response] = args
      const id = request.headers["x-bench-id"]
      if (typeof id === "string") {
        const socket = request.socket
        const r = { id, accepted: socket.benchAccepted, nth: ++socket.benchRequests, request: now() }
        request.on("end", () => {
          r.bodyRead = now()
        })
        response.on("finish", () => {
          r.finished = now()
        })
        response.on("close", () => {
          r.closed = now()
          lines.push(JSON.stringify(r))
          if (lines.length >= 1000) flush()
        })
      }
    }
    return emit.call(this, event, ...args)
  }
}
