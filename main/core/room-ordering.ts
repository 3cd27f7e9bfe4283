/**
 * The administrator's side of a room (docs/architecture.md §3): it decides who
 * is a member and gives every message the next sequence number. Pure: no I/O, no clock (time comes
 * in as `now`), and the effects say what the node driver must do, in order.
 *
 * The state is mutated in place and returned, because a busy room sees thousands of steps a second
 * and copying its log each time would be wasteful; tests treat `step` as (state, input) -> effects.
 */
import type { Creator } from './room-directory'
import type { ChatMessage, ErrorCode, Member } from '../../proto/client-protocol'
import { MessageRing } from './message-ring'
import { FifoMap } from './fifo-map'

/** How many messages the administrator keeps for gap fetches and join history (in memory). */
export const DEFAULT_LOG_LIMIT = 10_000
/** How many (user, clientMsgId) pairs it remembers to make resends idempotent. */
export const DEFAULT_DEDUPE_LIMIT = 50_000
/** How much history a join returns. */
export const JOIN_HISTORY = 50

export interface AdminRoom {
  roomId: string
  name: string
  createdBy: Creator
  createdAt: number
  lastSeq: number
  /** Raised at every change others should see in the directory (member count, frozen). */
  version: number
  /** key = memberKey(user, nodeId) */
  members: Map<string, Member>
  /** Members per node, kept with `members`: a send's fan-out list costs O(nodes), not O(members). */
  nodeCounts: Map<string, number>
  /** The members in memberList order, kept with `members`: a join's reply copies it instead of sorting. */
  sorted: Member[]
  /** The last messages, ascending and contiguous in seq (at most logLimit: a ring, O(1) per send). */
  log: MessageRing<ChatMessage>
  /** key = dedupeKey(user, nodeId, clientMsgId) -> seq already given. */
  dedupe: FifoMap
  /**
   * The resend memory is behind the log: messages came in as `committed` (a replicated room, whose
   * resend memory is the replica core's: docs/replication.md). It is made from the log ring before
   * an unreplicated `send` reads it, so a replicated room does not keep a second one of 50,000 keys
   * on its administrator for nothing (docs/benchmarks.md, "The resend memory's keys").
   */
  dedupeBehind: boolean
  /** A deletion holds the room: no new messages or joins. */
  frozen: boolean
}

export type RoomInput =
  | { type: 'join'; user: string; nodeId: string }
  | { type: 'leave'; user: string; nodeId: string }
  | { type: 'node-dead'; nodeId: string }
  /**
   * A new message: the answer is a `persist` effect and nothing else, and the room is not changed
   * yet. The driver writes the message to the room's log and then steps `persisted`; a write that
   * fails is never stepped, so the room stays exactly as it was and the message exists for nobody
   * (docs/persistence.md). The driver does both in one synchronous turn, so no other send of the
   * room comes between them.
   */
  | { type: 'send'; user: string; nodeId: string; text: string; clientMsgId: string; now: number }
  /** The message of the last `persist` effect is in the room's log: it gets its seq, and is delivered. */
  | { type: 'persisted'; message: ChatMessage }
  | { type: 'freeze'; frozen: boolean }
  /**
   * A replicated room (docs/replication.md): the replica group committed this message (its seq
   * was given by room-replication.ts and it is stored on a majority): deliver it; nothing to persist.
   */
  | { type: 'committed'; message: ChatMessage }

export type RoomEffect =
  /** Tell every node in `toNodes` that a member came or went (they tell their clients). */
  | { type: 'member-event'; toNodes: string[]; joined: boolean; member: Member }
  /** Write the new message to the room's log, then step `persisted` (persist first, then send). */
  | { type: 'persist'; message: ChatMessage }
  /** Fan one new message out to every node that has members (including the sender's). */
  | { type: 'deliver'; toNodes: string[]; message: ChatMessage }
  /** The directory entry changed (member count or frozen): gossip it. */
  | { type: 'directory-changed' }
  /** Answer to the request that caused this step. */
  | { type: 'reply-join'; members: Member[]; lastSeq: number; history: ChatMessage[]; fresh: boolean }
  | { type: 'reply-send'; seq: number; duplicate: boolean }
  | { type: 'reply-ok' }
  | { type: 'reply-error'; code: ErrorCode; message: string }

export interface RoomLimits {
  logLimit: number
  dedupeLimit: number
}

export function memberKey(user: string, nodeId: string): string {
  return `${nodeId}\u0000${user}`
}

/**
 * The resend memory's key of a message: memberKey + '\u0000' + clientMsgId, built by `join` so that it
 * is one flat string. A template literal makes a tree of concatenations that a Map hashes without
 * flattening; the resend memory's queue (fifo-map.ts) kept those trees, four objects per key, for
 * each of its 50,000 keys, on every replica: a third of what the map held, and objects every major
 * GC marks again (docs/benchmarks.md, "The resend memory's keys").
 */
export function dedupeKey(user: string, nodeId: string, clientMsgId: string): string {
  return [nodeId, user, clientMsgId].join('\u0000')
}

