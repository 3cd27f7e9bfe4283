/**
 * Adjacent RoomAppends of one frame, stepped as one (docs/replication.md, "One append per frame").
 *
 * Under load an administrator's frame to a follower carries several appends of the same room back
 * to back: the entries of each turn it ordered, and the commit notices between them. Stepped one
 * by one, each is a log write and an answer on the follower, and each answer a step on the
 * administrator. When the second continues the first exactly (same room, term and administrator, no
 * room state, its prevSeq/prevTerm the first's last entry), the pair says no more than one append of
 * both entry lists with the later commit point, which a follower processes the same way (Raft
 * §5.3): one write of the entries, one answer with the later matchSeq (the earlier one's answer
 * would arrive in the same frame and be superseded by it), one commit of the larger range.
 */
import type { MessageOf } from '../cluster/peer-messages'

type Append = MessageOf<'roomAppend'>

/** `a` then `b` as one append, or undefined when `b` does not continue `a` exactly. */
export function mergedAppend(a: Append, b: Append): Append | undefined {
  const x = a.roomAppend
  const y = b.roomAppend
  if (x.roomId !== y.roomId || x.term !== y.term || x.leader !== y.leader) return undefined
  if (x.meta !== null || y.meta !== null) return undefined
  const lastTerm = x.entries.length > 0 ? x.entries[x.entries.length - 1].term : x.prevTerm
  if (y.prevSeq !== x.prevSeq + x.entries.length || y.prevTerm !== lastTerm) return undefined
  return {
    body: 'roomAppend',
    roomAppend: {
      roomId: x.roomId,
      term: x.term,
      leader: x.leader,
      prevSeq: x.prevSeq,
      prevTerm: x.prevTerm,
      entries: y.entries.length === 0 ? x.entries : x.entries.length === 0 ? y.entries : x.entries.concat(y.entries),
      commitSeq: Math.max(x.commitSeq, y.commitSeq),
      meta: null,
      // A notice stays one only if every part was one: entries want their answer.
      noReply: x.noReply === true && y.noReply === true,
    },
  }
}
