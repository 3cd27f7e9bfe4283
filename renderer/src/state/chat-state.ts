/**
 * The chat state of one client session, as a pure reducer (no React, no sockets, no clock): the
 * room directory, joined rooms with their messages, unread counts, messages waiting for their seq,
 * and the failure / deletion notices of docs/ui.md. The React layer only dispatches actions built from
 * protocol replies and events (docs/client-protocol.md §4–§5) and renders the result, so all
 * of this is unit-tested in test/renderer/chat-state.test.ts.
 */
import type {
  ChatMessage,
  DeletionPhase,
  Member,
  RoomInfo,
  Vote,
} from '../../../proto/client-protocol'
import { mentionsUser, naturalCompare } from './message-format'

/**
 * pending: in flight. sent: acked with its seq, the `message` event not here yet. failed: refused,
 * the user decides (Retry / Discard). waiting: the outcome is unknown (room_unavailable or timeout
 * while a forwarded send was in flight: the administrator paused or died, and may still order it);
 * the session resends it with the same clientMsgId once the room is available again.
 */
export type PendingStatus = 'pending' | 'sent' | 'failed' | 'waiting'

/** A message this client sent that has not come back as a `message` event yet. */
export interface PendingMessage {
  clientMsgId: string
  roomId: string
  text: string
  user: string
  createdAt: number
  status: PendingStatus
  /** Set once `message.send` answered (status 'sent'). */
  seq?: number
  /** Set when `message.send` failed (status 'failed', or 'waiting': why the outcome is unknown). */
  error?: string
}

export interface DeletionView {
  phase: DeletionPhase
  votes: Record<string, Vote>
  reason?: string
  /** Every phase seen so far, in order, so the UI can show the whole two-phase commit. */
  phases: DeletionPhase[]
}

export interface RoomState {
  info: RoomInfo
  joined: boolean
  members: Member[]
  /** Delivered messages, ascending seq, no duplicates. */
  messages: ChatMessage[]
  pending: PendingMessage[]
  /** Highest seq known for the room (from messages or from room.join's lastSeq). */
  latestSeq: number
  /** Highest seq the user has seen; unread = latestSeq - lastReadSeq (docs/ui.md). */
  lastReadSeq: number
  unavailableReason?: string
  deletion?: DeletionView
  /** True when messages may be missing (a reconnect skipped some seqs we never received). */
  mayHaveMissed: boolean
  /** The last change of administrator seen (client-protocol.md §8), for the cluster view to draw. */
  handover?: Handover
}

/** A replicated room passed from one administrator to another (room.admin_changed). */
export interface Handover {
  fromNodeId: string
  fromName: string
  toNodeId: string
  toName: string
  term: number
  reason: string
}

export type NoticeKind = 'info' | 'warning' | 'error'

export interface Notice {
  id: number
  kind: NoticeKind
  text: string
  roomId?: string
  /** Notices with the same key replace each other (e.g. vote updates within one 2PC phase). */
  key?: string
}

export interface ChatState {
  self: { user: string; nodeId: string; nodeName: string } | null
  rooms: Record<string, RoomState>
  activeRoomId: string | null
  /**
   * The room that was open when it was deleted, with how its deletion went, so the pane where it
   * was says so instead of going blank. Cleared when another room is picked.
   */
  deletedActive?: { roomId: string; name: string; deletion?: DeletionView }
  /** Whether the page is visible and focused: only then does the active room count as read. */
  visible: boolean
  notices: Notice[]
  nextNoticeId: number
}

export const MAX_NOTICES = 30

export const initialChatState: ChatState = {
  self: null,
  rooms: {},
  activeRoomId: null,
  visible: true,
  notices: [],
  nextNoticeId: 1,
}

