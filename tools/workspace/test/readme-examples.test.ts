/**
 * Every ```ts code block in a library README is executed, so documentation
 * cannot drift from the code (```ts template blocks are shown, not run).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it, vi } from "vitest"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const scratch = join(root, "tools/workspace/.examples")

const readmes = ["libs/core", "libs/adapters", "libs/testkit"].flatMap((group) =>
  readdirSync(join(root, group)).map((lib) => `${group}/${lib}`)
).flatMap((lib) => {
  try {
    return [{ lib, text: readFileSync(join(root, lib, "README.md"), "utf8") }]
  } catch (_) {
    return []
  }
})

const examples = readmes.flatMap(({ lib, text }) =>
  [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m, i) => ({ lib, index: i, code: m[1]! }))
)

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

describe("README examples run", () => {
  it("every library has a README with a runnable example, or a template for kits", () => {
    for (const { lib, text } of readmes) {
      expect(text.includes("```ts"), `${lib}/README.md has no example`).toBe(true)
    }
    expect(examples.length).toBeGreaterThanOrEqual(5)
  })

  for (const example of examples) {
    it(`${example.lib} example ${example.index + 1}`, async () => {
      mkdirSync(scratch, { recursive: true })
      const file = join(scratch, `${example.lib.replaceAll("/", "_")}_${example.index}.ts`)
      writeFileSync(file, example.code)
      const log = vi.spyOn(console, "log").mockImplementation(() => undefined)
      try {
        await import(file)
        expect(log).toHaveBeenCalled()
      } finally {
        log.mockRestore()
      }
    })
  }
})
