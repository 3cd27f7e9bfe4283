/**
 * The client protocol (docs/client-protocol.md §3–§5): the one contract between a
 * peer node and its clients (the renderer, a browser tab, the CLI tests, bots).
 *
 * Typed once, here: every request is a zod schema, and the TypeScript types are inferred from it, so
 * the gateway that validates a frame and the renderer that builds one cannot disagree. This module
 * imports nothing but zod so that both the Node side and the browser bundle can use it.
 */
import { z } from 'zod'

// In a page, zod must not probe `new Function` for its JIT: the page's CSP forbids eval, and the
// probe alone logs a CSP violation on every load (docs/ui.md, "No eval"). Node keeps the JIT (the
// gateway validates every frame with these schemas).
if ('document' in globalThis) z.config({ jitless: true })

export const PROTOCOL_VERSION = 1
/** Largest frame a node accepts (section 3); bigger frames close the socket with 1009. */
export const MAX_FRAME_BYTES = 64 * 1024
export const MAX_TEXT_CHARS = 4000
export const MAX_ROOM_NAME_CHARS = 64
export const MAX_USER_CHARS = 32
/** A node's name (`--name`, its Hello): the same rules as user and room names (section 7). */
export const MAX_NODE_NAME_CHARS = 64
export const MAX_HISTORY_LIMIT = 200
/** Most messages a `room.preview` returns (the last ones of the room). */
export const MAX_PREVIEW_LIMIT = 50
/**
 * Large rooms (section 5, "Large rooms"): past this many members a `largeRooms` connection hears
 * `members.count` instead of every `member.joined` / `member.left` (each join announced to every
 * member made building a room of N cost N² events), and its `room.join` lists the first
 * MAX_MEMBER_PAGE members with the count. A node may be started with another threshold.
 */
export const LARGE_ROOM_MEMBERS = 500
/** Most members in one page: a `largeRooms` connection's `room.join`, and `room.members` with `limit`. */
export const MAX_MEMBER_PAGE = 500

// ---------------------------------------------------------------------------------------------
// Error codes (section 3)

export const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'not_found',
  'not_member',
  'forbidden',
  'conflict',
  'room_unavailable',
  'room_busy',
  'too_large',
  'rate_limited',
  'timeout',
  'unreachable',
  'internal',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

/** What a person should read for each code when the node gave no better message (the UI uses it). */
export const ERROR_TEXT: Record<ErrorCode, string> = {
  bad_request: 'The request was not valid.',
  unauthorized: 'Not signed in to this node.',
  not_found: 'That room or peer does not exist (any more).',
  not_member: 'You are not a member of that room: join it first.',
  forbidden: 'You are not allowed to do that.',
  conflict: 'That conflicts with the current state.',
  room_unavailable: "The room's administrator node is unreachable; try again when it is back.",
  room_busy: 'The room is frozen while its deletion is being decided.',
  too_large: 'That is too large.',
  rate_limited: 'Too many requests; slow down.',
  timeout: 'The other node did not answer in time.',
  unreachable: 'Nobody answers at that address.',
  internal: 'Something went wrong inside the node.',
}

// ---------------------------------------------------------------------------------------------
// Shared value schemas

const requestId = z.union([z.string().max(128), z.number().finite()])

// ---------------------------------------------------------------------------------------------
// Names (section 7): users, rooms and nodes are Unicode text without control characters, without
// bidirectional overrides (which make "ad\u202Enim" display as another name) and not made only of
// invisible characters; NFC-normalised and trimmed, so that one name has one spelling.

/** C0/C1 controls (NUL, newline, ESC, ...), line and paragraph separators. */
const CONTROL_RE = /[\p{Cc}\u2028\u2029]/u
/** Bidirectional embeddings, overrides, isolates and marks. */
const BIDI_RE = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/
/** Characters that draw nothing: format characters (zero-width space, joiners...), spaces, fillers, combining marks. */
const INVISIBLE_RE = /^[\p{Cf}\p{Z}\p{M}\u115F\u1160\u3164\uFFA0\u2800\s]*$/u

export function normalizeName(s: string): string {
  return s.normalize('NFC').trim()
}

