/**
 * The client session: drives the protocol for the UI and keeps everything it shows in one
 * immutable snapshot (React subscribes with useSyncExternalStore). It owns the order of things the
 * protocol requires: hello first (section 4), then the directory, then (re)joining rooms, and feeds
 * `message` events through a per-room reorder buffer before the reducer sees them.
 */
import type {
  ArchiveInfo,
  ArchivedRoomInfo,
  ChatMessage,
  HistorySource,
  PeerInfo,
  RequestInput,
  Results,
  SelfInfo,
  ServerEvent,
  EventOf,
  TraceKind,
} from '../../../proto/client-protocol'
import { parseInvite } from '../../../proto/client-protocol'
import { chatReducer, initialChatState, mentionsSelf, noticeKey, shouldNotify, type ChatAction, type ChatState } from '../state/chat-state'
import { ReorderBuffer } from '../state/reorder-buffer'
import { ProtocolError, describeError, rawDetail } from '../state/errors'
import { describeMissing } from '../state/gaps'
import { ChatClient, type SocketStatus } from './chat-client'

/**
 * A line of the protocol log: the node's `trace` events, and this page's own `error` lines (the raw
 * detail of a failure whose notice says it in plain words, docs/ui.md "Errors").
 */
export type LogKind = TraceKind | 'error'
export type TraceEvent = Omit<EventOf<'trace'>, 'kind'> & { kind: LogKind }

export interface ConnectionView {
  status: SocketStatus
  /** Whether a connection was ever established (the first connect is not a "reconnect"). */
  everConnected: boolean
  attempt: number
  retryInMs?: number
  /** Set after a reconnect until the user dismisses it: messages sent meanwhile may be missing. */
  reconnectedMayHaveMissed: boolean
  helloError?: string
}

export interface PeersView {
  self?: SelfInfo
  peers: PeerInfo[]
}

export interface SessionState {
  chat: ChatState
  connection: ConnectionView
  peers: PeersView
  nodeInfo?: Results['node.info']
  /** The node's injected faults, as its last node.faults reply gave them (only with --allow-faults). */
  faults?: Results['node.faults']
  /** This node's peer-link counters, as its last node.stats reply gave them (polled by the cluster view). */
  stats?: Results['node.stats']
  trace: TraceEvent[]
  traceOn: boolean
  /** room.preview answers for rooms not joined (docs/client-protocol.md, "Extensions"), by roomId. */
  previews: Record<string, RoomPreview>
  /** The node's history archive (--db, docs/archive.md): last archive.status event or node.stats. */
  archive?: ArchiveInfo
  /** Where each room's last history answer came from (only nodes with --db say), by roomId. */
  historySource?: Record<string, HistorySource>
}

export interface RoomPreview {
  messages: ChatMessage[]
  loading: boolean
  error?: string
}

export const MAX_TRACE = 500
/** How long a gap in seqs may stay open before we stop waiting and show what we have. */
export const GAP_WAIT_MS = 2000
/** Listeners (React) are told about changes at most this often. */
export const NOTIFY_EVERY_MS = 16
/** How long an informational notice stays on screen. */
export const INFO_NOTICE_MS = 12_000
/**
 * A message waiting for its administrator is resent when the room is available again (room.available,
 * reconnect). In case no such event comes (a timeout while the room never looked unavailable, or an
 * administrator restarted faster than dead-ms), it is also tried again this often while the room
 * looks available.
 */
export const RESEND_WAITING_MS = 5000

export interface SessionDeps {
  client: ChatClient
  user: string
  notify?: (title: string, body: string, roomId: string) => void
  now?: () => number
  /**
   * Where the last selected room is kept between page loads (localStorage in the browser), under a
   * key per user and node; without it nothing is remembered.
   */
  storage?: Pick<Storage, 'getItem' | 'setItem'>
}

