/**
 * Where each peer message goes (docs/architecture.md §3, "Dispatch of peer messages"): one table,
 * keyed by the message kind, with exactly one owner per kind. A message reaches it validated
 * (main/cluster/peer-schema.ts) and allowed (peer-authority.ts, applied by PeerLinks.onInbound just
 * before dispatch); the owner gets it narrowed to its kind.
 *
 * The table's type is a mapped type over every kind of peer.proto's PeerMessage: a kind added to
 * peer-messages.ts without an owner here fails to compile, and so does a kind given two owners (an
 * object literal cannot name a property twice).
 */
import type { BodyName, DecodedMessage, MessageOf } from '../cluster/peer-messages'
import type { DeletionDriver } from './deletion-driver'
import type { LinkMessage } from './peer-links'
import { requireString } from './peer-wire'
import type { AdminMessage } from './room-admin'
import type { MemberMessage } from './room-member'
import type { ReplicationMessage } from './room-replicas'

/** One kind's handler: `m` is narrowed to that kind. */
export type PeerHandler<K extends BodyName> = (from: string, m: MessageOf<K>) => void

/** A handler for every kind of peer message. */
export type PeerDispatchTable = { [K in BodyName]: PeerHandler<K> }

/** The modules that own peer messages, as the table uses them. */
export interface PeerMessageOwners {
  links: { onPeerMessage(from: string, m: LinkMessage): void }
  directory: { dropRoom(roomId: string): void }
  replication: { onPeerMessage(from: string, m: ReplicationMessage): void }
  admin: { onPeerMessage(from: string, m: AdminMessage): void }
  member: { onPeerMessage(from: string, m: MemberMessage): void }
  deletions: Pick<
    DeletionDriver,
    'onDeleteRequest' | 'onPrepare' | 'onVote' | 'onDecision' | 'onDecisionAck' | 'onQuery' | 'onDecisionAnswer' | 'onDeletionProgress'
  >
}

export function peerDispatchTable(o: PeerMessageOwners): PeerDispatchTable {
  const { links, directory, replication, admin, member, deletions } = o
  return {
    // The links themselves (peer-links.ts): handshake, liveness, gossip, and the replies to this
    // node's requests, matched by reqId.
    hello: (from, m) => links.onPeerMessage(from, m),
    heartbeat: (from, m) => links.onPeerMessage(from, m),
    leaving: (from, m) => links.onPeerMessage(from, m),
    gossip: (from, m) => links.onPeerMessage(from, m),
    joinReply: (from, m) => links.onPeerMessage(from, m),
    leaveReply: (from, m) => links.onPeerMessage(from, m),
    membersReply: (from, m) => links.onPeerMessage(from, m),
    sendAck: (from, m) => links.onPeerMessage(from, m),
    fetchReply: (from, m) => links.onPeerMessage(from, m),
    deleteReply: (from, m) => links.onPeerMessage(from, m),
    // The directory (room-directory-sync.ts): a room's administrator removed it.
    roomRemoved: (_from, m) => directory.dropRoom(requireString(m.roomRemoved.roomId, 'roomId')),
    // Replicated rooms (room-replicas.ts, docs/replication.md).
    roomAppend: (from, m) => replication.onPeerMessage(from, m),
    roomAppendReply: (from, m) => replication.onPeerMessage(from, m),
    roomVoteRequest: (from, m) => replication.onPeerMessage(from, m),
    roomVoteReply: (from, m) => replication.onPeerMessage(from, m),
    roomTimeoutNow: (from, m) => replication.onPeerMessage(from, m),
    // What member nodes ask of a room's administrator (room-admin.ts).
    joinRequest: (from, m) => admin.onPeerMessage(from, m),
    leaveRequest: (from, m) => admin.onPeerMessage(from, m),
    membersRequest: (from, m) => admin.onPeerMessage(from, m),
    forwardSend: (from, m) => admin.onPeerMessage(from, m),
    fetchRange: (from, m) => admin.onPeerMessage(from, m),
    // What an administrator sends to member nodes (room-member.ts).
    rejoin: (from, m) => member.onPeerMessage(from, m),
    memberEvent: (from, m) => member.onPeerMessage(from, m),
    deliver: (from, m) => member.onPeerMessage(from, m),
    // Deleting a room, two-phase commit (deletion-driver.ts, docs/deletion.md).
    deleteRequest: (from, m) => deletions.onDeleteRequest(from, m.deleteRequest),
    prepare: (from, m) => deletions.onPrepare(from, m.prepare),
    vote: (from, m) => deletions.onVote(from, m.vote),
    decision: (from, m) => deletions.onDecision(from, m.decision),
    decisionAck: (from, m) => deletions.onDecisionAck(from, m.decisionAck),
    decisionQuery: (from, m) => deletions.onQuery(from, m.decisionQuery),
    decisionAnswer: (from, m) => deletions.onDecisionAnswer(from, m.decisionAnswer),
    deletionProgress: (from, m) => deletions.onDeletionProgress(from, m.deletionProgress),
  }
}

/** Hand `m` to its kind's owner. A throw is the caller's to catch (PeerLinks.onInbound logs it). */
export function dispatchPeerMessage(table: PeerDispatchTable, from: string, m: DecodedMessage): void {
  // The mapped type pairs each kind with its handler, but TypeScript cannot follow that pairing
  // through an index by `m.body`: the one cast of the table.
  const handler = table[m.body] as (from: string, m: DecodedMessage) => void
  handler(from, m)
}
