import { describe, expect, it } from 'vitest'
import { meshLinks } from '../../renderer/src/state/cluster'
import { markCutOff } from '../../renderer/src/state/faults'
import {
  formatPerFrame,
  formatQueued,
  formatSent,
  linkRateLabel,
  messagesPerFrame,
  statsFor,
  type LinkStats,
} from '../../renderer/src/state/link-stats'

const link = (nodeId: string, name: string, framesSent: number, messagesSent: number, queued = 0): LinkStats => ({
  nodeId,
  name,
  up: true,
  framesSent,
  messagesSent,
  queued,
})

describe('cluster view: per-link traffic (node.stats)', () => {
  it('divides messages by frames, with nothing to divide before the first frame', () => {
    expect(messagesPerFrame({ framesSent: 4, messagesSent: 10 })).toBe(2.5)
    expect(messagesPerFrame({ framesSent: 0, messagesSent: 0 })).toBeUndefined()
  })

  it('prints messages per frame with one decimal, and a dash without a frame or counters', () => {
    expect(formatPerFrame({ framesSent: 3, messagesSent: 100 })).toBe('33.3')
    expect(formatPerFrame({ framesSent: 7, messagesSent: 7 })).toBe('1.0')
    expect(formatPerFrame({ framesSent: 3, messagesSent: 2 })).toBe('0.7')
    expect(formatPerFrame({ framesSent: 1, messagesSent: 1599 })).toBe('1,599.0')
    expect(formatPerFrame({ framesSent: 0, messagesSent: 0 })).toBe('—')
    expect(formatPerFrame(undefined)).toBe('—')
  })

  it('prints frames / messages and the queue with thousands separators', () => {
    expect(formatSent({ framesSent: 1204, messagesSent: 38530 })).toBe('1,204 / 38,530')
    expect(formatSent({ framesSent: 0, messagesSent: 0 })).toBe('0 / 0')
    expect(formatSent(undefined)).toBe('—')
    expect(formatQueued({ queued: 12000 })).toBe('12,000')
    expect(formatQueued({ queued: 0 })).toBe('0')
    expect(formatQueued(undefined)).toBe('—')
  })

  it("finds a peer's counters by node id, by name only when an id is missing, and none for this node", () => {
    const links = [link('B', 'n2', 1, 1), link('C', 'n3', 2, 2), link('', 'n4', 3, 3)]
    expect(statsFor({ nodeId: 'C', name: 'n3', state: 'alive' }, links)?.framesSent).toBe(2)
    // Names need not be unique: an id that matches nothing does not fall back to another node's name.
    expect(statsFor({ nodeId: 'X', name: 'n2', state: 'alive' }, links)).toBeUndefined()
    // Not yet handshaken on one side or the other: the name is all there is.
    expect(statsFor({ nodeId: '', name: 'n2', state: 'suspect' }, links)?.framesSent).toBe(1)
    expect(statsFor({ nodeId: 'D', name: 'n4', state: 'alive' }, links)?.framesSent).toBe(3)
    expect(statsFor({ nodeId: 'A', name: 'n1', state: 'self' }, [link('A', 'n1', 9, 9)])).toBeUndefined()
    expect(statsFor({ nodeId: 'B', name: 'n2', state: 'alive' }, undefined)).toBeUndefined()
  })

  it("labels only this node's own links, not cut ones, and only after their first frame", () => {
    const nodes = [
      { nodeId: 'A', name: 'n1', address: 'a:1', state: 'self' as const },
      { nodeId: 'B', name: 'n2', address: 'b:1', state: 'alive' as const },
      { nodeId: 'C', name: 'n3', address: 'c:1', state: 'alive' as const },
      { nodeId: 'D', name: 'n4', address: 'd:1', state: 'alive' as const },
    ]
    const stats = [link('B', 'n2', 10, 125), link('C', 'n3', 0, 0), link('D', 'n4', 4, 4)]
    const links = markCutOff(meshLinks(nodes), nodes, ['n4'])
    const label = (a: number, b: number) => linkRateLabel(links.find((l) => l.from === a && l.to === b)!, nodes, stats)
    expect(label(0, 1)).toBe('12.5 msg/frame')
    expect(label(0, 2)).toBeUndefined() // no frame yet
    expect(label(0, 3)).toBeUndefined() // cut off: it says so instead
    expect(label(1, 2)).toBeUndefined() // between two peers: not this node's counters
    expect(linkRateLabel({ from: 0, to: 1 }, nodes, undefined)).toBeUndefined()
    // Without this node in the picture (not yet known), index 0 is a peer: no labels.
    expect(linkRateLabel({ from: 0, to: 1 }, nodes.slice(1), stats)).toBeUndefined()
  })
})
