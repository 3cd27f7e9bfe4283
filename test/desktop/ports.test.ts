import { createServer, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { chooseGrpcPort, defaultGrpcPort, isAddressInUse, isPortFree } from '../../main/desktop/ports'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

/** Holds a port on 127.0.0.1 for the test, as another program would. */
function occupy(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    servers.push(server)
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : -1)
    })
  })
}

describe('gRPC port of an instance', () => {
  it('is 50051 + (N - 1)', () => {
    expect(defaultGrpcPort(1)).toBe(50051)
    expect(defaultGrpcPort(2)).toBe(50052)
    expect(defaultGrpcPort(3)).toBe(50053)
  })

  it('keeps the preferred port when it is free', async () => {
    const port = await occupy()
    await new Promise((r) => servers.pop()!.close(r)) // now free again
    expect(await isPortFree('127.0.0.1', port)).toBe(true)
    expect(await chooseGrpcPort('127.0.0.1', port)).toBe(port)
  })

  it('falls back to another free port when the preferred one is taken', async () => {
    const taken = await occupy()
    expect(await isPortFree('127.0.0.1', taken)).toBe(false)
    const chosen = await chooseGrpcPort('127.0.0.1', taken)
    expect(chosen).not.toBe(taken)
    expect(chosen).toBeGreaterThan(0)
    expect(await isPortFree('127.0.0.1', chosen)).toBe(true)
  })

  it('recognises address-in-use failures from net and grpc-js', () => {
    expect(isAddressInUse(Object.assign(new Error('listen EADDRINUSE: address already in use'), { code: 'EADDRINUSE' }))).toBe(true)
    expect(isAddressInUse(new Error('No address added out of total 1 resolved'))).toBe(true)
    expect(isAddressInUse(new Error('bad token'))).toBe(false)
  })
})
