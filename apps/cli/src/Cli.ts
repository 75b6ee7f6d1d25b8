/**
 * The `cipherlog` commands (docs/cli.md). Each handler reads its
 * passphrase(s) from the environment, stdin or a prompt (never argv),
 * composes this device from the store directory, does its work and prints
 * one result; failures become a `CliError` with its exit code in `main.ts`.
 *
 * @since 0.1.0
 */
import { AggregateId, AggregateType, AggregateVersion, Bytes, Envelope, EventType, StoreId } from "@cipherlog/domain"
import { Diagnostics, type LocalStore } from "@cipherlog/event-store"
import { Backup, Identity, Recovery } from "@cipherlog/keys"
import { IdentityRotation, Sharing } from "@cipherlog/sync-transport-http"
import { FetchHttpClient } from "@effect/platform"
import { Args, Command, Options } from "@effect/cli"
import { Config, Effect, Either, Option, Redacted, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { badInput, CliError, conflict, unexpected } from "./CliError.js"
import * as Device from "./Device.js"
import * as Output from "./Output.js"
import * as Passphrase from "./Passphrase.js"
import * as Peers from "./Peers.js"
import * as Progress from "./Progress.js"
import * as Server from "./Server.js"
import * as StoreDir from "./StoreDir.js"
import * as Sync from "./Sync.js"

// Shared options ------------------------------------------------------------------

const store = Options.text("store").pipe(
  Options.withFallbackConfig(Config.string(StoreDir.STORE_ENV)),
  Options.withDescription(`The store directory (default: $${StoreDir.STORE_ENV}).`)
)
const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON document (shapes in docs/cli.md)."))
const passphraseStdin = Options.boolean("passphrase-stdin").pipe(
  Options.withDescription(`Read the passphrase from the first line of stdin (else $${Passphrase.ENV.store}, else a prompt).`)
)

/** Unlocks the device; a directory restored from a database copy alone fails as locked (4) before any passphrase is asked. */
const openDevice = (dir: string, stdin: boolean) =>
  Effect.gen(function*() {
    const p = StoreDir.paths(dir)
    const config = yield* StoreDir.readConfig(p)
    if (config.locked === true) return yield* Effect.fail(yield* Device.lockedError(p, config))
    return yield* Device.open(p, yield* Passphrase.store({ stdin }))
  })

/** This device's user, with the safety number others compare before sharing with them. */
const selfIdentity = (device: Device.Device) =>
  Effect.gen(function*() {
    const identity = (yield* device.keyring.identity).public
    return { identity, safetyNumber: yield* Identity.fingerprint(identity) }
  })

/** The device and a registered client of the server, for the sharing commands. */
const session = (o: { readonly store: string; readonly passphraseStdin: boolean; readonly server: string }) =>
  Effect.gen(function*() {
    const url = yield* Sync.parseUrl(o.server)
    const device = yield* openDevice(o.store, o.passphraseStdin)
    const client = yield* Sync.connect(device, url)
    yield* client.register
    const ctx: Sharing.Context = { client, keyring: device.keyring, storeId: device.config.storeId }
    return { url, device, client, ctx }
  })

const userIdArg = Args.text({ name: "USER_ID" }).pipe(Args.withDescription("The user's id (they see it in `cipherlog whoami`)."))

/** `TYPE/ID`, each checked against the domain's rules. */
const parseAggregate = (text: string) => {
  const slash = text.indexOf("/")
  if (slash <= 0 || slash === text.length - 1) {
    return Effect.fail(badInput("--aggregate must be TYPE/ID, e.g. Goal/g1.", "InvalidInput"))
  }
  const type = Schema.decodeUnknownEither(AggregateType)(text.slice(0, slash))
  const id = Schema.decodeUnknownEither(AggregateId)(text.slice(slash + 1))
  if (Either.isLeft(type)) return Effect.fail(badInput("--aggregate: the TYPE must start with a letter and have at most 64 characters from A-Z a-z 0-9 _ . -", "InvalidInput"))
  if (Either.isLeft(id)) return Effect.fail(badInput("--aggregate: the ID must be 1 to 64 characters from A-Z a-z 0-9 _ -", "InvalidInput"))
  return Effect.succeed({ aggregateType: String(type.right), aggregateId: String(id.right) })
}

// init ------------------------------------------------------------------------------

const PHRASE_WARNING = [
  "RECOVERY PHRASE: shown this once and never stored. Write it down and keep it offline.",
  "Anyone who has it (and your server) can take over this identity; without it and without a key backup,",
  "losing this device's passphrase loses the data."
].join("\n")

const init = Command.make("init", { store, json, passphraseStdin }, (o) =>
  Effect.gen(function*() {
    const passphrase = yield* Passphrase.store({ stdin: o.passphraseStdin, confirm: true })
    const p = StoreDir.paths(o.store)
    const { config, phrase } = yield* Device.initialize(p, passphrase)
    const words = Redacted.value(phrase)
    const value = { storeId: config.storeId, userId: config.userId, deviceId: config.deviceId, store: p.dir, recoveryPhrase: words }
    if (o.json) yield* Output.notice(PHRASE_WARNING)
    yield* Output.result(o.json, value, (v) =>
      [
        `Created store ${v.storeId} in ${v.store}`,
        `  user    ${v.userId}`,
        `  device  ${v.deviceId}`,
        "",
        PHRASE_WARNING,
        "",
        `  ${v.recoveryPhrase}`,
        ""
      ].join("\n"))
  })).pipe(Command.withDescription("Create a store directory, an identity and a device; print the recovery phrase once."))

// append ----------------------------------------------------------------------------

const eventJson = (e: LocalStore.Event) => ({
  globalSequence: e.globalSequence,
  eventId: e.eventId,
  aggregateType: e.aggregateType,
  aggregateId: e.aggregateId,
  version: e.version,
  eventType: e.eventType,
  createdAt: e.createdAt,
  author: { userId: e.author.userId, deviceId: e.author.deviceId },
  payload: e.payload
})

const append = Command.make(
  "append",
  {
    store,
    json,
    passphraseStdin,
    aggregate: Options.text("aggregate").pipe(Options.withDescription("TYPE/ID of the aggregate, e.g. Goal/g1.")),
    type: Options.text("type").pipe(Options.withDescription("The event type, e.g. GoalSet.")),
    data: Options.text("data").pipe(Options.withDescription("The payload: a JSON value.")),
    expectVersion: Options.integer("expect-version").pipe(
      Options.optional,
      Options.withDescription("Append only if the aggregate is at this version (0: it must not exist).")
    )
  },
  (o) =>
    Effect.gen(function*() {
      const aggregate = yield* parseAggregate(o.aggregate)
      if (Either.isLeft(Schema.decodeUnknownEither(EventType)(o.type))) {
        return yield* Effect.fail(badInput("--type must start with a letter and have at most 64 characters from A-Z a-z 0-9 _ . -", "InvalidInput"))
      }
      let payload: unknown
      try {
        payload = JSON.parse(o.data)
      } catch (_) {
        return yield* Effect.fail(badInput("--data is not valid JSON; quote it for your shell, e.g. --data '{\"title\":\"Run\"}'.", "InvalidInput"))
      }
      if (!Envelope.isJson(payload)) return yield* Effect.fail(badInput("--data is not a plain JSON value.", "InvalidInput"))
      if (Option.isSome(o.expectVersion) && o.expectVersion.value < 0) {
        return yield* Effect.fail(badInput("--expect-version must be 0 or more.", "InvalidInput"))
      }
      const device = yield* openDevice(o.store, o.passphraseStdin)
      const events = yield* device.store.append({
        ...aggregate,
        expectedVersion: Option.match(o.expectVersion, { onNone: () => AggregateVersion.any, onSome: AggregateVersion.exactly }),
        events: [{ eventType: o.type, payload }]
      })
      const value = { storeId: device.config.storeId, events: events.map(eventJson) }
      yield* Output.result(o.json, value, (v) =>
        v.events.map((e) => `Appended ${e.aggregateType}/${e.aggregateId} v${e.version} ${e.eventType} (${e.eventId})`).join("\n"))
    })
).pipe(Command.withDescription("Append one event (encrypted and signed on this device)."))

// read ------------------------------------------------------------------------------

/**
 * Everything readable, in a device-independent order: synced events by the
 * server's global sequence, then this device's pending ones in local order.
 */
const collect = (items: ReadonlyArray<LocalStore.Item>) => {
  const events = items.flatMap((i) => (i._tag === "Event" ? [i.event] : []))
    .sort((a, b) => (a.globalSequence ?? Number.MAX_SAFE_INTEGER) - (b.globalSequence ?? Number.MAX_SAFE_INTEGER) || a.position - b.position)
  const coordinates = (h: { readonly eventId: string; readonly aggregateType: string; readonly aggregateId: string; readonly version: number }) => ({
    eventId: h.eventId, aggregateType: h.aggregateType, aggregateId: h.aggregateId, version: h.version
  })
  return {
    events: events.map(eventJson),
    locked: items.flatMap((i) => (i._tag === "Locked" ? [{ ...coordinates(i.header), missingKey: i.missing }] : [])),
    rejected: items.flatMap((i) => (i._tag === "Rejected" ? [{ ...coordinates(i.header), reason: i.error.reason }] : []))
  }
}

const read = Command.make(
  "read",
  {
    store,
    json,
    passphraseStdin,
    aggregate: Options.text("aggregate").pipe(Options.optional, Options.withDescription("Only this aggregate (TYPE/ID)."))
  },
  (o) =>
    Effect.gen(function*() {
      const aggregate = yield* Option.match(o.aggregate, { onNone: () => Effect.succeed(Option.none()), onSome: (a) => Effect.map(parseAggregate(a), Option.some) })
      const device = yield* openDevice(o.store, o.passphraseStdin)
      const items = Option.isSome(aggregate)
        ? yield* device.store.readAggregate(aggregate.value.aggregateType, aggregate.value.aggregateId)
        : Array.from(yield* Stream.runCollect(device.store.readAll({ verify: true })))
      const value = { storeId: device.config.storeId, ...collect(items) }
      yield* Output.result(o.json, value, (v) => {
        const rows = v.events.map((e) => [
          e.globalSequence === null ? "pending" : String(e.globalSequence),
          `${e.aggregateType}/${e.aggregateId}`,
          String(e.version),
          e.eventType,
          e.author.deviceId,
          JSON.stringify(e.payload)
        ])
        const lines = [Output.table(["seq", "aggregate", "v", "type", "device", "payload"], rows)]
        if (v.locked.length > 0) lines.push(`${v.locked.length} record(s) locked: their keys are not on this device (see \`cipherlog diagnose\`).`)
        for (const r of v.rejected) lines.push(`rejected: ${r.aggregateType}/${r.aggregateId} v${r.version} event ${r.eventId} failed its ${r.reason} check.`)
        return lines.join("\n")
      })
    })
).pipe(Command.withDescription("Read decrypted events, all or one aggregate's, as a table or JSON."))

// sync ------------------------------------------------------------------------------

const sync = Command.make(
  "sync",
  {
    store,
    json,
    passphraseStdin,
    server: Options.text("server").pipe(
      Options.withFallbackConfig(Config.string(Sync.SERVER_ENV)),
      Options.withDescription(`The sync server's URL (default: $${Sync.SERVER_ENV}).`)
    )
  },
  (o) =>
    Effect.gen(function*() {
      const url = yield* Sync.parseUrl(o.server)
      const device = yield* openDevice(o.store, o.passphraseStdin)
      if (!o.json) yield* Output.notice(`syncing store ${device.config.storeId} with ${url} …`)
      const bar = yield* Progress.bar(o.json, "sync")
      const report = yield* Sync.run(device, url, (round, r) =>
        o.json || Progress.enabled(o.json) ? Effect.void : Output.notice(`round ${round}: pulled ${r.pulled}, pushed ${r.pushed}, rebased ${r.rebased}, ${r.pending} pending`), bar)
      yield* bar.stop
      for (const k of report.keys.skipped) {
        yield* Output.notice(
          k.reason === "untrusted-sender"
            ? `keys: KEK version ${k.versionId} was sealed to you by ${k.sender}, whose identity this device has not verified; not taken. ` +
              `If ${k.sender} is an admin of the store, verify them: \`cipherlog members trust ${k.sender} --safety-number "…"\`.`
            : `keys: the KEK blob of version ${k.versionId} from ${k.sender || "an unknown sender"} was refused (${k.reason}); ask an admin to provision it again.`
        )
      }
      for (const s of report.signals) {
        if (s._tag === "IdentityRotated") {
          yield* Output.notice(
            s.own
              ? `security: your identity was rotated (${s.kind}) by device ${s.deviceId}. If you did not do this, another device holds your keys: ` +
                "revoke it (`cipherlog devices revoke`) and rotate the store's keys. Its records stay parked on this device."
              : `security: user ${s.userId} rotated their identity (${s.kind}), seen on device ${s.deviceId}; the new keys verify from the identity you trusted.` +
                (s.kind === "emergency" ? " An emergency rotation means their old keys were compromised." : "")
          )
        } else if (s._tag === "DuplicateMismatch") {
          yield* Output.notice(`security: the server holds event ${s.eventId} with other bytes than this device (seen on ${s.seenOn}); history was altered on the server or by another device.`)
        }
      }
      for (const r of report.rejectedRecords) {
        yield* Output.notice(
          `integrity: record ${r.aggregateType}/${r.aggregateId} v${r.version} (event ${r.eventId}) failed its ${r.reason ?? "integrity"} check and was not applied; ` +
            "the rest of the log is readable. Keep it for investigation: it means tampering or corruption on the way or on the server."
        )
      }
      yield* Output.result(o.json, report, (r) =>
        `Synced with ${r.server}: pushed ${r.pushed}, pulled ${r.pulled}, rebased ${r.rebased}; ` +
        `cursor ${r.cursor}, ${r.pending} pending, ${r.parked} parked, ${r.rejected} rejected.`)
    })
).pipe(Command.withDescription("Push this device's new events and pull everyone else's; safe to interrupt and re-run."))

// diagnose --------------------------------------------------------------------------

const diagnose = Command.make("diagnose", {
  store,
  passphraseStdin,
  json: Options.boolean("json").pipe(Options.withDescription("Accepted for uniformity: diagnose always prints JSON."))
}, (o) =>
  Effect.gen(function*() {
    const device = yield* openDevice(o.store, o.passphraseStdin)
    const diagnostics = yield* Diagnostics.collect(device.store)
    yield* Output.result(true, { cli: { store: device.paths.dir, version: VERSION }, ...diagnostics }, () => "")
  })).pipe(Command.withDescription("Print JSON diagnostics (ids, counts, versions, missing keys; never a secret or payload)."))

// keys ------------------------------------------------------------------------------

const keysStatus = Command.make("status", { store, json, passphraseStdin }, (o) =>
  Effect.gen(function*() {
    const device = yield* openDevice(o.store, o.passphraseStdin)
    const status = yield* device.keyring.status(device.config.storeId)
    const keyState = yield* device.store.keyState
    const { safetyNumber } = yield* selfIdentity(device)
    const value = {
      storeId: status.storeId,
      userId: device.keyring.userId,
      deviceId: device.keyring.deviceId,
      safetyNumber,
      kekVersions: status.kekVersions.map((v) => ({ versionId: v.versionId, status: v.status, createdAt: v.createdAt })),
      deks: status.deks,
      epochs: status.epochs,
      pendingGrants: status.pending,
      highestUsage: status.highestUsage,
      locked: keyState.locked,
      missing: keyState.missing
    }
    yield* Output.result(o.json, value, (v) =>
      [
        `store ${v.storeId}  user ${v.userId}  device ${v.deviceId}`,
        `safety number ${v.safetyNumber}`,
        Output.table(["KEK version", "status", "created"], v.kekVersions.map((k) => [k.versionId, k.status, new Date(k.createdAt).toISOString()])),
        `DEKs ${v.deks}, epochs ${v.epochs}, grants to publish ${v.pendingGrants}, highest usage ${v.highestUsage}`,
        v.locked ? `LOCKED: ${v.missing.map((m) => `${m.key} (${m.records} records)`).join(", ")} not on this device` : "all records' keys are on this device"
      ].join("\n"))
  })).pipe(Command.withDescription("Key versions, epochs and usage of this device's store."))

const serverOpt = Options.text("server").pipe(
  Options.withFallbackConfig(Config.string(Sync.SERVER_ENV)),
  Options.withDescription(`The sync server's URL (default: $${Sync.SERVER_ENV}).`)
)

const keysRotate = Command.make("rotate", { store, json, passphraseStdin, server: serverOpt }, (o) =>
  Effect.gen(function*() {
    const { ctx, device } = yield* session(o)
    const rotated = yield* Sharing.rotate(ctx, { identities: Peers.lookup(device.peers), reason: "cipherlog keys rotate" })
    const value = { storeId: ctx.storeId, versionId: rotated.versionId, provisionedTo: rotated.provisionedTo }
    yield* Output.result(o.json, value, (v) =>
      `Rotated store ${v.storeId}'s KEK: version ${v.versionId} is active, sealed to ${v.provisionedTo.length} member(s). ` +
      "New writes use new data-key epochs under it; older versions stay decrypt-only, so everything written before stays readable.")
  })).pipe(Command.withDescription("Admin: a new KEK version, provisioned to every current member (old data stays readable)."))

const keys = Command.make("keys").pipe(
  Command.withSubcommands([keysStatus, keysRotate]),
  Command.withDescription("Key management (status, rotate).")
)

// whoami ----------------------------------------------------------------------------

const whoami = Command.make("whoami", {
  store,
  json,
  passphraseStdin,
  server: Options.text("server").pipe(Options.optional, Options.withDescription("Also register this user's public keys on this server (so an admin can add you)."))
}, (o) =>
  Effect.gen(function*() {
    const device = yield* openDevice(o.store, o.passphraseStdin)
    const { safetyNumber } = yield* selfIdentity(device)
    let registeredOn: string | null = null
    if (Option.isSome(o.server)) {
      const url = yield* Sync.parseUrl(o.server.value)
      yield* Effect.flatMap(Sync.connect(device, url), (c) => c.register)
      registeredOn = url
    }
    const value = { userId: device.config.userId, deviceId: device.config.deviceId, storeId: device.config.storeId, safetyNumber, registeredOn }
    yield* Output.result(o.json, value, (v) =>
      [
        `user    ${v.userId}`,
        `device  ${v.deviceId}`,
        `store   ${v.storeId}`,
        `safety number  ${v.safetyNumber}`,
        "",
        "To be added to a store, give an admin your user id and read them your safety number over a channel you trust",
        "(in person, a call): they pass both to `cipherlog members add`." +
        (v.registeredOn === null ? " Your keys are registered on a server by `--server URL` here or by any `sync`." : "")
      ].join("\n"))
  })).pipe(Command.withDescription("This device's user id, device id and safety number (what an admin needs to add you)."))

// members ---------------------------------------------------------------------------

const safetyNumberOpt = Options.text("safety-number").pipe(
  Options.withDescription("The user's safety number, as they read it to you from `cipherlog whoami` (quote it).")
)

const membersList = Command.make("list", { store, json, passphraseStdin, server: serverOpt }, (o) =>
  Effect.gen(function*() {
    const { ctx, device } = yield* session(o)
    const list = yield* Sharing.members(ctx)
    const value = {
      storeId: ctx.storeId,
      members: list.map((m) => ({
        userId: m.userId,
        role: m.role,
        addedAt: m.addedAt,
        you: m.userId === device.config.userId,
        verified: m.userId === device.config.userId || device.peers.some((p) => p.userId === m.userId)
      }))
    }
    yield* Output.result(o.json, value, (v) =>
      Output.table(["user", "role", "added", "verified"], v.members.map((m) => [
        m.you ? `${m.userId} (you)` : m.userId, m.role, new Date(m.addedAt).toISOString(), m.verified ? "yes" : "no"
      ])))
  })).pipe(Command.withDescription("The store's members on the server, and whether this device verified each one's safety number."))

/** Verifies a user against their safety number and remembers their identity (peers.json). */
const verifyAndTrust = (device: Device.Device, client: Sharing.Context["client"], userId: string, safetyNumber: string) =>
  Effect.gen(function*() {
    if (userId === device.config.userId) return yield* Effect.fail(badInput("That is your own user id.", "InvalidInput"))
    const found = yield* Sharing.verifyUser(client, userId, safetyNumber)
    yield* Peers.put(device.paths, found.identity, found.safetyNumber, yield* Effect.clockWith((c) => c.currentTimeMillis))
    return found
  })

const membersAdd = Command.make("add", {
  store,
  json,
  passphraseStdin,
  server: serverOpt,
  userId: userIdArg,
  safetyNumber: safetyNumberOpt,
  role: Options.choice("role", ["admin", "member", "reader"]).pipe(Options.withDefault("member" as const), Options.withDescription("admin, member (default) or reader."))
}, (o) =>
  Effect.gen(function*() {
    const { ctx, device, client } = yield* session(o)
    const found = yield* verifyAndTrust(device, client, o.userId, o.safetyNumber)
    const added = yield* Sharing.addMember(ctx, { identity: found.identity, role: o.role })
    const value = { storeId: ctx.storeId, userId: added.userId, role: added.role, safetyNumber: found.safetyNumber, provisioned: added.provisioned }
    yield* Output.result(o.json, value, (v) =>
      `Added ${v.userId} to store ${v.storeId} as ${v.role}; KEK version(s) ${v.provisioned.join(", ") || "none"} sealed to them. ` +
      `They join with: cipherlog join --server URL --store-id ${v.storeId} --admin ${device.config.userId} --admin-safety-number "<yours, from cipherlog whoami>"`)
  })).pipe(Command.withDescription("Admin: add a user whose safety number you compared, and seal every KEK version to them."))

const membersRemove = Command.make("remove", { store, json, passphraseStdin, server: serverOpt, userId: userIdArg }, (o) =>
  Effect.gen(function*() {
    const { ctx, device } = yield* session(o)
    const rotated = yield* Sharing.removeMember(ctx, o.userId, Peers.lookup(device.peers))
    const value = { storeId: ctx.storeId, removed: o.userId, versionId: rotated.versionId, provisionedTo: rotated.provisionedTo }
    yield* Output.result(o.json, value, (v) =>
      `Removed ${v.removed} from store ${v.storeId} and rotated the KEK to ${v.versionId} (sealed to the ${v.provisionedTo.length} remaining member(s)). ` +
      "They keep what they already had; nothing written from now on is readable with their keys.")
  })).pipe(Command.withDescription("Admin: remove a member by rotating the KEK to the remaining members only."))

const membersTrust = Command.make("trust", { store, json, passphraseStdin, server: serverOpt, userId: userIdArg, safetyNumber: safetyNumberOpt }, (o) =>
  Effect.gen(function*() {
    const passphrase = yield* Passphrase.store({ stdin: o.passphraseStdin })
    const p = StoreDir.paths(o.store)
    const found = yield* Effect.scoped(Effect.gen(function*() {
      const url = yield* Sync.parseUrl(o.server)
      const device = yield* Device.open(p, passphrase)
      const client = yield* Sync.connect(device, url)
      yield* client.register
      return yield* verifyAndTrust(device, client, o.userId, o.safetyNumber)
    }))
    // Reopened with the new peer: their records parked until now are verified and applied.
    const retried = yield* Effect.scoped(Effect.flatMap(Device.open(p, passphrase), (device) => device.store.retryParked))
    const value = { storeId: yield* Effect.map(StoreDir.readConfig(p), (c) => c.storeId), userId: o.userId, safetyNumber: found.safetyNumber, released: retried.released }
    yield* Output.result(o.json, value, (v) =>
      `Verified ${v.userId}: this device now trusts their devices' records (${v.released} parked record(s) applied) and the KEK versions they seal to you.`)
  })).pipe(Command.withDescription("Verify another member by safety number (no change on the server), so their events verify here."))

const members = Command.make("members").pipe(
  Command.withSubcommands([membersList, membersAdd, membersRemove, membersTrust]),
  Command.withDescription("The store's members: list, add (admin), remove by rotation (admin), trust (verify a member).")
)

// join ------------------------------------------------------------------------------

const join = Command.make("join", {
  store,
  json,
  passphraseStdin,
  server: serverOpt,
  storeId: Options.text("store-id").pipe(Options.withDescription("The shared store's id (the admin's `cipherlog whoami`).")),
  admin: Options.text("admin").pipe(Options.withDescription("The user id of the admin who added you.")),
  adminSafetyNumber: Options.text("admin-safety-number").pipe(Options.withDescription("The admin's safety number, as they read it to you (quote it)."))
}, (o) =>
  Effect.gen(function*() {
    if (Either.isLeft(Schema.decodeUnknownEither(StoreId)(o.storeId))) {
      return yield* Effect.fail(badInput("--store-id is not a store id; give the id the admin's `cipherlog whoami` shows (storeId), e.g. s-….", "InvalidInput"))
    }
    const p = StoreDir.paths(o.store)
    const joined = yield* Effect.scoped(Effect.gen(function*() {
      const { device, client } = yield* session(o)
      if (device.config.storeId !== o.storeId && (yield* device.store.eventStore.counts(device.config.storeId)).records > 0) {
        return yield* Effect.fail(conflict(
          `${p.dir} already holds events of store ${device.config.storeId}; joining would hide them. Nothing was changed. ` +
            "Join from a fresh directory: `cipherlog init --store NEW_DIR`, give the admin its `cipherlog whoami`, then `cipherlog join --store NEW_DIR …`.",
          "StoreNotEmpty"
        ))
      }
      const admin = yield* verifyAndTrust(device, client, o.admin, o.adminSafetyNumber)
      // Are we a member yet? (The server answers 403 otherwise.)
      yield* Sharing.members({ client, keyring: device.keyring, storeId: o.storeId }).pipe(
        Effect.catchTag("AccessDenied", () =>
          Effect.fail(new CliError({
            kind: "network", code: "NotAMember",
            detail: `You are not a member of store ${o.storeId} on ${o.server} yet. Give the admin your user id ${device.config.userId} and safety number ` +
              "(`cipherlog whoami`) and ask them to run `cipherlog members add`; then run this again. The admin's identity is verified and kept."
          })))
      )
      if (device.config.storeId !== o.storeId) yield* StoreDir.writeConfig(p, { ...device.config, storeId: o.storeId })
      return admin
    }))
    const passphrase = yield* Passphrase.store({ stdin: o.passphraseStdin })
    const outcome = yield* Effect.scoped(Effect.gen(function*() {
      const device = yield* Device.open(p, passphrase)
      const bar = yield* Progress.bar(o.json, "join")
      const report = yield* Sync.run(device, yield* Sync.parseUrl(o.server), () => Effect.void, bar)
      yield* bar.stop
      const kekVersions = (yield* device.keyring.kekVersions(o.storeId)).length
      const keyState = yield* device.store.keyState
      return { report, kekVersions, locked: keyState.locked, config: device.config }
    }))
    const value = {
      storeId: o.storeId,
      userId: outcome.config.userId,
      deviceId: outcome.config.deviceId,
      admin: { userId: o.admin, safetyNumber: joined.safetyNumber },
      kekVersions: outcome.kekVersions,
      pulled: outcome.report.pulled,
      cursor: outcome.report.cursor,
      locked: outcome.locked
    }
    yield* Output.result(o.json, value, (v) =>
      `Joined store ${v.storeId} (admin ${v.admin.userId}, verified): ${v.kekVersions} KEK version(s), ${v.pulled} record(s) pulled.` +
      (v.kekVersions === 0 ? " No KEK version was sealed to you yet: ask the admin to run `cipherlog members add` again, then `cipherlog sync`." : "") +
      (v.locked ? " Some records stay locked (see `cipherlog diagnose`); records of members you have not verified stay parked until `cipherlog members trust`." : ""))
  })).pipe(Command.withDescription("Join a store an admin added you to: verify the admin's safety number, take the KEK versions sealed to you, sync."))

// devices ---------------------------------------------------------------------------

/** A property of a decoded JSON value, if it is an object that has it. */
const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null && !Array.isArray(value) && key in value ? (value as Readonly<Record<string, unknown>>)[key] : undefined

const devicesList = Command.make("list", { store, json, passphraseStdin }, (o) =>
  Effect.gen(function*() {
    const device = yield* openDevice(o.store, o.passphraseStdin)
    const items = Array.from(yield* Stream.runCollect(device.store.readAll({ includeSystem: true })))
    type Listed = { deviceId: string; userId: string; enrolledAt: number | null; current: boolean; synced: boolean; revokedAt: number | null }
    const enrolled = new Map<string, Listed>()
    enrolled.set(device.config.deviceId, { deviceId: device.config.deviceId, userId: device.config.userId, enrolledAt: null, current: true, synced: false, revokedAt: null })
    const revoked = new Map<string, number>()
    for (const i of items) {
      if (i._tag !== "Event" || i.event.aggregateType !== "cipherlog.device") continue
      const userId = i.event.author.userId
      if (userId !== device.config.userId) continue
      const deviceId = i.event.aggregateId
      if (i.event.eventType === "DeviceRevoked") {
        const at = field(field(i.event.payload, "revocation"), "revokedAt")
        revoked.set(deviceId, typeof at === "number" ? at : i.event.createdAt)
        continue
      }
      const issuedAt = field(field(i.event.payload, "certificate"), "issuedAt")
      enrolled.set(deviceId, {
        deviceId, userId, enrolledAt: typeof issuedAt === "number" ? issuedAt : i.event.createdAt,
        current: deviceId === device.config.deviceId, synced: i.event.globalSequence !== null, revokedAt: null
      })
    }
    for (const [deviceId, at] of revoked) {
      const d = enrolled.get(deviceId)
      if (d !== undefined) enrolled.set(deviceId, { ...d, revokedAt: at })
    }
    const value = { userId: device.config.userId, devices: [...enrolled.values()] }
    yield* Output.result(o.json, value, (v) =>
      Output.table(["device", "enrolled", "synced", ""], v.devices.map((d) => [
        d.deviceId, d.enrolledAt === null ? "not yet (no write)" : new Date(d.enrolledAt).toISOString(), d.synced ? "yes" : "no",
        [d.current ? "this device" : "", d.revokedAt === null ? "" : `revoked ${new Date(d.revokedAt).toISOString()}`].filter((x) => x !== "").join(", ")
      ])) + "\nAdd a device with `cipherlog recover` (recovery phrase + server) or `cipherlog restore --keys` (key backup).")
  })).pipe(Command.withDescription("This user's devices, from the enrollment records in the log (add one with `recover` or `restore`)."))

const revokeOptions = {
  store,
  json,
  passphraseStdin,
  deviceId: Args.text({ name: "DEVICE_ID" }).pipe(Args.withDescription("The device to revoke (see `cipherlog devices list`)."))
}

const phraseStdin = Options.boolean("phrase-stdin").pipe(
  Options.withDescription(
    `Read the recovery phrase from stdin: its first line, or its second with --passphrase-stdin (else $${Passphrase.ENV.phrase}, else a prompt).`
  )
)

/** Stores the recovery material of a rotated identity in the store directory's settings (published to `url` already). */
const keepRecovery = (device: Device.Device, url: string, blob: Option.Option<string>) =>
  Option.match(blob, {
    onNone: () => Effect.void,
    onSome: (b) =>
      device.config.recovery === undefined
        ? Effect.void
        : StoreDir.writeConfig(device.paths, { ...device.config, recovery: { ...device.config.recovery, blob: b, publishedTo: [url] } })
  })

/** The phrase's master for this store, checked against the locator this device keeps (a wrong phrase changes nothing). */
const masterOf = (device: Device.Device, o: { readonly phraseStdin: boolean; readonly passphraseStdin: boolean }) =>
  Effect.gen(function*() {
    const phrase = yield* Passphrase.phrase({ stdin: o.phraseStdin, line: o.passphraseStdin ? 1 : 0 })
    const master = yield* Recovery.derive(phrase, device.config.storeId)
    const locator = device.config.recovery?.locator
    if (locator !== undefined && locator !== master.locator) {
      return yield* Effect.fail(new CliError({
        kind: "wrong-passphrase", code: "RecoveryFailed",
        detail: `This recovery phrase is not the one of store ${device.config.storeId}; nothing was changed. Check each word.`
      }))
    }
    return master
  })

const revokeOptionsWithServer = { ...revokeOptions, server: serverOpt, phraseStdin }

const revokeDevice = (o: Command.Command.ParseConfig<typeof revokeOptionsWithServer>) =>
  Effect.gen(function*() {
    const { client, device, url } = yield* session(o)
    const master = yield* masterOf(device, o)
    const { lastSeq } = yield* device.store.revokeDevice(o.deviceId)
    // Send the authorship revocation while the identity's old key still logs in.
    yield* Sync.run(device, url, () => Effect.void)
    const revoked = yield* IdentityRotation.revokeDeviceKeys({
      client,
      keyring: device.keyring,
      options: { baseUrl: url },
      recovery: { storeId: device.config.storeId, master },
      stores: [{ storeId: device.config.storeId, identities: Peers.lookup(device.peers) }]
    }).pipe(Effect.provide(FetchHttpClient.layer))
    yield* keepRecovery(device, url, revoked.recoveryBlob)
    const value = {
      storeId: device.config.storeId,
      deviceId: o.deviceId,
      lastSeq,
      identityRotatedAt: revoked.statement.rotatedAt,
      kekRotated: revoked.rotated.map((r) => r.versionId),
      needsAdminRotation: revoked.needsAdminRotation
    }
    yield* Output.result(o.json, value, (v) =>
      `Revoked device ${v.deviceId}: its records after the ${v.lastSeq} this device had accepted are rejected everywhere, ` +
      "the user's identity was rotated (emergency: the old keys no longer log in) and the recovery material re-sealed under a new root" +
      (v.kekRotated.length > 0
        ? `; the store's KEK was rotated to ${v.kekRotated.join(", ")}, so nothing written from now on opens with what that device held.`
        : `; this user is not an admin of store ${v.storeId}: ask an admin to run \`cipherlog keys rotate\`.`) +
      " Your other devices take the new identity with `cipherlog identity relink` (the recovery phrase).")
  })

const devicesRevoke = Command.make("revoke", revokeOptionsWithServer, revokeDevice).pipe(
  Command.withDescription("Revoke one of this user's other devices: its later records are rejected, the identity is rotated (emergency) and the KEK rotated, so it opens nothing new.")
)
const devicesRemove = Command.make("remove", revokeOptionsWithServer, revokeDevice).pipe(Command.withDescription("The same as `devices revoke`."))

// backup / restore ------------------------------------------------------------------

const out = Options.text("out").pipe(Options.withDescription("The file to write (must not exist)."))

const refuseExisting = (file: string) =>
  fs.existsSync(file) ? Effect.fail(conflict(`${path.resolve(file)} exists; nothing was written. Choose another --out.`, "FileExists")) : Effect.void

const writeNew = (file: string, write: (tmp: string) => void) =>
  Effect.try({
    try: () => {
      const tmp = `${path.resolve(file)}.tmp-${process.pid}`
      write(tmp)
      fs.renameSync(tmp, path.resolve(file))
    },
    catch: () => unexpected(`${path.resolve(file)} could not be written; check the path, free space and permissions.`, "Io")
  })

const backupKeys = Command.make("keys", { store, json, passphraseStdin, out }, (o) =>
  Effect.gen(function*() {
    yield* refuseExisting(o.out)
    const device = yield* openDevice(o.store, o.passphraseStdin)
    const backupPassphrase = yield* Passphrase.backup({ confirm: true })
    const text = yield* Backup.exportKeys(device.keyring, backupPassphrase)
    yield* writeNew(o.out, (tmp) => fs.writeFileSync(tmp, text, { mode: 0o600 }))
    const value = { storeId: device.config.storeId, userId: device.config.userId, file: path.resolve(o.out), kind: "keys" as const }
    yield* Output.result(o.json, value, (v) => `Wrote a key backup of user ${v.userId} to ${v.file} (under the backup passphrase).`)
  })).pipe(Command.withDescription(`Export every key of this device's user under a separate backup passphrase ($${Passphrase.ENV.backup}).`))

const backupDb = Command.make("db", { store, json, passphraseStdin, out }, (o) =>
  Effect.gen(function*() {
    yield* refuseExisting(o.out)
    const p = StoreDir.paths(o.store)
    // Unlocking proves the caller owns the store.
    const config = yield* Effect.scoped(Effect.map(openDevice(o.store, o.passphraseStdin), (d) => d.config))
    const target = path.resolve(o.out)
    const tmp = `${target}.tmp-${process.pid}`
    const bar = yield* Progress.bar(o.json, "backup db", 1)
    yield* Device.copyEvents(p, tmp).pipe(
      Effect.zipRight(Effect.try({ try: () => fs.renameSync(tmp, target), catch: () => unexpected(`${target} could not be written.`, "Io") })),
      Effect.onError(() => Effect.sync(() => fs.rmSync(tmp, { force: true })))
    )
    yield* bar.update(1, 1)
    yield* bar.stop
    const value = { storeId: config.storeId, file: path.resolve(o.out), bytes: fs.statSync(o.out).size, kind: "db" as const }
    yield* Output.result(o.json, value, (v) =>
      `Wrote a copy of the local log (${v.bytes} bytes; ciphertext only) to ${v.file}. It opens only with a key backup or this device's keys.`)
  })).pipe(Command.withDescription("Copy the local event log (encrypted records) to a file."))

const backup = Command.make("backup").pipe(
  Command.withSubcommands([backupKeys, backupDb]),
  Command.withDescription("Back up keys (under a backup passphrase) or the local database.")
)

const restore = Command.make(
  "restore",
  {
    store,
    json,
    passphraseStdin,
    keys: Options.text("keys").pipe(
      Options.optional,
      Options.withDescription("A key backup file (`cipherlog backup keys`). Without it, --db alone restores the log locked.")
    ),
    db: Options.text("db").pipe(Options.optional, Options.withDescription("A database copy (`cipherlog backup db`) to start from.")),
    storeId: Options.text("store-id").pipe(Options.optional, Options.withDescription("Which store of the backup (when it has several)."))
  },
  (o) =>
    Effect.gen(function*() {
      if (Option.isSome(o.db) && !fs.existsSync(o.db.value)) return yield* Effect.fail(badInput(`${path.resolve(o.db.value)} does not exist; check the --db path.`, "NoFile"))
      const p = StoreDir.paths(o.store)
      if (Option.isNone(o.keys)) {
        // A database copy alone: the log, locked, until `restore --keys`.
        if (Option.isNone(o.db)) return yield* Effect.fail(badInput("Give --keys FILE (a key backup), --db FILE (a database copy), or both.", "InvalidInput"))
        const found = yield* Device.restoreLocked(p, o.db.value, o.storeId)
        const value = {
          storeId: found.storeId,
          store: p.dir,
          locked: true,
          records: found.records,
          missing: found.state.missing
        }
        yield* Output.result(o.json, value, (v) =>
          `Restored the database copy of store ${v.storeId} into ${v.store}, locked: ${v.records} record(s), none readable without keys ` +
          `(missing: ${v.missing.map((m) => m.key).join(", ") || "none"}). Commands that read exit with 4 until you run ` +
          `\`cipherlog restore --keys FILE --store ${v.store}\`.`)
        return
      }
      const keysFile = o.keys.value
      const text = yield* Effect.try({
        try: () => fs.readFileSync(keysFile, "utf8"),
        catch: () => badInput(`${path.resolve(keysFile)} could not be read; check the --keys path.`, "NoFile")
      })
      const lockedConfig = StoreDir.exists(p) ? Option.some(yield* StoreDir.readConfig(p)).pipe(Option.filter((c) => c.locked === true)) : Option.none()
      if (Option.isSome(lockedConfig) && Option.isSome(o.db)) {
        return yield* Effect.fail(badInput(`${p.dir} already holds a locked database copy; give only --keys to unlock it.`, "InvalidInput"))
      }
      const backupPassphrase = yield* Passphrase.backup()
      const contents = yield* Backup.open(text, backupPassphrase)
      const stores = contents.stores.map((s) => s.storeId)
      const storeId = Option.isSome(lockedConfig)
        ? lockedConfig.value.storeId
        : Option.getOrElse(o.storeId, () => stores.length === 1 ? stores[0]! : "")
      if (!stores.includes(storeId)) {
        Backup.zeroizeContents(contents)
        return yield* Effect.fail(badInput(`Say which store to restore with --store-id (the backup has: ${stores.join(", ") || "none"}).`, "InvalidInput"))
      }
      const passphrase = yield* Passphrase.store({ stdin: o.passphraseStdin, confirm: true })
      const bar = yield* Progress.bar(o.json, "restore")
      const restored = yield* (Option.isSome(lockedConfig)
        ? Device.unlock(p, passphrase, contents, lockedConfig.value, bar)
        : Device.restore(p, passphrase, contents, storeId, o.db, bar)).pipe(Effect.ensuring(Effect.sync(() => Backup.zeroizeContents(contents))))
      yield* bar.stop
      const { config } = restored
      const value = {
        storeId: config.storeId,
        userId: config.userId,
        deviceId: config.deviceId,
        store: p.dir,
        database: Option.match(restored.seeded, {
          onNone: () => null,
          onSome: (s) => ({ records: s.records, unsynced: s.unsynced, locked: s.parked, rejected: s.rejected })
        })
      }
      yield* Output.result(o.json, value, (v) =>
        `Restored user ${v.userId}'s keys for store ${v.storeId} into ${v.store} as device ${v.deviceId}` +
        (v.database === null
          ? ". Run `cipherlog sync` to fetch the log."
          : `, with ${v.database.records} record(s) from the database copy.` +
            (v.database.unsynced > 0 ? ` ${v.database.unsynced} record(s) the old device never synced were not taken.` : "") +
            (v.database.locked > 0 ? ` ${v.database.locked} record(s) stay locked: their keys are in neither the backup nor the database (see \`cipherlog diagnose\`).` : "")))
    })
).pipe(Command.withDescription("Make this directory a device of a key backup's user (optionally from a database copy)."))

// recover ---------------------------------------------------------------------------

const serverOption = Options.text("server").pipe(
  Options.withFallbackConfig(Config.string(Sync.SERVER_ENV)),
  Options.withDescription(`The sync server's URL (default: $${Sync.SERVER_ENV}).`)
)

const RecoveryMaterialJson = Schema.parseJson(Recovery.RecoveryMaterial)

const recoverOptions = {
    store,
    json,
    passphraseStdin: Options.boolean("passphrase-stdin").pipe(
      Options.withDescription(`Read the new device's passphrase from stdin: its first line, or its second with --phrase-stdin (else $${Passphrase.ENV.store}, else a prompt).`)
    ),
    phraseStdin: Options.boolean("phrase-stdin").pipe(
      Options.withDescription(`Read the recovery phrase from the first line of stdin (else $${Passphrase.ENV.phrase}, else a prompt).`)
    ),
    server: serverOption,
    storeId: Options.text("store-id").pipe(Options.withDescription("The store to recover (its id, as `init` printed it)."))
  }

const recoverDevice = (o: Command.Command.ParseConfig<typeof recoverOptions>) =>
    Effect.gen(function*() {
      const url = yield* Sync.parseUrl(o.server)
      if (Either.isLeft(Schema.decodeUnknownEither(StoreId)(o.storeId))) {
        return yield* Effect.fail(badInput("--store-id is not a store id; give the id `init` printed (storeId), e.g. s-….", "InvalidInput"))
      }
      const p = StoreDir.paths(o.store)
      yield* Device.refuseExisting(p)
      const phrase = yield* Passphrase.phrase({ stdin: o.phraseStdin })
      const master = yield* Recovery.derive(phrase, o.storeId)
      const blob = yield* Sync.fetchRecovery(url, o.storeId, master.locator)
      const notOpened = new CliError({
        kind: "wrong-passphrase",
        code: "RecoveryFailed",
        detail: `The recovery material ${url} keeps for store ${o.storeId} does not open with this phrase (it was altered, or is another store's). Nothing was created.`
      })
      const text = Bytes.fromBase64Url(blob)
      if (text === undefined) return yield* Effect.fail(notOpened)
      const material = Schema.decodeUnknownEither(RecoveryMaterialJson)(Bytes.fromUtf8(text))
      if (Either.isLeft(material) || material.right.storeId !== o.storeId) return yield* Effect.fail(notOpened)
      const opened = yield* Recovery.open(master, material.right)
      const created = yield* Effect.gen(function*() {
        const passphrase = yield* Passphrase.store({ stdin: o.passphraseStdin, confirm: true, line: o.phraseStdin ? 1 : 0 })
        const config = yield* Device.recover(p, passphrase, {
          storeId: o.storeId, identity: opened.identity, root: opened.root, locator: master.locator, blob, server: url
        })
        return { config, passphrase }
      }).pipe(Effect.ensuring(Effect.sync(() => {
        Identity.zeroizeSecrets(opened.identity)
        opened.root.fill(0)
      })))
      const { config } = created
      if (!o.json) yield* Output.notice(`recovered user ${config.userId} as new device ${config.deviceId}; syncing with ${url} …`)
      const outcome = yield* Effect.scoped(Effect.gen(function*() {
        const device = yield* Device.open(p, created.passphrase)
        const bar = yield* Progress.bar(o.json, "recover")
        const report = yield* Sync.run(device, url, (round, r) =>
          o.json || Progress.enabled(o.json) ? Effect.void : Output.notice(`round ${round}: pulled ${r.pulled}, pushed ${r.pushed}, ${r.pending} pending`), bar)
        yield* bar.stop
        const kekVersions = (yield* device.keyring.kekVersions(config.storeId)).length
        const keyState = yield* device.store.keyState
        return { report, kekVersions, locked: keyState.locked }
      }))
      const value = {
        storeId: config.storeId,
        userId: config.userId,
        deviceId: config.deviceId,
        store: p.dir,
        server: url,
        kekVersions: outcome.kekVersions,
        pulled: outcome.report.pulled,
        cursor: outcome.report.cursor,
        locked: outcome.locked
      }
      yield* Output.result(o.json, value, (v) =>
        `Recovered user ${v.userId}'s store ${v.storeId} into ${v.store} as new device ${v.deviceId}: ` +
        `${v.kekVersions} KEK version(s) from the server's KEK blobs, ${v.pulled} record(s) pulled.` +
        (v.locked ? " Some records stay locked: their keys were not on the server (see `cipherlog diagnose`)." : ""))
    })

const recover = Command.make("recover", recoverOptions, recoverDevice).pipe(
  Command.withDescription("Make this directory a new device of the user whose 24-word recovery phrase is given, from the server.")
)

// devices (add is recover: the phrase and the server make a new device) --------------

const devicesAdd = Command.make("add", recoverOptions, recoverDevice).pipe(
  Command.withDescription("Add a device of this user in this directory (the same as `recover`: the 24-word phrase plus the server).")
)

const devices = Command.make("devices").pipe(
  Command.withSubcommands([devicesList, devicesAdd, devicesRevoke, devicesRemove]),
  Command.withDescription("This user's devices: list, add (= recover; or `restore --keys`), revoke (or remove).")
)

// identity --------------------------------------------------------------------------

const identityRotate = Command.make("rotate", {
  store,
  json,
  passphraseStdin,
  server: serverOpt,
  phraseStdin,
  emergency: Options.boolean("emergency").pipe(
    Options.withDescription("Revoke the old keys at once (they no longer log in); needs the recovery phrase. Default: a planned rotation.")
  ),
  windowDays: Options.integer("window-days").pipe(
    Options.withDefault(7),
    Options.withDescription("Planned rotation: days during which the old keys still log in and verify (0 to 30, default 7).")
  )
}, (o) =>
  Effect.gen(function*() {
    if (o.windowDays < 0 || o.windowDays > 30) return yield* Effect.fail(badInput("--window-days is between 0 and 30.", "InvalidInput"))
    const { client, device, url } = yield* session(o)
    const storeId = device.config.storeId
    const master = o.emergency ? Option.some(yield* masterOf(device, o)) : Option.none()
    const rotated = yield* IdentityRotation.rotateOwnIdentity({
      client,
      keyring: device.keyring,
      options: { baseUrl: url },
      kind: o.emergency ? "emergency" : "planned",
      migrationMs: o.windowDays * 24 * 3600 * 1000,
      ...(Option.isSome(master) ? { recovery: { storeId, master: master.value } } : {})
    }).pipe(Effect.provide(FetchHttpClient.layer))
    // Re-seal the user's own KEK blobs with the new identity (admins only may), so that a device recovered later
    // takes the active version from a blob signed by the current key (earlier-key blobs are imported decrypt-only).
    const ctx: Sharing.Context = { client: rotated.client, keyring: device.keyring, storeId }
    const admin = (yield* Sharing.members(ctx)).some((m) => m.userId === device.config.userId && m.role === "admin")
    if (admin) yield* Sharing.provisionAll(ctx, (yield* device.keyring.identity).public)
    const blob = Option.isSome(rotated.recoveryBlob) || device.config.recovery === undefined
      ? rotated.recoveryBlob
      : yield* IdentityRotation.resealRecovery(rotated.client, device.keyring, { storeId, locator: device.config.recovery.locator })
    yield* keepRecovery(device, url, blob)
    const safetyNumber = yield* Identity.fingerprint((yield* device.keyring.identity).public)
    const value = {
      userId: device.config.userId,
      kind: rotated.statement.kind,
      rotatedAt: rotated.statement.rotatedAt,
      migrationUntil: rotated.statement.migrationUntil,
      safetyNumber
    }
    yield* Output.result(o.json, value, (v) =>
      `Rotated user ${v.userId}'s identity (${v.kind}); new safety number ${v.safetyNumber}. ` +
      (v.kind === "emergency"
        ? "The old keys no longer log in; your other devices take the new identity with `cipherlog identity relink`."
        : `The old keys keep working until ${new Date(v.migrationUntil).toISOString()}; relink your other devices before then.`) +
      " Members who verify your identity see the rotation; give them the new safety number if they ask.")
  })).pipe(Command.withDescription("Rotate this user's identity keys on the server (planned, or --emergency to revoke the old keys at once)."))

const identityRelink = Command.make("relink", { store, json, passphraseStdin, server: serverOpt, phraseStdin }, (o) =>
  Effect.gen(function*() {
    const url = yield* Sync.parseUrl(o.server)
    const device = yield* openDevice(o.store, o.passphraseStdin)
    const master = yield* masterOf(device, o)
    const anonymous = yield* Sync.connect(device, url)
    yield* IdentityRotation.relinkFromRecovery({
      keyring: device.keyring, options: { baseUrl: url }, anonymous: anonymous.anonymous, recovery: { storeId: device.config.storeId, master }
    }).pipe(Effect.provide(FetchHttpClient.layer))
    const identity = yield* device.keyring.identity
    const value = { userId: device.config.userId, rotations: identity.chain.length, safetyNumber: yield* Identity.fingerprint(identity.public) }
    yield* Output.result(o.json, value, (v) =>
      `This device now holds user ${v.userId}'s identity after ${v.rotations} rotation(s); safety number ${v.safetyNumber}. Run \`cipherlog sync\`.`)
  })).pipe(Command.withDescription("Take the identity another device of this user rotated to, from the server's recovery material (the recovery phrase)."))

const identity = Command.make("identity").pipe(
  Command.withSubcommands([identityRotate, identityRelink]),
  Command.withDescription("This user's identity keys: rotate, relink.")
)

// wipe ------------------------------------------------------------------------------

const wipe = Command.make(
  "wipe",
  { store, json, yes: Options.boolean("yes").pipe(Options.withDescription("Confirm: delete the store directory's keys, log and settings.")) },
  (o) =>
    Effect.gen(function*() {
      const p = StoreDir.paths(o.store)
      if (!o.yes) return yield* Effect.fail(badInput(`wipe deletes ${p.dir}'s keys and log for good; run it again with --yes to confirm.`, "NotConfirmed"))
      const config = yield* StoreDir.readConfig(p)
      // Refuses while another process has the log open.
      yield* Effect.scoped(Device.holdEvents(p))
      yield* Effect.try({
        try: () => {
          for (const f of [p.keys, p.events, `${p.events}-wal`, `${p.events}-shm`, p.peers, p.config]) fs.rmSync(f, { recursive: true, force: true })
          if (fs.readdirSync(p.dir).length === 0) fs.rmdirSync(p.dir)
        },
        catch: () => unexpected(`${p.dir} could not be wiped completely; check permissions and remove it by hand.`, "Io")
      })
      yield* Output.result(o.json, { storeId: config.storeId, store: p.dir, wiped: true }, (v) => `Wiped store ${v.storeId} from ${v.store}.`)
    })
).pipe(Command.withDescription("Delete this device's keys, log and settings (asks for --yes)."))

// server ----------------------------------------------------------------------------

const server = Command.make(
  "server",
  {
    port: Options.integer("port").pipe(Options.optional, Options.withDescription("Port (default $PORT, else 8787; 0 picks a free one).")),
    host: Options.text("host").pipe(Options.optional, Options.withDescription("Address to listen on (default $HOST, else 127.0.0.1).")),
    dataDir: Options.text("data-dir").pipe(Options.optional, Options.withDescription("SQLite directory (default $DATA_DIR, else ./data)."))
  },
  (o) => Server.start({ port: o.port, host: o.host, dataDir: o.dataDir })
).pipe(Command.withDescription("Run the sync server (apps/sync-server) in the foreground until Ctrl-C."))

// root ------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category constants
 */
export const VERSION = "0.1.0"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("cipherlog").pipe(
  Command.withDescription("Cipherlog: a local-first, end-to-end encrypted event log, from a terminal."),
  Command.withSubcommands([init, append, read, sync, keys, whoami, members, join, devices, identity, backup, restore, recover, diagnose, wipe, server])
)

/**
 * @since 0.1.0
 * @category commands
 */
export const run = Command.run(command, { name: "cipherlog", version: VERSION })