export class Session {
  private state: SessionState = {
    chat: initialChatState,
    connection: { status: 'closed', everConnected: false, attempt: 0, reconnectedMayHaveMissed: false },
    peers: { peers: [] },
    trace: [],
    traceOn: false,
    previews: {},
  }
  private readonly listeners = new Set<() => void>()
  private notifyTimer: ReturnType<typeof setTimeout> | null = null
  private readonly buffers = new Map<string, ReorderBuffer<ChatMessage>>()
  private readonly gapTimers = new Map<string, ReturnType<typeof setTimeout>>()
  /** Rooms that became available again and have not had a message since: a jump there is a restart. */
  private readonly cameBack = new Set<string>()
  private readonly resendTimers = new Map<string, ReturnType<typeof setTimeout>>()
  /** Rooms the node says this user had joined (hello.joinedRooms) that are not listed yet. */
  private readonly restore = new Set<string>()
  /** The room to select once the rooms are back, read from storage at the first hello. */
  private restoreActive: string | null | undefined
  private readonly client: ChatClient
  private user: string
  private msgCounter = 0
  private statsInFlight = false
  private readonly now: () => number

  constructor(private readonly deps: SessionDeps) {
    this.client = deps.client
    this.user = deps.user
    this.now = deps.now ?? Date.now
    this.client.onEvent = (e) => this.onEvent(e)
    this.client.onStatus = (status, info) => {
      const c = this.state.connection
      this.set({
        connection: {
          ...c,
          status,
          attempt: info.attempt,
          retryInMs: info.retryInMs,
          everConnected: c.everConnected || status === 'open',
        },
      })
    }
    this.client.onOpen = (reconnected) => void this.afterOpen(reconnected)
  }

  // --- store plumbing -------------------------------------------------------------------------

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  getState = (): SessionState => this.state

  private set(patch: Partial<SessionState>): void {
    this.state = { ...this.state, ...patch }
    // A burst of events (thousands of messages after a join, or a busy room) must not cost one
    // React render each: the state is updated at once, listeners hear about it once per frame.
    if (this.notifyTimer === null) {
      this.notifyTimer = setTimeout(() => {
        this.notifyTimer = null
        for (const fn of this.listeners) fn()
      }, NOTIFY_EVERY_MS)
    }
  }

  dispatch = (action: ChatAction): void => {
    if (action.type === 'room.select') this.remember(action.roomId)
    const before = this.state.chat.nextNoticeId
    this.set({ chat: chatReducer(this.state.chat, action) })
    // Informational notices fade on their own; warnings and errors stay until dismissed.
    for (const n of this.state.chat.notices) {
      if (n.id >= before && n.kind === 'info') {
        setTimeout(() => this.dispatch({ type: 'notice.dismiss', id: n.id }), INFO_NOTICE_MS)
      }
    }
  }

  private error(err: unknown, what: string, key?: string): void {
    this.dispatch({ type: 'notice', kind: 'error', text: `${what}: ${describeError(err)}`, key })
    this.logError(err, what)
  }

  /** The raw detail of a failure, for the protocol log only (the notice says it in plain words). */
  logError(err: unknown, what: string): void {
    this.pushTrace({ event: 'trace', at: this.now(), kind: 'error', text: `${what}: ${rawDetail(err)}` })
  }

  private pushTrace(e: TraceEvent): void {
    const trace = this.state.trace.length >= MAX_TRACE ? this.state.trace.slice(-MAX_TRACE + 1) : this.state.trace.slice()
    trace.push(e)
    this.set({ trace })
  }

  // --- lifecycle ------------------------------------------------------------------------------

  start(): void {
    this.client.start()
  }

  stop(): void {
    if (this.notifyTimer !== null) clearTimeout(this.notifyTimer)
    this.notifyTimer = null
    for (const t of this.gapTimers.values()) clearTimeout(t)
    this.gapTimers.clear()
    for (const t of this.resendTimers.values()) clearTimeout(t)
    this.resendTimers.clear()
    this.client.stop()
  }