export type ChatAction =
  | { type: 'hello'; user: string; nodeId: string; nodeName: string }
  /**
   * `notYet`: rooms the node says this user is in (hello.joinedRooms) that it may not have learned
   * again yet (a node that has just restarted hears of other nodes' rooms by gossip): kept, shown
   * unavailable, rather than reported gone.
   */
  | { type: 'rooms.listed'; rooms: RoomInfo[]; notYet?: string[] }
  | { type: 'room.created'; room: RoomInfo }
  /** memberCount: the room's, when `members` is only its first page (client-protocol.md §5, "Large rooms"). */
  | { type: 'room.joined'; room: RoomInfo; members: Member[]; lastSeq: number; history: ChatMessage[]; memberCount?: number }
  | { type: 'room.left'; roomId: string }
  | { type: 'room.members'; roomId: string; members: Member[]; memberCount?: number }
  /** The next page of a large room's members, read from `offset` of the sorted list (client-protocol.md §4). */
  | { type: 'room.members.page'; roomId: string; offset: number; members: Member[]; memberCount?: number }
  /** A large room's member count (client-protocol.md §5, "Large rooms"): its joins and leaves are not sent one by one. */
  | { type: 'members.count'; roomId: string; memberCount: number }
  | { type: 'room.select'; roomId: string | null }
  | { type: 'visibility'; visible: boolean }
  | { type: 'message'; message: ChatMessage }
  | { type: 'send.pending'; roomId: string; clientMsgId: string; text: string; user: string; at: number }
  | { type: 'send.acked'; roomId: string; clientMsgId: string; seq: number }
  | { type: 'send.failed'; roomId: string; clientMsgId: string; error: string }
  /** The send's outcome is unknown: keep it, waiting for the administrator, to be resent as is. */
  | { type: 'send.uncertain'; roomId: string; clientMsgId: string; error: string }
  /** A waiting message is being sent again (same clientMsgId). */
  | { type: 'send.resending'; roomId: string; clientMsgId: string }
  | { type: 'pending.dismiss'; roomId: string; clientMsgId: string }
  | { type: 'member.joined' | 'member.left'; roomId: string; user: string; nodeId: string }
  | { type: 'room.deleted'; roomId: string }
  | { type: 'room.unavailable' | 'room.available'; roomId: string; reason: string }
  /** A replica took the room over (client-protocol.md §8): it is available, run by another node. */
  | { type: 'room.admin_changed'; roomId: string; adminNodeId: string; adminNodeName: string; term: number; reason: string }
  | {
      type: 'deletion'
      roomId: string
      phase: DeletionPhase
      votes: Record<string, Vote>
      reason?: string
    }
  | { type: 'notice'; kind: NoticeKind; text: string; roomId?: string; key?: string }
  | { type: 'notice.dismiss'; id: number }
  /** The subject `key` is no longer true (a join that failed has now worked): its notice goes. */
  | { type: 'notice.clear'; key: string }

/** Why a joined room a reconnected node does not list yet is shown unavailable (rooms.listed, notYet). */
export const NOT_KNOWN_YET = 'not known to this node yet'

export function unreadCount(room: RoomState): number {
  return room.joined ? Math.max(0, room.latestSeq - room.lastReadSeq) : 0
}

export function totalUnread(state: ChatState): number {
  let n = 0
  for (const r of Object.values(state.rooms)) n += unreadCount(r)
  return n
}

function newRoom(info: RoomInfo): RoomState {
  return {
    info,
    joined: info.joined,
    members: [],
    messages: [],
    pending: [],
    latestSeq: 0,
    lastReadSeq: 0,
    mayHaveMissed: false,
  }
}

function addNotice(state: ChatState, kind: NoticeKind, text: string, roomId?: string, key?: string): ChatState {
  const notice: Notice = { id: state.nextNoticeId, kind, text, roomId, key }
  const kept = key === undefined ? state.notices : state.notices.filter((n) => n.key !== key)
  return {
    ...state,
    notices: [...kept, notice].slice(-MAX_NOTICES),
    nextNoticeId: state.nextNoticeId + 1,
  }
}

