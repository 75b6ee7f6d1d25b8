/**
 * The KeyStore port on a directory, laid out like seed 002's key storage:
 *
 * ```
 * <dir>/                    mode 0700
 * ├── keystore.json         the header (not secret: format, KDF parameters, the wrapped device key)
 * ├── identity.enc          each entry <name> is <name>.enc, mode 0600, encrypted by the vault
 * ├── device.enc
 * ├── stores/<store>/kek/<version>.enc
 * └── …
 * ```
 *
 * Every write is atomic (temporary file in the same directory, `fsync`,
 * `rename`, `fsync` of the directory), so a crash leaves the old entry or the
 * new one, never a torn one. `lock` holds a cross-process lock
 * (`proper-lockfile`, a `keystore.lock` directory refreshed while held and
 * reclaimed when stale): a second process waits a few seconds, then fails
 * with `KeyStoreLocked` (INV-011).
 *
 * @since 0.1.0
 */
import { KeyStore, KeyStoreError, KeyStoreLocked } from "@cipherlog/keys"
import { Effect, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import { constants } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import lockfile from "proper-lockfile"

const HEADER = "keystore.json"
const LOCK = "keystore.lock"
const SUFFIX = ".enc"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long a second process waits for the lock before failing (default 5 s). */
  readonly lockWaitMs?: number
}

const code = (error: unknown) => (typeof error === "object" && error !== null && "code" in error ? String(error.code) : "")

/**
 * A KeyStore on the directory `dir` (created on first write, with mode 0700).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (dir: string, options: Options = {}): KeyStore.KeyStore => {
  const location = path.resolve(dir)
  const io = (what: string, entry?: string) => (error: unknown) =>
    new KeyStoreError({
      reason: "io",
      location,
      ...(entry === undefined ? {} : { entry }),
      detail: `${what} failed (${code(error) || "unknown error"})`,
      cause: error
    })

  const ensureDir = (target: string) =>
    Effect.tryPromise({
      try: async () => {
        await fs.mkdir(target, { recursive: true, mode: 0o700 })
        // mkdir's mode is filtered by the umask: set it explicitly on every level we own.
        for (let d = target; d.startsWith(location); d = path.dirname(d)) {
          await fs.chmod(d, 0o700)
          if (d === location) break
        }
      },
      catch: io("creating the directory")
    })

  const fileOf = (name: string) => path.join(location, ...name.split("/")) + SUFFIX

  const readFile = (file: string, entry: string) =>
    Effect.tryPromise({
      try: async () => {
        try {
          return Option.some(new Uint8Array(await fs.readFile(file)))
        } catch (error) {
          if (code(error) === "ENOENT") return Option.none<Uint8Array>()
          throw error
        }
      },
      catch: io("reading", entry)
    })

  const writeAtomic = (file: string, bytes: Uint8Array, entry: string) =>
    Effect.zipRight(
      ensureDir(path.dirname(file)),
      Effect.tryPromise({
        try: async () => {
          const tmp = `${file}.tmp-${randomBytes(6).toString("hex")}`
          const handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
          try {
            await handle.writeFile(bytes)
            await handle.sync()
          } finally {
            await handle.close()
          }
          try {
            await fs.rename(tmp, file)
          } catch (error) {
            await fs.rm(tmp, { force: true })
            throw error
          }
          const dirHandle = await fs.open(path.dirname(file), "r")
          try {
            await dirHandle.sync()
          } finally {
            await dirHandle.close()
          }
        },
        catch: io("writing", entry)
      })
    )

  const walk = async (d: string): Promise<Array<string>> => {
    let items: Array<import("node:fs").Dirent>
    try {
      items = await fs.readdir(d, { withFileTypes: true })
    } catch (error) {
      if (code(error) === "ENOENT") return []
      throw error
    }
    const out: Array<string> = []
    for (const item of items) {
      const full = path.join(d, item.name)
      if (item.isDirectory()) {
        if (full !== path.join(location, LOCK)) out.push(...(await walk(full)))
      } else if (item.isFile() && item.name.endsWith(SUFFIX)) {
        out.push(path.relative(location, full).split(path.sep).join("/").slice(0, -SUFFIX.length))
      }
    }
    return out
  }

  const store: KeyStore.KeyStore = {
    location,
    readHeader: readFile(path.join(location, HEADER), "header"),
    writeHeader: (bytes) => writeAtomic(path.join(location, HEADER), bytes, "header"),
    read: (name) => Effect.flatMap(KeyStore.validateName(location, name), (n) => readFile(fileOf(n), n)),
    write: (name, bytes) => Effect.flatMap(KeyStore.validateName(location, name), (n) => writeAtomic(fileOf(n), bytes, n)),
    remove: (name) =>
      Effect.flatMap(KeyStore.validateName(location, name), (n) =>
        Effect.tryPromise({ try: () => fs.rm(fileOf(n), { force: true }), catch: io("removing", n) })),
    list: (prefix) =>
      Effect.tryPromise({
        // Walk only the directory the prefix names: listing a store's KEKs must not read its 100 000 DEK files.
        try: async () => (await walk(path.join(location, ...prefix.split("/").slice(0, -1)))).filter((n) => n.startsWith(prefix)).sort(),
        catch: io("listing")
      }),
    lock: Effect.acquireRelease(
      Effect.zipRight(
        ensureDir(location),
        Effect.tryPromise({
          try: () =>
            lockfile.lock(location, {
              lockfilePath: path.join(location, LOCK),
              realpath: false,
              stale: 10_000,
              update: 2_000,
              retries: { retries: Math.max(0, Math.ceil((options.lockWaitMs ?? 5000) / 250)), factor: 1, minTimeout: 250, maxTimeout: 250 }
            }),
          catch: (error) => (code(error) === "ELOCKED" ? new KeyStoreLocked({ location }) : io("locking")(error))
        })
      ),
      (release) => Effect.promise(() => release().catch(() => undefined))
    ),
    wipe: Effect.tryPromise({
      try: async () => {
        let items: Array<string>
        try {
          items = await fs.readdir(location)
        } catch (error) {
          if (code(error) === "ENOENT") return
          throw error
        }
        // The directory is the key store's own: everything in it but a held lock goes.
        for (const item of items) if (item !== LOCK) await fs.rm(path.join(location, item), { recursive: true, force: true })
      },
      catch: io("wiping")
    })
  }
  return store
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (dir: string, options?: Options): Layer.Layer<KeyStore.KeyStore> => Layer.succeed(KeyStore.KeyStore, make(dir, options))
