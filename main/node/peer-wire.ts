/**
 * Conversions between the core's types and the bodies of peer.proto (main/cluster/peer-messages.ts),
 * shared by the node's modules so that every one of them reads and writes the wire the same way.
 */
import type { ChatMessage } from '../../proto/client-protocol'
import { ChatError } from '../core/errors'
import type { DirectoryEntry } from '../core/room-directory'
import type { Bodies, WireRoom } from '../cluster/peer-messages'

export function toWireRoom(e: DirectoryEntry): WireRoom {
  return { ...e }
}

export function toWireMessage(m: ChatMessage): Bodies['deliver']['messages'][number] {
  return { ...m }
}

export function fromWireMessage(m: Bodies['deliver']['messages'][number]): ChatMessage {
  return {
    roomId: m.roomId,
    seq: Number(m.seq),
    user: m.user,
    nodeId: m.nodeId,
    text: m.text,
    sentAt: Number(m.sentAt),
    clientMsgId: m.clientMsgId,
  }
}

/** A field a peer must fill: a bad one fails the message (the caller logs and drops it). */
export function requireString(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new ChatError('bad_request', `${what} missing`)
  return v
}
