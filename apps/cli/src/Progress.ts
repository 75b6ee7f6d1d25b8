/**
 * Progress bars for long work (sync, database backup and restore), with
 * `cli-progress`, on stderr only — never on stdout, never with `--json`,
 * and only when stderr is a terminal (or `CIPHERLOG_PROGRESS=1` forces it,
 * e.g. for CI logs). A bar shows a label and counts, never a payload, an
 * id of a key or a secret.
 *
 * @since 0.1.0
 */
import cliProgress from "cli-progress"
import { Effect } from "effect"

/**
 * @since 0.1.0
 * @category constants
 */
export const PROGRESS_ENV = "CIPHERLOG_PROGRESS"

/**
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  /** Sets the count done (and the total, when it is known or changes). */
  readonly update: (value: number, total?: number) => Effect.Effect<void>
  readonly stop: Effect.Effect<void>
}

const none: Progress = { update: () => Effect.void, stop: Effect.void }

/**
 * Whether bars are shown: not in `--json` mode, and stderr is a TTY (or
 * `CIPHERLOG_PROGRESS=1`); `CIPHERLOG_PROGRESS=0` turns them off.
 *
 * @since 0.1.0
 * @category predicates
 */
export const enabled = (json: boolean): boolean => {
  if (json) return false
  const forced = process.env[PROGRESS_ENV]
  if (forced === "0") return false
  return forced === "1" || process.stderr.isTTY === true
}

/**
 * A bar labelled `label` (counts only), stopped when the scope closes if
 * not before.
 *
 * @since 0.1.0
 * @category constructors
 */
export const bar = (json: boolean, label: string, total = 0) =>
  enabled(json)
    ? Effect.acquireRelease(
      Effect.sync(() => {
        const b = new cliProgress.SingleBar({
          stream: process.stderr,
          format: `${label} [{bar}] {value}/{total}`,
          hideCursor: process.stderr.isTTY === true,
          noTTYOutput: process.stderr.isTTY !== true,
          notTTYSchedule: 250,
          clearOnComplete: false,
          barsize: 30
        }, cliProgress.Presets.shades_classic)
        b.start(Math.max(total, 0), 0)
        let stopped = false
        const progress: Progress = {
          update: (value, t) =>
            Effect.sync(() => {
              if (stopped) return
              if (t !== undefined) b.setTotal(Math.max(t, 0))
              b.update(Math.max(value, 0))
            }),
          stop: Effect.sync(() => {
            if (stopped) return
            stopped = true
            b.stop()
          })
        }
        return progress
      }),
      (p) => p.stop
    )
    : Effect.succeed(none)
