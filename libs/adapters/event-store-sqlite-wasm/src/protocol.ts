/**
 * The messages between the page and the database worker: results, and
 * typed errors flattened to `{ _tag, fields }` and rebuilt on the other side.
 *
 * @since 0.1.0
 */
import { DuplicateEventMismatch, ImmutableRecord, VersionConflict } from "@cipherlog/domain"
import { SchemaTooNew, StorageFailure, StoreLocked } from "@cipherlog/event-store"

/**
 * @since 0.1.0
 * @category models
 */
export type Reply<A> =
  | { readonly ok: A }
  | { readonly error: { readonly _tag: string; readonly fields: Record<string, unknown> } }
  | { readonly defect: string }

const constructors: Record<string, new(fields: never) => Error> = {
  VersionConflict: VersionConflict as never,
  DuplicateEventMismatch: DuplicateEventMismatch as never,
  ImmutableRecord: ImmutableRecord as never,
  StorageFailure: StorageFailure as never,
  StoreLocked: StoreLocked as never,
  SchemaTooNew: SchemaTooNew as never
}

/**
 * @since 0.1.0
 * @category encoding
 */
export const encodeError = (error: unknown): { readonly _tag: string; readonly fields: Record<string, unknown> } => {
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "StorageFailure"
  const fields: Record<string, unknown> = {}
  if (typeof error === "object" && error !== null) {
    for (const [k, v] of Object.entries(error)) if (k !== "_tag" && k !== "cause" && typeof v !== "function") fields[k] = v
  }
  return { _tag: tag, fields }
}

/**
 * @since 0.1.0
 * @category encoding
 */
export const decodeError = (e: { readonly _tag: string; readonly fields: Record<string, unknown> }): unknown => {
  const Ctor = constructors[e._tag]
  return Ctor ? new Ctor(e.fields as never) : new StorageFailure({ location: "opfs", operation: "call the database worker", code: e._tag })
}
