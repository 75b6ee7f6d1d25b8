/**
 * The encryption pipeline (seed 003). A command's envelopes declare their
 * key dependencies — `key:<keyId>` for the key that encrypts them,
 * `identity:<userId>` for the author that signs them; a resolver (backed by
 * the keyring) supplies the material; and the handlers here are pure
 * transformations of envelopes plus resolved dependencies into sync records
 * and back. They touch no storage.
 *
 * Sealing a batch: every envelope's body is encrypted at once per key (AAD v1
 * binds it to its whole header, INV-013), then the device's hash chain is
 * extended over the batch and its last record signed (INV-007).
 *
 * @since 0.1.0
 */
import { Crypto, type DecryptionFailed, type InvalidKey, type KeyUsageExhausted, type SigningKey, type SymmetricKey } from "@cipherlog/crypto"
import {
  Aad,
  type Author,
  Bytes,
  Dependency,
  Envelope,
  type KeyRef,
  keyRefLabel,
  KeysMissing,
  RecordIntegrityError,
  type SuiteId,
  type SyncRecord
} from "@cipherlog/domain"
import { Effect, Option } from "effect"
import type { ChainHead } from "./EventStore.js"

/**
 * A resolved `key:<id>` dependency: the key and the reference records name.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedKey {
  readonly ref: KeyRef
  readonly key: SymmetricKey<"dek"> | SymmetricKey<"kek">
}

/**
 * A resolved `identity:<userId>` dependency: this device, as author and signer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Signer {
  readonly author: Author
  readonly key: SigningKey
}

/**
 * Everything the handlers need, looked up beforehand.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedDeps {
  readonly keys: ReadonlyMap<string, ResolvedKey>
  readonly signer: Signer | undefined
}

/**
 * A record the pipeline produced, with its chain digest. (Its text is
 * `SyncRecord.encodeJsonTrusted(record)`, rendered when it is sent.)
 *
 * @since 0.1.0
 * @category models
 */
export interface SealedRecord {
  readonly record: SyncRecord.SyncRecord
  readonly digest: Uint8Array
}

const encodeBody = (e: Envelope.EventEnvelope) => Bytes.utf8(JSON.stringify(Envelope.body(e)))

const keyDependency = (e: Envelope.EventEnvelope): string | undefined => {
  for (const d of e.deps) if (d.startsWith("key:")) return Dependency.parse(d).id
  return undefined
}

/**
 * Seals a batch of envelopes of one author into records, continuing the
 * author's chain from `chain` (none for its first record in the store).
 *
 * @since 0.1.0
 * @category handlers
 */
