/**
 * The few host globals that every JavaScript host Cipherlog targets provides
 * (browsers, workers, Node.js, Deno, Bun, edge runtimes — the WinterTC
 * minimum common API), declared here so that core libraries can use them
 * while compiling with neither the DOM library nor `@types/node`.
 *
 * Anything not declared here (filesystem, network, `process`, `window`,
 * `crypto`, IndexedDB, …) is unavailable to core code on purpose: it must
 * come through a port.
 */
declare class TextEncoder {
  readonly encoding: string
  encode(input?: string): Uint8Array<ArrayBuffer>
  encodeInto(source: string, destination: Uint8Array): { readonly read: number; readonly written: number }
}

declare class TextDecoder {
  constructor(label?: string, options?: { readonly fatal?: boolean; readonly ignoreBOM?: boolean })
  readonly encoding: string
  readonly fatal: boolean
  decode(input?: ArrayBufferView | ArrayBuffer, options?: { readonly stream?: boolean }): string
}

/**
 * The console exists in every host. Core libraries never use it (lint
 * forbids it: they log through Effect's logger); conformance kits print
 * their vector counts with it.
 */
declare const console: {
  log(...data: ReadonlyArray<unknown>): void
  info(...data: ReadonlyArray<unknown>): void
  warn(...data: ReadonlyArray<unknown>): void
  error(...data: ReadonlyArray<unknown>): void
}
