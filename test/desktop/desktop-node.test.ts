/**
 * Startup and shutdown orchestration against a fake node: what is passed to startNode, what is
 * remembered, when. The same flow against real nodes is in desktop-rejoin.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { NodeOptions, RunningNode } from '../../main/node/node-options'
import { desktopReadyLine, lanIPv4, nodeDataDir, shareableAddress, startDesktopNode, windowTitle } from '../../main/desktop/desktop-node'
import { InstanceBusyError } from '../../main/desktop/instance'

const dirs: string[] = []
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ds-desktop-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

class FakeNode implements RunningNode {
  readonly nodeId = 'fake-id'
  readonly name: string
  readonly grpcAddress: string
  readonly wsUrl = 'ws://127.0.0.1:1'
  readonly uiUrl = undefined
  readonly token = 't'
  readonly clusterKey = 'fake-cluster-key-0123'
  peers: string[]
  stopped = 0
  constructor(readonly options: NodeOptions) {
    this.name = options.name ?? 'fake'
    this.grpcAddress = `127.0.0.1:${options.grpcPort}`
    this.peers = [...options.join]
  }
  async addPeer(address: string): Promise<void> {
    this.peers.push(address)
  }
  knownPeerAddresses(): string[] {
    return this.stopped ? [] : [...this.peers, this.grpcAddress]
  }
  async stop(): Promise<void> {
    this.stopped++
  }
}

function fakeStarter(failFirstWith?: Error) {
  const started: FakeNode[] = []
  const attempts: NodeOptions[] = []
  let failures = failFirstWith ? 1 : 0
  const startNode = async (options: NodeOptions): Promise<RunningNode> => {
    attempts.push(options)
    if (failures-- > 0) throw failFirstWith
    const node = new FakeNode(options)
    started.push(node)
    return node
  }
  return { startNode, started, attempts }
}

const base = { instance: 1, join: [] as string[], grpcHost: '127.0.0.1', peerSaveIntervalMs: 60_000 }

describe('startDesktopNode', () => {
  it('starts the node in the instance folder, joined to --join peers, and remembers them', async () => {
    const userDataDir = tempDir()
    const { startNode, started } = fakeStarter()
    const desk = await startDesktopNode(startNode, { ...base, userDataDir, grpcPort: 0, join: ['10.0.0.9:50051'] })
    const opts = started[0]!.options
    expect(opts.dataDir).toBe(nodeDataDir(userDataDir))
    expect(opts.join).toEqual(['10.0.0.9:50051'])
    expect(opts.wsHost).toBe('127.0.0.1')
    expect(desk.settings.get().peers).toEqual(['10.0.0.9:50051'])
    await desk.stop()
  })

  it('saves peers as they change, never its own address, and once more on stop', async () => {
    const userDataDir = tempDir()
    const { startNode, started } = fakeStarter()
    const desk = await startDesktopNode(startNode, { ...base, userDataDir, grpcPort: 0 })
    const node = started[0]!
    await node.addPeer('10.0.0.2:50051')
    await desk.savePeers()
    expect(desk.settings.get().peers).toEqual(['10.0.0.2:50051'])
    await node.addPeer('10.0.0.3:50051')
    await desk.stop()
    await desk.stop() // twice is fine
    expect(node.stopped).toBe(1)
    const saved = JSON.parse(readFileSync(join(userDataDir, 'settings.json'), 'utf8'))
    expect(saved.peers).toEqual(['10.0.0.2:50051', '10.0.0.3:50051'])
  })

  it('does not forget remembered peers while the node has not reached any yet', async () => {
    const userDataDir = tempDir()
    const first = fakeStarter()
    const a = await startDesktopNode(first.startNode, { ...base, userDataDir, grpcPort: 0, join: ['10.0.0.2:50051'] })
    await a.stop()
    // Next run: the remembered peer is offline, so the node knows nobody.
    const second = fakeStarter()
    const b = await startDesktopNode(second.startNode, { ...base, userDataDir, grpcPort: 0 })
    second.started[0]!.peers = []
    await b.savePeers()
    await b.stop()
    expect(b.settings.get().peers).toEqual(['10.0.0.2:50051'])
    expect(second.started[0]!.options.join).toEqual(['10.0.0.2:50051'])
  })

  it('uses the remembered node name, and --name over it', async () => {
    const userDataDir = tempDir()
    const one = fakeStarter()
    const a = await startDesktopNode(one.startNode, { ...base, userDataDir, grpcPort: 0 })
    await a.settings.update({ nodeName: 'kept' })
    await a.stop()
    const two = fakeStarter()
    const b = await startDesktopNode(two.startNode, { ...base, userDataDir, grpcPort: 0 })
    expect(two.started[0]!.options.name).toBe('kept')
    await b.stop()
    const three = fakeStarter()
    const c = await startDesktopNode(three.startNode, { ...base, userDataDir, grpcPort: 0, name: 'flag' })
    expect(three.started[0]!.options.name).toBe('flag')
    await c.stop()
  })

  it('refuses to run the same instance folder twice at once', async () => {
    const userDataDir = tempDir()
    const { startNode } = fakeStarter()
    const a = await startDesktopNode(startNode, { ...base, userDataDir, grpcPort: 0 })
    await expect(startDesktopNode(startNode, { ...base, userDataDir, grpcPort: 0 })).rejects.toBeInstanceOf(InstanceBusyError)
    await a.stop()
    const b = await startDesktopNode(startNode, { ...base, userDataDir, grpcPort: 0 })
    await b.stop()
  })

  it('retries on a free port when the chosen one is taken at bind time', async () => {
    const userDataDir = tempDir()
    const { startNode, started, attempts } = fakeStarter(new Error('No address added out of total 1 resolved'))
    const desk = await startDesktopNode(startNode, { ...base, userDataDir, preferredGrpcPort: 0 })
    expect(attempts).toHaveLength(2)
    expect(started[0]!.options.grpcPort).toBe(0)
    await desk.stop()
  })

  it('asks the node to advertise the LAN address when it listens on every interface', async () => {
    const { startNode, started } = fakeStarter()
    // Explicit port 0: nothing is probed or bound on 0.0.0.0 (the fake node binds nothing anyway).
    const wild = await startDesktopNode(startNode, { ...base, userDataDir: tempDir(), grpcHost: '0.0.0.0', grpcPort: 0 })
    expect((started[0]!.options as { advertiseHost?: string }).advertiseHost).toBe(lanIPv4())
    await wild.stop()
    const local = await startDesktopNode(startNode, { ...base, userDataDir: tempDir(), grpcPort: 0 })
    expect(started[1]!.options).not.toHaveProperty('advertiseHost')
    await local.stop()
  })

  it('gives up at once when an explicit --grpc port is taken', async () => {
    const userDataDir = tempDir()
    const { startNode } = fakeStarter(new Error('No address added out of total 1 resolved'))
    await expect(startDesktopNode(startNode, { ...base, userDataDir, grpcPort: 5 })).rejects.toThrow(/No address/)
    // and the folder is released again
    const again = fakeStarter()
    await (await startDesktopNode(again.startNode, { ...base, userDataDir, grpcPort: 0 })).stop()
  })

  it('titles the window with node name and address, and prints a ready line without the token', () => {
    const node = new FakeNode({ name: 'n2', grpcHost: '0.0.0.0', grpcPort: 50052, wsHost: '127.0.0.1', wsPort: 0, join: [], dataDir: '/x', heartbeatMs: 1, suspectMs: 1, deadMs: 1 })
    expect(windowTitle(node, '10.1.2.3:50052', 2)).toBe('ds-g1-sms — n2 — 10.1.2.3:50052 (instance 2)')
    const line = JSON.parse(desktopReadyLine(2, node, '/u', '10.1.2.3:50052'))
    expect(line).toMatchObject({ event: 'ready', instance: 2, name: 'n2', grpc: '127.0.0.1:50052', lan: '10.1.2.3:50052' })
    expect(line.token).toBeUndefined()
  })

  it('shows lab mates the LAN address when the node listens on every interface', () => {
    const ifaces = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [
        { address: 'fe80::1', family: 'IPv6', internal: false },
        { address: '192.168.5.20', family: 'IPv4', internal: false },
      ],
    } as unknown as Parameters<typeof shareableAddress>[2]
    expect(shareableAddress('127.0.0.1:50051', '0.0.0.0', ifaces)).toBe('192.168.5.20:50051')
    expect(shareableAddress('127.0.0.1:50051', '127.0.0.1', ifaces)).toBe('127.0.0.1:50051')
    expect(shareableAddress('127.0.0.1:50051', '0.0.0.0', { lo: ifaces!.lo })).toBe('127.0.0.1:50051')
    const withDocker = { docker0: [{ address: '172.17.0.1', family: 'IPv4', internal: false }], ...ifaces } as unknown as typeof ifaces
    expect(shareableAddress('127.0.0.1:50051', '0.0.0.0', withDocker)).toBe('192.168.5.20:50051')
  })
})
