/**
 * The one place test settings are decided. Every project's
 * `vitest.config.ts` is `libConfig(import.meta.dirname)` plus, rarely, an
 * override; browser suites use `browserConfig`.
 */
import { playwright } from "@vitest/browser-playwright"
import { defineConfig, type ViteUserConfig } from "vitest/config"

/** Debian's Chromium; no test tool downloads a browser of its own. */
export const chromiumPath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"

/** Launch flags that work as root in a closed-network sandbox. */
export const chromiumArgs = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run"
]

const common = (root: string): ViteUserConfig => ({
  root,
  resolve: { tsconfigPaths: true },
  // sqlite-wasm ships its own worker/wasm loading; pre-bundling breaks it.
  optimizeDeps: { exclude: ["@sqlite.org/sqlite-wasm"] }
})

/** Node tests: `test/**\/*.test.ts`, never the browser ones. */
export const libConfig = (root: string, overrides: { readonly testTimeout?: number; readonly include?: ReadonlyArray<string> } = {}) =>
  defineConfig({
    ...common(root),
    test: {
      include: [...(overrides.include ?? ["test/**/*.test.ts"])],
      exclude: ["test/**/*.browser.test.ts", "node_modules/**", "dist/**"],
      testTimeout: overrides.testTimeout ?? 30_000,
      hookTimeout: 60_000,
      passWithNoTests: true,
      reporters: ["default"],
      pool: "forks"
    }
  })

/** Browser tests: `test/**\/*.browser.test.ts` in headless Debian Chromium. */
export const browserConfig = (
  root: string,
  overrides: {
    readonly testTimeout?: number
    readonly headers?: Record<string, string>
    /** Runs in Node before the browser suites (e.g. starts a server and `provide`s its URL). */
    readonly globalSetup?: string
  } = {}
) =>
  defineConfig({
    ...common(root),
    ...(overrides.headers ? { server: { headers: overrides.headers } } : {}),
    test: {
      include: ["test/**/*.browser.test.ts"],
      ...(overrides.globalSetup ? { globalSetup: [overrides.globalSetup] } : {}),
      testTimeout: overrides.testTimeout ?? 60_000,
      hookTimeout: 60_000,
      passWithNoTests: true,
      browser: {
        enabled: true,
        headless: true,
        provider: playwright({
          launchOptions: { executablePath: chromiumPath, args: chromiumArgs }
        }),
        instances: [{ browser: "chromium" }]
      }
    }
  })
