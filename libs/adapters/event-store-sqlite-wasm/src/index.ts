/**
 * The EventStore port on sqlite-wasm: in-memory anywhere, OPFS (SAH pool) in a browser worker with a Web Lock for a single writer across tabs
 *
 * @since 0.1.0
 */
export {}
