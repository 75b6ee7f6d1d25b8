/**
 * Identity rotation through the sync server (seed 002), the client side of
 * docs/http-api.md "Identity rotations":
 *
 * - {@link rotateOwnIdentity}: rotates the user's identity in the keyring
 *   (old secrets kept in `previous`, so what was sealed to them still
 *   opens), publishes the statement, and returns a client that logs in with
 *   the new key; with the phrase-derived master, re-seals the recovery
 *   material for the new identity under a fresh recovery root.
 * - {@link verifyPeer}: a peer's chain from the server, verified from the
 *   identity this device pinned (trust on first use, or a compared safety
 *   number); the new keys are pinned only when every link verifies. A broken
 *   chain is refused ({@link IdentityChainRefused}) and counted as the
 *   compromise signal `IdentityChainBroken`.
 * - {@link revokeDeviceKeys}: a device revocation that takes the keys away:
 *   an emergency rotation (the revoked device's copy of the identity stops
 *   authenticating, new material is sealed only to the new keys), new
 *   recovery material under a fresh root, and a KEK rotation of every store
 *   where the user is an admin.
 * - {@link relinkFromRecovery}: another remaining device of the user takes
 *   the new identity from the re-sealed recovery material with the phrase.
 *
 * The server is not trusted with identities: it refuses rotations that do
 * not continue the chain, but a peer verifies the chain itself (INV-007).
 *
 * @since 0.1.0
 */
import { Crypto, type InvalidKey, type UnsupportedSuite, zeroize } from "@cipherlog/crypto"
import { Bytes, type UserId } from "@cipherlog/domain"
import { Identity, Keyring, type KeyStoreError, Recovery } from "@cipherlog/keys"
import { Signals, SyncTransport } from "@cipherlog/sync"
import { Models } from "@cipherlog/sync-api"
import type { HttpClient } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import * as HttpTransport from "./HttpTransport.js"
import { common, type Failure, unavailable } from "./internal/error.js"
import * as Sharing from "./Sharing.js"

/**
 * Why a peer's identity chain was not accepted.
 *
 * - `broken-link`: a rotation is not signed by the key it replaces, or by
 *   its new key, or its times or user do not fit (INV-007).
 * - `history-rewritten`: the chain does not contain the keys pinned here at
 *   the position they were pinned (a fork, or keys substituted).
 *
 * @since 0.1.0
 * @category errors
 */
export class IdentityChainRefused extends Schema.TaggedError<IdentityChainRefused>("@cipherlog/sync-transport-http/IdentityChainRefused")(
  "IdentityChainRefused",
  { userId: Schema.String, reason: Schema.Literal("broken-link", "history-rewritten"), detail: Schema.String }
) {
  override get message(): string {
    return `The identity chain the server holds for user ${this.userId} does not verify (${this.detail}); their new keys were not ` +
      `trusted and nothing was sealed to them. Compare ${this.userId}'s safety number out of band before trusting new keys; ` +
      "if it differs, the server or the network may be substituting keys."
  }
}

/**
 * A rotation of the own identity that the server refused
 * (`refused-by-server`): nothing is published, the keyring holds the new
 * identity; publish it again with {@link publishRotation} on the old client
 * once the cause is fixed.
 *
 * @since 0.1.0
 * @category errors
 */
export class IdentityRotationFailed extends Schema.TaggedError<IdentityRotationFailed>("@cipherlog/sync-transport-http/IdentityRotationFailed")(
  "IdentityRotationFailed",
  { reason: Schema.Literal("refused-by-server"), detail: Schema.String }
) {
  override get message(): string {
    return this.detail
  }
}

/**
 * A peer's identity as pinned here: its keys now, and how many rotations of
 * its chain led to them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pinned {
  readonly current: Identity.PublicIdentity
  readonly rotations: number
}

/**
 * Pins a verified identity (its safety number compared) at the given
 * position of its chain (0: its genesis).
 *
 * @since 0.1.0
 * @category constructors
 */
