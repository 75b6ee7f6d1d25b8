/**
 * The one place build settings are decided: every library builds ESM plus
 * `.d.ts` from `src/index.ts`; dependencies stay external.
 */
import { defineConfig, type Options } from "tsup"

export const libBuild = (overrides: Partial<Options> = {}) =>
  defineConfig({
    entry: ["src/index.ts"],
    format: ["esm"],
    dts: { compilerOptions: { composite: false } },
    tsconfig: "tsconfig.lib.json",
    sourcemap: true,
    clean: true,
    treeshake: true,
    target: "es2022",
    outDir: "dist",
    external: [/^@cipherlog\//],
    ...overrides
  })