export function newAdminRoom(init: {
  roomId: string
  name: string
  createdBy: Creator
  createdAt: number
  lastSeq?: number
  logLimit?: number
}): AdminRoom {
  return {
    roomId: init.roomId,
    name: init.name,
    createdBy: init.createdBy,
    createdAt: init.createdAt,
    lastSeq: init.lastSeq ?? 0,
    version: 1,
    members: new Map(),
    nodeCounts: new Map(),
    sorted: [],
    log: new MessageRing(init.logLimit ?? DEFAULT_LOG_LIMIT),
    dedupe: new FifoMap(),
    dedupeBehind: false,
    frozen: false,
  }
}

/**
 * After a restart: the room's log (ascending, contiguous) comes back from the store; resends of the
 * messages in it are still recognised, so a client retrying across the restart is not ordered twice.
 */
export function restoreLog(room: AdminRoom, messages: ChatMessage[], lastSeq: number, limits: RoomLimits = { logLimit: DEFAULT_LOG_LIMIT, dedupeLimit: DEFAULT_DEDUPE_LIMIT }): AdminRoom {
  room.lastSeq = Math.max(room.lastSeq, lastSeq)
  room.log = MessageRing.from(messages, limits.logLimit)
  rememberAll(room, messages, limits.dedupeLimit)
  return room
}

/** The resend memory made again from `messages` (ascending): the last `limit` of them. */
function rememberAll(room: AdminRoom, messages: readonly ChatMessage[], limit: number): void {
  room.dedupe.clear()
  room.dedupeBehind = false
  for (const m of messages.slice(-limit)) room.dedupe.set(dedupeKey(m.user, m.nodeId, m.clientMsgId), m.seq)
}

/** Nodes that must receive the room's traffic: every node with at least one member. */
export function memberNodes(room: AdminRoom): string[] {
  return [...room.nodeCounts.keys()]
}

function byUserThenNode(a: Member, b: Member): number {
  return a.user.localeCompare(b.user) || a.nodeId.localeCompare(b.nodeId)
}