export const pin = (identity: Identity.PublicIdentity, rotations = 0): Pinned => ({ current: identity, rotations })

/**
 * A test-only hook that breaks {@link verifyPeer} on purpose: it pins the
 * chain's last keys without verifying anything. Never use it outside a test.
 *
 * @since 0.1.0
 * @category testing
 */
export interface PinMutant {
  readonly pinWithoutVerifying: true
}

const uid = (s: string) => s as UserId

const chainFailure = (what: string) => (error: Failure | SyncTransport.TransportError): Effect.Effect<never, Sharing.SharingRefused | SyncTransport.TransportError> => {
  if (error instanceof SyncTransport.AccessDenied || error instanceof SyncTransport.TransportUnavailable) return Effect.fail(error)
  if (error._tag === "NotFound") {
    return Effect.fail(new Sharing.SharingRefused({
      reason: "unknown-user", method: what, userIds: [], detail: "The server has no such user; check the id."
    }))
  }
  return Effect.fail(common(undefined, error) ?? unavailable("bad-response", `${what} failed (${error._tag})`))
}

/** The keys a chain reaches after its first `n` rotations. */
const keysAfter = (chain: Models.IdentityChain, n: number): Identity.PublicIdentity => {
  if (n === 0) return { userId: chain.userId, signingPublicKey: chain.genesis.signingPublicKey, encryptionPublicKey: chain.genesis.encryptionPublicKey }
  const r = chain.rotations[n - 1]!
  return { userId: chain.userId, signingPublicKey: r.newSigningPublicKey, encryptionPublicKey: r.newEncryptionPublicKey }
}

const sameKeys = (a: Identity.PublicIdentity, b: Identity.PublicIdentity) =>
  a.userId === b.userId && Bytes.equalsPublic(a.signingPublicKey, b.signingPublicKey) &&
  Bytes.equalsPublic(a.encryptionPublicKey, b.encryptionPublicKey)

/**
 * Checks a chain against what was pinned: it must hold the pinned keys at
 * the pinned position, and every later link must verify from them. Returns
 * the new pin and the rotations that led to it.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyChainFrom = (
  pinned: Pinned,
  chain: Models.IdentityChain,
  mutant?: PinMutant
): Effect.Effect<{ readonly pinned: Pinned; readonly rotations: ReadonlyArray<Identity.RotationStatement> }, IdentityChainRefused, Crypto.Crypto> =>
  Effect.gen(function*() {
    const userId = pinned.current.userId
    const rotations = chain.rotations.slice(pinned.rotations)
    if (mutant?.pinWithoutVerifying === true) {
      return { pinned: { current: keysAfter(chain, chain.rotations.length), rotations: chain.rotations.length }, rotations }
    }
    const refuse = (reason: IdentityChainRefused["reason"], detail: string) => Effect.fail(new IdentityChainRefused({ userId, reason, detail }))
    if (chain.userId !== userId) return yield* refuse("history-rewritten", "the server answered with another user's chain")
    if (chain.rotations.length < pinned.rotations || !sameKeys(keysAfter(chain, pinned.rotations), pinned.current)) {
      return yield* refuse("history-rewritten", `its keys after rotation ${pinned.rotations} are not the ones pinned here`)
    }
    const view = yield* Identity.verifyChain(pinned.current, rotations).pipe(
      Effect.catchTag("IdentityVerificationFailed", (e) => refuse("broken-link", `${e.subject}: ${e.detail}`))
    )
    return { pinned: { current: view.current, rotations: chain.rotations.length }, rotations }
  })

/**
 * A peer's identity chain from the server, verified from what this device
 * pinned ({@link verifyChainFrom}); a refusal is also counted as the
 * compromise signal `IdentityChainBroken`. Seal future KEK blobs to the
 * returned `pinned.current`.
 *
 * @since 0.1.0
 * @category peers
 */
