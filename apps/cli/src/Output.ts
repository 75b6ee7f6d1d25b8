/**
 * What commands print: one JSON document on stdout with `--json` (shapes in
 * docs/cli.md), text otherwise. Notices for people (warnings, progress) go
 * to stderr, so stdout stays one parseable document.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"

/**
 * Prints a result: `value` as JSON, or the text `human` renders.
 *
 * @since 0.1.0
 * @category output
 */
export const result = <A>(json: boolean, value: A, human: (value: A) => string): Effect.Effect<void> =>
  json ? Console.log(JSON.stringify(value, null, 2)) : Console.log(human(value))

/**
 * A notice on stderr.
 *
 * @since 0.1.0
 * @category output
 */
export const notice = (text: string): Effect.Effect<void> => Console.error(text)

/**
 * A plain text table: columns padded to their widest cell.
 *
 * @since 0.1.0
 * @category output
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")
  return [line(header), ...rows.map(line)].join("\n")
}