  private async afterOpen(reconnected: boolean): Promise<void> {
    try {
      const hello = await this.client.request('hello', { user: this.user, batch: true })
      this.dispatch({ type: 'hello', user: hello.user, nodeId: hello.nodeId, nodeName: hello.nodeName })
      for (const id of hello.joinedRooms ?? []) this.restore.add(id)
      if (this.restoreActive === undefined) this.restoreActive = this.lastRoomKey() ? (this.deps.storage?.getItem(this.lastRoomKey()!) ?? null) : null
      this.set({ connection: { ...this.state.connection, helloError: undefined } })
    } catch (err) {
      this.set({ connection: { ...this.state.connection, helloError: describeError(err) } })
      return
    }
    if (reconnected) this.set({ connection: { ...this.state.connection, reconnectedMayHaveMissed: true } })
    await this.refreshRooms()
    // Rejoin what we had joined: the node forgot this session when the socket dropped; and what the
    // node remembers this user had joined (after a reload or a restart of the app).
    const joined = Object.values(this.state.chat.rooms).filter((r) => r.joined || this.restore.has(r.info.roomId))
    for (const r of joined) this.restore.delete(r.info.roomId)
    await Promise.all(joined.map((r) => this.join(r.info.roomId, true)))
    const active = this.restoreActive
    this.restoreActive = null
    if (active && this.state.chat.activeRoomId === null && this.state.chat.rooms[active]) this.dispatch({ type: 'room.select', roomId: active })
    // Messages whose outcome was unknown go again now that we are back (same clientMsgId: safe).
    for (const r of Object.values(this.state.chat.rooms)) if (r.joined) this.resendWaiting(r.info.roomId)
    void this.refreshPeers()
    if (this.state.traceOn) void this.setTrace(true)
  }

  // --- operations the UI calls ----------------------------------------------------------------

  async refreshRooms(): Promise<void> {
    try {
      const { rooms } = await this.client.request('rooms.list')
      this.dispatch({ type: 'rooms.listed', rooms })
    } catch (err) {
      this.error(err, 'Could not list rooms')
    }
  }

  async createRoom(name: string): Promise<string | undefined> {
    try {
      const { room } = await this.client.request('room.create', { name })
      this.dispatch({ type: 'room.created', room })
      await this.join(room.roomId)
      return room.roomId
    } catch (err) {
      this.error(err, `Could not create room “${name}”`)
      return undefined
    }
  }

  async join(roomId: string, rejoin = false): Promise<boolean> {
    const buffer = new ReorderBuffer<ChatMessage>()
    const previous = this.buffers.get(roomId)
    this.buffers.set(roomId, buffer)
    try {
      const r = await this.client.request('room.join', { roomId })
      const before = this.state.chat.rooms[roomId]
      const held = before?.messages.length ? before.messages[before.messages.length - 1].seq : 0
      let history = r.history
      // After a reconnect, try to fetch what was sent while we were away (works once the node
      // persists history; until then the reducer flags the room as possibly missing messages).
      if (rejoin && r.lastSeq > held && held > 0) {
        const have = history.length ? history[0].seq : r.lastSeq + 1
        if (have > held + 1) {
          try {
            const f = await this.client.request('history.fetch', {
              roomId,
              beforeSeq: have,
              limit: Math.min(200, have - held - 1),
            })
            history = [...f.messages, ...history]
            if (f.source) this.noteHistorySource(roomId, f.source)
          } catch {
            // Not fatal: the room shows "messages may have been missed".
          }
        }
      }
      if (r.historySource) this.noteHistorySource(roomId, r.historySource)
      this.dispatch({ type: 'room.joined', room: r.room, members: r.members, lastSeq: r.lastSeq, history })
      this.release(roomId, buffer.setBaseline(Math.max(r.lastSeq, history.length ? history[history.length - 1].seq : 0)))
      return true
    } catch (err) {
      if (previous) this.buffers.set(roomId, previous)
      else this.buffers.delete(roomId)
      const name = this.state.chat.rooms[roomId]?.info.name
      this.error(err, `${rejoin ? 'Could not rejoin' : 'Could not join'} ${name ? `“${name}”` : 'the room'}`, noticeKey.join(roomId))
      return false
    }
  }

  /** The last messages of a room not joined, read-only (room.preview). */
  /** Rooms in the node's history archive (archive.rooms; docs/archive.md). Rejects without --db. */
  async archiveRooms(): Promise<ArchivedRoomInfo[]> {
    return (await this.client.request('archive.rooms')).rooms
  }

  /**
   * A page of a room's history as the node answers it, from its log or from the archive (for a
   * room no live node holds any more); the answer's source is noted for the Settings view.
   */
  async readHistory(roomId: string, beforeSeq?: number, limit = 50): Promise<ChatMessage[]> {
    const r = await this.client.request('history.fetch', { roomId, limit, ...(beforeSeq ? { beforeSeq } : {}) })
    if (r.source) this.noteHistorySource(roomId, r.source)
    return r.messages
  }

