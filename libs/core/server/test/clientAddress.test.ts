import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { clientAddress, isAddress } from "../src/internal/clientAddress.js"

const proxies = new Set(["127.0.0.1", "10.0.0.2", "::1"])
const header = fc.oneof(fc.string(), fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), { maxLength: 5 }).map((hops) => hops.join(", ")))

describe("client address (per-address limits)", () => {
  it.prop("a peer that is not a trusted proxy is its own address, whatever X-Forwarded-For says (no spoofing)", [fc.ipV4(), fc.option(header, { nil: undefined })], ([peer, forwarded]) => {
    if (proxies.has(peer)) return
    expect(clientAddress(peer, forwarded, proxies)).toBe(peer)
    expect(clientAddress(peer, forwarded, new Set())).toBe(peer)
  })

  it.prop("without trusted proxies the header is never read", [fc.ipV4(), header], ([peer, forwarded]) => {
    expect(clientAddress(peer, forwarded, new Set())).toBe(peer)
  })

  it("behind trusted proxies: the rightmost address that is not a trusted proxy", () => {
    expect(clientAddress("127.0.0.1", "203.0.113.7", proxies)).toBe("203.0.113.7")
    // A client cannot hide behind a forged left part: the proxies append on the right.
    expect(clientAddress("127.0.0.1", "198.51.100.1, 203.0.113.7, 10.0.0.2", proxies)).toBe("203.0.113.7")
    // Every hop trusted: the leftmost.
    expect(clientAddress("127.0.0.1", "10.0.0.2", proxies)).toBe("10.0.0.2")
    // No header from a trusted proxy: the proxy itself.
    expect(clientAddress("127.0.0.1", undefined, proxies)).toBe("127.0.0.1")
    // Garbage where an address should be: the last trusted hop, never the garbage.
    expect(clientAddress("127.0.0.1", "203.0.113.7, not-an-ip", proxies)).toBe("127.0.0.1")
    expect(clientAddress("127.0.0.1", "not-an-ip, 10.0.0.2", proxies)).toBe("10.0.0.2")
    // An IPv4 peer on a dual-stack socket, and IPv6 in any case.
    expect(clientAddress("::ffff:127.0.0.1", "2001:DB8::1", proxies)).toBe("2001:db8::1")
    expect(clientAddress(undefined, "203.0.113.7", proxies)).toBe("unknown")
  })

  it("isAddress: IPv4 and IPv6 addresses only", () => {
    for (const a of ["127.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::", "2001:db8::8a2e:370:7334", "::ffff:10.0.0.1", "fe80::1"]) expect(isAddress(a)).toBe(true)
    for (const a of ["", "256.0.0.1", "1.2.3", "10.0.0.0/8", "127.0.0.1:80", "[::1]", "proxy.internal", "1::2::3", "fe80::1%eth0"]) expect(isAddress(a)).toBe(false)
  })

  it.prop("isAddress accepts every generated address", [fc.oneof(fc.ipV4(), fc.ipV6())], ([a]) => {
    expect(isAddress(a)).toBe(true)
  })
})
