// ESLint flat config (ESLint 10). The legacy `.eslintrc.json` format is
// deprecated and not used here; see README "Lint".
import js from "@eslint/js"
import nx from "@nx/eslint-plugin"
import { builtinModules } from "node:module"
import globals from "globals"
import tseslint from "typescript-eslint"

/** Node built-ins, in both spellings; none may be imported by neutral code. */
const nodeBuiltins = [...new Set(builtinModules.flatMap((m) => (m.startsWith("node:") ? [m] : [m, `node:${m}`])))]

/** Host globals that neutral (core/testkit) code must reach through a port. */
const hostGlobals = [
  "process", "Buffer", "global", "require", "module", "__dirname", "__filename", "setImmediate",
  "window", "document", "self", "navigator", "location", "localStorage", "sessionStorage",
  "indexedDB", "crypto", "fetch", "XMLHttpRequest", "WebSocket", "Worker", "SharedWorker"
].map((name) => ({ name, message: `"${name}" is a host API: core code reaches the host only through a port (docs/architecture.md).` }))

/** Conformance kits belong to tests: no library or app source imports one. */
const testkitPattern = { group: ["@cipherlog/*-conformance", "@cipherlog/*-conformance/*"], message: "Conformance kits are imported by test files only." }

/** External packages core code may import: the Effect family and pure, host-free crypto helpers. */
const coreExternals = ["effect", "effect/*", "@effect/platform", "@effect/platform/*", "@effect/sql", "@effect/sql/*", "@scure/bip39", "@scure/bip39/*"]

/** Test runners and property testing, which tests of any layer may import. */
const testExternals = ["@effect/vitest", "@effect/vitest/*", "vitest", "vitest/*", "@vitest/*", "fast-check", "better-sqlite3", "fake-indexeddb", "fake-indexeddb/*"]

/**
 * The module-boundary rules. Tags have three dimensions (docs/architecture.md):
 * type (layers), platform (which host APIs) and scope (client or server side).
 */
const boundaries = ({ testing }) => ({
  // Tests may read the workspace's shared test settings (the Chromium path and flags).
  allow: testing ? ["vitest\\.shared\\.ts$"] : [],
  enforceBuildableLibDependency: false,
  banTransitiveDependencies: false,
  depConstraints: [
    // Layers, for shipped source: core -> core; adapter -> core; testkit -> core;
    // app -> anything but apps; tooling -> anything.
    // Tests (testing: true) may also compose their library with adapters and conformance kits, to
    // exercise it for real (a key store needs a real Crypto to prove INV-014); shipped code never does.
    {
      sourceTag: "type:core",
      onlyDependOnLibsWithTags: testing ? ["type:core", "type:adapter", "type:testkit"] : ["type:core"],
      allowedExternalImports: [...coreExternals, ...(testing ? testExternals : [])]
    },
    { sourceTag: "type:adapter", onlyDependOnLibsWithTags: testing ? ["type:core", "type:adapter", "type:testkit"] : ["type:core"] },
    {
      sourceTag: "type:testkit",
      onlyDependOnLibsWithTags: testing ? ["type:core", "type:adapter", "type:testkit"] : ["type:core"],
      allowedExternalImports: [...coreExternals, ...testExternals]
    },
    { sourceTag: "type:app", onlyDependOnLibsWithTags: ["type:core", "type:adapter", "type:testkit"] },
    { sourceTag: "type:tooling", onlyDependOnLibsWithTags: ["type:core", "type:adapter", "type:testkit", "type:tooling"] },
    // Platforms: neutral code runs on any host; node and browser code never meet. (Tests run on a
    // concrete host — Node or Chromium — and may use that host's adapters.)
    ...(testing ? [] : [
      { sourceTag: "platform:neutral", onlyDependOnLibsWithTags: ["platform:neutral"] },
      { sourceTag: "platform:node", onlyDependOnLibsWithTags: ["platform:neutral", "platform:node"] },
      { sourceTag: "platform:browser", onlyDependOnLibsWithTags: ["platform:neutral", "platform:browser"] }
    ]),
    // Scopes: the client side and the server side share only the shared vocabulary. (Tests may
    // compose both sides: a client's tests run against the real server core.)
    ...(testing ? [] : [
      { sourceTag: "scope:shared", onlyDependOnLibsWithTags: ["scope:shared"] },
      { sourceTag: "scope:client", onlyDependOnLibsWithTags: ["scope:shared", "scope:client"] },
      { sourceTag: "scope:server", onlyDependOnLibsWithTags: ["scope:shared", "scope:server"] }
    ])
  ]
})

export default tseslint.config(
  {
    ignores: ["**/dist/**", "**/node_modules/**", "**/.nx/**", "**/coverage/**", "**/*.timestamp-*", "data/**", "tmp/**"]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { plugins: { "@nx": nx } },
  {
    // Plain JavaScript here is Node tooling; TypeScript checks undefined names itself.
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: globals.node }
  },
  {
    files: ["**/*.ts", "**/*.mts", "**/*.js", "**/*.mjs"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-namespace": "off",
      "no-console": "error",
      "@nx/enforce-module-boundaries": ["error", boundaries({ testing: false })]
    }
  },
  {
    // Neutral code (core libraries and conformance kits) compiles without DOM or @types/node;
    // lint says the same thing earlier and more clearly.
    files: ["libs/core/**/*.ts", "libs/testkit/**/src/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        paths: nodeBuiltins.map((name) => ({ name, message: "Node.js built-ins are host APIs: core code reaches the host only through a port." })),
        patterns: [
          { group: ["node:*"], message: "Node.js built-ins are host APIs: core code reaches the host only through a port." },
          testkitPattern
        ]
      }],
      "no-restricted-globals": ["error", ...hostGlobals]
    }
  },
  {
    // Conformance kits belong to tests: no library or app source imports one.
    files: ["libs/adapters/**/src/**/*.ts", "apps/**/src/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [testkitPattern] }] }
  },
  {
    // Tests, configs, tooling and apps may write to the terminal.
    files: ["**/test/**", "**/*.config.ts", "*.ts", "*.mjs", "tools/**", "libs/testkit/**", "apps/cli/**", "apps/*/scripts/**"],
    rules: { "no-console": "off" }
  },
  {
    // Build and test configuration is not library code: it reads the root's shared settings.
    files: ["**/tsup.config.ts", "**/vitest.config.ts", "**/vitest.*.config.ts"],
    rules: { "@nx/enforce-module-boundaries": "off" }
  },
  {
    // Tests may use host APIs and test runners; the layer rules still apply to what they import.
    files: ["libs/**/test/**/*.ts", "apps/**/test/**/*.ts"],
    rules: {
      "no-restricted-imports": "off",
      "no-restricted-globals": "off",
      "@nx/enforce-module-boundaries": ["error", boundaries({ testing: true })]
    }
  }
)