export const verifyPeer = (
  client: HttpTransport.SyncClient,
  pinned: Pinned,
  mutant?: PinMutant
): Effect.Effect<
  { readonly pinned: Pinned; readonly rotations: ReadonlyArray<Identity.RotationStatement> },
  IdentityChainRefused | Sharing.SharingRefused | SyncTransport.TransportError,
  Crypto.Crypto
> =>
  Effect.gen(function*() {
    const chain = yield* client.authenticated((api) => api.users.identity({ path: { userId: uid(pinned.current.userId) } })).pipe(
      Effect.catchAll(chainFailure("verifyPeer"))
    )
    return yield* verifyChainFrom(pinned, chain, mutant).pipe(
      Effect.tapError((e) => Signals.count(Signals.SecuritySignal.IdentityChainBroken({ userId: e.userId, detail: e.reason })))
    )
  })

/**
 * Publishes a rotation statement for the client's user. A statement the
 * server accepted before (`replayed`) counts as published.
 *
 * @since 0.1.0
 * @category rotation
 */
export const publishRotation = (
  client: HttpTransport.SyncClient,
  statement: Identity.RotationStatement
): Effect.Effect<void, IdentityRotationFailed | SyncTransport.TransportError> =>
  client.authenticated((api) =>
    api.users.rotate({ path: { userId: uid(statement.userId) }, payload: { ...statement, userId: uid(statement.userId) } })
  ).pipe(
    Effect.asVoid,
    Effect.catchAll((error: Failure | SyncTransport.TransportError): Effect.Effect<void, IdentityRotationFailed | SyncTransport.TransportError> => {
      if (error instanceof SyncTransport.AccessDenied || error instanceof SyncTransport.TransportUnavailable) return Effect.fail(error)
      if (error._tag === "RotationConflict" && "reason" in error && error.reason === "replayed") return Effect.void
      if (error._tag === "RotationConflict" || error._tag === "InvalidRotation") {
        return Effect.fail(new IdentityRotationFailed({
          reason: "refused-by-server",
          detail: `The server refused the identity rotation (${"message" in error ? String(error.message) : error._tag}). ` +
            "If another device rotated the identity first, relink this device from the recovery phrase; if nobody you know did, " +
            "the identity is compromised: see docs/threat-model.md, \"Identity rotation races\"."
        }))
      }
      return Effect.fail(common(undefined, error) ?? unavailable("bad-response", `publishing the rotation failed (${error._tag})`))
    })
  )

/**
 * Where the user's recovery material lives and, for a fresh recovery root,
 * the master derived from the phrase (`Recovery.derive`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecoveryTarget {
  readonly storeId: string
  readonly master: Recovery.Master
}

const RootEntry = Schema.Struct({ v: Schema.Literal(1), key: Bytes.Base64UrlOfLength(32) })
const MaterialJson = Schema.parseJson(Recovery.RecoveryMaterial)

/**
 * Seals the keyring's identity into new recovery material under a fresh
 * recovery root (wrapped under the phrase's master KEK), stores it under
 * its locator on the server and keeps the root in the keyring. A device
 * holding only an older root cannot open it. Returns the stored blob
 * (base64url of the material's JSON).
 *
 * @since 0.1.0
 * @category recovery
 */
export const republishRecovery = (
  client: HttpTransport.SyncClient,
  keyring: Keyring.Keyring,
  target: RecoveryTarget
): Effect.Effect<string, KeyStoreError | SyncTransport.TransportError, Crypto.Crypto> =>
  Effect.gen(function*() {
    const secrets = yield* Keyring.readEntry(keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets).pipe(
      Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage("the keyring has no identity"), onSome: Effect.succeed }))
    )
    const { material, root } = yield* Recovery.seal(target.master, target.storeId, secrets).pipe(
      Effect.ensuring(Effect.sync(() => Identity.zeroizeSecrets(secrets)))
    )
    yield* Keyring.writeEntry(keyring.vault, Keyring.entries.recoveryRoot(target.storeId), RootEntry, { v: 1, key: root }).pipe(
      Effect.ensuring(Effect.sync(() => zeroize(root)))
    )
    return yield* putMaterial(client, target.master.locator, material)
  })

