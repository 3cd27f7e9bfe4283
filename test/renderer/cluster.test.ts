import { describe, expect, it } from 'vitest'
import type { PeerInfo, RoomInfo } from '../../proto/client-protocol'
import { clusterNodes, meshLinks, readableTraceText, ringLayout } from '../../renderer/src/state/cluster'

const peer = (nodeId: string, name: string, state: PeerInfo['state']): PeerInfo => ({ nodeId, name, address: `${name}:1`, state, lastSeenMs: 0 })
const room = (roomId: string, name: string, adminNodeId: string, over: Partial<RoomInfo> = {}): RoomInfo => ({
  roomId,
  name,
  adminNodeId,
  adminNodeName: adminNodeId,
  memberCount: 0,
  available: true,
  joined: false,
  createdBy: { user: 'x', nodeId: 'A' },
  ...over,
})

describe('cluster view: nodes, links, layout', () => {
  const self = { nodeId: 'A', name: 'n1', address: 'n1:1' }

  it('puts this node first, then peers by name, each with the rooms it administers', () => {
    const nodes = clusterNodes(self, [peer('C', 'n3', 'dead'), peer('B', 'n2', 'alive'), peer('A', 'n1', 'alive')], [
      room('r2', 'n2 lobby', 'B'),
      room('r1', 'zeta', 'A'),
      room('r0', 'lab', 'A', { frozen: true }),
      room('r3', 'n3 lobby', 'C', { available: false }),
    ])
    expect(nodes.map((n) => [n.name, n.state])).toEqual([
      ['n1', 'self'],
      ['n2', 'alive'],
      ['n3', 'dead'],
    ])
    expect(nodes[0].rooms.map((r) => [r.name, r.frozen])).toEqual([
      ['lab', true],
      ['zeta', false],
    ])
    expect(nodes[2].rooms).toEqual([{ roomId: 'r3', name: 'n3 lobby', available: false, frozen: false }])
  })

  it('links every pair of nodes (full mesh), each link as bad as its worse end', () => {
    const links = meshLinks([{ state: 'self' }, { state: 'alive' }, { state: 'dead' }, { state: 'suspect' }])
    expect(links).toHaveLength(6) // n(n-1)/2
    const of = (a: number, b: number) => links.find((l) => l.from === a && l.to === b)?.state
    expect(of(0, 1)).toBe('alive')
    expect(of(0, 2)).toBe('dead')
    expect(of(0, 3)).toBe('suspect')
    expect(of(1, 2)).toBe('dead')
    expect(of(2, 3)).toBe('dead')
    expect(of(1, 3)).toBe('suspect')
    expect(meshLinks([{ state: 'self' }])).toEqual([])
  })

  it('lays nodes out on a ring, this node at the top', () => {
    expect(ringLayout(0, 100, 100, 50)).toEqual([])
    expect(ringLayout(1, 100, 100, 50)).toEqual([{ x: 100, y: 100 }])
    expect(ringLayout(2, 100, 100, 50)).toEqual([
      { x: 50, y: 100 },
      { x: 150, y: 100 },
    ])
    const three = ringLayout(3, 100, 100, 50)
    expect(three[0]).toEqual({ x: 100, y: 50 })
    expect(three[1].y).toBe(three[2].y)
    expect(three[1].x + three[2].x).toBe(200)
  })

  it('shows room names instead of room ids in log lines', () => {
    const names = new Map([['1f0c-uuid', 'lab']])
    expect(readableTraceText('forwarded send from n2 for 1f0c-uuid', '1f0c-uuid', names)).toBe('forwarded send from n2 for lab')
    expect(readableTraceText('seq 4 → bob@n2 in lab', '1f0c-uuid', names)).toBe('seq 4 → bob@n2 in lab')
    expect(readableTraceText('n3: alive → suspect', undefined, names)).toBe('n3: alive → suspect')
    expect(readableTraceText('gap in 9-9', '9-9', names)).toBe('gap in 9-9')
  })
})
