import type { KeyStoreConformance } from "@cipherlog/key-store-conformance"
import { Effect } from "effect"
import { IndexedDbKeyStore } from "../src/index.js"

const openDb = (name: string) =>
  new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(`cipherlog-keystore:${name}`, 1)
    req.onupgradeneeded = () => req.result.createObjectStore("kv")
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })

/** A conformance harness reading and damaging the raw IndexedDB values. */
export const harness = (name: string): KeyStoreConformance.Harness => ({
  name,
  open: (id) => IndexedDbKeyStore.layer(id),
  persisted: (id) =>
    Effect.promise(async () => {
      const db = await openDb(id)
      const tx = db.transaction("kv", "readonly")
      const store = tx.objectStore("kv")
      const [keys, values] = await Promise.all([
        new Promise<Array<IDBValidKey>>((r) => {
          const q = store.getAllKeys()
          q.onsuccess = () => r(q.result)
        }),
        new Promise<Array<unknown>>((r) => {
          const q = store.getAll()
          q.onsuccess = () => r(q.result)
        })
      ])
      db.close()
      return keys.map((k, i) => ({ name: String(k), bytes: new Uint8Array(values[i] as Uint8Array) }))
    }),
  corrupt: (id, entry) =>
    Effect.promise(async () => {
      const db = await openDb(id)
      const tx = db.transaction("kv", "readwrite")
      const store = tx.objectStore("kv")
      const value = await new Promise<Uint8Array>((r) => {
        const q = store.get(`entry:${entry}`)
        q.onsuccess = () => r(q.result as Uint8Array)
      })
      const damaged = value.slice()
      damaged[damaged.length - 1]! ^= 0xff
      store.put(damaged, `entry:${entry}`)
      await new Promise((r) => (tx.oncomplete = r))
      db.close()
    })
})
