/**
 * In-memory token buckets. They are per process: with several server
 * processes behind a balancer, each enforces its own limits
 * (docs/http-api.md, "Limits").
 *
 * @since 0.1.0
 */
import type { RateLimit } from "./ServerConfig.js"

/**
 * A set of buckets, one per key (a client address, a user id).
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimiter {
  /** Takes a token for `key` at time `nowMs`: 0 when allowed, else the seconds to wait. */
  readonly take: (key: string, nowMs: number) => number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * A limiter remembering at most `maxKeys` keys (the least recently used
 * are forgotten, which only ever makes a forgotten key's bucket full).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (limit: RateLimit, maxKeys = 100_000): RateLimiter => {
  const buckets = new Map<string, Bucket>()
  return {
    take: (key, nowMs) => {
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        bucket = { tokens: limit.burst, at: nowMs }
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next()
          if (oldest.done !== true) buckets.delete(oldest.value)
        }
      } else {
        buckets.delete(key)
        bucket.tokens = Math.min(limit.burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * limit.ratePerSecond)
        bucket.at = nowMs
      }
      buckets.set(key, bucket)
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1
        return 0
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / limit.ratePerSecond))
    }
  }
}
