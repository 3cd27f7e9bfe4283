/**
 * The client session: drives the protocol for the UI and keeps everything it shows in one
 * immutable snapshot (React subscribes with useSyncExternalStore). It owns the order of things the
 * protocol requires: hello first (docs/client-protocol.md §4), then the directory, then (re)joining
 * rooms, and routes the node's events. The rest is in parts with one role each: the outbox
 * (outbox.ts: sends and resends), the live messages of joined rooms (room-stream.ts), and the
 * cluster view's operations (cluster-ops.ts).
 */
import { MAX_MEMBER_PAGE, type ArchivedRoomInfo, type ChatMessage, type HistorySource, type PeerInfo, type RequestInput, type Results, type ServerEvent } from '../../../proto/client-protocol'
import { NOT_KNOWN_YET, chatReducer, initialChatState, noticeKey, type ChatAction } from '../state/chat-state'
import { describeError } from '../state/errors'
import type { ChatClient } from './chat-client'
import { ClusterOps } from './cluster-ops'
import { Outbox } from './outbox'
import { RoomStream } from './room-stream'
import type { SessionHost, SessionState } from './session-host'

export type { ConnectionView, LogKind, PeersView, RoomPreview, SessionState, TraceEvent } from './session-host'
export { MAX_TRACE } from './cluster-ops'
export { RESEND_WAITING_MS } from './outbox'

/** Listeners (React) are told about changes at most this often. */
export const NOTIFY_EVERY_MS = 16
/** How long an informational notice stays on screen. */
export const INFO_NOTICE_MS = 12_000
/**
 * A rejoin after a reconnect that fails for a passing reason (the room's administrator is being
 * elected, the node has just restarted and does not know the room's current administrator yet) is
 * tried again: at once when the room comes back (room.available, room.admin_changed), else after
 * these delays, doubling (docs/ui.md, "Failures and deletions made visible").
 */
