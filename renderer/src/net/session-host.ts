/**
 * What the parts of a client session share (session.ts composes them): the one snapshot the UI
 * shows, and the host each part drives it through. Each part owns one role: the outbox
 * (outbox.ts), the live messages of joined rooms (room-stream.ts), the cluster view's operations
 * (cluster-ops.ts).
 */
import type { ArchiveInfo, ChatMessage, EventOf, HistorySource, PeerInfo, Results, SelfInfo, TraceKind } from '../../../proto/client-protocol'
import type { ChatAction, ChatState } from '../state/chat-state'
import type { ChatClient, SocketStatus } from './chat-client'

/**
 * A line of the protocol log: the node's `trace` events, and this page's own `error` lines (the raw
 * detail of a failure whose notice says it in plain words, docs/ui.md, "Errors").
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

export interface RoomPreview {
  messages: ChatMessage[]
  loading: boolean
  error?: string
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
  /** room.preview answers for rooms not joined (docs/client-protocol.md §4), by roomId. */
  previews: Record<string, RoomPreview>
  /** The node's history archive (--db, docs/archive.md): last archive.status event or node.stats. */
  archive?: ArchiveInfo
  /** Where each room's last history answer came from (only nodes with --db say), by roomId. */
  historySource?: Record<string, HistorySource>
}

/** What a part of the session may do: read the snapshot, change it, talk to the node. */
export interface SessionHost {
  readonly client: ChatClient
  state(): SessionState
  set(patch: Partial<SessionState>): void
  dispatch(action: ChatAction): void
  now(): number
  /** An error notice in plain words, and its raw detail in the protocol log. */
  error(err: unknown, what: string, key?: string): void
}
