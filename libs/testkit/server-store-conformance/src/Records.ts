/**
 * Valid `record_json` texts for tests, in the canonical form or in any
 * other valid spelling — shuffled keys, white space between tokens,
 * `\uXXXX` escapes (upper or lower case hex), numbers as `3`, `3.0`, `3e0`,
 * `30E-1` — so that byte preservation (INV-004) is tested on texts a
 * re-serialising server would change.
 *
 * @since 0.1.0
 */
import { Bytes, EventId, SyncRecord } from "@cipherlog/domain"
import { Either, FastCheck as fc } from "effect"

/**
 * The coordinates of a test record.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spec {
  readonly storeId: string
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
  readonly eventId: string
  readonly userId: string
  readonly deviceId?: string
  /** Bytes of (fake) ciphertext, tag included (default 48). */
  readonly ciphertextLength?: number
  /** A byte that fills the ciphertext (default: derived from the version). */
  readonly fill?: number
}

/**
 * How to spell a record: every choice a valid JSON writer could make.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spelling {
  /** Drives key order (a permutation per object). */
  readonly shuffle: number
  /** White space pieces placed between tokens, cycled ("" = none). */
  readonly spaces: ReadonlyArray<string>
  /** Bit mask cycled over string characters: 1 = write it as a `\u` escape. */
  readonly escapes: ReadonlyArray<boolean>
  /** 0: 3, 1: 3.0, 2: 3e0, 3: 30E-1. */
  readonly numbers: 0 | 1 | 2 | 3
  readonly upperHex: boolean
}

/**
 * The spelling `JSON.stringify` uses for a record built in the canonical
 * key order.
 *
 * @since 0.1.0
 * @category constants
 */
export const canonicalSpelling: Spelling = { shuffle: 0, spaces: [""], escapes: [false], numbers: 0, upperHex: false }

let eventCounter = 0

/**
 * A fresh UUIDv7 event id (unique within the process).
 *
 * @since 0.1.0
 * @category constructors
 */
export const eventId = (): string => {
  eventCounter = (eventCounter + 1) % 0xfff
  const random = new Uint8Array(8)
  for (let i = 0; i < 8; i++) random[i] = Math.floor(Math.random() * 256)
  return EventId.fromParts(Date.now(), eventCounter, random)
}

/**
 * A fresh id of the identifier alphabet, with a prefix.
 *
 * @since 0.1.0
 * @category constructors
 */
export const freshId = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 2 ** 40).toString(36)}`

const fields = (spec: Spec) => {
  const length = spec.ciphertextLength ?? 48
  const fill = spec.fill ?? spec.version % 251
  return {
    v: 1,
    storeId: spec.storeId,
    aggregateType: spec.aggregateType,
    aggregateId: spec.aggregateId,
    eventId: spec.eventId,
    eventType: "TestEvent",
    version: spec.version,
    createdAt: 1_764_060_000_000 + spec.version,
    key: { id: "k1", epoch: 0 },
    suite: "A256GCM",
    author: { userId: spec.userId, deviceId: spec.deviceId ?? "d1" },
    chain: { seq: 1 },
    nonce: Bytes.toBase64Url(new Uint8Array(12).fill(7)),
    ciphertext: Bytes.toBase64Url(new Uint8Array(length).fill(fill))
  }
}

type Json = number | string | { readonly [key: string]: Json }

const permute = <A>(items: ReadonlyArray<A>, seed: number): ReadonlyArray<A> => {
  const out = [...items]
  let s = seed >>> 0
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0
    const j = s % (i + 1)
    const t = out[i]!
    out[i] = out[j]!
    out[j] = t
  }
  return out
}

const write = (value: Json, spelling: Spelling): string => {
  let space = 0
  let escape = 0
  const ws = () => spelling.spaces[space++ % spelling.spaces.length]!
  const str = (s: string) => {
    let out = "\""
    for (const ch of s) {
      const escaped = spelling.escapes[escape++ % spelling.escapes.length]!
      if (escaped) {
        const hex = ch.charCodeAt(0).toString(16).padStart(4, "0")
        out += `\\u${spelling.upperHex ? hex.toUpperCase() : hex}`
      } else {
        out += ch
      }
    }
    return `${out}"`
  }
  const num = (n: number) =>
    [`${n}`, `${n}.0`, `${n}e0`, `${n * 10}E-1`][spelling.numbers]!
  const go = (v: Json, depth: number): string => {
    if (typeof v === "number") return num(v)
    if (typeof v === "string") return str(v)
    const keys = permute(Object.keys(v), spelling.shuffle + depth * 7919)
    const members = keys.map((k) => `${ws()}${str(k)}${ws()}:${ws()}${go(v[k]!, depth + 1)}${ws()}`)
    return `{${members.join(",")}${members.length === 0 ? ws() : ""}}`
  }
  return `${ws()}${go(value, 0)}${ws()}`
}

/**
 * The canonical text of a test record (`SyncRecord.encodeJson`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const canonical = (spec: Spec): string => {
  const decoded = SyncRecord.decodeJson(JSON.stringify(fields(spec)))
  if (Either.isLeft(decoded)) throw new Error(`invalid test record spec: ${decoded.left.message}`)
  return SyncRecord.encodeJson(decoded.right)
}

/**
 * A test record spelled as `spelling` says; still a valid record with the
 * same header (checked: this throws otherwise).
 *
 * @since 0.1.0
 * @category constructors
 */
export const spelled = (spec: Spec, spelling: Spelling): string => {
  const text = write(fields(spec), spelling)
  const decoded = SyncRecord.decodeJson(text)
  if (Either.isLeft(decoded) || decoded.right.eventId !== spec.eventId || decoded.right.version !== spec.version) {
    throw new Error("a spelled test record does not decode to its spec")
  }
  return text
}

/**
 * Another spelling of any record text: parses it and writes the same JSON
 * value as `spelling` says (the header, nonce and ciphertext are unchanged,
 * so a real record stays authentic).
 *
 * @since 0.1.0
 * @category constructors
 */
export const respell = (text: string, spelling: Spelling): string => {
  const out = write(JSON.parse(text) as Json, spelling)
  if (Either.isLeft(SyncRecord.decodeJson(out))) throw new Error("a respelled record does not decode")
  return out
}

/**
 * Random spellings.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const spellingArb: fc.Arbitrary<Spelling> = fc.record({
  shuffle: fc.nat(),
  spaces: fc.array(fc.constantFrom("", " ", "\t", "\n", "\r\n", "  "), { minLength: 1, maxLength: 6 }),
  escapes: fc.array(fc.boolean(), { minLength: 1, maxLength: 9 }),
  numbers: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
  upperHex: fc.boolean()
})

/**
 * The version a record text declares (parsing it as JSON).
 *
 * @since 0.1.0
 * @category getters
 */
export const versionOf = (text: string): number => {
  const decoded = SyncRecord.decodeJson(text)
  if (Either.isLeft(decoded)) throw new Error("not a valid record")
  return decoded.right.version
}

/**
 * The aggregate a record text belongs to.
 *
 * @since 0.1.0
 * @category getters
 */
export const aggregateOf = (text: string): string => {
  const decoded = SyncRecord.decodeJson(text)
  if (Either.isLeft(decoded)) throw new Error("not a valid record")
  return `${decoded.right.aggregateType}/${decoded.right.aggregateId}`
}

/**
 * The event id a record text declares.
 *
 * @since 0.1.0
 * @category getters
 */
export const eventIdOf = (text: string): string => {
  const decoded = SyncRecord.decodeJson(text)
  if (Either.isLeft(decoded)) throw new Error("not a valid record")
  return decoded.right.eventId
}
