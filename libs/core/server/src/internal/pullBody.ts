/**
 * The JSON text of a pull answer, written directly: the same bytes as
 * `JSON.stringify(Schema.encodeSync(Models.PullResponse)(page))` (a test
 * holds them together) without encoding a thousand records through the
 * schema first. Each stored `record_json` is written once, as a JSON
 * string, exactly as received (INV-004).
 */
import type { Models } from "@cipherlog/sync-api"

export const pullBody = (page: Models.PullResponse): string => {
  const parts: Array<string> = new Array(page.records.length)
  for (let i = 0; i < page.records.length; i++) {
    const r = page.records[i]!
    parts[i] = `{"globalSequence":${JSON.stringify(r.globalSequence)},"receivedAt":${JSON.stringify(r.receivedAt)},"recordJson":${
      JSON.stringify(r.recordJson)
    }}`
  }
  return `{"records":[${parts.join(",")}],"head":${JSON.stringify(page.head)},"hasMore":${page.hasMore ? "true" : "false"}}`
}
