/**
 * `peers.json` in a store directory (docs/formats.md, "CLI peers file"):
 * the other users whose identity this device verified by safety number —
 * their user id and genesis public keys (public keys only, never a secret).
 * `LocalStore`'s `peers` trusts their devices' records, and `sync` accepts
 * KEK blobs they sealed (an admin that added this user).
 *
 * @since 0.1.0
 */
import { Bytes } from "@cipherlog/domain"
import type { Identity } from "@cipherlog/keys"
import { Effect, Either, Option, Schema } from "effect"
import * as fs from "node:fs"
import { type CliError, unexpected } from "./CliError.js"
import type * as StoreDir from "./StoreDir.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const FORMAT = "cipherlog-cli-peers"

/**
 * One verified user.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Peer = Schema.Struct({
  userId: Schema.String,
  signingPublicKey: Bytes.Base64UrlOfLength(32),
  encryptionPublicKey: Bytes.Base64UrlOfLength(32),
  safetyNumber: Schema.String,
  verifiedAt: Schema.Number
})
/** @since 0.1.0 */
export type Peer = typeof Peer.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const PeersFile = Schema.Struct({ format: Schema.Literal(FORMAT), v: Schema.Literal(1), peers: Schema.Array(Peer) })
/** @since 0.1.0 */
export type PeersFile = typeof PeersFile.Type

const PeersJson = Schema.parseJson(PeersFile, { space: 2 })

/**
 * The verified peers (none when the file does not exist).
 *
 * @since 0.1.0
 * @category io
 */
export const read = (p: StoreDir.Paths): Effect.Effect<ReadonlyArray<Peer>, CliError> =>
  Effect.gen(function*() {
    if (!fs.existsSync(p.peers)) return []
    const text = yield* Effect.try({ try: () => fs.readFileSync(p.peers, "utf8"), catch: () => unexpected(`${p.peers} could not be read; check its permissions.`, "Io") })
    const decoded = Schema.decodeUnknownEither(PeersJson)(text)
    return Either.isRight(decoded) ? decoded.right.peers : yield* Effect.fail(unexpected(`${p.peers} is not a Cipherlog peers file (v1); restore it or remove it and verify the members again.`, "BadPeersFile"))
  })

/**
 * Adds or replaces a verified peer (atomically: temporary file, rename; mode 0600).
 *
 * @since 0.1.0
 * @category io
 */
export const put = (p: StoreDir.Paths, identity: Identity.PublicIdentity, safetyNumber: string, verifiedAt: number): Effect.Effect<void, CliError> =>
  Effect.gen(function*() {
    const peers = (yield* read(p)).filter((x) => x.userId !== identity.userId)
    const next: PeersFile = {
      format: FORMAT,
      v: 1,
      peers: [...peers, { userId: identity.userId, signingPublicKey: identity.signingPublicKey, encryptionPublicKey: identity.encryptionPublicKey, safetyNumber, verifiedAt }]
    }
    yield* Effect.try({
      try: () => {
        const tmp = `${p.peers}.tmp-${process.pid}`
        fs.writeFileSync(tmp, Schema.encodeSync(PeersJson)(next) + "\n", { mode: 0o600 })
        fs.renameSync(tmp, p.peers)
      },
      catch: () => unexpected(`${p.peers} could not be written; check free space and permissions.`, "Io")
    })
  })

/**
 * A peer as a public identity.
 *
 * @since 0.1.0
 * @category conversions
 */
export const identity = (peer: Peer): Identity.PublicIdentity => ({
  userId: peer.userId,
  signingPublicKey: peer.signingPublicKey,
  encryptionPublicKey: peer.encryptionPublicKey
})

/**
 * A lookup by user id over a list of peers.
 *
 * @since 0.1.0
 * @category conversions
 */
export const lookup = (peers: ReadonlyArray<Peer>) => (userId: string): Option.Option<Identity.PublicIdentity> =>
  Option.map(Option.fromNullable(peers.find((x) => x.userId === userId)), identity)
