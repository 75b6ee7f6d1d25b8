/**
 * The route templates of the API, for logs and metrics (which must name a
 * route by its template, never by a path holding ids or locators) and for
 * telling 404 (no such path) from 405 (no such method on that path).
 */
import { SyncApi } from "@cipherlog/sync-api"
import { HttpApi } from "@effect/platform"

interface Template {
  readonly method: string
  readonly path: string
  readonly segments: ReadonlyArray<string>
  readonly statics: number
}

export type Match =
  | { readonly _tag: "Route"; readonly route: string }
  | { readonly _tag: "WrongMethod"; readonly allowed: ReadonlyArray<string> }
  | { readonly _tag: "None" }

const split = (path: string) => path.split("/").filter((s) => s !== "")

const templates: ReadonlyArray<Template> = (() => {
  const out: Array<Template> = []
  const add = (method: string, path: string) => {
    const segments = split(path)
    out.push({ method, path, segments, statics: segments.filter((s) => !s.startsWith(":")).length })
  }
  HttpApi.reflect(SyncApi, {
    onGroup: () => undefined,
    onEndpoint: ({ endpoint }) => add(endpoint.method, endpoint.path)
  })
  add("GET", "/openapi.json")
  // The most specific template wins: more static segments first.
  return out.sort((a, b) => b.statics - a.statics)
})()

const fits = (t: Template, segments: ReadonlyArray<string>) =>
  t.segments.length === segments.length && t.segments.every((s, i) => s.startsWith(":") || s === segments[i])

/** Matches a request's method and path (without query) to a route template. */
export const match = (method: string, path: string): Match => {
  const segments = split(path)
  const candidates = templates.filter((t) => fits(t, segments))
  if (candidates.length === 0) return { _tag: "None" }
  const hit = candidates.find((t) => t.method === method || (method === "HEAD" && t.method === "GET"))
  if (hit !== undefined) return { _tag: "Route", route: hit.path }
  return { _tag: "WrongMethod", allowed: [...new Set(candidates.map((t) => t.method))] }
}

/** Every template, for tests and docs. */
export const all = (): ReadonlyArray<{ readonly method: string; readonly path: string }> =>
  templates.map((t) => ({ method: t.method, path: t.path }))