  async preview(roomId: string): Promise<void> {
    const old = this.state.previews[roomId]
    this.set({ previews: { ...this.state.previews, [roomId]: { messages: old?.messages ?? [], loading: true } } })
    try {
      const { messages } = await this.client.request('room.preview', { roomId, limit: 20 })
      this.set({ previews: { ...this.state.previews, [roomId]: { messages, loading: false } } })
    } catch (err) {
      this.set({ previews: { ...this.state.previews, [roomId]: { messages: old?.messages ?? [], loading: false, error: describeError(err) } } })
    }
  }

  private lastRoomKey(): string | undefined {
    const self = this.state.chat.self
    return self ? `chat.lastRoom:${self.nodeId}:${self.user}` : undefined
  }

  private remember(roomId: string | null): void {
    const key = this.lastRoomKey()
    try {
      if (key) this.deps.storage?.setItem(key, roomId ?? '')
    } catch {
      // storage full or disabled: the room is simply not remembered
    }
  }

  async leave(roomId: string): Promise<void> {
    try {
      await this.client.request('room.leave', { roomId })
      this.buffers.delete(roomId)
      this.cameBack.delete(roomId)
      this.dispatch({ type: 'room.left', roomId })
    } catch (err) {
      this.error(err, 'Could not leave the room')
    }
  }

  async send(roomId: string, text: string): Promise<void> {
    const clientMsgId = `${this.state.chat.self?.nodeId ?? 'n'}-${this.now().toString(36)}-${(this.msgCounter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`
    this.dispatch({ type: 'send.pending', roomId, clientMsgId, text, user: this.user, at: this.now() })
    await this.sendOnce(roomId, clientMsgId, text)
  }

  /**
   * One `message.send`. A room_unavailable for a room we believed available, or a timeout, came
   * while the send may already have reached the administrator (it paused or died meanwhile): it may
   * still order the message. So it is not "failed" but waiting, and goes again with the same
   * clientMsgId, which is always safe: the same seq comes back and nothing is delivered twice.
   * A room_unavailable for a room already shown unavailable was refused up front: nothing is in
   * flight, and the user keeps Retry / Discard, as for every other error.
   */
  private async sendOnce(roomId: string, clientMsgId: string, text: string): Promise<void> {
    const availableAtSend = this.state.chat.rooms[roomId]?.info.available ?? false
    try {
      const { seq } = await this.client.request('message.send', { roomId, text, clientMsgId })
      this.dispatch({ type: 'send.acked', roomId, clientMsgId, seq })
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : undefined
      const unknownOutcome = code === 'timeout' || (code === 'room_unavailable' && availableAtSend)
      if (unknownOutcome) {
        this.dispatch({ type: 'send.uncertain', roomId, clientMsgId, error: describeError(err) })
        this.scheduleResend(roomId)
      } else {
        this.dispatch({ type: 'send.failed', roomId, clientMsgId, error: describeError(err) })
      }
    }
  }

  /** Send again, as they are, the messages of a room waiting for their administrator. */
  private resendWaiting(roomId: string): void {
    const room = this.state.chat.rooms[roomId]
    if (!room || !room.joined || !room.info.available || this.client.currentStatus !== 'open') return
    for (const p of room.pending) {
      if (p.status !== 'waiting') continue
      this.dispatch({ type: 'send.resending', roomId, clientMsgId: p.clientMsgId })
      void this.sendOnce(roomId, p.clientMsgId, p.text)
    }
  }

  private scheduleResend(roomId: string): void {
    if (this.resendTimers.has(roomId)) return
    this.resendTimers.set(
      roomId,
      setTimeout(() => {
        this.resendTimers.delete(roomId)
        const room = this.state.chat.rooms[roomId]
        if (!room?.pending.some((p) => p.status === 'waiting')) return
        // Still unavailable: room.available will resend; meanwhile keep checking.
        if (room.info.available) this.resendWaiting(roomId)
        else this.scheduleResend(roomId)
      }, RESEND_WAITING_MS),
    )
  }

