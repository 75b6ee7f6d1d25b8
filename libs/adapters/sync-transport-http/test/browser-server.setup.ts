/**
 * For the browser suites: an in-process sync server (the real handlers, the
 * memory store) on a loopback port, open to any origin (CORS `*`, as
 * `CORS_ORIGINS=*` sets it), whose URL the suites `inject`.
 */
import type { TestProject } from "vitest/node"
import { serverRuntime, urlOf } from "./support.js"

declare module "vitest" {
  export interface ProvidedContext {
    syncServerUrl: string
  }
}

export default async function setup(project: TestProject) {
  const runtime = serverRuntime({ corsOrigins: ["*"] })
  project.provide("syncServerUrl", await runtime.runPromise(urlOf))
  return () => runtime.dispose()
}
