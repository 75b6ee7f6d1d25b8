/**
 * A test client over fetch: real identities (Ed25519 signing, X25519
 * encryption keys from the Node crypto adapter), registration, login, and
 * records whose ciphertext is real AES-256-GCM over a JSON body, bound to
 * its header by AAD v1 and chained per device (docs/formats.md).
 */
import { type Crypto } from "@cipherlog/crypto"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { Aad, Bytes, EventId, SyncRecord } from "@cipherlog/domain"
import { Auth } from "@cipherlog/sync-api"
import { Effect, Schema } from "effect"

export const crypto: Crypto.Crypto = NodeCrypto.make()
export const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect)

/** The fields tests read from answers, when they do not name a type. */
export interface Answer {
  readonly _tag?: string
  readonly reason?: string
  readonly created?: boolean
  readonly actual?: number
  readonly missing?: ReadonlyArray<{ readonly globalSequence: number; readonly recordJson: string }>
  readonly results?: ReadonlyArray<{ readonly globalSequence: number; readonly duplicate: boolean }>
  readonly records?: ReadonlyArray<{ readonly globalSequence: number; readonly recordJson: string }>
}

export interface Response<A = Answer> {
  readonly status: number
  readonly body: A
  readonly text: string
  readonly headers: Headers
}

/** One request; never throws on an HTTP status. */
export const call = async <A = Answer>(
  base: string,
  method: string,
  path: string,
  options: { readonly body?: unknown; readonly raw?: string | Uint8Array; readonly token?: string; readonly headers?: Record<string, string> } = {}
): Promise<Response<A>> => {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`
  let body: string | Uint8Array<ArrayBuffer> | undefined = options.raw === undefined || typeof options.raw === "string" ? options.raw : new Uint8Array(options.raw)
  if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers["content-type"] ??= "application/json"
  }
  const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await response.text()
  let parsed: unknown
  try {
    parsed = text === "" ? undefined : JSON.parse(text)
  } catch (_) {
    parsed = text
  }
  return { status: response.status, body: parsed as A, text, headers: response.headers }
}

export const newIdentity = async (userId: string) => {
  const signing = await run(crypto.ed25519.generate())
  const encryption = await run(crypto.x25519.generate())
  return { userId, signing, encryptionPublicKey: encryption.key.publicKey, encryptionSecret: encryption.secret }
}
export type User = Awaited<ReturnType<typeof newIdentity>>

export const registrationBody = async (user: User) => ({
  userId: user.userId,
  signingPublicKey: Bytes.toBase64Url(user.signing.key.publicKey),
  encryptionPublicKey: Bytes.toBase64Url(user.encryptionPublicKey),
  proof: Bytes.toBase64Url(await run(crypto.ed25519.sign(
    user.signing.key,
    Auth.registrationMessage(user.userId, user.signing.key.publicKey, user.encryptionPublicKey)
  )))
})

export const register = async (base: string, user: User, headers: Record<string, string> = {}) =>
  call(base, "POST", "/v1/users", { body: await registrationBody(user), headers })

/** Challenge, sign, session: returns the token. */
export const login = async (base: string, user: User): Promise<string> => {
  const challenge = await call<{ challengeId: string; nonce: string }>(base, "POST", "/v1/auth/challenge", { body: { userId: user.userId } })
  if (challenge.status !== 200) throw new Error(`challenge: ${challenge.status} ${challenge.text}`)
  const nonce = Bytes.fromBase64Url(challenge.body.nonce)!
  const signature = await run(crypto.ed25519.sign(user.signing.key, Auth.sessionMessage(user.userId, challenge.body.challengeId, nonce)))
  const session = await call<{ token: string }>(base, "POST", "/v1/auth/session", {
    body: { challengeId: challenge.body.challengeId, signature: Bytes.toBase64Url(signature) }
  })
  if (session.status !== 200) throw new Error(`session: ${session.status} ${session.text}`)
  return session.body.token
}

/** Registers and logs in a fresh user. */
export const signUp = async (base: string, userId: string) => {
  const user = await newIdentity(userId)
  const registered = await register(base, user)
  if (registered.status !== 200) throw new Error(`register: ${registered.status} ${registered.text}`)
  return { user, token: await login(base, user) }
}

const decodeHeader = Schema.decodeUnknownSync(SyncRecord.RecordHeader)

const generator = EventId.makeGenerator()
/** A fresh UUIDv7. */
export const eventId = (): string => generator.next(Date.now(), Effect.runSync(crypto.randomBytes(10)))

/**
 * A device that writes real records: AES-256-GCM over `{"v":1,"payload":…}`
 * with AAD v1 of the header, chained per device.
 */
export const device = async (userId: string, deviceId: string, storeId: string) => {
  const dek = await run(crypto.generateKey("dek"))
  let seq = 0
  let prev: Uint8Array | undefined
  return {
    dek,
    /** Builds the canonical record_json; `payload` is the plaintext (it never leaves as such). */
    record: async (input: { readonly aggregateType?: string; readonly aggregateId: string; readonly version: number; readonly payload: unknown; readonly eventId?: string }) => {
      seq += 1
      const header = decodeHeader({
        storeId,
        aggregateType: input.aggregateType ?? "Note",
        aggregateId: input.aggregateId,
        eventId: input.eventId ?? eventId(),
        eventType: "NoteWritten",
        version: input.version,
        createdAt: Date.now(),
        key: { id: "dek1", epoch: 0 },
        suite: "A256GCM",
        author: { userId, deviceId },
        chain: prev === undefined ? { seq } : { seq, prev: Bytes.toBase64Url(prev) }
      })
      const aad = Aad.encode(header)
      const body = Bytes.utf8(JSON.stringify({ v: 1, payload: input.payload, meta: {} }))
      const sealed = await run(crypto.seal(dek.key, body, aad))
      prev = await run(crypto.sha256(Aad.chainInput(aad, prev, sealed.nonce, sealed.ciphertext)))
      const text = SyncRecord.encodeJson({ v: 1, ...header, nonce: sealed.nonce, ciphertext: sealed.ciphertext })
      return { text, header, aad, sealed }
    }
  }
}
