/**
 * The one place build settings are decided: every library builds ESM from
 * `src/index.ts` with esbuild (dependencies stay external), then its `.d.ts`
 * files with `tsc -p tsconfig.build.json`. tsup's own bundled d.ts
 * (rollup-plugin-dts) is not used: it drops the type half of a merged
 * interface + constant (a port's service interface and its tag) when a module
 * is re-exported as a namespace, which is exactly how our ports are exported.
 */
import { defineConfig, type Options } from "tsup"

export const libBuild = (overrides: Partial<Options> = {}) =>
  defineConfig({
    entry: ["src/index.ts"],
    format: ["esm"],
    dts: false,
    onSuccess: "tsc -p tsconfig.build.json",
    tsconfig: "tsconfig.lib.json",
    sourcemap: true,
    clean: true,
    treeshake: true,
    target: "es2022",
    outDir: "dist",
    external: [/^@cipherlog\//],
    ...overrides
  })