  /** Resend a failed message with the same clientMsgId: the administrator deduplicates (section 4). */
  async retry(roomId: string, clientMsgId: string): Promise<void> {
    const p = this.state.chat.rooms[roomId]?.pending.find((x) => x.clientMsgId === clientMsgId)
    if (!p) return
    this.dispatch({ type: 'pending.dismiss', roomId, clientMsgId })
    this.dispatch({ type: 'send.pending', roomId, clientMsgId, text: p.text, user: p.user, at: this.now() })
    await this.sendOnce(roomId, clientMsgId, p.text)
  }

  async deleteRoom(roomId: string): Promise<void> {
    const name = this.state.chat.rooms[roomId]?.info.name ?? roomId
    try {
      const r = await this.client.request('room.delete', { roomId })
      if (r.outcome === 'aborted') {
        this.dispatch({ type: 'notice', kind: 'warning', text: `Deletion of “${name}” was aborted${r.reason ? `: ${r.reason}` : ''}.`, roomId })
      }
    } catch (err) {
      this.error(err, `Could not delete “${name}”`)
    }
  }

  async refreshMembers(roomId: string): Promise<void> {
    try {
      const { members } = await this.client.request('room.members', { roomId })
      this.dispatch({ type: 'room.members', roomId, members })
    } catch {
      // The member list is a convenience; join already gave one and events keep it current.
    }
  }

  async refreshPeers(): Promise<void> {
    try {
      const r = await this.client.request('peers.list')
      this.set({ peers: { self: r.self, peers: r.peers } })
    } catch (err) {
      this.error(err, 'Could not list peers')
    }
  }

  /** Throws a ProtocolError so the Settings form can show it next to the field. */
  /** A peer by address, or by invite (address and cluster key in one string, docs/security.md). */
  async addPeer(addressOrInvite: string): Promise<PeerInfo> {
    const s = addressOrInvite.trim()
    const { peer } = await this.client.request('peers.add', parseInvite(s) ? { invite: s } : { address: s })
    this.upsertPeer(peer)
    void this.refreshRooms()
    return peer
  }

  async removePeer(address: string): Promise<void> {
    await this.client.request('peers.remove', { address })
    this.set({ peers: { ...this.state.peers, peers: this.state.peers.peers.filter((p) => p.address !== address) } })
  }

  private noteHistorySource(roomId: string, source: HistorySource): void {
    this.set({ historySource: { ...this.state.historySource, [roomId]: source } })
  }

  async loadNodeInfo(): Promise<void> {
    try {
      const nodeInfo = await this.client.request('node.info')
      this.set({ nodeInfo, ...(nodeInfo.archive ? { archive: nodeInfo.archive } : {}) })
    } catch (err) {
      this.error(err, 'Could not read this node’s details')
    }
  }

  /**
   * Read the node's link counters (node.stats); the cluster view polls this. A poll that is still
   * waiting is not doubled, and a failed one keeps the last counters without a notice (a slow or
   * older node must not raise an error every two seconds; the banner covers a lost connection).
   */
  async loadStats(): Promise<void> {
    if (this.statsInFlight) return
    this.statsInFlight = true
    try {
      const stats = await this.client.request('node.stats')
      this.set({ stats, ...(stats.archive ? { archive: stats.archive } : {}) })
    } catch {
      // keep what we had
    } finally {
      this.statsInFlight = false
    }
  }

  /** Read the node's faults (node.faults with no change); for the teacher's panel. */
  async loadFaults(): Promise<void> {
    try {
      this.set({ faults: await this.client.request('node.faults', {}) })
    } catch (err) {
      this.error(err, 'Could not read the injected faults')
    }
  }

  /**
   * Change the node's faults. What the panel shows comes from the reply only (nothing optimistic);
   * throws a ProtocolError so the panel can say what failed next to its controls.
   */
  async setFaults(change: Omit<RequestInput<'node.faults'>, 'op'>): Promise<Results['node.faults']> {
    const faults = await this.client.request('node.faults', change)
    this.set({ faults })
    return faults
  }

  async setTrace(on: boolean): Promise<void> {
    this.set({ traceOn: on })
    try {
      await this.client.request('trace.subscribe', { on })
    } catch (err) {
      this.error(err, 'Could not subscribe to the protocol log')
    }
  }

  clearTrace(): void {
    this.set({ trace: [] })
  }

