/**
 * The JSON answer of a pull, written directly as UTF-8 chunks: the same bytes
 * as `JSON.stringify(Schema.encodeSync(Models.PullResponse)(page))` (a test
 * holds them together) without encoding a thousand records through the
 * schema first, and without building a page-sized string or buffer (see
 * `Utf8Writer`). Each stored `record_json` is written once, as a JSON string,
 * exactly as received (INV-004).
 */
import { type Models, Utf8Writer } from "@cipherlog/sync-api"

export const pullBody = (page: Models.PullResponse): ReadonlyArray<Uint8Array> => {
  const out = Utf8Writer.make()
  out.text(`{"records":[`)
  for (let i = 0; i < page.records.length; i++) {
    const r = page.records[i]!
    out.text(`${i === 0 ? "" : ","}{"globalSequence":${JSON.stringify(r.globalSequence)},"receivedAt":${JSON.stringify(r.receivedAt)},"recordJson":`)
    out.text(JSON.stringify(r.recordJson))
    out.text("}")
  }
  out.text(`],"head":${JSON.stringify(page.head)},"hasMore":${page.hasMore ? "true" : "false"}}`)
  return out.chunks()
}