/** Why `s` (already normalised) is not an acceptable name, or undefined when it is. */
export function nameProblem(s: string, maxChars: number): string | undefined {
  if (s.length === 0) return 'must not be empty'
  if (s.length > maxChars) return `must be at most ${maxChars} characters`
  if (CONTROL_RE.test(s)) return 'must not contain control characters'
  if (BIDI_RE.test(s)) return 'must not contain bidirectional override characters'
  if (INVISIBLE_RE.test(s)) return 'must contain a visible character'
  return undefined
}

/** A name field: normalised, then checked (the same rule for clients and for peers). */
export function nameSchema(maxChars: number) {
  return z
    .string()
    .max(maxChars * 4 + 64)
    .transform(normalizeName)
    .superRefine((s, ctx) => {
      const problem = nameProblem(s, maxChars)
      if (problem) ctx.addIssue({ code: 'custom', message: `name ${problem}` })
    })
}

/** A node name as given (`--name`, desktop settings): normalised, or why it cannot be one. */
export function checkNodeName(raw: string): { name: string } | { problem: string } {
  const name = normalizeName(raw)
  const problem = nameProblem(name, MAX_NODE_NAME_CHARS)
  return problem === undefined ? { name } : { problem }
}

/** The creator of the default room every node makes ("<node> lobby"): no user may take it. */
export const SYSTEM_USER = 'system'
const userName = nameSchema(MAX_USER_CHARS).refine((s) => s.toLowerCase() !== SYSTEM_USER, { message: `"${SYSTEM_USER}" is reserved` })
const roomId = z.string().min(1).max(128)
/** `host:port`, where host is a name, an IPv4 address or a bracketed IPv6 address. */
export const PEER_ADDRESS_RE =
  /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?):(\d{1,5})$/

export function isPeerAddress(s: string): boolean {
  const m = PEER_ADDRESS_RE.exec(s.trim())
  if (!m) return false
  const port = Number(m[1])
  return port >= 1 && port <= 65535
}

const address = z
  .string()
  .max(300)
  .refine(isPeerAddress, { message: 'address must be host:port with a port from 1 to 65535' })

/**
 * The cluster key (section 7): 16 to 256 printable ASCII characters without spaces (a generated key
 * is 43 characters of base64url).
 */
export function isClusterKey(s: string): boolean {
  return /^[\x21-\x7e]{16,256}$/.test(s)
}

/**
 * An invite (section 7): a peer address and the cluster key in one string to copy and paste,
 * `dsg1://HOST:PORT/KEY`.
 */
export const INVITE_PREFIX = 'dsg1://'

export function formatInvite(address: string, clusterKey: string): string {
  return `${INVITE_PREFIX}${address}/${clusterKey}`
}

export function parseInvite(s: string): { address: string; clusterKey: string } | undefined {
  const t = s.trim()
  if (!t.startsWith(INVITE_PREFIX)) return undefined
  const rest = t.slice(INVITE_PREFIX.length)
  const slash = rest.indexOf('/')
  if (slash < 0) return undefined
  const addr = rest.slice(0, slash)
  const key = rest.slice(slash + 1)
  return isPeerAddress(addr) && isClusterKey(key) ? { address: addr, clusterKey: key } : undefined
}

const invite = z
  .string()
  .max(600)
  .refine((s) => parseInvite(s) !== undefined, { message: `an invite is ${INVITE_PREFIX}HOST:PORT/KEY` })

// ---------------------------------------------------------------------------------------------
// Requests (section 4): one discriminated union on `op`.