  dismissReconnectNotice(): void {
    this.set({ connection: { ...this.state.connection, reconnectedMayHaveMissed: false } })
  }

  // --- events ---------------------------------------------------------------------------------

  private upsertPeer(p: PeerInfo): void {
    const peers = this.state.peers.peers
    const i = peers.findIndex((x) => x.nodeId === p.nodeId || x.address === p.address)
    const next = i >= 0 ? peers.map((x, j) => (j === i ? { ...x, ...p } : x)) : [...peers, p]
    this.set({ peers: { ...this.state.peers, peers: next } })
  }

  private release(roomId: string, messages: ChatMessage[]): void {
    // A message in order after the room came back: nothing was skipped (a pause, not a restart).
    if (messages.length > 0) this.cameBack.delete(roomId)
    for (const m of messages) {
      const notify = shouldNotify(this.state.chat, m)
      this.dispatch({ type: 'message', message: m })
      if (notify && this.deps.notify) {
        const room = this.state.chat.rooms[roomId]
        const mentioned = mentionsSelf(this.state.chat, m)
        this.deps.notify(`${m.user} ${mentioned ? 'mentioned you' : ''} in ${room?.info.name ?? 'a room'}`.replace('  ', ' '), m.text, roomId)
      }
    }
    const buf = this.buffers.get(roomId)
    const t = this.gapTimers.get(roomId)
    if (buf && buf.missingRanges().length > 0) {
      if (!t) {
        this.gapTimers.set(
          roomId,
          setTimeout(() => {
            this.gapTimers.delete(roomId)
            const b = this.buffers.get(roomId)
            const ranges = b?.missingRanges() ?? []
            if (!b || ranges.length === 0) return
            const adminRestarted = this.cameBack.delete(roomId)
            const roomName = this.state.chat.rooms[roomId]?.info.name
            this.dispatch({ type: 'notice', kind: 'warning', text: describeMissing(ranges, { roomName, adminRestarted }), roomId, key: noticeKey.gap(roomId) })
            this.release(roomId, b.flush())
          }, GAP_WAIT_MS),
        )
      }
    } else if (t) {
      clearTimeout(t)
      this.gapTimers.delete(roomId)
    }
  }

  private onEvent(e: ServerEvent): void {
    switch (e.event) {
      case 'message': {
        const { event: _event, ...m } = e
        const buf = this.buffers.get(m.roomId)
        if (!buf) return // not (any more) joined here
        this.release(m.roomId, buf.push(m))
        return
      }
      case 'member.joined':
      case 'member.left':
        this.dispatch({ type: e.event, roomId: e.roomId, user: e.user, nodeId: e.nodeId })
        return
      case 'room.created':
        this.dispatch({ type: 'room.created', room: e.room })
        // A remembered room the directory did not list yet (gossip after a restart): rejoin it now.
        if (this.restore.delete(e.room.roomId)) void this.join(e.room.roomId, true)
        return
      case 'room.deleted':
        this.buffers.delete(e.roomId)
        this.cameBack.delete(e.roomId)
        this.dispatch({ type: 'room.deleted', roomId: e.roomId })
        return
      case 'room.unavailable':
      case 'room.available':
        this.dispatch({ type: e.event, roomId: e.roomId, reason: e.reason })
        if (e.event === 'room.available') {
          this.cameBack.add(e.roomId)
          this.resendWaiting(e.roomId)
        }
        return
      case 'room.admin_changed':
        this.dispatch({ type: 'room.admin_changed', roomId: e.roomId, adminNodeId: e.adminNodeId, adminNodeName: e.adminNodeName, term: e.term, reason: e.reason })
        this.resendWaiting(e.roomId)
        return
      case 'peer.status':
        this.upsertPeer({
          nodeId: e.nodeId,
          name: e.name,
          address: e.address,
          state: e.state,
          lastSeenMs: this.state.peers.peers.find((p) => p.nodeId === e.nodeId)?.lastSeenMs ?? 0,
        })
        return
      case 'deletion':
        this.dispatch({ type: 'deletion', roomId: e.roomId, phase: e.phase, votes: e.votes, reason: e.reason })
        return
      case 'archive.status': {
        const { event: _event, ...archive } = e
        this.set({ archive })
        return
      }
      case 'trace':
        this.pushTrace(e)
        return
    }
  }
}
