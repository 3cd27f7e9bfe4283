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
 */
import type { BodyName, DecodedMessage } from '../cluster/peer-messages'
import type { ReplyKind } from './peer-links'

export interface AuthorityView {
  /** The administrator of a room, as this node's directory has it (undefined: unknown room). */
  adminOf(roomId: string): string | undefined
  /** A room this node administers has members of `nodeId`. */
  hasMembersFrom(roomId: string, nodeId: string): boolean
}

/** The reply each request gets, so that a refused request still gets an answer (with an error). */
export const REPLY_OF: Partial<Record<BodyName, ReplyKind>> = {
  joinRequest: 'joinReply',
  membersRequest: 'membersReply',
  forwardSend: 'sendAck',
  fetchRange: 'fetchReply',
  deleteRequest: 'deleteReply',
}

/** The request id of a request (the reply to a refusal carries it). */
export function requestIdOf(m: DecodedMessage): number | undefined {
  switch (m.body) {
    case 'joinRequest':
      return m.joinRequest.reqId
    case 'membersRequest':
      return m.membersRequest.reqId
    case 'forwardSend':
      return m.forwardSend.reqId
    case 'fetchRange':
      return m.fetchRange.reqId
    case 'deleteRequest':
      return m.deleteRequest.reqId
    default:
      return undefined
  }
}

/** Why `from` may not send `m`, or undefined when it may. */
export function refusal(from: string, m: DecodedMessage, v: AuthorityView): string | undefined {
  const onlyAdmin = (roomId: string, what: string) => {
    const admin = v.adminOf(roomId)
    if (admin === undefined) return `${what} of an unknown room`
    return admin === from ? undefined : `${what} of a room it does not administer`
  }
  switch (m.body) {
    case 'hello':
      return m.hello.self.nodeId === from ? undefined : 'a Hello about another node'
    case 'deliver':
      if (m.deliver.messages.some((x) => x.roomId !== m.deliver.roomId)) return 'messages of another room in a Deliver'
      return onlyAdmin(m.deliver.roomId, 'messages')
    case 'memberEvent':
      return onlyAdmin(m.memberEvent.roomId, 'members')
    case 'roomRemoved':
      return onlyAdmin(m.roomRemoved.roomId, 'the removal')
    case 'prepare':
      return onlyAdmin(m.prepare.roomId, 'a deletion')
    case 'decision':
      // A decision about a room we no longer list is only acknowledged (docs/deletion.md): harmless.
      return v.adminOf(m.decision.roomId) === undefined ? undefined : onlyAdmin(m.decision.roomId, 'a deletion decision')
    case 'fetchRange':
      // A preview (room.preview) is a bounded look at the newest messages, open to every node's users;
      // ranges of history are for nodes whose users are in the room.
      if (m.fetchRange.last) return undefined
      return v.hasMembersFrom(m.fetchRange.roomId, from) ? undefined : 'history of a room it has no members in'
    default:
      return undefined
  }
}
