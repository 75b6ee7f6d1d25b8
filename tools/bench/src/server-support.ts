/**
 * What the server benchmark drives: a real sync-server process (the built
 * `apps/sync-server/dist/main.js`), fresh PostgreSQL databases, users that
 * register and log in by challenge–response over HTTP, and valid records:
 * AES-256-GCM over a 1 KiB body with AAD v1 of the header, chained per
 * device (docs/formats.md), built with node:crypto.
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import { Aad, Bytes, EventId, SyncRecord } from "@cipherlog/domain"
import { Auth, PullLines } from "@cipherlog/sync-api"
import { Effect, Either, Schema } from "effect"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as nodeCrypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import pg from "pg"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const mainJs = path.join(repoRoot, "apps", "sync-server", "dist", "main.js")

/** Builds the server (Nx caches it) so the benchmark runs the current code. */
export const buildServer = () => {
  try {
    execFileSync("npx", ["nx", "run", "@cipherlog/sync-server:build"], {
      cwd: repoRoot,
      env: { ...process.env, NX_DAEMON: "false" },
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 << 20
    })
  } catch (error) {
    const e = error as { stdout?: Buffer; stderr?: Buffer }
    throw new Error(`building the sync server failed:\n${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}`, { cause: error })
  }
}

export interface Server {
  readonly url: string
  /** The first and last output of the process (its logs), for failures. */
  readonly output: () => string
  readonly stop: () => Promise<void>
}

/** `node dist/main.js` on a free loopback port; logs are drained (kept only at both ends). */
export const startServer = async (env: Record<string, string>, nodeArgs: ReadonlyArray<string> = []): Promise<Server> => {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, mainJs], {
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let head = ""
  let tail = ""
  let code: number | null = null
  const logFile = process.env["CIPHERLOG_BENCH_SERVER_LOG"]
  const onData = (chunk: Buffer) => {
    const text = chunk.toString("utf8")
    if (logFile !== undefined && logFile !== "") fs.appendFileSync(logFile, text)
    if (head.length < 16_384) head += text
    else tail = (tail + text).slice(-16_384)
  }
  child.stdout!.on("data", onData)
  child.stderr!.on("data", onData)
  const exited = new Promise<void>((resolve) =>
    child.on("exit", (c) => {
      code = c ?? -1
      resolve()
    })
  )
  const output = () => `${head}${tail === "" ? "" : `\n…\n${tail}`}`
  const deadline = Date.now() + 30_000
  let url: string | undefined
  while (url === undefined) {
    const match = /"message":"listening".*?"url":"(http:\/\/[^"]+)"/.exec(head)
    if (match) url = match[1]
    else if (code !== null) throw new Error(`server exited (${code}) before listening:\n${output()}`)
    else if (Date.now() > deadline) {
      child.kill("SIGTERM")
      throw new Error(`server did not listen within 30 s:\n${output()}`)
    } else await new Promise((r) => setTimeout(r, 25))
  }
  return {
    url,
    output,
    stop: async () => {
      if (code === null) child.kill("SIGTERM")
      await exited
    }
  }
}

