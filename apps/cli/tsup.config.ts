import { defineConfig } from "tsup"

// The CLI is one executable ESM file: workspace libraries are bundled in,
// third-party packages (the `dependencies` of package.json, native ones
// included) stay external and load from node_modules.
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
  banner: { js: "#!/usr/bin/env node" },
  noExternal: [/^@cipherlog\//]
})