const putMaterial = (client: HttpTransport.SyncClient, locator: string, material: Recovery.RecoveryMaterial) =>
  Effect.gen(function*() {
    const blob = Schema.decodeSync(Models.RecoveryBlob)(Bytes.toBase64Url(Bytes.utf8(Schema.encodeSync(MaterialJson)(material))))
    yield* client.authenticated((api) => api.recovery.put({ path: { locator: Schema.decodeSync(Models.Locator)(locator) }, payload: { blob } })).pipe(
      Effect.catchAll((error: Failure | SyncTransport.TransportError) =>
        error instanceof SyncTransport.AccessDenied || error instanceof SyncTransport.TransportUnavailable
          ? Effect.fail(error)
          : Effect.fail(common(undefined, error) ?? unavailable("bad-response", `storing the recovery material failed (${error._tag})`)))
    )
    return blob as string
  })

/**
 * After a **planned** rotation, without the phrase: re-seals the keyring's
 * identity under the recovery root this device keeps, in the material
 * stored under `locator` (its wrapped root unchanged), and stores it again.
 * Every device holding the root can open it, so never use it to revoke a
 * device (use {@link republishRecovery}, with the phrase). Returns the
 * stored blob; none when this device keeps no root for the store or the
 * server keeps no material there.
 *
 * @since 0.1.0
 * @category recovery
 */
export const resealRecovery = (
  client: HttpTransport.SyncClient,
  keyring: Keyring.Keyring,
  target: { readonly storeId: string; readonly locator: string }
): Effect.Effect<Option.Option<string>, KeyStoreError | SyncTransport.TransportError, Crypto.Crypto> =>
  Effect.gen(function*() {
    const crypto = yield* Crypto.Crypto
    const root = yield* Keyring.readEntry(keyring.vault, Keyring.entries.recoveryRoot(target.storeId), RootEntry)
    if (Option.isNone(root)) return Option.none()
    const found = yield* client.anonymous.recovery.get({ path: { locator: Schema.decodeSync(Models.Locator)(target.locator) } }).pipe(
      Effect.map(Option.some),
      Effect.catchAll((error: Failure): Effect.Effect<Option.Option<{ readonly blob: string }>, SyncTransport.TransportError> =>
        error._tag === "NotFound"
          ? Effect.succeed(Option.none())
          : Effect.fail(common(undefined, error) ?? unavailable("bad-response", `reading the recovery material failed (${error._tag})`)))
    )
    const material = Option.flatMap(found, (f) =>
      Option.getRight(Schema.decodeUnknownEither(MaterialJson)(Bytes.fromUtf8(Bytes.fromBase64Url(f.blob) ?? new Uint8Array(0)))))
    if (Option.isNone(material)) {
      zeroize(root.value.key)
      return Option.none()
    }
    const secrets = yield* Keyring.readEntry(keyring.vault, Keyring.entries.identity, Identity.IdentitySecrets).pipe(
      Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage("the keyring has no identity"), onSome: Effect.succeed }))
    )
    const key = yield* crypto.importKey("master-kek", root.value.key).pipe(Effect.orDie, Effect.ensuring(Effect.sync(() => zeroize(root.value.key))))
    const identity = yield* Recovery.sealIdentity(key, target.storeId, secrets).pipe(
      Effect.ensuring(Effect.zipRight(crypto.destroyKey(key), Effect.sync(() => Identity.zeroizeSecrets(secrets))))
    )
    return Option.some(yield* putMaterial(client, target.locator, { ...material.value, identity }))
  })

