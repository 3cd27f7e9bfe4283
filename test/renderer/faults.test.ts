import { describe, expect, it } from 'vitest'
import type { PeerInfo } from '../../proto/client-protocol'
import { meshLinks } from '../../renderer/src/state/cluster'
import { MAX_HOLD_MS, isCutOff, markCutOff, nextPartition, parseHoldMs } from '../../renderer/src/state/faults'

const peer = (nodeId: string, name: string, state: PeerInfo['state'] = 'alive') => ({ nodeId, name, address: `127.0.0.1:${name.slice(1)}`, state })

describe("teacher's fault panel: which peers are cut off", () => {
  const n2 = peer('B', 'n2')
  const n3 = peer('C', 'n3')

  it('recognises a peer by the name the node answers with, or by its id or address', () => {
    expect(isCutOff(n2, ['n2'])).toBe(true)
    expect(isCutOff(n2, ['B'])).toBe(true)
    expect(isCutOff(n2, ['127.0.0.1:2'])).toBe(true)
    expect(isCutOff(n2, ['n3'])).toBe(false)
    expect(isCutOff(n2, [])).toBe(false)
    // A peer not yet handshaken has no id: an empty entry matches nothing.
    expect(isCutOff({ nodeId: '', name: 'x', address: 'h:1' }, [''])).toBe(false)
  })

  it('cutting off one more peer keeps the ones already cut off (the node replaces its whole set)', () => {
    expect(nextPartition([n2, n3], [], n2, true)).toEqual(['B'])
    expect(nextPartition([n2, n3], ['n2'], n3, true)).toEqual(['B', 'C'])
    // Already cut off: asking again changes nothing, and nobody appears twice.
    expect(nextPartition([n2, n3], ['n2', 'B'], n2, true)).toEqual(['B'])
  })

  it('reconnecting a peer keeps the others cut off; the last one heals with []', () => {
    expect(nextPartition([n2, n3], ['n2', 'n3'], n2, false)).toEqual(['C'])
    expect(nextPartition([n2, n3], ['n3'], n3, false)).toEqual([])
    expect(nextPartition([n2, n3], [], n3, false)).toEqual([])
  })

  it('leaves out names that match no known peer (the node would refuse them), and uses the address without an id', () => {
    expect(nextPartition([n2], ['gone'], n2, true)).toEqual(['B'])
    const fresh = { nodeId: '', name: '10.0.0.9:50051', address: '10.0.0.9:50051' }
    expect(nextPartition([n2, fresh], [], fresh, true)).toEqual(['10.0.0.9:50051'])
    // A target not in the list (yet) is still cut off.
    expect(nextPartition([n2], ['n2'], n3, true)).toEqual(['B', 'C'])
  })
})

describe('cut-off links in the topology', () => {
  const nodes = [
    { nodeId: 'A', name: 'n1', address: 'a:1', state: 'self' as const },
    { nodeId: 'B', name: 'n2', address: 'b:1', state: 'dead' as const },
    { nodeId: 'C', name: 'n3', address: 'c:1', state: 'alive' as const },
  ]

  it("marks only this node's links to the peers it cut off, keeping their state", () => {
    const links = markCutOff(meshLinks(nodes), nodes, ['n2'])
    expect(links.map((l) => [nodes[l.from].name, nodes[l.to].name, l.state, l.cutOff ?? false])).toEqual([
      ['n1', 'n2', 'dead', true],
      ['n1', 'n3', 'alive', false],
      // n2 and n3 may well hear each other: this node only cut its own links.
      ['n2', 'n3', 'dead', false],
    ])
  })

  it('changes nothing without a partition, or when this node is not in the picture', () => {
    const links = meshLinks(nodes)
    expect(markCutOff(links, nodes, [])).toBe(links)
    const noSelf = nodes.slice(1)
    expect(markCutOff(meshLinks(noSelf), noSelf, ['n3']).some((l) => l.cutOff)).toBe(false)
  })
})

describe('the "Hold 2PC decisions (ms)" field', () => {
  it('takes whole milliseconds from 0 (no hold) to the most the node accepts', () => {
    expect(parseHoldMs('0')).toEqual({ ok: true, ms: 0 })
    expect(parseHoldMs(' 4000 ')).toEqual({ ok: true, ms: 4000 })
    expect(parseHoldMs(String(MAX_HOLD_MS))).toEqual({ ok: true, ms: MAX_HOLD_MS })
  })

  it('refuses anything else with a sentence that says what to type', () => {
    for (const bad of ['', '-1', '1.5', '1e3', 'abc', String(MAX_HOLD_MS + 1)]) {
      const r = parseHoldMs(bad)
      expect(r.ok, bad).toBe(false)
      if (!r.ok) expect(r.error).toMatch(/whole number of milliseconds from 0 to 600000/)
    }
  })
})
