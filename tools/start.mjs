// `npm start`: the main job. The sync server is not built yet; say so plainly.
process.stdout.write(`Cipherlog — main job

The sync server (apps/sync-server) is not built yet, so there is nothing to
start. What is built and tested today:

  - @cipherlog/domain     event ids, envelopes, sync records, AAD v1, version rules
  - @cipherlog/crypto     the Crypto port: AEAD, HKDF, HMAC, Argon2id, Ed25519,
                          X25519, HPKE — with node, webcrypto and noble adapters
  - @cipherlog/keys       passphrase vault, recovery phrase, identities, KEK
                          versions, DEK epochs, backups; file and IndexedDB stores

Run the tests with:  npm test
Run the benchmarks:  npm run bench
`)
