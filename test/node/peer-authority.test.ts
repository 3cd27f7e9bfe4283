import { describe, expect, it } from 'vitest'
import type { DecodedMessage } from '../../main/cluster/peer-messages'
import { fenceReply, refusal, type AuthorityView } from '../../main/node/peer-authority'

// Room r: administered by B in term 2, its log on A, B and C (docs/replication.md). Room q: unknown.
const view: AuthorityView = {
  adminOf: (roomId) => (roomId === 'r' ? 'B' : undefined),
  hasMembersFrom: () => false,
  replicationOf: (roomId) => (roomId === 'r' ? { adminNodeId: 'B', term: 2 } : undefined),
  holdsReplica: (roomId, nodeId) => roomId === 'r' && ['A', 'B', 'C'].includes(nodeId),
}
const message = { roomId: 'r', seq: 3, user: 'u', nodeId: 'A', text: 't', sentAt: 1, clientMsgId: 'c' }
const append = (roomId: string, term: number, leader: string): DecodedMessage =>
  ({ body: 'roomAppend', roomAppend: { roomId, term, leader, prevSeq: 2, prevTerm: 1, entries: [{ term, message }], commitSeq: 3, meta: null } }) as DecodedMessage
const deliver: DecodedMessage = { body: 'deliver', deliver: { roomId: 'r', messages: [message] } } as DecodedMessage
const voteRequest = (from: string): DecodedMessage =>
  ({ body: 'roomVoteRequest', roomVoteRequest: { roomId: 'r', term: 3, candidate: from, lastSeq: 2, lastTerm: 2, transfer: false } }) as DecodedMessage

const appendReply = (roomId: string): DecodedMessage =>
  ({ body: 'roomAppendReply', roomAppendReply: { roomId, term: 2, ok: true, matchSeq: 3, leader: 'B', metaTerm: 0, metaVersion: 0 } }) as DecodedMessage
const voteReply = (roomId: string): DecodedMessage =>
  ({ body: 'roomVoteReply', roomVoteReply: { roomId, term: 3, granted: true, leader: '', meta: null } }) as DecodedMessage

const progress = (roomId: string): DecodedMessage =>
  ({ body: 'deletionProgress', deletionProgress: { roomId, phase: 'commit', votes: {}, reason: '' } }) as DecodedMessage

describe('authority in replicated rooms (docs/security.md)', () => {
  const cases: { name: string; from: string; m: DecodedMessage; refused: RegExp | undefined }[] = [
    { name: "messages from the administrator of the entry's term", from: 'B', m: deliver, refused: undefined },
    { name: 'messages from the administrator of an older term', from: 'A', m: deliver, refused: /does not administer/ },
    { name: 'an append of the current term from its administrator', from: 'B', m: append('r', 2, 'B'), refused: undefined },
    { name: 'an append of a higher term from a replica (a new administrator)', from: 'C', m: append('r', 3, 'C'), refused: undefined },
    { name: 'an append of an older term from the old administrator', from: 'A', m: append('r', 1, 'A'), refused: /term 1: the room is in term 2/ },
    { name: 'an append from a node holding no replica, whatever its term', from: 'M', m: append('r', 99, 'M'), refused: /no replica/ },
    { name: 'an append for a room not known yet (its first append)', from: 'M', m: append('q', 1, 'M'), refused: undefined },
    { name: 'a vote request from a replica', from: 'C', m: voteRequest('C'), refused: undefined },
    { name: 'a vote request from a node holding no replica, to a node holding none either', from: 'M', m: voteRequest('M'), refused: /no replica/ },
    { name: 'an append reply from a replica', from: 'C', m: appendReply('r'), refused: undefined },
    { name: 'an append reply from a node holding no replica', from: 'M', m: appendReply('r'), refused: /no replica/ },
    { name: 'an append reply about a room not known here', from: 'M', m: appendReply('q'), refused: undefined },
    { name: 'a vote reply from a node holding no replica', from: 'M', m: voteReply('r'), refused: /no replica/ },
    { name: 'a vote reply from a replica', from: 'A', m: voteReply('r'), refused: undefined },
    { name: "a report on the room's deletion from its administrator", from: 'B', m: progress('r'), refused: undefined },
    { name: "a report on the room's deletion from another node", from: 'M', m: progress('r'), refused: /report on a deletion of a room it does not administer/ },
    { name: 'a late report on a room no longer listed', from: 'M', m: progress('q'), refused: undefined },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const why = refusal(c.from, c.m, view)
      if (c.refused) expect(why).toMatch(c.refused)
      else expect(why).toBeUndefined()
    })
  }

  it('a vote request from outside the replica set reaches a node holding a replica: its core grants nothing and answers with the room state that says who replaced the sender', () => {
    const holding: AuthorityView = { ...view, holdsReplicaHere: (roomId) => roomId === 'r' }
    expect(refusal('M', voteRequest('M'), holding)).toBeUndefined()
    // Only vote requests: appends, replies and handovers from outside stay refused.
    expect(refusal('M', append('r', 99, 'M'), holding)).toMatch(/no replica/)
    const timeoutNow = { body: 'roomTimeoutNow', roomTimeoutNow: { roomId: 'r', term: 3 } } as DecodedMessage
    expect(refusal('M', timeoutNow, holding)).toMatch(/no replica/)
  })

  it('a stale append is answered with the current term and administrator (fencing); nothing else is', () => {
    expect(fenceReply(append('r', 1, 'A'), view)).toEqual({ roomAppendReply: { roomId: 'r', term: 2, ok: false, matchSeq: 0, leader: 'B', metaTerm: 0, metaVersion: 0 } })
    expect(fenceReply(append('r', 2, 'B'), view)).toBeUndefined()
    expect(fenceReply(deliver, view)).toBeUndefined()
  })
})
