/**
 * The benchmark harness: each case is measured with tinybench beside a raw
 * baseline in the same process and run, and reported as a ratio. A case
 * function performs `batch` operations per call, so ops/s = batch / median
 * call latency.
 */
import { Bench } from "tinybench"

export interface Case {
  readonly name: string
  /** Operations one call performs. */
  readonly batch: number
  /** Bytes processed per operation, for MB/s (optional). */
  readonly bytes?: number
  readonly fn: () => unknown
}

export interface Comparison {
  readonly title: string
  readonly baseline: Case
  readonly candidates: ReadonlyArray<Case & { readonly target?: { readonly min?: number; readonly max?: number; readonly note: string } }>
  /** Compare time per op instead of throughput (for slow KDFs): ratio = candidate time / baseline time. */
  readonly timeRatio?: boolean
}

export interface Row {
  readonly title: string
  readonly name: string
  readonly opsPerSec: number
  readonly mbPerSec?: number
  readonly msPerOp: number
  readonly ratio: number
  readonly target?: string
  readonly pass?: boolean
  /** Printed in place of the ratio, for rows that are checks rather than comparisons. */
  readonly note?: string
}

const measure = async (cases: ReadonlyArray<Case>, time: number, iterations: number) => {
  const bench = new Bench({ time, iterations, warmupTime: Math.min(500, time / 3), warmupIterations: 2 })
  for (const c of cases) bench.add(c.name, c.fn)
  await bench.run()
  return bench.tasks.map((task, i) => {
    const result = task.result
    if (result.state !== "completed") throw new Error(`${task.name}: ${result.state}${"error" in result ? ` ${String(result.error)}` : ""}`)
    const c = cases[i]!
    const msPerCall = result.latency.p50 ?? result.latency.mean
    const opsPerSec = (c.batch * 1000) / msPerCall
    return { name: c.name, opsPerSec, msPerOp: msPerCall / c.batch, ...(c.bytes ? { mbPerSec: (opsPerSec * c.bytes) / 1e6 } : {}) }
  })
}

export const compare = async (comparison: Comparison, options: { time?: number; iterations?: number } = {}): Promise<ReadonlyArray<Row>> => {
  const measured = await measure([comparison.baseline, ...comparison.candidates], options.time ?? 1500, options.iterations ?? 10)
  const base = measured[0]!
  return measured.map((m, i) => {
    const candidate = i === 0 ? undefined : comparison.candidates[i - 1]
    const ratio = comparison.timeRatio ? m.msPerOp / base.msPerOp : m.opsPerSec / base.opsPerSec
    const target = candidate?.target
    const row: Row = { title: comparison.title, ...m, ratio }
    return target === undefined ? row : {
      ...row,
      target: target.note,
      pass: (target.min === undefined || ratio >= target.min) && (target.max === undefined || ratio <= target.max)
    }
  })
}

const fmt = (n: number) =>
  n >= 100 ? Math.round(n).toLocaleString("en") : n >= 1 ? n.toFixed(1) : n.toPrecision(2)

export const print = (rows: ReadonlyArray<Row>) => {
  let title = ""
  for (const r of rows) {
    if (r.title !== title) {
      title = r.title
      process.stdout.write(`\n${title}\n`)
    }
    const ops = `${fmt(r.opsPerSec)} ops/s`.padStart(16)
    const mb = r.mbPerSec === undefined ? "".padStart(12) : `${fmt(r.mbPerSec)} MB/s`.padStart(12)
    const ms = (r.msPerOp >= 1 ? `${r.msPerOp.toFixed(1)} ms/op` : `${(r.msPerOp * 1000).toFixed(2)} µs/op`).padStart(14)
    const ratio = r.note !== undefined ? `  ${r.note}` : r.ratio === 1 && r.target === undefined ? "  baseline" : `  ${r.ratio.toFixed(2)}×`
    const verdict = r.target === undefined ? "" : `  target ${r.target}: ${r.pass ? "MET" : "NOT MET"}`
    process.stdout.write(`  ${r.name.padEnd(46)}${ops}${mb}${ms}${ratio}${verdict}\n`)
  }
}
