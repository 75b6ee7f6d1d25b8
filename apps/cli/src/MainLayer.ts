/**
 * The composition of the CLI: the only place Layers meet.
 *
 * - Platform: `NodeContext` (file system, path, terminal for prompts).
 * - Crypto: the Node adapter (`node:crypto`, native Argon2id).
 *
 * Store-bound services (the file key store, the SQLite event log, the HTTP
 * transport) depend on a command's `--store` and `--server`, so `Device`
 * and `Sync` build them per command from these.
 *
 * @since 0.1.0
 */
import { NodeCrypto } from "@cipherlog/crypto-node"
import { NodeContext } from "@effect/platform-node"
import { Layer } from "effect"

/**
 * @since 0.1.0
 * @category layers
 */
export const MainLayer = Layer.mergeAll(NodeContext.layer, NodeCrypto.layer)
