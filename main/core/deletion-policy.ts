/**
 * Who may delete a room, and how a node votes on a deletion (docs/deletion.md): pure decisions the
 * deletion driver (main/node/deletion-driver.ts) asks for, answered with a code and the nodes
 * involved. Words come last, from `describe…`, with names put in by whoever shows the text.
 */
import { SYSTEM_USER } from '../../proto/client-protocol'
import type { Creator } from './room-directory'

/** Why `room.delete` is refused outright (code `forbidden`), before any transaction starts. */
export type DeleteRefusal =
  /** A node's default room stays, like a workspace's #general. */
  | { code: 'default-room' }
  /** Only the creator deletes: that user on that node (docs/client-protocol.md §7). */
  | { code: 'not-creator'; creator: Creator }

export function deleteRefusal(createdBy: Creator, user: string, fromNode: string): DeleteRefusal | undefined {
  if (createdBy.user === SYSTEM_USER) return { code: 'default-room' }
  if (createdBy.user !== user || createdBy.nodeId !== fromNode) return { code: 'not-creator', creator: createdBy }
  return undefined
}

export function describeRefusal(r: DeleteRefusal, roomName: string, nameOf: (nodeId: string) => string): string {
  switch (r.code) {
    case 'default-room':
      return `room ${roomName} is the default room of its node and cannot be deleted`
    case 'not-creator':
      return `only ${r.creator.user} on ${nameOf(r.creator.nodeId)} may delete room ${roomName}`
  }
}

/** What a node knows about the room when asked to vote (participant, or the coordinator itself). */
export interface VoteFacts {
  /** Fault injection: vote ABORT whatever else is true (docs/deletion.md, fault injection). */
  voteAbortFault: boolean
  /** Sends of this node's clients forwarded to the room's administrator and not yet answered. */
  sendsInFlight: number
  /** Another deletion of the same room is being decided here. */
  otherDeletion: boolean
}

/** Why a node votes ABORT; none means READY. */
export type AbortCause = { code: 'fault' } | { code: 'sends-in-flight'; count: number } | { code: 'deletion-in-progress' }

/**
 * The vote (docs/deletion.md): ABORT when the node cannot delete now. A message still on its way
 * to the administrator would be lost with the room, so it votes ABORT rather than lose it.
 */
export function abortCause(f: VoteFacts): AbortCause | undefined {
  if (f.voteAbortFault) return { code: 'fault' }
  if (f.sendsInFlight > 0) return { code: 'sends-in-flight', count: f.sendsInFlight }
  if (f.otherDeletion) return { code: 'deletion-in-progress' }
  return undefined
}

/** The vote's reason as the peer protocol carries it (Vote.reason) and people read it. */
export function describeAbortCause(c: AbortCause): string {
  switch (c.code) {
    case 'fault':
      return 'fault injection (voteAbort)'
    case 'sends-in-flight':
      return `${c.count} message${c.count === 1 ? '' : 's'} for the room still in flight`
    case 'deletion-in-progress':
      return 'another deletion of the room is in progress'
  }
}
