import { Bytes } from "@cipherlog/domain"

/** JSON with object keys sorted at every level: one text per value, for binding in AAD. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`
  }
  return JSON.stringify(value)
}

export const lp = (bytes: Uint8Array): Uint8Array => Bytes.concat(Bytes.u32(bytes.length), bytes)

/** Domain-separated associated data: `tag ‖ 0x01 ‖ lp(part)…`. */
export const context = (tag: string, ...parts: ReadonlyArray<string | Uint8Array>): Uint8Array =>
  Bytes.concat(Bytes.utf8(tag), Uint8Array.of(1), ...parts.map((p) => lp(typeof p === "string" ? Bytes.utf8(p) : p)))

/**
 * A store id, key id, aggregate type or id as one lowercase path segment
 * (key store entry names are case-insensitive-safe): `_` becomes `__` and an
 * uppercase letter `X` becomes `_x`. Injective.
 */
export const segment = (id: string): string => id.replace(/_/g, "__").replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/** Inverse of {@link segment}. */
export const unsegment = (text: string): string => text.replace(/_(_|[a-z])/g, (_, c: string) => (c === "_" ? "_" : c.toUpperCase()))
