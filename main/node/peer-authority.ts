/**
 * Whether a peer may say what it said (docs/security.md, "Authority of peer messages"). Its shape
 * was checked where it entered (main/cluster/peer-schema.ts) and its sender's id is the one its TLS
 * certificate proves; this decides, from what this node knows, whether that sender has the
 * authority: a room's messages, members and deletion only from the room's administrator, history
 * only for nodes with members in the room, a Hello only about its sender.
 *
 * Requests that act for a user (join, leave, send, delete) need no rule here: the administrator
 * records the sending node's id with the user, never an id the message names, so a node can only
 * ever speak for its own users (client-protocol.md section 7).
 *
 * Replicated rooms (docs/replication.md): the directory entry's administrator is the administrator of
 * the entry's term (a change of administrator is accepted only from a replica, for a higher term:
 * main/core/room-directory.ts), so a room's messages come only from the administrator of its current
 * term. The replication messages of a room come only from its replicas, and an append of a term older
 * than the entry's is refused and answered with the current term and administrator (fencing), so a
 * replica of an old term can neither deliver nor append.
 */
import { msg, type Bodies, type BodyName, type DecodedMessage, type PeerMessage } from '../cluster/peer-messages'
import type { ReplyKind } from './peer-links'

export interface AuthorityView {
  /** The administrator of a room, as this node's directory has it (undefined: unknown room). */
  adminOf(roomId: string): string | undefined
  /** A room this node administers has members of `nodeId`. */
  hasMembersFrom(roomId: string, nodeId: string): boolean
  /**
   * A room as this node knows it for replication: its directory entry's administrator and term.
   * Undefined: a room this node knows nothing of yet, neither in its directory nor as a replica (a
   * new room's first append may come before its directory entry).
   */
  replicationOf?(roomId: string): { adminNodeId: string | undefined; term: number } | undefined
  /** `nodeId` holds the room's log, as the directory entry or this node's own replica of it says. */
  holdsReplica?(roomId: string, nodeId: string): boolean
  /** This node holds a replica of the room (its replication core answers for it). */
  holdsReplicaHere?(roomId: string): boolean
}

/** The reply each request gets, so that a refused request still gets an answer (with an error). */
export const REPLY_OF: Partial<Record<BodyName, ReplyKind>> = {
  joinRequest: 'joinReply',
  leaveRequest: 'leaveReply',
  membersRequest: 'membersReply',
  forwardSend: 'sendAck',
  fetchRange: 'fetchReply',
  deleteRequest: 'deleteReply',
}

/** The field a decoded message's `body` names: its one body, whichever it is. */
function bodyOf(m: DecodedMessage): Bodies[BodyName] {
  return (m as unknown as Record<BodyName, Bodies[BodyName]>)[m.body]
}

/** The request id of a request (the reply to a refusal carries it): each body REPLY_OF answers has one. */
export function requestIdOf(m: DecodedMessage): number | undefined {
  return REPLY_OF[m.body] ? (bodyOf(m) as { reqId: number }).reqId : undefined
}

/** Why `from` may not send `what` about `roomId` if only the room's administrator may. */
function onlyAdmin(v: AuthorityView, from: string, roomId: string, what: string): string | undefined {
  const admin = v.adminOf(roomId)
  if (admin === undefined) return `${what} of an unknown room`
  return admin === from ? undefined : `${what} of a room it does not administer`
}

/** Why `from` may not send `m`, or undefined when it may. */
export function refusal(from: string, m: DecodedMessage, v: AuthorityView): string | undefined {
  switch (m.body) {
    case 'hello':
      return m.hello.self.nodeId === from ? undefined : 'a Hello about another node'
    case 'deliver':
      if (m.deliver.messages.some((x) => x.roomId !== m.deliver.roomId)) return 'messages of another room in a Deliver'
      return onlyAdmin(v, from, m.deliver.roomId, 'messages')
    case 'memberEvent':
      return onlyAdmin(v, from, m.memberEvent.roomId, 'members')
    case 'roomRemoved':
      return onlyAdmin(v, from, m.roomRemoved.roomId, 'the removal')
    case 'prepare':
      return onlyAdmin(v, from, m.prepare.roomId, 'a deletion')
    case 'decision':
      // A decision about a room we no longer list is only acknowledged (docs/deletion.md): harmless.
      return v.adminOf(m.decision.roomId) === undefined ? undefined : onlyAdmin(v, from, m.decision.roomId, 'a deletion decision')
    case 'deletionProgress':
      // What clients are shown of a deletion in progress; a late report about a room already gone is noise.
      return v.adminOf(m.deletionProgress.roomId) === undefined ? undefined : onlyAdmin(v, from, m.deletionProgress.roomId, 'a report on a deletion')
    case 'roomAppend': {
      const r = v.replicationOf?.(m.roomAppend.roomId)
      if (!r) return undefined
      if (from !== r.adminNodeId && !v.holdsReplica?.(m.roomAppend.roomId, from)) return 'appends to a room it holds no replica of'
      if (m.roomAppend.term < r.term) return `an append of term ${m.roomAppend.term}: the room is in term ${r.term}`
      return undefined
    }
    case 'roomVoteRequest': {
      // From outside the replica set too, to a node holding a replica: its replication core never
      // grants such a vote, nor changes its term for it, and answers with the room state that
      // tells a replica removed while it was cut off that it was (docs/replication.md, "Repair").
      const roomId = m.roomVoteRequest.roomId
      const r = v.replicationOf?.(roomId)
      if (!r || from === r.adminNodeId || v.holdsReplica?.(roomId, from) || v.holdsReplicaHere?.(roomId)) return undefined
      return 'replication of a room it holds no replica of'
    }
    case 'roomAppendReply':
    case 'roomVoteReply':
    case 'roomTimeoutNow': {
      // A named load per kind, not bodyOf's keyed one (docs/benchmarks.md "Inline caches"): every append is answered.
      const roomId = m.body === 'roomAppendReply' ? m.roomAppendReply.roomId : m.body === 'roomVoteReply' ? m.roomVoteReply.roomId : m.roomTimeoutNow.roomId
      const r = v.replicationOf?.(roomId)
      if (!r || from === r.adminNodeId || v.holdsReplica?.(roomId, from)) return undefined
      return 'replication of a room it holds no replica of'
    }
    case 'fetchRange':
      // A preview (room.preview) is a bounded look at the newest messages, open to every node's users;
      // ranges of history are for nodes whose users are in the room.
      if (m.fetchRange.last) return undefined
      return v.hasMembersFrom(m.fetchRange.roomId, from) ? undefined : 'history of a room it has no members in'
    default:
      return undefined
  }
}

/**
 * What a refused message gets back besides the refusal (fencing, client-protocol.md §8): an append of
 * a stale term is answered as a replica of the current term would answer it, with that term and its
 * administrator, so a returning old administrator learns it is one no more and steps down.
 */
export function fenceReply(m: DecodedMessage, v: AuthorityView): PeerMessage | undefined {
  if (m.body !== 'roomAppend') return undefined
  const r = v.replicationOf?.(m.roomAppend.roomId)
  if (!r || m.roomAppend.term >= r.term) return undefined
  return msg('roomAppendReply', { roomId: m.roomAppend.roomId, term: r.term, ok: false, matchSeq: 0, leader: r.adminNodeId ?? '', metaTerm: 0, metaVersion: 0 })
}
