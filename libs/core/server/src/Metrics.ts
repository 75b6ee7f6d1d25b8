/**
 * The server's metrics, rendered in the Prometheus text format at
 * `GET /metrics`. Labels are route templates, methods, statuses and fixed
 * reasons — never ids of stores, users or records, never contents.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface Metrics {
  readonly request: (labels: { readonly method: string; readonly route: string; readonly status: number }, seconds: number) => void
  readonly recordsAppended: (appended: number, duplicates: number) => void
  readonly versionConflict: () => void
  /** A push refused because an event id is already stored with other bytes (INV-005; a compromise signal). */
  readonly duplicateMismatch: () => void
  readonly pull: (records: number) => void
  readonly authFailure: (reason: "missing-token" | "bad-token" | "login") => void
  readonly rateLimited: (limit: "ip" | "user" | "recovery") => void
  /** The whole registry in Prometheus text format 0.0.4. */
  readonly render: () => string
}

/**
 * Latency histogram bucket bounds, in seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const labelText = (labels: Record<string, string | number>) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escape(String(v))}"`)
  return parts.length === 0 ? "" : `{${parts.join(",")}}`
}

class Counter {
  readonly values = new Map<string, number>()
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Record<string, string | number> = {}, by = 1) {
    const key = labelText(labels)
    this.values.set(key, (this.values.get(key) ?? 0) + by)
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    if (this.values.size === 0) lines.push(`${this.name} 0`)
    for (const [labels, value] of this.values) lines.push(`${this.name}${labels} ${value}`)
    return lines.join("\n")
  }
}

class Histogram {
  readonly series = new Map<string, { readonly labels: Record<string, string>; readonly counts: Array<number>; sum: number; count: number }>()
  constructor(readonly name: string, readonly help: string) {}
  observe(labels: Record<string, string>, value: number) {
    const key = labelText(labels)
    let s = this.series.get(key)
    if (s === undefined) {
      s = { labels, counts: BUCKETS.map(() => 0), sum: 0, count: 0 }
      this.series.set(key, s)
    }
    for (let i = 0; i < BUCKETS.length; i++) if (value <= BUCKETS[i]!) s.counts[i]! += 1
    s.sum += value
    s.count += 1
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    for (const s of this.series.values()) {
      BUCKETS.forEach((le, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(le) })} ${s.counts[i]}`))
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`)
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`)
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`)
    }
    return lines.join("\n")
  }
}

/**
 * A fresh registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Metrics => {
  const requests = new Counter("cipherlog_http_requests_total", "HTTP requests by method, route template and status.")
  const latency = new Histogram("cipherlog_http_request_duration_seconds", "HTTP request latency by method and route template.")
  const appended = new Counter("cipherlog_records_appended_total", "Records appended (new).")
  const duplicates = new Counter("cipherlog_records_duplicate_total", "Pushed records acknowledged as duplicates (retries).")
  const conflicts = new Counter("cipherlog_version_conflicts_total", "Pushes refused with a version conflict.")
  const mismatches = new Counter(
    "cipherlog_duplicate_mismatches_total",
    "Pushes refused because an event id is already stored with other bytes (a sign of tampering or a broken client)."
  )
  const pulls = new Counter("cipherlog_pulls_total", "Pull requests answered.")
  const pulled = new Counter("cipherlog_records_pulled_total", "Records returned by pulls.")
  const authFailures = new Counter("cipherlog_auth_failures_total", "Authentication failures by reason.")
  const limited = new Counter("cipherlog_rate_limited_total", "Requests refused by a rate limit, by limit.")
  const all = [requests, latency, appended, duplicates, conflicts, mismatches, pulls, pulled, authFailures, limited]
  return {
    request: (labels, seconds) => {
      requests.inc(labels)
      latency.observe({ method: labels.method, route: labels.route }, seconds)
    },
    recordsAppended: (n, d) => {
      appended.inc({}, n)
      duplicates.inc({}, d)
    },
    versionConflict: () => conflicts.inc(),
    duplicateMismatch: () => mismatches.inc(),
    pull: (n) => {
      pulls.inc()
      pulled.inc({}, n)
    },
    authFailure: (reason) => authFailures.inc({ reason }),
    rateLimited: (limit) => limited.inc({ limit }),
    render: () => all.map((m) => m.render()).join("\n") + "\n"
  }
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Metrics: Context.Tag<Metrics, Metrics> = Context.GenericTag<Metrics>("@cipherlog/server/Metrics")

/**
 * A fresh registry as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Metrics> = Layer.effect(Metrics, Effect.sync(make))