/**
 * What {@link rotateOwnIdentity} did.
 *
 * @since 0.1.0
 * @category models
 */
export interface OwnRotation {
  readonly statement: Identity.RotationStatement
  /** A client that logs in with the new key: use it from now on. */
  readonly client: HttpTransport.SyncClient
  /** The recovery material stored for the new identity (base64url), when `recovery` was given. */
  readonly recoveryBlob: Option.Option<string>
}

/**
 * Rotates the user's identity: the keyring gets new keys (old ones kept to
 * open what was sealed to them), the statement is published through the
 * current client (its session, which the old key holds), and a new client
 * logs in with the new key. With `recovery`, the recovery material is
 * re-sealed for the new identity under a fresh root (required for an
 * emergency rotation when the user keeps recovery material: otherwise the
 * phrase would recover the revoked identity).
 *
 * @since 0.1.0
 * @category rotation
 */
export const rotateOwnIdentity = (input: {
  readonly client: HttpTransport.SyncClient
  readonly keyring: Keyring.Keyring
  readonly options: Omit<HttpTransport.Options, "credentials">
  readonly kind: "planned" | "emergency"
  /** The planned rotation's window, during which the old key still logs in and verifies. Default 7 days. */
  readonly migrationMs?: number
  readonly recovery?: RecoveryTarget
}): Effect.Effect<OwnRotation, IdentityRotationFailed | KeyStoreError | SyncTransport.TransportError, Crypto.Crypto | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const { keyring } = input
    // A session of the old key first: once rotated, the keyring no longer holds it to log in.
    yield* input.client.authenticated((api) => api.users.get({ path: { userId: uid(keyring.userId) } })).pipe(
      Effect.catchAll(chainFailure("rotateOwnIdentity")),
      Effect.catchTag("SharingRefused", (e) => Effect.fail(new IdentityRotationFailed({ reason: "refused-by-server", detail: e.detail })))
    )
    // The keyring destroys the old identity's handles: the session obtained above publishes the statement.
    const statement = yield* keyring.rotateIdentity(input.kind, input.kind === "emergency" ? 0 : (input.migrationMs ?? 7 * 24 * 3600 * 1000))
    yield* publishRotation(input.client, statement)
    const client = yield* HttpTransport.forKeyring(keyring, input.options)
    const recoveryBlob = input.recovery === undefined ? Option.none() : Option.some(yield* republishRecovery(client, keyring, input.recovery))
    return { statement, client, recoveryBlob }
  })

/**
 * Takes the identity another device of the user rotated to, from the
 * recovery material re-sealed for it ({@link republishRecovery}), opened
 * with the phrase: the keyring adopts it only if it continues this
 * device's chain, and keeps the new recovery root. Returns a client that
 * logs in with the new key.
 *
 * @since 0.1.0
 * @category recovery
 */
export const relinkFromRecovery = (input: {
  readonly keyring: Keyring.Keyring
  readonly options: Omit<HttpTransport.Options, "credentials">
  readonly anonymous: HttpTransport.ApiClient
  readonly recovery: RecoveryTarget
}): Effect.Effect<
  HttpTransport.SyncClient,
  Recovery.RecoveryFailed | Identity.IdentityVerificationFailed | KeyStoreError | SyncTransport.TransportError,
  Crypto.Crypto | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const { storeId } = input.recovery
    const found = yield* input.anonymous.recovery.get({ path: { locator: Schema.decodeSync(Models.Locator)(input.recovery.master.locator) } }).pipe(
      Effect.catchAll((error: Failure): Effect.Effect<never, Recovery.RecoveryFailed | SyncTransport.TransportError> =>
        error._tag === "NotFound"
          ? Effect.fail(new Recovery.RecoveryFailed({ storeId, detail: "the server keeps no recovery material for this phrase" }))
          : Effect.fail(common(undefined, error) ?? unavailable("bad-response", `reading the recovery material failed (${error._tag})`))
      )
    )
    const material = yield* Schema.decodeUnknown(MaterialJson)(Bytes.fromUtf8(Bytes.fromBase64Url(found.blob) ?? new Uint8Array(0))).pipe(
      Effect.mapError(() => new Recovery.RecoveryFailed({ storeId, detail: "the recovery material does not parse" }))
    )
    const opened = yield* Recovery.open(input.recovery.master, material)
    yield* input.keyring.adoptIdentity(opened.identity).pipe(
      Effect.ensuring(Effect.sync(() => Identity.zeroizeSecrets(opened.identity)))
    )
    yield* Keyring.writeEntry(input.keyring.vault, Keyring.entries.recoveryRoot(storeId), RootEntry, { v: 1, key: opened.root }).pipe(
      Effect.ensuring(Effect.sync(() => zeroize(opened.root)))
    )
    return yield* HttpTransport.forKeyring(input.keyring, input.options)
  })

