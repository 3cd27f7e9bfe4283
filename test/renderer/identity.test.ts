import { describe, expect, it } from 'vitest'
import { creatorText, nodeLabel, userLabel } from '../../renderer/src/state/identity'

describe('who is who: a user is a name on a node (client-protocol.md §7)', () => {
  const names = new Map([
    ['a1b2c3d4e5f6', 'n1'],
    ['b2c3d4e5f6a1', 'n2'],
  ])

  it('shows the node next to the name, with the full node id for the tooltip', () => {
    const l = userLabel('alice', 'b2c3d4e5f6a1', names)
    expect(l.text).toBe('alice · n2')
    expect(l.title).toContain('b2c3d4e5f6a1')
    // Two alices on two nodes read differently.
    expect(userLabel('alice', 'a1b2c3d4e5f6', names).text).not.toBe(l.text)
  })

  it('an unknown node shows the start of its id; a node name two nodes share gets it too', () => {
    expect(nodeLabel('ffffffff0000', names).text).toBe('ffffffff')
    const shared = new Map([...names, ['c3d4e5f6a1b2', 'n1']])
    expect(nodeLabel('a1b2c3d4e5f6', shared).text).toBe('n1 (a1b2c3d4)')
    expect(nodeLabel('c3d4e5f6a1b2', shared).text).toBe('n1 (c3d4e5f6)')
    expect(nodeLabel('b2c3d4e5f6a1', shared).text).toBe('n2')
  })

  it('a default room is created by its node', () => {
    expect(creatorText({ user: 'system', nodeId: 'a1b2c3d4e5f6' }, names)).toBe('node n1')
    expect(creatorText({ user: 'alice', nodeId: 'a1b2c3d4e5f6' }, names)).toBe('alice · n1')
  })
})
