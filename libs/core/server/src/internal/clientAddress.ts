/**
 * The client address that per-address limits count against. By default it
 * is the TCP peer. Behind reverse proxies (`ServerConfig.trustedProxies`),
 * a request whose peer is a trusted proxy is attributed to the address that
 * proxy forwarded: `X-Forwarded-For` is read from the right (each proxy
 * appends the address it received the request from), skipping trusted
 * proxies, and the first other address is the client. A peer that is not a
 * trusted proxy cannot choose its address: its header is ignored.
 */

/** `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) is `1.2.3.4`; IPv6 in lower case. */
export const normalize = (address: string): string => {
  const a = address.trim().toLowerCase()
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const IPV6 = /^[0-9a-f:]+(:(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})?$/

/** Whether `text` is an IPv4 or IPv6 address (no port, no zone, no brackets). */
export const isAddress = (text: string): boolean => {
  const a = normalize(text)
  return IPV4.test(a) || (a.includes(":") && a.split("::").length <= 2 && IPV6.test(a))
}

export const clientAddress = (
  peer: string | undefined,
  forwardedFor: string | undefined,
  trustedProxies: ReadonlySet<string>
): string => {
  if (peer === undefined) return "unknown"
  let client = normalize(peer)
  if (!trustedProxies.has(client) || forwardedFor === undefined) return client
  const hops = forwardedFor.split(",")
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalize(hops[i]!)
    // Something that is not an address: stop at the last proxy that is trusted (it vouched for nothing usable).
    if (!isAddress(hop)) return client
    client = hop
    if (!trustedProxies.has(hop)) return hop
  }
  return client
}
