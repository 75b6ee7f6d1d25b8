import { Interop } from "@cipherlog/crypto-conformance"
import { NobleCrypto } from "@cipherlog/crypto-noble"
import { NodeCrypto } from "@cipherlog/crypto-node"
import { WebCryptoCrypto } from "@cipherlog/crypto-webcrypto"

Interop.suite([
  ["node", NodeCrypto.layer],
  ["webcrypto", WebCryptoCrypto.layer],
  ["noble", NobleCrypto.layer()]
])
