/**
 * The KeyStore port's conformance kit: storage behaviour, locking, encryption at rest (INV-014), wrong passphrases and corruption
 *
 * @since 0.1.0
 */
export {}