function clearNotice(state: ChatState, key: string): ChatState {
  return state.notices.some((n) => n.key === key) ? { ...state, notices: state.notices.filter((n) => n.key !== key) } : state
}

/** The subjects notices are about: a newer notice on one replaces the older (docs/ui.md, "Notices"). */
export const noticeKey = {
  availability: (roomId: string) => `availability:${roomId}`,
  deletion: (roomId: string) => `deletion:${roomId}`,
  join: (roomId: string) => `join:${roomId}`,
  gap: (roomId: string) => `gap:${roomId}`,
}

function putRoom(state: ChatState, room: RoomState): ChatState {
  return { ...state, rooms: { ...state.rooms, [room.info.roomId]: room } }
}

/** The active room counts as read only while the user can actually see it. */
function markReadIfViewed(state: ChatState, room: RoomState): RoomState {
  if (state.visible && state.activeRoomId === room.info.roomId && room.lastReadSeq !== room.latestSeq) {
    return { ...room, lastReadSeq: room.latestSeq }
  }
  return room
}

function roomName(state: ChatState, roomId: string): string {
  return state.rooms[roomId]?.info.name ?? roomId
}

/** Merge messages into an ascending, duplicate-free list (history and live events may overlap). */
export function mergeMessages(existing: ChatMessage[], incoming: ChatMessage[]): ChatMessage[] {
  if (incoming.length === 0) return existing
  const last = existing.length > 0 ? existing[existing.length - 1].seq : 0
  // Fast path: the live case, everything strictly after what we have, already ordered.
  let ordered = true
  for (let i = 0; i < incoming.length; i++) {
    if (incoming[i].seq <= (i === 0 ? last : incoming[i - 1].seq)) {
      ordered = false
      break
    }
  }
  if (ordered) return existing.concat(incoming)
  const bySeq = new Map<number, ChatMessage>()
  for (const m of existing) bySeq.set(m.seq, m)
  for (const m of incoming) if (!bySeq.has(m.seq)) bySeq.set(m.seq, m)
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq)
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'hello':
      return { ...state, self: { user: action.user, nodeId: action.nodeId, nodeName: action.nodeName } }

    case 'rooms.listed': {
      // The directory is authoritative: a room we knew that is no longer listed was deleted while
      // we were not looking (for example during a reconnect).
      const rooms: Record<string, RoomState> = {}
      let next = state
      for (const info of action.rooms) {
        const old = state.rooms[info.roomId]
        rooms[info.roomId] = old
          ? { ...old, info: { ...info, joined: old.joined || info.joined }, joined: old.joined || info.joined }
          : newRoom(info)
        if (old && !info.available && old.info.available) rooms[info.roomId].unavailableReason ??= 'administrator unreachable'
        if (info.available) delete rooms[info.roomId].unavailableReason
      }
      for (const id of action.notYet ?? []) {
        const old = state.rooms[id]
        if (rooms[id] || !old) continue
        rooms[id] = { ...old, info: { ...old.info, available: false }, unavailableReason: NOT_KNOWN_YET }
      }
      for (const id of Object.keys(state.rooms)) {
        if (!rooms[id] && state.rooms[id].joined) {
          next = addNotice(clearNotice(next, noticeKey.availability(id)), 'warning', `Room “${state.rooms[id].info.name}” no longer exists.`, id, noticeKey.deletion(id))
        }
      }
      const activeRoomId = state.activeRoomId && rooms[state.activeRoomId] ? state.activeRoomId : null
      const gone = state.activeRoomId && !activeRoomId ? state.rooms[state.activeRoomId] : undefined
      const deletedActive = gone ? { roomId: gone.info.roomId, name: gone.info.name, deletion: gone.deletion } : state.deletedActive
      return { ...next, rooms, activeRoomId, deletedActive }
    }

    case 'room.created': {
      if (state.rooms[action.room.roomId]) return state
      return putRoom(state, newRoom(action.room))
    }

    case 'room.joined': {
      const old = state.rooms[action.room.roomId]
      const base = old ?? newRoom(action.room)
      const messages = mergeMessages(base.messages, action.history)
      const highestHeld = messages.length > 0 ? messages[messages.length - 1].seq : 0
      // A rejoin (after a reconnect) whose lastSeq is beyond what we held, with history that does
      // not cover every seq in between, means messages were sent while we were away that we lack.
      const wasJoinedBefore = old !== undefined && (old.joined || old.messages.length > 0)
      const heldBefore = base.messages.length > 0 ? base.messages[base.messages.length - 1].seq : base.latestSeq
      const covered = messages.filter((m) => m.seq > heldBefore && m.seq <= action.lastSeq).length
      const mayHaveMissed =
        base.mayHaveMissed || (wasJoinedBefore && action.lastSeq > heldBefore && covered < action.lastSeq - heldBefore)
      const latestSeq = Math.max(base.latestSeq, action.lastSeq, highestHeld)
      // First join: the room's past is not "unread" to someone who just arrived.
      const lastReadSeq = wasJoinedBefore ? base.lastReadSeq : latestSeq
      let room: RoomState = {
        ...base,
        info: { ...action.room, joined: true, memberCount: action.memberCount ?? action.room.memberCount },
        joined: true,
        members: action.members,
        messages,
        latestSeq,
        lastReadSeq,
        mayHaveMissed,
        unavailableReason: action.room.available ? undefined : base.unavailableReason,
      }
      room = markReadIfViewed(state, room)
      return putRoom(clearNotice(state, noticeKey.join(action.room.roomId)), room)
    }

    case 'room.left': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      // What a room not joined starts as; unavailability, deletion and handover stay as they were.
      return putRoom(state, { ...old, ...newRoom({ ...old.info, joined: false }) })
    }

    case 'room.members': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      return putRoom(state, { ...old, members: action.members, info: { ...old.info, memberCount: action.memberCount ?? action.members.length } })
    }

    case 'room.members.page': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      const members = [...old.members.slice(0, action.offset), ...action.members]
      return putRoom(state, { ...old, members, info: { ...old.info, memberCount: Math.max(members.length, action.memberCount ?? old.info.memberCount) } })
    }

    case 'members.count': {
      const old = state.rooms[action.roomId]
      if (!old || old.info.memberCount === action.memberCount) return state
      return putRoom(state, { ...old, info: { ...old.info, memberCount: action.memberCount } })
    }

    case 'room.select': {
      const next = { ...state, activeRoomId: action.roomId, deletedActive: undefined }
      const room = action.roomId ? next.rooms[action.roomId] : undefined
      return room ? putRoom(next, markReadIfViewed(next, room)) : next
    }

    case 'visibility': {
      const next = { ...state, visible: action.visible }
      const room = next.activeRoomId ? next.rooms[next.activeRoomId] : undefined
      return room ? putRoom(next, markReadIfViewed(next, room)) : next
    }

    case 'message': {
      const m = action.message
      const old = state.rooms[m.roomId]
      if (!old) return state
      const last = old.messages.length > 0 ? old.messages[old.messages.length - 1].seq : 0
      const messages = m.seq > last ? old.messages.concat([m]) : mergeMessages(old.messages, [m])
      if (messages === old.messages || messages.length === old.messages.length) return state // duplicate
      // Our own message came back through the administrator: it is no longer pending.
      const pending = old.pending.some((p) => p.clientMsgId === m.clientMsgId)
        ? old.pending.filter((p) => p.clientMsgId !== m.clientMsgId)
        : old.pending
      const room = markReadIfViewed(state, {
        ...old,
        messages,
        pending,
        latestSeq: Math.max(old.latestSeq, m.seq),
      })
      return putRoom(state, room)
    }

    case 'send.pending': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      const p: PendingMessage = {
        clientMsgId: action.clientMsgId,
        roomId: action.roomId,
        text: action.text,
        user: action.user,
        createdAt: action.at,
        status: 'pending',
      }
      return putRoom(state, { ...old, pending: [...old.pending, p] })
    }

    case 'send.acked':
    case 'send.failed':
    case 'send.uncertain':
    case 'send.resending': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      // If the message event already arrived, the pending entry is gone and there is nothing to do.
      const current = old.pending.find((p) => p.clientMsgId === action.clientMsgId)
      if (!current) return state
      // A seq already came back for it: a late failure of a duplicate send does not undo that.
      if (current.status === 'sent' && action.type !== 'send.acked') return state
      const next: PendingMessage =
        action.type === 'send.acked'
          ? { ...current, status: 'sent', seq: action.seq, error: undefined }
          : action.type === 'send.failed'
            ? { ...current, status: 'failed', error: action.error }
            : action.type === 'send.uncertain'
              ? { ...current, status: 'waiting', error: action.error }
              : { ...current, status: 'pending', error: undefined }
      const pending = old.pending.map((p) => (p === current ? next : p))
      return putRoom(state, { ...old, pending })
    }

    case 'pending.dismiss': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      return putRoom(state, { ...old, pending: old.pending.filter((p) => p.clientMsgId !== action.clientMsgId) })
    }

    case 'member.joined':
    case 'member.left': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      const others = old.members.filter((m) => !(m.user === action.user && m.nodeId === action.nodeId))
      const members = action.type === 'member.joined' ? [...others, { user: action.user, nodeId: action.nodeId }] : others
      // The list may be a large room's first page (client-protocol.md §5): the count moves with the
      // change, and is never below what the list shows.
      const delta = members.length - old.members.length
      return putRoom(state, { ...old, members, info: { ...old.info, memberCount: Math.max(members.length, old.info.memberCount + delta) } })
    }

    case 'room.deleted': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      const rooms = { ...state.rooms }
      delete rooms[action.roomId]
      const wasActive = state.activeRoomId === action.roomId
      const next: ChatState = {
        ...state,
        rooms,
        activeRoomId: wasActive ? null : state.activeRoomId,
        deletedActive: wasActive ? { roomId: action.roomId, name: old.info.name, deletion: old.deletion } : state.deletedActive,
      }
      return addNotice(clearNotice(next, noticeKey.availability(action.roomId)), 'info', `Room “${old.info.name}” was deleted.`, action.roomId, noticeKey.deletion(action.roomId))
    }

    case 'room.unavailable':
    case 'room.available': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      const available = action.type === 'room.available'
      if (old.info.available === available && (available || old.unavailableReason)) return state
      const room: RoomState = {
        ...old,
        info: { ...old.info, available },
        unavailableReason: available ? undefined : action.reason || 'administrator unreachable',
      }
      const text = available
        ? `Room “${old.info.name}” is available again.`
        : `Room “${old.info.name}” is unavailable: its administrator node ${old.info.adminNodeName} is unreachable.`
      // One notice per room's availability: "available again" replaces "unavailable" (and fades).
      return addNotice(putRoom(state, room), available ? 'info' : 'warning', text, action.roomId, noticeKey.availability(action.roomId))
    }

    case 'room.admin_changed': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      const handover: Handover | undefined =
        old.info.adminNodeId !== action.adminNodeId
          ? { fromNodeId: old.info.adminNodeId, fromName: old.info.adminNodeName, toNodeId: action.adminNodeId, toName: action.adminNodeName, term: action.term, reason: action.reason }
          : old.handover
      const room: RoomState = {
        ...old,
        info: { ...old.info, adminNodeId: action.adminNodeId, adminNodeName: action.adminNodeName, term: action.term, available: true },
        unavailableReason: undefined,
        handover,
      }
      // Replaces the room's availability notice: a takeover is not an outage (docs/replication.md).
      const why = action.reason ? ` (${action.reason})` : ''
      return addNotice(putRoom(state, room), 'info', `“${old.info.name}” is now run by ${action.adminNodeName}${why}.`, action.roomId, noticeKey.availability(action.roomId))
    }

    case 'deletion': {
      const old = state.rooms[action.roomId]
      if (!old) return state
      const phases = old.deletion && old.deletion.phase !== 'abort' ? [...old.deletion.phases] : []
      if (phases[phases.length - 1] !== action.phase) phases.push(action.phase)
      const room: RoomState = {
        ...old,
        info: { ...old.info, frozen: action.phase === 'prepare' },
        deletion: { phase: action.phase, votes: action.votes, reason: action.reason, phases },
      }
      const votes = Object.entries(action.votes)
        .map(([node, v]) => `${node}: ${v}`)
        .join(', ')
      const name = roomName(state, action.roomId)
      const text =
        action.phase === 'prepare'
          ? `Deleting “${name}”: prepare (room frozen)${votes ? `; votes ${votes}` : ''}.`
          : action.phase === 'commit'
            ? `Deleting “${name}”: commit${votes ? `; votes ${votes}` : ''}.`
            : `Deletion of “${name}” aborted${action.reason ? `: ${action.reason}` : ''}${votes ? `; votes ${votes}` : ''}.`
      return addNotice(putRoom(state, room), action.phase === 'abort' ? 'warning' : 'info', text, action.roomId, noticeKey.deletion(action.roomId))
    }

    case 'notice':
      return addNotice(state, action.kind, action.text, action.roomId, action.key)

    case 'notice.dismiss':
      return { ...state, notices: state.notices.filter((n) => n.id !== action.id) }

    case 'notice.clear':
      return clearNotice(state, action.key)
  }
}

