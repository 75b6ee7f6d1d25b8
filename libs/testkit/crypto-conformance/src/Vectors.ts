/**
 * The public test vectors, typed. See `../vectors/README.md` for provenance.
 *
 * @since 0.1.0
 */
import { Encoding, Either } from "effect"
import argon2Phc from "../vectors/argon2id_phc_reference.json" with { type: "json" }
import rfc5869 from "../vectors/rfc5869_hkdf_sha256.json" with { type: "json" }
import rfc7748 from "../vectors/rfc7748_x25519.json" with { type: "json" }
import rfc8032 from "../vectors/rfc8032_ed25519.json" with { type: "json" }
import rfc9106 from "../vectors/rfc9106_argon2id.json" with { type: "json" }
import rfc9180 from "../vectors/rfc9180_hpke_x25519_sha256.json" with { type: "json" }
import aesGcm from "../vectors/wycheproof_aes_gcm_test.json" with { type: "json" }
import chacha from "../vectors/wycheproof_chacha20_poly1305_test.json" with { type: "json" }
import ed25519 from "../vectors/wycheproof_ed25519_test.json" with { type: "json" }
import hkdf from "../vectors/wycheproof_hkdf_sha256_test.json" with { type: "json" }
import hmac from "../vectors/wycheproof_hmac_sha256_test.json" with { type: "json" }
import x25519 from "../vectors/wycheproof_x25519_test.json" with { type: "json" }
import xchacha from "../vectors/wycheproof_xchacha20_poly1305_test.json" with { type: "json" }

/**
 * Hex to bytes; throws on malformed hex (vectors are trusted input).
 *
 * @since 0.1.0
 */
export const hex = (text: string): Uint8Array => Either.getOrThrow(Encoding.decodeHex(text))

/** @since 0.1.0 */
export type WycheproofResult = "valid" | "invalid" | "acceptable"

interface Group<T> {
  readonly tests: ReadonlyArray<T & { readonly tcId: number; readonly result: string; readonly flags: ReadonlyArray<string> }>
}
const cases = <T>(file: { readonly testGroups: ReadonlyArray<unknown> }) =>
  (file.testGroups as ReadonlyArray<Group<T> & Record<string, unknown>>).flatMap((group) =>
    group.tests.map((test) => ({ ...test, group, result: test.result as WycheproofResult }))
  )

/** @since 0.1.0 */
export const wycheproof = {
  aesGcm: cases<{ key: string; iv: string; aad: string; msg: string; ct: string; tag: string }>(aesGcm),
  chacha20Poly1305: cases<{ key: string; iv: string; aad: string; msg: string; ct: string; tag: string }>(chacha),
  xchacha20Poly1305: cases<{ key: string; iv: string; aad: string; msg: string; ct: string; tag: string }>(xchacha),
  x25519: cases<{ public: string; private: string; shared: string }>(x25519),
  ed25519: cases<{ msg: string; sig: string }>(ed25519).map((c) => ({
    ...c,
    publicKey: (c.group as unknown as { publicKey: { pk: string } }).publicKey.pk
  })),
  hkdf: cases<{ ikm: string; salt: string; info: string; size: number; okm: string }>(hkdf),
  hmac: cases<{ key: string; msg: string; tag: string }>(hmac).map((c) => ({
    ...c,
    tagSize: (c.group as unknown as { tagSize: number }).tagSize
  }))
}

/** @since 0.1.0 */
export const rfc = { rfc5869, rfc7748, rfc8032, rfc9106, rfc9180, argon2Phc }
