/**
 * Peer addresses (`host:port`) as a node advertises and learns them. A node bound to 0.0.0.0 does not
 * know which of its addresses a peer on another machine can reach, and may advertise loopback; the
 * helpers here let a node replace a loopback host it was told with the one that demonstrably works
 * (the address it dialled, or the source address of the connection it received).
 */

export function splitAddress(address: string): { host: string; port: string } {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(address)
  if (v6) return { host: v6[1], port: v6[2] }
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i), port: address.slice(i + 1) }
}

export function joinAddress(host: string, port: string | number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  return h === 'localhost' || h === '::1' || h.startsWith('127.') || h.startsWith('::ffff:127.')
}

/** The remote host of a gRPC server call's `getPeer()` ("1.2.3.4:5678", "[::1]:5678", "::ffff:1.2.3.4:5678"). */
export function hostOfGrpcPeer(peer: string): string | undefined {
  const s = peer.replace(/^(ipv4|ipv6):/, '')
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(s)
  let host = v6 ? v6[1] : s.includes('.') ? s.slice(0, s.lastIndexOf(':')) : s.replace(/:\d+$/, '')
  if (host.startsWith('::ffff:') && host.includes('.')) host = host.slice('::ffff:'.length)
  return host || undefined
}

/**
 * The address to record for a peer: what it says of itself, unless that is loopback while we
 * reached it (or it reached us) from another host, in which case that host with its port.
 */
export function bestAddress(selfReported: string, observedHost: string | undefined): string {
  if (!selfReported) return selfReported
  const { host, port } = splitAddress(selfReported)
  if (observedHost && isLoopbackHost(host) && !isLoopbackHost(observedHost)) return joinAddress(observedHost, port)
  return selfReported
}