export const RequestSchema = z.discriminatedUnion('op', [
  z.object({
    id: requestId,
    op: z.literal('hello'),
    user: userName,
    /** Extension: the client accepts `messages` events (several messages of a room in one frame). */
    batch: z.boolean().optional(),
    /**
     * Extension: the client takes large rooms as counts (client-protocol.md §5, "Large rooms"): a
     * page of members in room.join, `members.count` instead of every join and leave.
     */
    largeRooms: z.boolean().optional(),
  }),
  z.object({ id: requestId, op: z.literal('rooms.list') }),
  z.object({ id: requestId, op: z.literal('room.create'), name: nameSchema(MAX_ROOM_NAME_CHARS) }),
  z.object({ id: requestId, op: z.literal('room.join'), roomId }),
  z.object({ id: requestId, op: z.literal('room.leave'), roomId }),
  z.object({
    id: requestId,
    op: z.literal('room.members'),
    roomId,
    /** Extension: one page of the sorted member list (client-protocol.md §4); without `limit`, all of it. */
    offset: z.number().int().min(0).max(1_000_000).optional(),
    limit: z.number().int().min(1).max(MAX_MEMBER_PAGE).optional(),
  }),
  z.object({
    id: requestId,
    op: z.literal('message.send'),
    roomId,
    text: z.string().min(1).max(MAX_TEXT_CHARS),
    clientMsgId: z.string().min(1).max(128),
  }),
  z.object({ id: requestId, op: z.literal('room.delete'), roomId }),
  z.object({
    id: requestId,
    op: z.literal('history.fetch'),
    roomId,
    beforeSeq: z.number().int().positive().optional(),
    limit: z.number().int().min(1).max(MAX_HISTORY_LIMIT).optional(),
  }),
  z.object({ id: requestId, op: z.literal('peers.list') }),
  // `address` or `invite` (section 7), exactly one (checked by the node: a refinement here would
  // take this op out of the discriminated union's fast path for every frame).
  z.object({ id: requestId, op: z.literal('peers.add'), address: address.optional(), invite: invite.optional() }),
  z.object({ id: requestId, op: z.literal('peers.remove'), address }),
  // Extensions (not in the base contract): opt-in protocol trace for the cluster view, and the
  // node's own description for the Settings screen.
  z.object({ id: requestId, op: z.literal('trace.subscribe'), on: z.boolean().default(true) }),
  z.object({ id: requestId, op: z.literal('node.info') }),
  /** Read-only look at a room's last messages before joining it (docs/client-protocol.md §4, room.preview). */
  z.object({ id: requestId, op: z.literal('room.preview'), roomId, limit: z.number().int().min(1).max(MAX_PREVIEW_LIMIT).optional() }),
  /** Counters of this node's peer links: how well batching works, what is queued for whom. */
  z.object({ id: requestId, op: z.literal('node.stats') }),
  /** Rooms in the shared history archive (docs/archive.md); `bad_request` on a node without --db. */
  z.object({ id: requestId, op: z.literal('archive.rooms') }),
  /** Fault injection for teaching demos; refused with `forbidden` unless the node runs with --allow-faults. */
  z.object({
    id: requestId,
    op: z.literal('node.faults'),
    voteAbort: z.boolean().optional(),
    pauseBeforeDecisionMs: z.number().int().min(0).max(600_000).optional(),
    /** Forwarded sends wait this long before leaving (to catch them "in flight" during a PREPARE). */
    delayForwardMs: z.number().int().min(0).max(60_000).optional(),
    /** Drop all traffic with these peers (ids, names or addresses); [] heals the partition. */
    partition: z.array(z.string().min(1).max(300)).max(100).optional(),
  }),
])
export type Request = z.infer<typeof RequestSchema>

/**
 * The hot path for the commonest frame (docs/benchmarks.md): a well-formed `message.send` checked
 * field by field, without the schema's intermediate objects. It accepts exactly what RequestSchema
 * accepts for this op and returns the same value; anything else (another op, any bad field) returns
 * undefined, and the caller validates with RequestSchema, so errors come from one place only. Lengths
 * are UTF-16 units here and code points in the schema: a string within its limit in units is within
 * it in code points, and one over it (characters outside the BMP) is left to the schema.
 */