export const adminUrl = process.env["CIPHERLOG_BENCH_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"

const onAdmin = async (statement: string) => {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

/** A fresh database `cipherlog_bench_<random>`; `drop` removes it. */
export const freshDatabase = async (label: string) => {
  const name = `cipherlog_bench_${label}_${Date.now().toString(36)}_${nodeCrypto.randomBytes(4).toString("hex")}`
  await onAdmin(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { name, url: url.toString(), drop: () => onAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

export interface Answer {
  readonly status: number
  readonly body: unknown
}

/** One request as the client saw it (epoch ms): sent, response headers received, body read. */
export interface ClientTrace {
  readonly id: string
  readonly what: string
  readonly sent: number
  received?: number
  read?: number
}

let clientTrace: Array<ClientTrace> | undefined

/**
 * From now on every request carries an `x-bench-id` header and is recorded
 * (for CIPHERLOG_BENCH_SERVER_TRACE); returns what was recorded so far.
 */
export const traceRequests = (): Array<ClientTrace> => (clientTrace ??= [])

const epochNow = () => performance.timeOrigin + performance.now()

const traced = (what: string, headers: Record<string, string>): ClientTrace | undefined => {
  if (clientTrace === undefined) return undefined
  const t: ClientTrace = { id: String(clientTrace.length + 1), what, sent: epochNow() }
  clientTrace.push(t)
  headers["x-bench-id"] = t.id
  return t
}

/** One JSON request; never throws on an HTTP status. */
export const call = async (
  base: string,
  method: string,
  route: string,
  options: { readonly body?: unknown; readonly token?: string; readonly timeoutMs?: number } = {}
): Promise<Answer> => {
  const headers: Record<string, string> = {}
  if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`
  if (options.body !== undefined) headers["content-type"] = "application/json"
  const trace = traced(`${method} ${route.split("?")[0]}`, headers)
  const response = await fetch(`${base}${route}`, {
    method,
    headers,
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
  })
  if (trace !== undefined) trace.received = epochNow()
  const text = await response.text()
  if (trace !== undefined) trace.read = epochNow()
  let body: unknown = text
  try {
    body = text === "" ? undefined : JSON.parse(text)
  } catch (_) {
    // not JSON: keep the text
  }
  return { status: response.status, body }
}

/**
 * A pull answered as record lines (`Accept: application/x-ndjson`), read
 * with the decoder HttpTransport uses; `body` is the page, or the error text.
 */
export const callLines = async (base: string, route: string, options: { readonly token: string; readonly timeoutMs?: number }): Promise<Answer> => {
  const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept: PullLines.CONTENT_TYPE }
  const trace = traced(`GET ${route.split("?")[0]} (lines)`, headers)
  const response = await fetch(`${base}${route}`, { headers, signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) })
  if (trace !== undefined) trace.received = epochNow()
  if (response.status !== 200 || response.body === null) {
    const text = await response.text()
    if (trace !== undefined) trace.read = epochNow()
    return { status: response.status, body: text }
  }
  // Chunk by chunk, as HttpTransport reads it.
  const lines = PullLines.reader()
  const body = response.body.getReader()
  for (;;) {
    const { done, value } = await body.read()
    if (done) break
    const pushed = lines.push(value)
    if (Either.isLeft(pushed)) throw new Error(`${route}: record lines could not be read: ${pushed.left}`)
  }
  if (trace !== undefined) trace.read = epochNow()
  const page = lines.end()
  if (Either.isLeft(page)) throw new Error(`${route}: record lines could not be read: ${page.left}`)
  return { status: 200, body: page.right }
}

/** Fails unless the answer has one of `ok` statuses. */
export const expectStatus = (what: string, answer: Answer, ok: ReadonlyArray<number> = [200]): unknown => {
  if (!ok.includes(answer.status)) throw new Error(`${what}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 500)}`)
  return answer.body
}

const crypto = NodeCrypto.make()

/** Registers a fresh user (Ed25519 signing + X25519 keys, with proof) and logs in: returns its token. */
export const signUp = async (base: string, userId: string): Promise<string> => {
  const signing = await Effect.runPromise(crypto.ed25519.generate())
  const encryption = await Effect.runPromise(crypto.x25519.generate())
  const proof = await Effect.runPromise(crypto.ed25519.sign(
    signing.key,
    Auth.registrationMessage(userId, signing.key.publicKey, encryption.key.publicKey)
  ))
  expectStatus(
    "register",
    await call(base, "POST", "/v1/users", {
      body: {
        userId,
        signingPublicKey: Bytes.toBase64Url(signing.key.publicKey),
        encryptionPublicKey: Bytes.toBase64Url(encryption.key.publicKey),
        proof: Bytes.toBase64Url(proof)
      }
    })
  )
  const challenge = expectStatus("challenge", await call(base, "POST", "/v1/auth/challenge", { body: { userId } })) as {
    readonly challengeId: string
    readonly nonce: string
  }
  const signature = await Effect.runPromise(crypto.ed25519.sign(
    signing.key,
    Auth.sessionMessage(userId, challenge.challengeId, Bytes.fromBase64Url(challenge.nonce)!)
  ))
  const session = expectStatus("session", await call(base, "POST", "/v1/auth/session", {
    body: { challengeId: challenge.challengeId, signature: Bytes.toBase64Url(signature) }
  })) as { readonly token: string }
  return session.token
}

/** One record as the benchmark knows it: what the server stores and what to check. */
export interface Built {
  readonly eventId: string
  readonly aggregateType: string
  readonly aggregateId: string
  readonly version: number
  readonly text: string
}

const decodeHeader = Schema.decodeUnknownSync(SyncRecord.RecordHeader)

/** Plaintext bodies are this long, so each record carries 1 KiB (+16-byte tag) of ciphertext. */
export const BODY_BYTES = 1024

/**
 * A device writing records for `userId` into `storeId`: each body is sealed
 * with AES-256-GCM under a random DEK and the AAD of its header, and the
 * device's chain links each record to the one before.
 */
export const writer = (storeId: string, userId: string, deviceId: string) => {
  const dek = nodeCrypto.randomBytes(32)
  const ids = EventId.makeGenerator()
  const body = Buffer.alloc(BODY_BYTES, 0x20)
  let seq = 0
  let prev: Uint8Array | undefined
  return (aggregateId: string, version: number): Built => {
    seq += 1
    const createdAt = Date.now()
    const header = decodeHeader({
      storeId,
      aggregateType: "Note",
      aggregateId,
      eventId: ids.next(createdAt, nodeCrypto.randomBytes(10)),
      eventType: "NoteWritten",
      version,
      createdAt,
      key: { id: "dek1", epoch: 0 },
      suite: "A256GCM",
      author: { userId, deviceId },
      chain: prev === undefined ? { seq } : { seq, prev: Bytes.toBase64Url(prev) }
    })
    const aad = Aad.encode(header)
    body.write(`{"v":1,"payload":{"n":${seq}},"pad":"`, 0, "utf8")
    body.write(`"}`, BODY_BYTES - 2, "utf8")
    const nonce = nodeCrypto.randomBytes(12)
    const cipher = nodeCrypto.createCipheriv("aes-256-gcm", dek, nonce)
    cipher.setAAD(aad)
    const ciphertext = Buffer.concat([cipher.update(body), cipher.final(), cipher.getAuthTag()])
    prev = nodeCrypto.createHash("sha256").update(Aad.chainInput(aad, prev, nonce, ciphertext)).digest()
    return {
      eventId: header.eventId,
      aggregateType: header.aggregateType,
      aggregateId: header.aggregateId,
      version: header.version,
      text: SyncRecord.encodeJsonTrusted({ v: 1, ...header, nonce, ciphertext })
    }
  }
}

/** The answer of a push, as far as the benchmark reads it. */
export interface PushAnswer {
  readonly results: ReadonlyArray<{ readonly eventId: string; readonly globalSequence: number; readonly duplicate: boolean }>
  readonly head: number
}

/** The answer of a pull, as far as the benchmark reads it. */
export interface PullAnswer {
  readonly records: ReadonlyArray<{ readonly globalSequence: number; readonly recordJson: string }>
  readonly head: number
  readonly hasMore: boolean
}