export const seal = (input: {
  readonly envelopes: ReadonlyArray<Envelope.EventEnvelope>
  readonly deps: ResolvedDeps
  readonly chain: Option.Option<ChainHead>
}): Effect.Effect<{ readonly records: ReadonlyArray<SealedRecord>; readonly head: ChainHead }, KeysMissing | InvalidKey | KeyUsageExhausted, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const { envelopes, deps } = input
    const signer = deps.signer
    if (signer === undefined) return yield* Effect.fail(new KeysMissing({ storeId: envelopes[0]?.storeId ?? "", missing: ["identity (signer)"] }))
    const start = Option.match(input.chain, { onNone: () => 0, onSome: (h) => h.seq })
    // 1. Headers and AADs (chain.prev is not in the AAD, so all of them are known now).
    const prepared: Array<{ fields: Aad.AadFields; aad: Uint8Array; resolved: ResolvedKey; plaintext: Uint8Array }> = []
    for (const [i, e] of envelopes.entries()) {
      const keyId = keyDependency(e)
      const resolved = keyId === undefined ? undefined : deps.keys.get(keyId)
      if (resolved === undefined) return yield* Effect.fail(new KeysMissing({ storeId: e.storeId, missing: [keyId === undefined ? "key dependency" : `key:${keyId}`] }))
      const fields = {
        storeId: e.storeId, aggregateType: e.aggregateType, aggregateId: e.aggregateId, eventId: e.eventId, eventType: e.eventType,
        version: e.version, createdAt: e.createdAt, key: resolved.ref, suite: resolved.key.suite as SuiteId, author: signer.author,
        chain: { seq: start + 1 + i }
      }
      prepared.push({ fields, aad: Aad.encode(fields), resolved, plaintext: encodeBody(e) })
    }
    // 2. Encrypt, one batch per key.
    const sealed = new Array<{ nonce: Uint8Array; ciphertext: Uint8Array }>(prepared.length)
    const groups = new Map<SymmetricKey, Array<number>>()
    for (let i = 0; i < prepared.length; i++) {
      const key = prepared[i]!.resolved.key
      const group = groups.get(key)
      if (group === undefined) groups.set(key, [i])
      else group.push(i)
    }
    for (const [key, indices] of groups) {
      const out = yield* crypto.sealMany(key, indices.map((i) => ({ plaintext: prepared[i]!.plaintext, aad: prepared[i]!.aad })))
      indices.forEach((i, j) => {
        sealed[i] = out[j]!
      })
    }
    // 3. Extend the chain; 4. sign its new head.
    // A head at sequence 0 means "no record yet" (a chain reset by a rebase).
    let prev = Option.getOrUndefined(Option.map(Option.filter(input.chain, (h) => h.seq > 0), (h) => h.digest))
    const records: Array<SealedRecord> = []
    const scratch = Aad.chainScratch()
    for (const [i, p] of prepared.entries()) {
      const s = sealed[i]!
      const digest = yield* crypto.sha256(Aad.chainInput(p.aad, prev, s.nonce, s.ciphertext, scratch))
      const record = {
        v: 1 as const,
        ...p.fields,
        chain: prev === undefined ? { seq: p.fields.chain.seq } : { seq: p.fields.chain.seq, prev },
        nonce: s.nonce,
        ciphertext: s.ciphertext
      } as unknown as SyncRecord.SyncRecord
      records.push({ record, digest })
      prev = digest
    }
    const last = records[records.length - 1]
    if (last) {
      const signature = yield* crypto.ed25519.sign(signer.key, Aad.signatureInput(last.digest))
      records[records.length - 1] = { ...last, record: { ...last.record, signature } }
    }
    return { records, head: { seq: start + records.length, digest: prev ?? new Uint8Array(32) } }
  })

/**
 * The chain digest of a stored record (its `chain.prev` is taken as written).
 *
 * @since 0.1.0
 * @category handlers
 */
export const digestOf = (record: { readonly header: SyncRecord.RecordHeader; readonly nonce: Uint8Array; readonly ciphertext: Uint8Array }) =>
  Effect.flatMap(Crypto.Crypto, (crypto) => crypto.sha256(Aad.chainInput(Aad.encode(record.header), record.header.chain.prev, record.nonce, record.ciphertext)))

/**
 * What verifying a device's records found: how many (from the start) are
 * vouched for by a signature, the chain head after them, and the first
 * broken record, if any.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChainVerdict {
  readonly verified: number
  readonly head: Option.Option<ChainHead>
  readonly broken: Option.Option<{ readonly index: number; readonly reason: "chain" | "signature" }>
  /** The chain digest of each record up to the first broken one. */
  readonly digests: ReadonlyArray<Uint8Array>
}

/**
 * Verifies records of ONE device, in chain order, continuing from `from`
 * (the head already verified, if any): each must follow the previous
 * (`seq + 1`, `prev` = previous digest) and a record is verified once a
 * signature at or after it verifies under `publicKey`. Records after the
 * last signature wait for the next batch.
 *
 * @since 0.1.0
 * @category handlers
 */