export const REJOIN_FIRST_MS = 1000
export const REJOIN_MAX_MS = 10_000
/** How long a joined room a reconnected node does not list yet is kept before it is reported gone. */
export const NOT_LISTED_GRACE_MS = 30_000
/** Error codes after which a rejoin is worth trying again; any other (not_found, forbidden…) is final. */
const PASSING = new Set(['room_unavailable', 'room_busy', 'timeout', 'unreachable', 'internal', 'disconnected'])

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
  /**
   * Rooms to rejoin when possible: those the node says this user had joined (hello.joinedRooms)
   * that are not listed yet, and those whose rejoin failed for a passing reason.
   */
  private readonly restore = new Set<string>()
  /** The room to select once the rooms are back, read from storage at the first hello. */
  private restoreActive: string | null | undefined
  /** The next rejoin attempt of rooms whose rejoin failed for a passing reason (in `restore`). */
  private rejoinTimer: ReturnType<typeof setTimeout> | null = null
  private rejoinDelayMs = REJOIN_FIRST_MS
  /**
   * The rooms joined on the current connection. The state's `joined` says what the user is in; after
   * a reconnect the node knows none of it until each room is joined again, and a rejoin that failed
   * leaves `joined` set (the room is still the user's) but the room out of this set: it is what the
   * retries go by, and a send to such a room waits for the rejoin (docs/ui.md, "Failures and deletions made visible").
   */
  private readonly joinedHere = new Set<string>()
  /** The second look at joined rooms a reconnected node did not list (NOT_LISTED_GRACE_MS). */
  private notListedTimer: ReturnType<typeof setTimeout> | null = null
  private readonly client: ChatClient
  private user: string
  private readonly now: () => number
  private readonly outbox: Outbox
  private readonly stream: RoomStream
  private readonly cluster: ClusterOps

  constructor(private readonly deps: SessionDeps) {
    this.client = deps.client
    this.user = deps.user
    this.now = deps.now ?? Date.now
    const host: SessionHost = {
      client: this.client,
      state: () => this.state,
      set: (patch) => this.set(patch),
      dispatch: (action) => this.dispatch(action),
      now: () => this.now(),
      error: (err, what, key) => this.error(err, what, key),
    }
    this.outbox = new Outbox(host, () => this.user, (roomId) => this.rejoining(roomId))
    this.stream = new RoomStream(host, deps.notify)
    this.cluster = new ClusterOps(host, () => void this.refreshRooms())
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
    this.cluster.logError(err, what)
  }

  // --- lifecycle ------------------------------------------------------------------------------

  start(): void {
    this.client.start()
  }

  stop(): void {
    if (this.notifyTimer !== null) clearTimeout(this.notifyTimer)
    this.notifyTimer = null
    if (this.rejoinTimer !== null) clearTimeout(this.rejoinTimer)
    this.rejoinTimer = null
    if (this.notListedTimer !== null) clearTimeout(this.notListedTimer)
    this.notListedTimer = null
    this.outbox.stop()
    this.client.stop()
  }

  private async afterOpen(reconnected: boolean): Promise<void> {
    try {
      // Large rooms as a count and a first page of members (client-protocol.md §5, "Large rooms").
      const hello = await this.client.request('hello', { user: this.user, batch: true, largeRooms: true })
      this.dispatch({ type: 'hello', user: hello.user, nodeId: hello.nodeId, nodeName: hello.nodeName })
      for (const id of hello.joinedRooms ?? []) this.restore.add(id)
      if (this.restoreActive === undefined) this.restoreActive = this.lastRoomKey() ? (this.deps.storage?.getItem(this.lastRoomKey()!) ?? null) : null
      this.set({ connection: { ...this.state.connection, helloError: undefined } })
    } catch (err) {
      this.set({ connection: { ...this.state.connection, helloError: describeError(err) } })
      return
    }
    if (reconnected) this.set({ connection: { ...this.state.connection, reconnectedMayHaveMissed: true } })
    this.joinedHere.clear()
    // A joined room the node does not list is kept, not reported gone: a node that has just
    // restarted learns other nodes' rooms by gossip. It is joined again as soon as the node learns of
    // it (room.created); still not listed NOT_LISTED_GRACE_MS later, it is gone (docs/ui.md).
    const had = Object.values(this.state.chat.rooms).filter((r) => r.joined).map((r) => r.info.roomId)
    await this.refreshRooms(had)
    const unlisted = new Set(had.filter((id) => this.state.chat.rooms[id]?.unavailableReason === NOT_KNOWN_YET))
    if (unlisted.size) {
      for (const id of unlisted) this.restore.add(id)
      if (this.notListedTimer !== null) clearTimeout(this.notListedTimer)
      this.notListedTimer = setTimeout(() => {
        this.notListedTimer = null
        if (this.state.connection.status === 'open') void this.refreshRooms()
      }, NOT_LISTED_GRACE_MS)
    }
    // Rejoin what we had joined: the node forgot this session when the socket dropped; and what the
    // node remembers this user had joined (after a reload or a restart of the app).
    const joined = Object.values(this.state.chat.rooms).filter((r) => (r.joined || this.restore.has(r.info.roomId)) && !unlisted.has(r.info.roomId))
    for (const r of joined) this.restore.delete(r.info.roomId)
    await Promise.all(joined.map((r) => this.join(r.info.roomId, true)))
    const active = this.restoreActive
    this.restoreActive = null
    if (active && this.state.chat.activeRoomId === null && this.state.chat.rooms[active]) this.dispatch({ type: 'room.select', roomId: active })
    // Messages whose outcome was unknown go again now that we are back (same clientMsgId: safe).
    for (const r of Object.values(this.state.chat.rooms)) if (r.joined) this.outbox.resendWaiting(r.info.roomId)
    void this.refreshPeers()
    if (this.state.traceOn) void this.setTrace(true)
  }

  // --- rooms -----------------------------------------------------------------------------------

  async refreshRooms(notYet?: string[]): Promise<void> {
    try {
      const { rooms } = await this.client.request('rooms.list')
      this.dispatch({ type: 'rooms.listed', rooms, notYet })
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

  /** Read a room's member list again (its first page when large), with its count. */
  async refreshMembers(roomId: string): Promise<void> {
    try {
      const r = await this.client.request('room.members', { roomId, limit: MAX_MEMBER_PAGE })
      this.dispatch({ type: 'room.members', roomId, members: r.members, memberCount: r.memberCount })
    } catch {
      // Not fatal: the count is right and the list is refreshed at the next join.
    }
  }

  /** The next page of a large room's member list (client-protocol.md §5, "Large rooms"). */
  async moreMembers(roomId: string): Promise<void> {
    const offset = this.state.chat.rooms[roomId]?.members.length ?? 0
    try {
      const r = await this.client.request('room.members', { roomId, offset, limit: MAX_MEMBER_PAGE })
      this.dispatch({ type: 'room.members.page', roomId, offset, members: r.members, memberCount: r.memberCount })
    } catch (err) {
      this.error(err, 'Could not list more members')
    }
  }

  async join(roomId: string, rejoin = false): Promise<boolean> {
    this.stream.joining(roomId)
    try {
      const r = await this.client.request('room.join', { roomId })
      const before = this.state.chat.rooms[roomId]
      const held = before?.messages.length ? before.messages[before.messages.length - 1].seq : 0
      let history = r.history
      // After a reconnect, fetch what was sent while we were away; what cannot be fetched leaves
      // the room flagged as possibly missing messages (the reducer works that out).
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
      this.dispatch({ type: 'room.joined', room: r.room, members: r.members, lastSeq: r.lastSeq, history, memberCount: r.memberCount })
      this.stream.joined(roomId)
      this.restore.delete(roomId)
      this.joinedHere.add(roomId)
      this.rejoinDelayMs = REJOIN_FIRST_MS
      // What the user wrote while the room was being rejoined goes now (the node had refused it:
      // nothing of it was ordered, so sending it again is safe).
      if (rejoin) this.outbox.resendWaiting(roomId)
      return true
    } catch (err) {
      this.stream.joinFailed(roomId)
      const name = this.state.chat.rooms[roomId]?.info.name
      const again = rejoin && PASSING.has((err as { code?: string }).code ?? '')
      if (again) {
        this.restore.add(roomId)
        this.scheduleRejoin()
      }
      this.error(err, `${rejoin ? 'Could not rejoin' : 'Could not join'} ${name ? `“${name}”` : 'the room'}${again ? ' yet (trying again)' : ''}`, noticeKey.join(roomId))
      return false
    }
  }

  /** Try again the rejoins that failed for a passing reason, with a doubling delay. */
  private scheduleRejoin(): void {
    if (this.rejoinTimer !== null) return
    const delay = this.rejoinDelayMs
    this.rejoinDelayMs = Math.min(REJOIN_MAX_MS, delay * 2)
    this.rejoinTimer = setTimeout(() => {
      this.rejoinTimer = null
      // While disconnected, the next open rejoins everything in `restore` anyway.
      if (this.state.connection.status !== 'open') return
      for (const id of [...this.restore]) {
        const r = this.state.chat.rooms[id]
        if (!r || this.joinedHere.has(id)) continue
        this.restore.delete(id)
        void this.join(id, true)
      }
    }, delay)
  }

  /** The room is back (or run by a new administrator): rejoin it now if its rejoin had failed. */
  private rejoinNow(roomId: string): void {
    if (this.joinedHere.has(roomId)) return
    if (this.restore.delete(roomId)) void this.join(roomId, true)
  }

  /** A room the user is in whose rejoin after a reconnect has not succeeded yet. */
  private rejoining(roomId: string): boolean {
    return (this.state.chat.rooms[roomId]?.joined ?? false) && !this.joinedHere.has(roomId)
  }

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

  /** The last messages of a room not joined, read-only (room.preview). */
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
      this.stream.closed(roomId)
      this.joinedHere.delete(roomId)
      this.restore.delete(roomId)
      this.dispatch({ type: 'room.left', roomId })
    } catch (err) {
      this.error(err, 'Could not leave the room')
    }
  }

  send(roomId: string, text: string): Promise<void> {
    return this.outbox.send(roomId, text)
  }

  retry(roomId: string, clientMsgId: string): Promise<void> {
    return this.outbox.retry(roomId, clientMsgId)
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

  // --- the cluster view and Settings (cluster-ops.ts) ------------------------------------------

  refreshPeers(): Promise<void> {
    return this.cluster.refreshPeers()
  }

  addPeer(addressOrInvite: string): Promise<PeerInfo> {
    return this.cluster.addPeer(addressOrInvite)
  }

  removePeer(address: string): Promise<void> {
    return this.cluster.removePeer(address)
  }

  loadNodeInfo(): Promise<void> {
    return this.cluster.loadNodeInfo()
  }

  loadStats(): Promise<void> {
    return this.cluster.loadStats()
  }

  loadFaults(): Promise<void> {
    return this.cluster.loadFaults()
  }

  setFaults(change: Omit<RequestInput<'node.faults'>, 'op'>): Promise<Results['node.faults']> {
    return this.cluster.setFaults(change)
  }

  setTrace(on: boolean): Promise<void> {
    return this.cluster.setTrace(on)
  }

  clearTrace(): void {
    this.cluster.clearTrace()
  }

  private noteHistorySource(roomId: string, source: HistorySource): void {
    this.set({ historySource: { ...this.state.historySource, [roomId]: source } })
  }

  dismissReconnectNotice(): void {
    this.set({ connection: { ...this.state.connection, reconnectedMayHaveMissed: false } })
  }

  // --- events ---------------------------------------------------------------------------------

  private onEvent(e: ServerEvent): void {
    switch (e.event) {
      case 'message': {
        const { event: _event, ...m } = e
        this.stream.onMessage(m)
        return
      }
      case 'member.joined':
      case 'member.left':
        this.dispatch({ type: e.event, roomId: e.roomId, user: e.user, nodeId: e.nodeId })
        return
      case 'members.count': {
        this.dispatch({ type: 'members.count', roomId: e.roomId, memberCount: e.memberCount })
        // Back to a size whose joins and leaves come one by one: the list shown may be a page of
        // the large room it was, so it is read again whole.
        const room = this.state.chat.rooms[e.roomId]
        if (room?.joined && e.memberCount <= MAX_MEMBER_PAGE && room.members.length !== e.memberCount) void this.refreshMembers(e.roomId)
        return
      }
      case 'room.created':
        this.dispatch({ type: 'room.created', room: e.room })
        // A remembered room the directory did not list yet (gossip after a restart): rejoin it now.
        if (this.restore.delete(e.room.roomId)) void this.join(e.room.roomId, true)
        return
      case 'room.deleted':
        this.stream.closed(e.roomId)
        this.joinedHere.delete(e.roomId)
        this.restore.delete(e.roomId)
        this.dispatch({ type: 'room.deleted', roomId: e.roomId })
        return
      case 'room.unavailable':
      case 'room.available':
        this.dispatch({ type: e.event, roomId: e.roomId, reason: e.reason })
        if (e.event === 'room.available') {
          this.stream.cameBackAvailable(e.roomId)
          this.outbox.resendWaiting(e.roomId)
          this.rejoinNow(e.roomId)
        }
        return
      case 'room.admin_changed':
        this.dispatch({ type: 'room.admin_changed', roomId: e.roomId, adminNodeId: e.adminNodeId, adminNodeName: e.adminNodeName, term: e.term, reason: e.reason })
        this.outbox.resendWaiting(e.roomId)
        this.rejoinNow(e.roomId)
        return
      case 'peer.status':
        this.cluster.peerStatus(e)
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
        this.cluster.pushTrace(e)
        return
    }
  }
}
