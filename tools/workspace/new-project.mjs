#!/usr/bin/env node
// Creates a library with the workspace conventions (docs/architecture.md,
// "Per-library conventions") and registers its path alias.
//
//   node tools/workspace/new-project.mjs <dir> <name> <type> <platform> <scope> "<description>"
//   e.g. node tools/workspace/new-project.mjs libs/core/domain domain core neutral shared "Event-sourcing vocabulary"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"

const { positionals } = parseArgs({ allowPositionals: true })
const [dir, name, type, platform, scope, description] = positionals
const types = ["core", "adapter", "testkit", "app", "tooling"]
const platforms = ["neutral", "node", "browser"]
if (!dir || !name || !types.includes(type) || !platforms.includes(platform) || !scope || !description) {
  process.stderr.write(`usage: new-project.mjs <dir> <name> <${types.join("|")}> <${platforms.join("|")}> <scope> "<description>"\n`)
  process.exit(2)
}
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const abs = join(root, dir)
if (existsSync(join(abs, "package.json"))) {
  process.stderr.write(`${dir} already has a package.json; nothing written\n`)
  process.exit(1)
}
const up = relative(abs, root) || "."
const pkgName = `@cipherlog/${name}`
const write = (file, text) => {
  mkdirSync(dirname(join(abs, file)), { recursive: true })
  writeFileSync(join(abs, file), text)
}

const libSettings = {
  neutral: { lib: ["ES2023"], types: [], files: [`${up}/tools/typings/neutral-globals.d.ts`] },
  node: { lib: ["ES2023"], types: ["node"], files: [] },
  browser: { lib: ["ES2023", "DOM", "DOM.Iterable", "DOM.AsyncIterable"], types: [], files: [] }
}[platform]

write("package.json", JSON.stringify({
  name: pkgName,
  version: "0.1.0",
  description,
  license: "Apache-2.0",
  type: "module",
  sideEffects: false,
  ...(type === "app" || type === "tooling" ? { private: true } : {}),
  exports: {
    ".": { types: "./dist/index.d.ts", import: "./dist/index.js" },
    "./package.json": "./package.json"
  },
  files: ["dist", "README.md"],
  scripts: {
    build: "tsup",
    typecheck: "tsc -p tsconfig.lib.json && tsc -p tsconfig.spec.json",
    test: "vitest run"
  },
  dependencies: {},
  nx: { tags: [`type:${type}`, `platform:${platform}`, `scope:${scope}`] }
}, null, 2) + "\n")

write("tsconfig.json", JSON.stringify({
  extends: `${up}/tsconfig.base.json`,
  files: [],
  references: [{ path: "./tsconfig.lib.json" }, { path: "./tsconfig.spec.json" }]
}, null, 2) + "\n")

write("tsconfig.lib.json", JSON.stringify({
  extends: `${up}/tsconfig.base.json`,
  compilerOptions: { lib: libSettings.lib, types: libSettings.types },
  include: ["src/**/*.ts", ...libSettings.files]
}, null, 2) + "\n")

write("tsconfig.spec.json", JSON.stringify({
  extends: `${up}/tsconfig.base.json`,
  compilerOptions: { lib: [...new Set([...libSettings.lib, "DOM", "DOM.Iterable"])], types: ["node"], allowImportingTsExtensions: true },
  include: ["src/**/*.ts", "test/**/*.ts", "*.config.ts", ...libSettings.files]
}, null, 2) + "\n")

write("tsconfig.build.json", JSON.stringify({
  extends: "./tsconfig.lib.json",
  compilerOptions: {
    paths: {}, noEmit: false, emitDeclarationOnly: true, declaration: true, declarationMap: true, outDir: "dist", rootDir: "src"
  }
}, null, 2) + "\n")

write("tsup.config.ts", `import { libBuild } from "${up}/tsup.shared.ts"\n\nexport default libBuild()\n`)
write("vitest.config.ts", `import { libConfig } from "${up}/vitest.shared.ts"\n\nexport default libConfig(import.meta.dirname)\n`)
if (!existsSync(join(abs, "src/index.ts"))) write("src/index.ts", `/**\n * ${description}\n *\n * @since 0.1.0\n */\nexport {}\n`)
if (!existsSync(join(abs, "README.md"))) write("README.md", `# ${pkgName}\n\n${description}\n`)

const basePath = join(root, "tsconfig.base.json")
const base = JSON.parse(readFileSync(basePath, "utf8"))
base.compilerOptions.paths = Object.fromEntries(
  Object.entries({ ...base.compilerOptions.paths, [pkgName]: [`./${dir}/src/index.ts`] }).sort(([a], [b]) => a.localeCompare(b))
)
writeFileSync(basePath, JSON.stringify(base, null, 2) + "\n")
process.stdout.write(`created ${pkgName} in ${dir}\n`)
