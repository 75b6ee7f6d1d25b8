/**
 * Compromise signals (seed 002 "Detection"): what the sync engine meets that
 * may mean a key, a device or the server is compromised, surfaced so a host
 * can act (alert the user, lock, rotate an identity, remove a device).
 *
 * - `RecordRejected` — a pulled record failed its signature, hash chain, AAD
 *   or tag check (tampering on the server or on the wire, or a forged author).
 * - `DuplicateMismatch` — the server holds an event id with other bytes than
 *   this device (a pull finding it, or a push refused for it): one event id,
 *   two contents (INV-005).
 * - `IdentityRotated` — an identity rotation not seen before: a peer's
 *   (expected now and then; an emergency one says the peer was compromised)
 *   or the user's own, done by another device (unexpected unless the user did
 *   it).
 * - `IdentityChainBroken` — the identity chain the server served for a user
 *   does not verify from the genesis this device pinned (a forged or
 *   forked rotation, or keys substituted by the server): the user's new
 *   keys were not pinned, nothing was sealed to them.
 *
 * Signals carry ids, reasons and times — never contents or key material
 * (INV-016). Each is also counted in the Effect metric
 * `cipherlog_security_signals_total`, tagged with `signal`.
 *
 * @since 0.1.0
 */
import type { LocalStore } from "@cipherlog/event-store"
import type { RecordIntegrityError } from "@cipherlog/domain"
import { Data, Effect, Metric } from "effect"

/**
 * @since 0.1.0
 * @category models
 */
export type SecuritySignal = Data.TaggedEnum<{
  RecordRejected: {
    readonly storeId: string
    readonly eventId: string
    readonly aggregateType: string
    readonly aggregateId: string
    readonly version: number
    readonly reason: RecordIntegrityError["reason"]
  }
  DuplicateMismatch: { readonly storeId: string; readonly eventId: string; readonly seenOn: "pull" | "push" }
  IdentityRotated: {
    readonly storeId: string
    readonly userId: string
    /** The user's own identity, rotated by another device. */
    readonly own: boolean
    readonly kind: "planned" | "emergency"
    readonly rotatedAt: number
    readonly deviceId: string
  }
  IdentityChainBroken: { readonly userId: string; readonly detail: string }
}>

/**
 * Constructors and matchers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const SecuritySignal = Data.taggedEnum<SecuritySignal>()

/**
 * The metric every signal increments (tag `signal`: the signal's tag; for
 * rotations `IdentityRotated/own` or `IdentityRotated/emergency` as well when
 * they apply, so the alarming cases can be alerted on alone).
 *
 * @since 0.1.0
 * @category metrics
 */
export const counter = Metric.counter("cipherlog_security_signals_total", {
  description: "Compromise signals met by the sync engine (rejected records, duplicate event ids with other bytes, identity rotations)."
})

/**
 * The signals in what ingesting a page of records reported.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromIngest = (storeId: string, report: LocalStore.IngestReport): ReadonlyArray<SecuritySignal> => [
  ...report.rejected.map((e) =>
    SecuritySignal.RecordRejected({
      storeId: e.storeId, eventId: e.eventId, aggregateType: e.aggregateType, aggregateId: e.aggregateId, version: e.version, reason: e.reason
    })
  ),
  ...report.mismatched.map((eventId) => SecuritySignal.DuplicateMismatch({ storeId, eventId, seenOn: "pull" })),
  ...report.rotations.map((r) => SecuritySignal.IdentityRotated({ storeId, ...r }))
]

/**
 * The metric tags of a signal.
 *
 * @since 0.1.0
 * @category metrics
 */
export const tags = (signal: SecuritySignal): ReadonlyArray<string> =>
  signal._tag === "IdentityRotated"
    ? [signal._tag, ...(signal.own ? [`${signal._tag}/own`] : []), ...(signal.kind === "emergency" ? [`${signal._tag}/emergency`] : [])]
    : [signal._tag]

/**
 * Counts a signal in {@link counter}.
 *
 * @since 0.1.0
 * @category metrics
 */
export const count = (signal: SecuritySignal): Effect.Effect<void> =>
  Effect.forEach(tags(signal), (t) => Metric.increment(Metric.tagged(counter, "signal", t)), { discard: true })
