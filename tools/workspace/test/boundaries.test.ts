/**
 * Proof that the layer rules are enforced, not just written down: each rule
 * is shown rejecting a violation (and accepting the legitimate import next
 * to it, so that a rule that rejects everything would also be caught).
 */
import { ESLint } from "eslint"
import { execFileSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { beforeAll, describe, expect, it } from "vitest"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
let eslint: ESLint

const lint = async (filePath: string, code: string) => {
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) })
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`)
}

beforeAll(() => {
  // The module-boundary rule reads Nx's project graph; make sure it is computed and current.
  execFileSync("npx", ["nx", "show", "projects"], { cwd: root, stdio: "ignore", env: { ...process.env, NX_DAEMON: "false" } })
  eslint = new ESLint({ cwd: root })
})

describe("lint enforces the layers", () => {
  it("a core library importing an adapter is rejected", async () => {
    const messages = await lint("libs/core/domain/src/Fixture.ts", `import { NodeCrypto } from "@cipherlog/crypto-node"\nexport const x = NodeCrypto\n`)
    expect(messages.some((m) => m.startsWith("@nx/enforce-module-boundaries"))).toBe(true)
  })

  it("a core library importing another core library is accepted", async () => {
    const messages = await lint("libs/core/crypto/src/Fixture.ts", `import { Bytes } from "@cipherlog/domain"\nexport const x = Bytes\n`)
    expect(messages).toEqual([])
  })

  it("an adapter importing another adapter is rejected; importing core is accepted", async () => {
    const bad = await lint("libs/adapters/crypto-noble/src/Fixture.ts", `import { NodeCrypto } from "@cipherlog/crypto-node"\nexport const x = NodeCrypto\n`)
    expect(bad.some((m) => m.startsWith("@nx/enforce-module-boundaries"))).toBe(true)
    const good = await lint("libs/adapters/crypto-noble/src/Fixture.ts", `import { Crypto } from "@cipherlog/crypto"\nexport const x = Crypto\n`)
    expect(good).toEqual([])
  })

  it("library source importing a conformance kit is rejected (kits are for tests)", async () => {
    const bad = await lint("libs/adapters/crypto-noble/src/Fixture.ts", `import { CryptoConformance } from "@cipherlog/crypto-conformance"\nexport const x = CryptoConformance\n`)
    expect(bad.some((m) => m.startsWith("no-restricted-imports"))).toBe(true)
  })

  it("Node.js built-ins and host globals in core are rejected", async () => {
    const imports = await lint("libs/core/domain/src/Fixture.ts", `import { readFileSync } from "node:fs"\nexport const x = readFileSync\n`)
    expect(imports.some((m) => m.startsWith("no-restricted-imports"))).toBe(true)
    const bare = await lint("libs/core/domain/src/Fixture.ts", `import { readFileSync } from "fs"\nexport const x = readFileSync\n`)
    expect(bare.some((m) => m.startsWith("no-restricted-imports"))).toBe(true)
    const globals = await lint("libs/core/domain/src/Fixture.ts", `export const a = process.env\nexport const b = window.location\nexport const c = crypto.getRandomValues\n`)
    expect(globals.filter((m) => m.startsWith("no-restricted-globals"))).toHaveLength(3)
  })

  it("a core library importing a non-Effect package is rejected", async () => {
    const messages = await lint("libs/core/domain/src/Fixture.ts", `import { gcm } from "@noble/ciphers/aes.js"\nexport const x = gcm\n`)
    expect(messages.some((m) => m.includes("is not allowed to import"))).toBe(true)
  })
})

describe("the core type check has no host types", () => {
  const check = (code: string) => {
    const configPath = join(root, "libs/core/domain/tsconfig.lib.json")
    const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })
    if (!config) throw new Error("cannot read tsconfig.lib.json")
    const fixture = join(root, "libs/core/domain/src/Fixture.ts")
    const host = ts.createCompilerHost(config.options)
    const original = host.getSourceFile
    host.getSourceFile = (file, language, ...rest) =>
      file === fixture ? ts.createSourceFile(file, code, language) : original.call(host, file, language, ...rest)
    const globals = config.fileNames.filter((f) => f.endsWith(".d.ts"))
    const program = ts.createProgram([...globals, fixture], config.options, host)
    return ts.getPreEmitDiagnostics(program, program.getSourceFile(fixture)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))
  }

  it("a Node.js API in core does not compile", () => {
    expect(check(`export const x = process.env["HOME"]\n`).join("\n")).toMatch(/Cannot find name 'process'/)
    expect(check(`export const x = Buffer.from("a")\n`).join("\n")).toMatch(/Cannot find name 'Buffer'/)
  })

  it("a DOM API in core does not compile", () => {
    expect(check(`export const x = document.title\n`).join("\n")).toMatch(/Cannot find name 'document'/)
    expect(check(`export const x = indexedDB.open("x")\n`).join("\n")).toMatch(/Cannot find name 'indexedDB'/)
  })

  it("the universal globals core may use do compile", () => {
    expect(check(`export const x = new TextEncoder().encode("a")\nexport const y = [1, 2].at(-1)\n`)).toEqual([])
  })
})