/** First index in the sorted members whose entry is not before `m`. */
function sortedIndex(sorted: Member[], m: Member): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (byUserThenNode(sorted[mid], m) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** A replica taking a room over (docs/replication.md): the member list comes from the replicated state. */
export function restoreMembers(room: AdminRoom, members: Member[]): AdminRoom {
  for (const m of members) if (!room.members.has(memberKey(m.user, m.nodeId))) addMember(room, memberKey(m.user, m.nodeId), m)
  return room
}

function addMember(room: AdminRoom, key: string, member: Member): void {
  room.sorted.splice(sortedIndex(room.sorted, member), 0, member)
  room.members.set(key, member)
  room.nodeCounts.set(member.nodeId, (room.nodeCounts.get(member.nodeId) ?? 0) + 1)
}

function removeMember(room: AdminRoom, key: string, member: Member): void {
  // Entries the collation calls equal sit together from sortedIndex on: find the very one.
  for (let i = sortedIndex(room.sorted, member); i < room.sorted.length && byUserThenNode(room.sorted[i], member) === 0; i++) {
    if (room.sorted[i].user === member.user && room.sorted[i].nodeId === member.nodeId) {
      room.sorted.splice(i, 1)
      break
    }
  }
  room.members.delete(key)
  const n = (room.nodeCounts.get(member.nodeId) ?? 1) - 1
  if (n > 0) room.nodeCounts.set(member.nodeId, n)
  else room.nodeCounts.delete(member.nodeId)
}

export function memberList(room: AdminRoom): Member[] {
  return room.sorted.slice()
}

/** Messages with from <= seq <= to that are still in the log. */
export function logRange(room: AdminRoom, from: number, to: number): ChatMessage[] {
  if (room.log.length === 0 || to < from) return []
  const first = room.log.at(0)!.seq
  const start = Math.max(0, from - first)
  const end = Math.min(room.log.length, to - first + 1)
  return start < end ? room.log.slice(start, end) : []
}

/** Up to `limit` messages before `beforeSeq` (exclusive), ascending. */
export function logBefore(room: AdminRoom, beforeSeq: number | undefined, limit: number): ChatMessage[] {
  const to = (beforeSeq ?? room.lastSeq + 1) - 1
  return logRange(room, Math.max(1, to - limit + 1), to)
}

/**
 * The next message is in the room's log: seq, in-memory log and resend memory move on together; a
 * committed message of a replicated room leaves the resend memory behind (`dedupeBehind`).
 */
function appendToRoom(room: AdminRoom, message: ChatMessage, limits: RoomLimits, remember = true): void {
  room.lastSeq = message.seq
  // A caller with another limit than the ring's (tests, a changed setting) gets it once, here.
  if (room.log.capacity !== limits.logLimit) room.log = MessageRing.from(room.log.toArray(), limits.logLimit)
  room.log.push(message)
  if (!remember) {
    room.dedupeBehind = true
    return
  }
  room.dedupe.set(dedupeKey(message.user, message.nodeId, message.clientMsgId), message.seq)
  // The oldest entry goes first, in O(1) (fifo-map.ts).
  if (room.dedupe.size > limits.dedupeLimit) room.dedupe.deleteOldest()
}

export function stepRoom(
  room: AdminRoom,
  input: RoomInput,
  limits: RoomLimits = { logLimit: DEFAULT_LOG_LIMIT, dedupeLimit: DEFAULT_DEDUPE_LIMIT },
): { state: AdminRoom; effects: RoomEffect[] } {
  const effects: RoomEffect[] = []
  switch (input.type) {
    case 'join': {
      if (room.frozen) {
        effects.push({ type: 'reply-error', code: 'room_busy', message: `room ${room.name} is being deleted` })
        break
      }
      const key = memberKey(input.user, input.nodeId)
      const fresh = !room.members.has(key)
      const member = { user: input.user, nodeId: input.nodeId }
      if (fresh) {
        addMember(room, key, member)
        room.version++
      }
      // The reply goes before the event so the joiner's node knows the room before it hears of it.
      effects.push({
        type: 'reply-join',
        members: memberList(room),
        lastSeq: room.lastSeq,
        history: logBefore(room, undefined, JOIN_HISTORY),
        fresh,
      })
      if (fresh) {
        effects.push({ type: 'member-event', toNodes: memberNodes(room), joined: true, member })
        effects.push({ type: 'directory-changed' })
      }
      break
    }
    case 'leave': {
      const key = memberKey(input.user, input.nodeId)
      const member = room.members.get(key)
      if (!member) {
        effects.push({ type: 'reply-error', code: 'not_member', message: `${input.user} is not a member of ${room.name}` })
        break
      }
      // Tell the leaver's node too (it is still listed until the delete below).
      const toNodes = memberNodes(room)
      removeMember(room, key, member)
      room.version++
      effects.push({ type: 'reply-ok' })
      effects.push({ type: 'member-event', toNodes, joined: false, member })
      effects.push({ type: 'directory-changed' })
      break
    }
    case 'node-dead': {
      // Users of a dead node leave every room (docs/client-protocol.md §6.4); the survivors hear it.
      const gone = [...room.members.values()].filter((m) => m.nodeId === input.nodeId)
      if (gone.length === 0) break
      for (const m of gone) removeMember(room, memberKey(m.user, m.nodeId), m)
      room.version++
      const toNodes = memberNodes(room)
      for (const m of gone) effects.push({ type: 'member-event', toNodes, joined: false, member: m })
      effects.push({ type: 'directory-changed' })
      break
    }
    case 'send': {
      // The sender is the member (user, node), as in `members`: alice on n1 and alice on n2 are two
      // senders whose clientMsgIds may coincide (e.g. two bots counting from 1).
      // After committed messages (the room was replicated here): what the log ring holds.
      if (room.dedupeBehind) rememberAll(room, room.log.toArray(), limits.dedupeLimit)
      const seen = room.dedupe.get(dedupeKey(input.user, input.nodeId, input.clientMsgId))
      if (seen !== undefined) {
        // A resend (same clientMsgId): same seq, nothing delivered again.
        effects.push({ type: 'reply-send', seq: seen, duplicate: true })
        break
      }
      if (room.frozen) {
        effects.push({ type: 'reply-error', code: 'room_busy', message: `room ${room.name} is frozen while its deletion is decided` })
        break
      }
      if (!room.members.has(memberKey(input.user, input.nodeId))) {
        effects.push({ type: 'reply-error', code: 'not_member', message: `${input.user} is not a member of ${room.name}` })
        break
      }
      const message: ChatMessage = {
        roomId: room.roomId,
        seq: room.lastSeq + 1,
        user: input.user,
        nodeId: input.nodeId,
        text: input.text,
        sentAt: input.now,
        clientMsgId: input.clientMsgId,
      }
      effects.push({ type: 'persist', message })
      break
    }
    case 'persisted': {
      const message = input.message
      // Only the message the last `send` proposed: anything else is a driver bug, and nothing changes.
      if (message.seq !== room.lastSeq + 1) {
        effects.push({ type: 'reply-error', code: 'internal', message: `seq ${message.seq} was stored out of turn in ${room.name} (last ${room.lastSeq})` })
        break
      }
      appendToRoom(room, message, limits)
      effects.push({ type: 'deliver', toNodes: memberNodes(room), message })
      effects.push({ type: 'reply-send', seq: message.seq, duplicate: false })
      break
    }
    case 'committed': {
      const message = input.message
      // Exactly the next seq: a repeat (a commit seen twice) or a gap is not delivered.
      if (message.seq !== room.lastSeq + 1) break
      appendToRoom(room, message, limits, false)
      effects.push({ type: 'deliver', toNodes: memberNodes(room), message })
      break
    }
    case 'freeze': {
      if (room.frozen !== input.frozen) {
        room.frozen = input.frozen
        room.version++
        effects.push({ type: 'directory-changed' })
      }
      break
    }
  }
  return { state: room, effects }
}
