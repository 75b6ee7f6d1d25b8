/**
 * Canary checks for INV-016: a secret must never show up in anything an
 * error, a log line or a diagnostic renders to. A canary is looked for in
 * every spelling it could take: UTF-8 text, hex, base64, base64url and the
 * decimal lists that JSON and `String()` produce for byte arrays.
 *
 * @since 0.1.0
 */
import { Cause, Encoding } from "effect"

/**
 * The spellings under which `secret` could appear in text.
 *
 * @since 0.1.0
 */
export const spellings = (secret: Uint8Array | string): ReadonlyArray<string> => {
  if (typeof secret === "string") return [secret]
  const bytes = Array.from(secret)
  const out = [
    Encoding.encodeHex(secret),
    Encoding.encodeHex(secret).toUpperCase(),
    Encoding.encodeBase64(secret).replace(/=+$/, ""),
    Encoding.encodeBase64Url(secret),
    bytes.join(","),
    bytes.join(", "),
    JSON.stringify(Object.fromEntries(bytes.map((b, i) => [String(i), b]))).slice(1, 60)
  ]
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(secret)
    if (text.length >= 8) out.push(text)
  } catch (_) {
    // not text
  }
  return out.filter((s) => s.length >= 8)
}

/**
 * Everything a value can be rendered as: `String`, `message`, JSON, the
 * pretty Effect cause and the `stack`.
 *
 * @since 0.1.0
 */
export const renderings = (value: unknown): ReadonlyArray<string> => {
  const out: Array<string> = []
  const attempt = (f: () => unknown) => {
    try {
      const text = f()
      if (typeof text === "string") out.push(text)
    } catch (_) {
      // a rendering that throws leaks nothing
    }
  }
  attempt(() => String(value))
  attempt(() => JSON.stringify(value))
  attempt(() => (value as { message?: unknown }).message)
  attempt(() => (value as { stack?: unknown }).stack)
  attempt(() => Cause.pretty(Cause.fail(value)))
  attempt(() => Cause.pretty(Cause.die(value)))
  return out
}

/**
 * The first spelling of a secret found in a rendering of `value`, if any.
 *
 * @since 0.1.0
 */
export const findLeak = (value: unknown, secrets: ReadonlyArray<Uint8Array | string>): string | undefined => {
  const texts = renderings(value)
  for (const secret of secrets) {
    for (const spelling of spellings(secret)) {
      if (texts.some((text) => text.includes(spelling))) return spelling
    }
  }
  return undefined
}