export function parseSendFast(raw: Record<string, unknown>): Extract<Request, { op: 'message.send' }> | undefined {
  if (raw.op !== 'message.send') return undefined
  const { id, roomId, text, clientMsgId } = raw
  if (!((typeof id === 'string' && id.length <= 128) || (typeof id === 'number' && Number.isFinite(id)))) return undefined
  if (typeof roomId !== 'string' || roomId.length < 1 || roomId.length > 128) return undefined
  if (typeof text !== 'string' || text.length < 1 || text.length > MAX_TEXT_CHARS) return undefined
  if (typeof clientMsgId !== 'string' || clientMsgId.length < 1 || clientMsgId.length > 128) return undefined
  return { id, op: 'message.send', roomId, text, clientMsgId }
}
export type Op = Request['op']
export type RequestOf<O extends Op> = Extract<Request, { op: O }>
/** What a client sends: a request without its id (the client library adds it). */
export type RequestInput<O extends Op> = Omit<z.input<typeof RequestSchema> & { op: O }, 'id'>

// ---------------------------------------------------------------------------------------------
// Values in results and events

export interface RoomInfo {
  roomId: string
  name: string
  adminNodeId: string
  adminNodeName: string
  memberCount: number
  available: boolean
  joined: boolean
  /** Extension: the user who created the room (only they may delete it). */
  /** The creator: a user is a name on a node (section 7). A node's default room: `system` on that node. */
  createdBy: { user: string; nodeId: string }
  /** Extension: true while a two-phase deletion holds the room frozen. */
  frozen?: boolean
  /**
   * Replicated rooms (client-protocol.md §8): the nodes holding the room's log, administrator
   * first ([] or 1 node: not replicated), and the administrator's term.
   */
  replicas?: string[]
  term?: number
}

export interface Member {
  user: string
  nodeId: string
}

export interface ChatMessage {
  roomId: string
  seq: number
  user: string
  nodeId: string
  text: string
  sentAt: number
  clientMsgId: string
}

export type PeerState = 'alive' | 'suspect' | 'dead'

export interface PeerInfo {
  nodeId: string
  name: string
  address: string
  state: PeerState
  lastSeenMs: number
}

export interface SelfInfo {
  nodeId: string
  name: string
  address: string
  /** This node's address and the cluster key in one string (section 7): what a new peer pastes. */
  invite?: string
}

/** Where a history answer came from: the node's own log, or the shared database archive. */
export type HistorySource = 'embedded' | 'database'

/** The shared history archive of a node started with --db (docs/archive.md). */
export interface ArchiveInfo {
  /** The database URL with its password hidden. */
  url: string
  state: 'connecting' | 'ok' | 'down'
  /** Committed messages not yet in the database ("archive behind by N messages"). */
  behind: number
  /** Messages written since the node started. */
  archived: number
  /** Commit-to-database time of the last message written, ms. */
  lagMs: number
  lastError?: string
}

export interface ArchivedRoomInfo {
  roomId: string
  name: string
  createdBy: string
  adminNodeId: string
  adminNodeName: string
  createdAt: number
  /** Highest seq in the archive. */
  lastSeq: number
}

export type DeletionPhase = 'prepare' | 'commit' | 'abort'
export type Vote = 'ready' | 'abort' | 'pending'

// ---------------------------------------------------------------------------------------------
// Results, per op

