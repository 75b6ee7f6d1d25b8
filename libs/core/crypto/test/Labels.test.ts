import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { Label, labels } from "../src/index.js"

/** The INV-008 rule for a label registry: every label unique, versioned, and no label a prefix of another. */
const registryProblems = (registry: Record<string, string>): ReadonlyArray<string> => {
  const values = Object.values(registry)
  const problems: Array<string> = []
  if (new Set(values).size !== values.length) problems.push("duplicate label")
  for (const v of values) {
    if (Either.isLeft(Schema.decodeUnknownEither(Label)(v))) problems.push(`unversioned label ${v}`)
    for (const w of values) if (v !== w && w.startsWith(v + "/")) problems.push(`${v} is a prefix of ${w}`)
  }
  return problems
}

describe("HKDF labels", () => {
  it("INV-008 every derivation label is unique, versioned and names one purpose", () => {
    expect(registryProblems(labels)).toEqual([])
    expect(Object.keys(labels).length).toBeGreaterThanOrEqual(6)
  })

  it("INV-008 mutant: a registry that reuses a label, or has an unversioned one, is caught", () => {
    expect(registryProblems({ ...labels, another: labels.masterKek })).toContain("duplicate label")
    expect(registryProblems({ ...labels, loose: "master-kek" })).toContain("unversioned label master-kek")
  })

  it("labels cannot be made from arbitrary strings", () => {
    expect(Either.isLeft(Schema.decodeUnknownEither(Label)("cipherlog/master"))).toBe(true)
    expect(Either.isLeft(Schema.decodeUnknownEither(Label)("cipherlog/v0/x"))).toBe(true)
  })
})