/**
 * What {@link revokeDeviceKeys} did.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceKeysRevoked {
  readonly statement: Identity.RotationStatement
  readonly client: HttpTransport.SyncClient
  readonly recoveryBlob: Option.Option<string>
  /** Stores whose KEK was rotated (the user is an admin there), with the new version. */
  readonly rotated: ReadonlyArray<{ readonly storeId: string; readonly versionId: string }>
  /**
   * Stores where the user is not an admin: the server wrote an
   * `identity.rotate` (emergency) audit entry there for their admins, who
   * should rotate the KEK (data of those stores written before their
   * rotation stays readable to whoever holds the old identity's blobs).
   */
  readonly needsAdminRotation: ReadonlyArray<string>
}

/**
 * Makes a device revocation take keys away: an emergency identity rotation
 * (the revoked device's copy of the identity no longer logs in and nothing
 * new is sealed to it), recovery material re-sealed under a fresh root
 * (needs the phrase's master), and in every given store where the user is
 * an admin a KEK rotation sealed to the members' current identities — the
 * user's new one included — so that nothing written afterwards is
 * readable with anything the revoked device held (INV-015). Sign the
 * device's authorship revocation (`LocalStore.revokeDevice`) first.
 *
 * @since 0.1.0
 * @category revocation
 */
export const revokeDeviceKeys = (input: {
  readonly client: HttpTransport.SyncClient
  readonly keyring: Keyring.Keyring
  readonly options: Omit<HttpTransport.Options, "credentials">
  readonly recovery?: RecoveryTarget
  readonly stores: ReadonlyArray<{ readonly storeId: string; readonly identities: Sharing.Identities }>
}): Effect.Effect<
  DeviceKeysRevoked,
  IdentityRotationFailed | Sharing.SharingRefused | KeyStoreError | SyncTransport.TransportError | InvalidKey | UnsupportedSuite,
  Crypto.Crypto | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const { keyring } = input
    const roles = yield* Effect.forEach(input.stores, (s) =>
      Effect.map(Sharing.members({ client: input.client, keyring, storeId: s.storeId }), (ms) => ({
        ...s,
        admin: ms.some((m) => m.userId === keyring.userId && m.role === "admin")
      })))
    const { client, recoveryBlob, statement } = yield* rotateOwnIdentity({
      client: input.client, keyring, options: input.options, kind: "emergency",
      ...(input.recovery === undefined ? {} : { recovery: input.recovery })
    })
    const rotated: Array<{ storeId: string; versionId: string }> = []
    for (const s of roles.filter((r) => r.admin)) {
      const done = yield* Sharing.rotate({ client, keyring, storeId: s.storeId }, { identities: s.identities, reason: "device revoked" })
      rotated.push({ storeId: s.storeId, versionId: done.versionId })
    }
    return { statement, client, recoveryBlob, rotated, needsAdminRotation: roles.filter((r) => !r.admin).map((r) => r.storeId) }
  })