/** What the message list shows: delivered messages, then our own still waiting for their seq. */
export type TimelineItem =
  | { kind: 'message'; message: ChatMessage }
  | { kind: 'pending'; pending: PendingMessage }

export function timeline(room: RoomState): TimelineItem[] {
  const out: TimelineItem[] = room.messages.map((message) => ({ kind: 'message', message }))
  for (const pending of room.pending) out.push({ kind: 'pending', pending })
  return out
}

/** Desktop notification policy (docs/ui.md): someone else's message in a room not in view. */
export function shouldNotify(state: ChatState, m: ChatMessage): boolean {
  const room = state.rooms[m.roomId]
  if (!room || !room.joined) return false
  if (state.self && m.user === state.self.user && m.nodeId === state.self.nodeId) return false
  return !(state.visible && state.activeRoomId === m.roomId)
}

/** Whether a message from someone else mentions the signed-in user (@name): highlighted, and notified. */
export function mentionsSelf(state: ChatState, m: ChatMessage): boolean {
  return state.self !== null && !(m.user === state.self.user && m.nodeId === state.self.nodeId) && mentionsUser(m.text, state.self.user)
}

/** Rooms grouped by the node that administers them, for the sidebar; groups and rooms sorted by name. */
export function roomsByAdmin(state: ChatState): { adminNodeId: string; adminNodeName: string; rooms: RoomState[] }[] {
  const groups = new Map<string, { adminNodeId: string; adminNodeName: string; rooms: RoomState[] }>()
  for (const r of Object.values(state.rooms)) {
    let g = groups.get(r.info.adminNodeId)
    if (!g) {
      g = { adminNodeId: r.info.adminNodeId, adminNodeName: r.info.adminNodeName, rooms: [] }
      groups.set(r.info.adminNodeId, g)
    }
    g.rooms.push(r)
  }
  const list = [...groups.values()]
  for (const g of list) g.rooms.sort((a, b) => naturalCompare(a.info.name, b.info.name) || a.info.roomId.localeCompare(b.info.roomId))
  return list.sort((a, b) => naturalCompare(a.adminNodeName, b.adminNodeName) || a.adminNodeId.localeCompare(b.adminNodeId))
}
