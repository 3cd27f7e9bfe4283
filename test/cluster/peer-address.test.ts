// Addresses peers record for each other: a loopback address said by a node on another machine is
// replaced by the host we actually reached it on (or it reached us from).
import { describe, expect, it } from 'vitest'
import { bestAddress, hostOfGrpcPeer, isLoopbackHost, splitAddress } from '../../main/cluster/peer-address'

describe('peer addresses', () => {
  it.each([
    ['127.0.0.1:50051', '10.1.2.3', '10.1.2.3:50051'], // lab mate bound to 0.0.0.0 says loopback
    ['localhost:50052', '10.1.2.3', '10.1.2.3:50052'],
    ['127.0.0.1:50051', '127.0.0.1', '127.0.0.1:50051'], // same machine: keep it
    ['10.9.9.9:50051', '10.1.2.3', '10.9.9.9:50051'], // a routable address it chose: keep it
    ['127.0.0.1:50051', 'fe80::1', '[fe80::1]:50051'],
    ['127.0.0.1:50051', undefined, '127.0.0.1:50051'],
  ])('%s seen from %s is recorded as %s', (said, seen, recorded) => {
    expect(bestAddress(said, seen)).toBe(recorded)
  })

  it.each([
    ['127.0.0.1:5555', '127.0.0.1'],
    ['ipv4:10.0.0.7:5555', '10.0.0.7'],
    ['::ffff:10.0.0.7:5555', '10.0.0.7'],
    ['[::1]:5555', '::1'],
  ])('gRPC peer %s has host %s', (peer, host) => {
    expect(hostOfGrpcPeer(peer)).toBe(host)
  })

  it('knows loopback and splits bracketed IPv6', () => {
    expect(isLoopbackHost('127.3.4.5')).toBe(true)
    expect(isLoopbackHost('::1')).toBe(true)
    expect(isLoopbackHost('192.168.1.4')).toBe(false)
    expect(splitAddress('[::1]:80')).toEqual({ host: '::1', port: '80' })
  })
})
