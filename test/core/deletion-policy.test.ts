// Tables for main/core/deletion-policy.ts (docs/deletion.md): who may delete a room, and how a node
// votes, as codes and node ids; the words are checked once, with names put in by the caller.
import { describe, expect, it } from 'vitest'
import { abortCause, deleteRefusal, describeAbortCause, describeRefusal, type VoteFacts } from '../../main/core/deletion-policy'

const ann = { user: 'ann', nodeId: 'id-n1' }

describe('deletion policy: who may delete', () => {
  it.each([
    ['the creator on its node', ann, 'ann', 'id-n1', undefined],
    ['the same name on another node (another person)', ann, 'ann', 'id-n2', { code: 'not-creator', creator: ann }],
    ['another user on the creator’s node', ann, 'bob', 'id-n1', { code: 'not-creator', creator: ann }],
    ['a node’s default room', { user: 'system', nodeId: 'id-n1' }, 'system', 'id-n1', { code: 'default-room' }],
  ] as const)('%s', (_name, createdBy, user, fromNode, want) => {
    expect(deleteRefusal(createdBy, user, fromNode)).toEqual(want)
  })

  it('names the creator’s node by name, not id, in the words a user reads', () => {
    const names: Record<string, string> = { 'id-n1': 'n1' }
    expect(describeRefusal({ code: 'not-creator', creator: ann }, 'general', (id) => names[id])).toBe('only ann on n1 may delete room general')
    expect(describeRefusal({ code: 'default-room' }, 'n1 lobby', (id) => id)).toBe('room n1 lobby is the default room of its node and cannot be deleted')
  })
})

describe('deletion policy: the vote', () => {
  const ready: VoteFacts = { voteAbortFault: false, sendsInFlight: 0, otherDeletion: false }
  it.each([
    ['nothing in the way: READY', ready, undefined, ''],
    ['fault injection first, whatever else holds', { voteAbortFault: true, sendsInFlight: 3, otherDeletion: true }, { code: 'fault' }, 'fault injection (voteAbort)'],
    ['one send in flight', { ...ready, sendsInFlight: 1 }, { code: 'sends-in-flight', count: 1 }, '1 message for the room still in flight'],
    ['sends in flight before another deletion', { ...ready, sendsInFlight: 2, otherDeletion: true }, { code: 'sends-in-flight', count: 2 }, '2 messages for the room still in flight'],
    ['another deletion of the room', { ...ready, otherDeletion: true }, { code: 'deletion-in-progress' }, 'another deletion of the room is in progress'],
  ] as const)('%s', (_name, facts, want, words) => {
    const cause = abortCause(facts)
    expect(cause).toEqual(want)
    expect(cause ? describeAbortCause(cause) : '').toBe(words)
  })
})
