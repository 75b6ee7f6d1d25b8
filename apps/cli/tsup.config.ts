import { defineConfig } from "tsup"

// The CLI is one executable ESM file with everything bundled in (Effect
// included: loading the tree-shaken bundle is about three times faster than
// loading Effect's modules from node_modules, which every command pays).
// Only packages that find files next to themselves stay external and load
// from node_modules: the native `argon2` and `better-sqlite3`, and
// `proper-lockfile`. CommonJS code inside the bundle gets a `require`.
export default defineConfig({
  entry: { main: "src/main.ts" },
  format: ["esm"],
  platform: "node",
  target: "node20",
  tsconfig: "tsconfig.lib.json",
  outDir: "dist",
  sourcemap: true,
  clean: true,
  dts: false,
  // One file: the dynamic imports of bundled libraries stay inside it.
  splitting: false,
  banner: {
    js: [
      "#!/usr/bin/env node",
      "import { createRequire as __cipherlogCreateRequire } from \"node:module\"",
      "const require = __cipherlogCreateRequire(import.meta.url)"
    ].join("\n")
  },
  noExternal: [/^(?!(better-sqlite3|argon2|proper-lockfile)(\/|$))/]
})
