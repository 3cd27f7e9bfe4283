/**
 * TypeScript declarations of proto/chat/peer/v1/peer.proto, as @grpc/proto-loader decodes it with
 * the options in peer-transport.ts (camelCase fields, 64-bit numbers as JS numbers, defaults filled,
 * `body` naming the oneof member that is set). Declared once, here, at the boundary; the rest of the
 * node uses these types and never the raw decoded objects.
 */
import type { ChatMessage, Member } from '../../proto/client-protocol'
import type { DirectoryEntry } from '../core/room-directory'

export interface NodeRef {
  nodeId: string
  name: string
  address: string
}

/**
 * The wire forms of a room entry, a message and a member have exactly the fields of their in-memory
 * forms (peer.proto Room, ChatMessage, Member were written to match), so they are the same types:
 * a field added on one side and not the other fails to compile instead of being dropped silently.
 */
export type WireRoom = DirectoryEntry
export type WireMessage = ChatMessage
export type WireMember = Member

export interface Failure {
  code: string
  message: string
}

export interface Hello {
  self: NodeRef
  incarnation: string
  known: NodeRef[]
  rooms: WireRoom[]
  protocol: number
  /** Rooms the sender knows were deleted (docs/peer-protocol.md §5); absent from older nodes. */
  deleted?: string[]
  /** The sender answers LeaveRequests that carry a reqId (LeaveReply); absent or false from older nodes. */
  leaveReplies?: boolean
}

/** Every message body, keyed by its oneof field name. */
export interface Bodies {
  hello: Hello
  heartbeat: { sentAt: number }
  leaving: { reason: string }
  gossip: { nodes: NodeRef[]; rooms: WireRoom[]; ownerComplete?: boolean; deleted?: string[] }
  roomRemoved: { roomId: string }
  rejoin: { reason: string }
  /** memberLimit: at most this many members in the reply, 0 or absent = all (docs/client-protocol.md §5). */
  joinRequest: { reqId: number; roomId: string; user: string; memberLimit?: number }
  joinReply: {
    reqId: number
    error: Failure | null
    room: WireRoom | null
    members: WireMember[]
    lastSeq: number
    history: WireMessage[]
  }
  /** reqId 0: no answer wanted; otherwise a leaveReply once the leave is committed. */
  leaveRequest: { reqId: number; roomId: string; user: string }
  leaveReply: { reqId: number; error: Failure | null }
  /** One page of the sorted members; limit 0 or absent = all of them. */
  membersRequest: { reqId: number; roomId: string; offset?: number; limit?: number }
  membersReply: { reqId: number; error: Failure | null; members: WireMember[]; room: WireRoom | null }
  memberEvent: { roomId: string; user: string; nodeId: string; joined: boolean }
  forwardSend: { reqId: number; roomId: string; user: string; text: string; clientMsgId: string }
  sendAck: { reqId: number; error: Failure | null; seq: number }
  deliver: { roomId: string; messages: WireMessage[] }
  fetchRange: { reqId: number; roomId: string; fromSeq: number; toSeq: number; last?: number }
  fetchReply: { reqId: number; error: Failure | null; messages: WireMessage[] }
  deleteRequest: { reqId: number; roomId: string; user: string }
  deleteReply: { reqId: number; error: Failure | null; committed: boolean; reason: string }
  prepare: { txId: string; roomId: string; participants: string[] }
  vote: { txId: string; ready: boolean; reason: string }
  decision: { txId: string; roomId: string; commit: boolean }
  decisionAck: { txId: string }
  decisionQuery: { txId: string; roomId: string }
  decisionAnswer: { txId: string; known: boolean; commit: boolean }
  deletionProgress: { roomId: string; phase: string; votes: Record<string, string>; reason: string }
  roomAppend: {
    roomId: string
    term: number
    leader: string
    prevSeq: number
    prevTerm: number
    entries: { term: number; message: WireMessage }[]
    commitSeq: number
    meta: WireReplMeta | null
    /** A commit notice that wants no RoomAppendReply unless refused (docs/replication.md). */
    noReply?: boolean
  }
  roomAppendReply: { roomId: string; term: number; ok: boolean; matchSeq: number; leader: string; metaTerm: number; metaVersion: number }
  roomVoteRequest: { roomId: string; term: number; candidate: string; lastSeq: number; lastTerm: number; transfer: boolean }
  roomVoteReply: { roomId: string; term: number; granted: boolean; leader: string; meta: WireReplMeta | null }
  roomTimeoutNow: { roomId: string; term: number; vote: boolean }
}

