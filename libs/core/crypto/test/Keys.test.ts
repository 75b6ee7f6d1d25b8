import { describe, expect, it } from "@effect/vitest"
import type { Crypto, SymmetricKey } from "../src/index.js"
import { Argon2, labels } from "../src/index.js"

// Type-level INV-008: these lines must NOT compile. `npm run typecheck` runs tsc over this file,
// and an unused @ts-expect-error is itself an error, so if purposes ever became interchangeable
// the typecheck would fail here.
declare const kek: SymmetricKey<"kek">
declare const cache: SymmetricKey<"cache">
const encryptEvent = (_dek: SymmetricKey<"dek">) => undefined
const misuses = () => {
  // @ts-expect-error a KEK is not a DEK
  encryptEvent(kek)
  // @ts-expect-error a cache key is not a DEK
  encryptEvent(cache)
}
declare const crypto: Crypto.Crypto
const deriveWith = (ikm: Uint8Array) =>
  // @ts-expect-error HKDF takes only registered labels, not ad-hoc strings
  crypto.hkdf({ ikm, label: "cipherlog/v1/made-up", length: 32 })
const deriveRegistered = (ikm: Uint8Array) => crypto.hkdf({ ikm, label: labels.masterKek, length: 32 })

describe("key typing", () => {
  it("INV-008 purpose-typed functions exist and are callable only with their purpose (checked by tsc above)", () => {
    expect(typeof misuses).toBe("function")
    expect(typeof deriveWith).toBe("function")
    expect(typeof deriveRegistered).toBe("function")
  })
})

describe("Argon2 parameters", () => {
  it("the default is m=64 MiB, t=3, p=1 and the OWASP minimum m=19 MiB, t=2", () => {
    expect(Argon2.defaults).toMatchObject({ memoryKiB: 65536, iterations: 3, parallelism: 1 })
    expect(Argon2.owaspMinimum).toMatchObject({ memoryKiB: 19456, iterations: 2, parallelism: 1 })
    expect(Argon2.meetsMinimum(Argon2.defaults)).toBe(true)
    expect(Argon2.meetsMinimum({ ...Argon2.owaspMinimum, iterations: 1 })).toBe(false)
  })

  it("raising memory or time is stronger; lowering either is not", () => {
    expect(Argon2.isStronger(Argon2.defaults, Argon2.owaspMinimum)).toBe(true)
    expect(Argon2.isStronger(Argon2.owaspMinimum, Argon2.defaults)).toBe(false)
    expect(Argon2.isStronger({ ...Argon2.defaults, memoryKiB: 131072, iterations: 2 }, Argon2.defaults)).toBe(false)
    expect(Argon2.isStronger(Argon2.defaults, Argon2.defaults)).toBe(false)
  })
})
