import { describe, expect, it } from 'vitest'
import { canDeleteRoom, SYSTEM_CREATOR } from '../../renderer/src/state/permissions'

const alice = { user: 'alice', nodeId: 'N1' }

describe('who may delete a room (the Delete room button)', () => {
  it.each([
    ['its creator, on any node', { createdBy: 'alice', adminNodeId: 'N2' }, alice, true],
    ['its creator, on its administrator', { createdBy: 'alice', adminNodeId: 'N1' }, alice, true],
    ['not another user, even on its administrator', { createdBy: 'bob', adminNodeId: 'N1' }, alice, false],
    ['not another user elsewhere', { createdBy: 'bob', adminNodeId: 'N2' }, alice, false],
    ["a default room: a user of that room's own administrator node", { createdBy: SYSTEM_CREATOR, adminNodeId: 'N1' }, alice, true],
    ['a default room: not a user of another node', { createdBy: SYSTEM_CREATOR, adminNodeId: 'N2' }, alice, false],
    // The node compares the creator with the user name first, so a user named 'system' passes there too.
    ["a default room: a user named 'system' on another node, as the node allows", { createdBy: SYSTEM_CREATOR, adminNodeId: 'N2' }, { user: 'system', nodeId: 'N1' }, true],
    ['a room with no recorded creator: left to the node', { createdBy: '', adminNodeId: 'N2' }, alice, true],
    ['nobody before hello', { createdBy: 'alice', adminNodeId: 'N1' }, null, false],
  ])('%s', (_what, room, self, expected) => {
    expect(canDeleteRoom(room, self)).toBe(expected)
  })
})
