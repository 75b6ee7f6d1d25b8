#!/usr/bin/env node
// The `cipherlog` executable that npm links into node_modules/.bin. It is a
// source file (npm links a workspace's bin only if the file exists when it
// installs, which for the built dist/main.js is never on a fresh clone);
// it runs the built CLI, or says how to build it.
import { existsSync } from "node:fs"

const main = new URL("../dist/main.js", import.meta.url)
if (!existsSync(main)) {
  process.stderr.write("cipherlog is not built yet: run `npx nx run @cipherlog/cli:build` in the repository, then try again.\n")
  process.exit(1)
}
await import(main.href)
