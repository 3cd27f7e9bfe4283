import { describe, expect, it } from 'vitest'
import { canDeleteRoom, SYSTEM_CREATOR } from '../../renderer/src/state/permissions'

const alice = { user: 'alice', nodeId: 'N1' }

describe('who may delete a room (the Delete room button)', () => {
  it.each([
    ['its creator, on the node it created it from', { createdBy: { user: 'alice', nodeId: 'N1' } }, alice, true],
    ['not a user with the same name on another node (another person)', { createdBy: { user: 'alice', nodeId: 'N2' } }, alice, false],
    ['not another user of the same node', { createdBy: { user: 'bob', nodeId: 'N1' } }, alice, false],
    ['not another user elsewhere', { createdBy: { user: 'bob', nodeId: 'N2' } }, alice, false],
    ["a node's default room: nobody, not even a user of that node", { createdBy: { user: SYSTEM_CREATOR, nodeId: 'N1' } }, alice, false],
    ['nobody before hello', { createdBy: { user: 'alice', nodeId: 'N1' } }, null, false],
  ])('%s', (_what, room, self, expected) => {
    expect(canDeleteRoom(room, self)).toBe(expected)
  })
})
