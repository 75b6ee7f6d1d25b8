import { CryptoConformance } from "@cipherlog/crypto-conformance"
import { NodeCrypto } from "../src/index.js"

CryptoConformance.suite("node", NodeCrypto.layer)