/** peer.proto ReplMeta: a replicated room's state other than its messages (docs/replication.md). */
export interface WireReplMeta {
  term: number
  version: number
  replicas: string[]
  name: string
  createdBy: { user: string; nodeId: string }
  createdAt: number
  members: WireMember[]
  frozen: boolean
  /** The committed deletion's transaction id, '' while the room lives (docs/replication.md). */
  deleted?: string
}

export type BodyName = keyof Bodies

/** One peer message to send: exactly one body field set. */
export type PeerMessage = { [K in BodyName]: { [P in K]: Bodies[K] } }[BodyName]

/** One decoded peer message: `body` says which field is set. */
export type DecodedMessage = { [K in BodyName]: { body: K } & { [P in K]: Bodies[K] } }[BodyName]

/** The decoded messages of the kinds `K` (one kind: that message, narrowed). */
export type MessageOf<K extends BodyName> = Extract<DecodedMessage, { body: K }>

export interface LinkFrame {
  messages: PeerMessage[]
}

/**
 * One literal per kind: an object with a computed key (`{ [name]: body }`) is built by the runtime
 * at every call, five to six times slower, and every peer message sent is made here
 * (docs/simulation.md, "Speed").
 */
const MAKE: { readonly [K in BodyName]: (body: Bodies[K]) => PeerMessage } = {
  hello: (hello) => ({ hello }),
  heartbeat: (heartbeat) => ({ heartbeat }),
  leaving: (leaving) => ({ leaving }),
  gossip: (gossip) => ({ gossip }),
  roomRemoved: (roomRemoved) => ({ roomRemoved }),
  rejoin: (rejoin) => ({ rejoin }),
  joinRequest: (joinRequest) => ({ joinRequest }),
  joinReply: (joinReply) => ({ joinReply }),
  leaveRequest: (leaveRequest) => ({ leaveRequest }),
  leaveReply: (leaveReply) => ({ leaveReply }),
  membersRequest: (membersRequest) => ({ membersRequest }),
  membersReply: (membersReply) => ({ membersReply }),
  memberEvent: (memberEvent) => ({ memberEvent }),
  forwardSend: (forwardSend) => ({ forwardSend }),
  sendAck: (sendAck) => ({ sendAck }),
  deliver: (deliver) => ({ deliver }),
  fetchRange: (fetchRange) => ({ fetchRange }),
  fetchReply: (fetchReply) => ({ fetchReply }),
  deleteRequest: (deleteRequest) => ({ deleteRequest }),
  deleteReply: (deleteReply) => ({ deleteReply }),
  prepare: (prepare) => ({ prepare }),
  vote: (vote) => ({ vote }),
  decision: (decision) => ({ decision }),
  decisionAck: (decisionAck) => ({ decisionAck }),
  decisionQuery: (decisionQuery) => ({ decisionQuery }),
  decisionAnswer: (decisionAnswer) => ({ decisionAnswer }),
  deletionProgress: (deletionProgress) => ({ deletionProgress }),
  roomAppend: (roomAppend) => ({ roomAppend }),
  roomAppendReply: (roomAppendReply) => ({ roomAppendReply }),
  roomVoteRequest: (roomVoteRequest) => ({ roomVoteRequest }),
  roomVoteReply: (roomVoteReply) => ({ roomVoteReply }),
  roomTimeoutNow: (roomTimeoutNow) => ({ roomTimeoutNow }),
}

export function msg<K extends BodyName>(name: K, body: Bodies[K]): PeerMessage {
  return (MAKE[name] as (body: Bodies[K]) => PeerMessage)(body)
}