export interface Results {
  hello: {
    nodeId: string
    nodeName: string
    user: string
    protocol: number
    /**
     * Extension: the rooms this user had joined on this node (kept in its data dir across reloads and
     * restarts, left only by room.leave), still existing, in the order joined. The client rejoins them.
     */
    joinedRooms?: string[]
    /** Extension: true when this node will send `messages` events to this connection (it asked). */
    batch?: boolean
    /** Extension: true when this connection gets large rooms as counts (it asked; §5, "Large rooms"). */
    largeRooms?: boolean
  }
  'rooms.list': { rooms: RoomInfo[] }
  'room.create': { room: RoomInfo }
  'room.join': {
    room: RoomInfo
    members: Member[]
    lastSeq: number
    history: ChatMessage[]
    /** Extension: 'database' when part of the history came from the archive. */
    historySource?: HistorySource
    /**
     * Extension: how many members the room has. To a `largeRooms` connection `members` is then at
     * most the first MEMBER_PAGE of them (sorted by user, then node); to others it is all of them.
     */
    memberCount?: number
  }
  'room.leave': Record<string, never>
  'room.preview': { room: RoomInfo; messages: ChatMessage[] }
  /** `memberCount` (extension): the whole room's, whatever page `members` is. */
  'room.members': { members: Member[]; memberCount?: number }
  'message.send': { seq: number }
  'room.delete': { outcome: 'committed' | 'aborted'; reason?: string }
  /** `source` (extension): where the messages came from. */
  'history.fetch': { messages: ChatMessage[]; source?: HistorySource }
  'peers.list': { self: SelfInfo; peers: PeerInfo[] }
  'peers.add': { peer: PeerInfo }
  'peers.remove': Record<string, never>
  'trace.subscribe': { on: boolean }
  'node.info': {
    self: SelfInfo
    /** Addresses lab mates can type to join this node (the grpc address plus LAN guesses). */
    joinAddresses: string[]
    ws: string
    heartbeatMs: number
    suspectMs: number
    deadMs: number
    /** The node accepts `node.faults` (started with --allow-faults): the UI may offer fault buttons. */
    allowFaults: boolean
    /** The history archive, when the node runs with --db. */
    archive?: ArchiveInfo
  }
  'node.stats': {
    uptimeMs: number
    /** Per outbound link since it opened: gRPC frames written, peer messages in them, still queued. */
    links: { nodeId: string; name: string; up: boolean; framesSent: number; messagesSent: number; queued: number }[]
    archive?: ArchiveInfo
    /**
     * The node process's memory in bytes (Node's process.memoryUsage()): what its RSS is made of,
     * V8's heap against buffers outside it (docs/benchmarks.md, "Scale").
     */
    memory?: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number }
  }
  'archive.rooms': { rooms: ArchivedRoomInfo[] }
  'node.faults': { voteAbort: boolean; pauseBeforeDecisionMs: number; delayForwardMs: number; partitionedFrom: string[] }
}

export interface ErrorBody {
  code: ErrorCode
  message: string
}

export type Reply<O extends Op = Op> =
  | { id: string | number | null; ok: true; result: Results[O] }
  | { id: string | number | null; ok: false; error: ErrorBody }

// ---------------------------------------------------------------------------------------------
// Events (section 5), plus the opt-in `trace` event

export type TraceKind =
  | 'forward'
  | 'seq'
  | 'deliver'
  | 'join'
  | 'leave'
  | 'heartbeat'
  | 'peer'
  | '2pc'
  | 'gossip'
  | 'gap'

export type ServerEvent =
  | ({ event: 'message' } & ChatMessage)
  /**
   * Extension, only to a connection whose hello said `batch: true`: consecutive messages of one room,
   * ascending in seq, that arrived together at the node; the same as that many `message` events.
   */
  | { event: 'messages'; roomId: string; messages: ChatMessage[] }
  | { event: 'member.joined'; roomId: string; user: string; nodeId: string }
  | { event: 'member.left'; roomId: string; user: string; nodeId: string }
  /**
   * Extension, only to a connection whose hello said `largeRooms: true`, in a room of more than
   * LARGE_ROOM_MEMBERS members: how many members it has now, instead of each join and leave; at most
   * one a second per room (client-protocol.md §5, "Large rooms").
   */
  | { event: 'members.count'; roomId: string; memberCount: number }
  | { event: 'room.created'; room: RoomInfo }
  | { event: 'room.deleted'; roomId: string }
  | { event: 'room.unavailable'; roomId: string; reason: string }
  | { event: 'room.available'; roomId: string; reason: string }
  /** client-protocol.md §8: a replica took the room over (reason: the old administrator died or left). */
  | { event: 'room.admin_changed'; roomId: string; adminNodeId: string; adminNodeName: string; term: number; reason: string }
  | { event: 'peer.status'; nodeId: string; name: string; address: string; state: PeerState }
  | {
      event: 'deletion'
      roomId: string
      phase: DeletionPhase
      votes: Record<string, Vote>
      reason?: string
    }
  | ({ event: 'archive.status' } & ArchiveInfo)
  | { event: 'trace'; at: number; kind: TraceKind; text: string; roomId?: string; peer?: string }

export type EventName = ServerEvent['event']
export type EventOf<E extends EventName> = Extract<ServerEvent, { event: E }>

/** Any frame a node sends to a client. */
export type ServerFrame = Reply | ServerEvent
