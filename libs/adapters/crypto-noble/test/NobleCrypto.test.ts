import { CryptoConformance } from "@cipherlog/crypto-conformance"
import { NobleCrypto } from "../src/index.js"

CryptoConformance.suite("noble", NobleCrypto.layer())
