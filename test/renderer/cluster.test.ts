import { describe, expect, it } from 'vitest'
import type { PeerInfo, RoomInfo } from '../../proto/client-protocol'
import { clusterNodes, handoverArrows, meshLinks, readableTraceText, replicaRows, ringLayout } from '../../renderer/src/state/cluster'

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

describe('cluster view: replicated rooms and handovers', () => {
  const self = { nodeId: 'A', name: 'n1', address: 'n1:1' }
  const peers = [peer('B', 'n2', 'alive'), peer('C', 'n3', 'dead')]
  const names = new Map([
    ['A', 'n1'],
    ['B', 'n2'],
    ['C', 'n3'],
  ])

  it('lists each room with its administrator, term and replicas (administrator first), or says it is not replicated', () => {
    const rooms = [
      room('r1', 'design', 'B', { adminNodeName: 'n2', term: 2, replicas: ['C', 'A', 'B'] }),
      room('r0', 'chat', 'A', { adminNodeName: 'n1', term: 0, replicas: [] }),
    ]
    const nodes = clusterNodes(self, peers, rooms)
    expect(nodes[1].rooms).toEqual([{ roomId: 'r1', name: 'design', available: true, frozen: false, term: 2 }])
    expect(nodes[0].rooms[0].term).toBeUndefined()
    const rows = replicaRows(rooms, nodes, names)
    expect(rows.map((r) => r.name)).toEqual(['chat', 'design'])
    expect(rows[0].replicas).toEqual([{ nodeId: 'A', name: 'n1', state: 'self', admin: true }])
    expect(rows[1]).toMatchObject({ adminName: 'n2', term: 2 })
    expect(rows[1].replicas.map((r) => [r.name, r.state, r.admin])).toEqual([
      ['n2', 'alive', true],
      ['n3', 'dead', false],
      ['n1', 'self', false],
    ])
  })

  it('draws a handover from the old administrator to the new one while the new one runs the room', () => {
    const info = room('r1', 'design', 'B', { adminNodeName: 'n2', term: 2, replicas: ['A', 'B', 'C'] })
    const handover = { fromNodeId: 'C', fromName: 'n3', toNodeId: 'B', toName: 'n2', term: 2, reason: 'n3 left' }
    const nodes = clusterNodes(self, peers, [info])
    expect(handoverArrows([{ info, handover }], nodes)).toEqual([{ from: 2, to: 1, roomId: 'r1', label: '#design t2' }])
    expect(replicaRows([{ ...info, handover }], nodes, names)[0].handover).toBe('n3 → n2 in term 2 (n3 left)')
    // Handed on again since (to a node the page has not seen take it): no stale arrow.
    expect(handoverArrows([{ info: { ...info, adminNodeId: 'A' }, handover }], nodes)).toEqual([])
    // A node the view does not draw: no arrow.
    expect(handoverArrows([{ info, handover: { ...handover, fromNodeId: 'Z' } }], nodes)).toEqual([])
  })
})

describe('cluster view: nodes that share a name', () => {
  it('shows the start of each id when two nodes have one name', () => {
    const nodes = clusterNodes({ nodeId: 'aaaaaaaa11', name: 'n1', address: 'x:1' }, [peer('bbbbbbbb22', 'n1', 'alive'), peer('cccccccc33', 'n2', 'alive')], [])
    expect(nodes.map((n) => n.name)).toEqual(['n1 (aaaaaaaa)', 'n1 (bbbbbbbb)', 'n2'])
  })
})