export const verifyChain = (input: {
  readonly records: ReadonlyArray<{
    readonly header: SyncRecord.RecordHeader
    readonly nonce: Uint8Array
    readonly ciphertext: Uint8Array
    readonly signature: Uint8Array | undefined
    /** The record's AAD v1, if already computed. */
    readonly aad?: Uint8Array
  }>
  readonly from: Option.Option<ChainHead>
  readonly publicKey: Uint8Array
}): Effect.Effect<ChainVerdict, never, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    let head = input.from
    let prevDigest = Option.getOrUndefined(Option.map(head, (h) => h.digest))
    let seq = Option.match(head, { onNone: () => 0, onSome: (h) => h.seq })
    let verified = 0
    const digests: Array<Uint8Array> = []
    const scratch = Aad.chainScratch()
    for (const [i, r] of input.records.entries()) {
      const link = r.header.chain
      const linked = link.seq === seq + 1 &&
        (prevDigest === undefined ? link.prev === undefined : link.prev !== undefined && Bytes.equalsPublic(link.prev, prevDigest))
      if (!linked) return { verified, head, broken: Option.some({ index: i, reason: "chain" as const }), digests }
      const digest = yield* crypto.sha256(Aad.chainInput(r.aad ?? Aad.encode(r.header), link.prev, r.nonce, r.ciphertext, scratch))
      digests.push(digest)
      if (r.signature !== undefined) {
        const ok = yield* crypto.ed25519.verify(input.publicKey, Aad.signatureInput(digest), r.signature)
        if (!ok) return { verified, head, broken: Option.some({ index: i, reason: "signature" as const }), digests }
        verified = i + 1
        head = Option.some({ seq: link.seq, digest })
      }
      prevDigest = digest
      seq = link.seq
    }
    return { verified, head, broken: Option.none(), digests }
  })

/**
 * The payload and metadata an opened record holds.
 *
 * @since 0.1.0
 * @category models
 */
export type OpenedBody = Envelope.EventBody

/** Parses a body v1 (JSON text) and checks its shape; `undefined` when it is not one. */
const decodeBody = (text: string): OpenedBody | undefined => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (_) {
    return undefined
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined
  const body = json as Record<string, unknown>
  // Exactly v, payload and meta (JSON.parse makes only own, enumerable data properties — `__proto__` included).
  for (const k in body) if (k !== "v" && k !== "payload" && k !== "meta") return undefined
  const { v, payload, meta } = body
  if (v !== 1 || !Envelope.isJson(payload)) return undefined
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return undefined
  for (const k in meta) if (typeof (meta as Record<string, unknown>)[k] !== "string") return undefined
  return { v: 1, payload, meta: meta as Record<string, string> }
}

const integrityOf = (h: SyncRecord.RecordHeader, reason: "tag" | "format") =>
  new RecordIntegrityError({ reason, storeId: h.storeId, aggregateType: h.aggregateType, aggregateId: h.aggregateId, version: h.version, eventId: h.eventId })

/**
 * Opens records sealed under one key: each is its body, or the typed failure
 * that names it (never its contents).
 *
 * @since 0.1.0
 * @category handlers
 */
export const open = (
  key: SymmetricKey,
  records: ReadonlyArray<{ readonly header: SyncRecord.RecordHeader; readonly nonce: Uint8Array; readonly ciphertext: Uint8Array; readonly aad?: Uint8Array }>
): Effect.Effect<ReadonlyArray<OpenedBody | RecordIntegrityError>, InvalidKey | DecryptionFailed, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const items = new Array<{ readonly sealed: { readonly suite: SuiteId; readonly nonce: Uint8Array; readonly ciphertext: Uint8Array }; readonly aad: Uint8Array }>(records.length)
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!
      items[i] = { sealed: { suite: r.header.suite as SuiteId, nonce: r.nonce, ciphertext: r.ciphertext }, aad: r.aad ?? Aad.encode(r.header) }
    }
    const results = yield* crypto.openMany(key, items).pipe(Effect.catchTag("UnsupportedSuite", () => Effect.succeed(records.map(() => undefined))))
    const out = new Array<OpenedBody | RecordIntegrityError>(results.length)
    for (let i = 0; i < results.length; i++) {
      const result = results[i]
      const h = records[i]!.header
      if (!(result instanceof Uint8Array)) {
        out[i] = integrityOf(h, "tag")
        continue
      }
      let text: string
      try {
        text = Bytes.fromUtf8(result)
      } catch (_) {
        out[i] = integrityOf(h, "format")
        continue
      }
      out[i] = decodeBody(text) ?? integrityOf(h, "format")
    }
    return out
  })

/**
 * The label under which a key is held in `ResolvedDeps.keys` for a record.
 *
 * @since 0.1.0
 * @category getters
 */
export const refLabel = (ref: KeyRef): string => keyRefLabel(ref)
