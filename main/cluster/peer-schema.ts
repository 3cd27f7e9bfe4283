/**
 * Every peer message is checked here, once, as it arrives (docs/security.md, "Authority of peer
 * messages"): the shape of peer.proto as main/cluster/peer-messages.ts declares it, with the same
 * limits as the client protocol (names, text, ids). The schemas are typed against those declarations
 * (`satisfies`), so the two cannot drift apart; nothing past this point casts or patches a field.
 * A message that fails is not handed on: the caller refuses it (a line in the protocol log, and an
 * error reply when it was a request).
 */
import { z } from 'zod'
import {
  MAX_NODE_NAME_CHARS,
  MAX_ROOM_NAME_CHARS,
  MAX_TEXT_CHARS,
  MAX_USER_CHARS,
  SYSTEM_USER,
  isPeerAddress,
  nameProblem,
  nameSchema,
  normalizeName,
} from '../../proto/client-protocol'
import type { BodyName, Bodies, DecodedMessage } from './peer-messages'

/** Bounds of lists: far above what a cluster of a lab uses, far below what would hurt a node. */
const MAX_NODES = 1000
const MAX_ROOMS = 10_000
/** Deleted rooms a Hello or Gossip announces (DELETED_ANNOUNCED in room-directory-sync.ts). */
const MAX_DELETED = 1000
const MAX_MEMBERS = 100_000
const MAX_MESSAGES = 5000

const id = z.string().min(1).max(128)
const optionalText = z.string().max(1000)
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const reqId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const user = nameSchema(MAX_USER_CHARS)
/**
 * The user a request acts for (join, leave, send, delete): a user of the sending node, named as a
 * client may name itself, so not "system", the creator of default rooms (client-protocol.md §7).
 */
const isReserved = (s: string) => s.toLowerCase() === SYSTEM_USER
const requestUser = user.refine((s) => !isReserved(s), { message: `"${SYSTEM_USER}" is reserved` })
const nodeName = nameSchema(MAX_NODE_NAME_CHARS)
const roomName = nameSchema(MAX_ROOM_NAME_CHARS)

const nodeRef = z.object({
  nodeId: id,
  name: nodeName,
  address: z.string().max(300).refine(isPeerAddress, { message: 'not a host:port address' }),
})
const room = z.object({
  roomId: id,
  name: roomName,
  adminNodeId: id,
  adminNodeName: nodeName,
  memberCount: count,
  createdBy: z.object({ user, nodeId: id }),
  frozen: z.boolean(),
  version: count,
  term: count,
  replicas: z.array(id).max(MAX_NODES),
})
const chatMessage = z.object({
  roomId: id,
  seq: count,
  user,
  nodeId: id,
  text: z.string().min(1).max(MAX_TEXT_CHARS),
  sentAt: count,
  clientMsgId: id,
})
const member = z.object({ user, nodeId: id })
const failure = z.object({ code: z.string().max(64), message: optionalText })
const replMeta = z.object({
  term: count,
  version: count,
  replicas: z.array(id).max(MAX_NODES),
  name: roomName,
  createdBy: member,
  createdAt: count,
  members: z.array(member).max(MAX_MEMBERS),
  frozen: z.boolean(),
  deleted: z.string().max(128).optional(),
})

const schemas = {
  hello: z.object({
    self: nodeRef,
    incarnation: z.string().max(128),
    known: z.array(nodeRef).max(MAX_NODES),
    rooms: z.array(room).max(MAX_ROOMS),
    protocol: z.number().int(),
    deleted: z.array(id).max(MAX_DELETED).optional(),
    leaveReplies: z.boolean().optional(),
  }),
  heartbeat: z.object({ sentAt: count }),
  leaving: z.object({ reason: optionalText }),
  gossip: z.object({
    nodes: z.array(nodeRef).max(MAX_NODES),
    rooms: z.array(room).max(MAX_ROOMS),
    ownerComplete: z.boolean().optional(),
    deleted: z.array(id).max(MAX_DELETED).optional(),
  }),
  roomRemoved: z.object({ roomId: id }),
  rejoin: z.object({ reason: optionalText }),
  joinRequest: z.object({ reqId, roomId: id, user: requestUser, memberLimit: count.optional() }),
  joinReply: z.object({
    reqId,
    error: failure.nullable(),
    room: room.nullable(),
    members: z.array(member).max(MAX_MEMBERS),
    lastSeq: count,
    history: z.array(chatMessage).max(MAX_MESSAGES),
  }),
  leaveRequest: z.object({ reqId, roomId: id, user: requestUser }),
  leaveReply: z.object({ reqId, error: failure.nullable() }),
  membersRequest: z.object({ reqId, roomId: id, offset: count.optional(), limit: count.optional() }),
  membersReply: z.object({ reqId, error: failure.nullable(), members: z.array(member).max(MAX_MEMBERS), room: room.nullable() }),
  memberEvent: z.object({ roomId: id, user, nodeId: id, joined: z.boolean() }),
  forwardSend: z.object({ reqId, roomId: id, user: requestUser, text: z.string().min(1).max(MAX_TEXT_CHARS), clientMsgId: id }),
  sendAck: z.object({ reqId, error: failure.nullable(), seq: count }),
  deliver: z.object({ roomId: id, messages: z.array(chatMessage).min(1).max(MAX_MESSAGES) }),
  fetchRange: z.object({ reqId, roomId: id, fromSeq: count, toSeq: count, last: count.optional() }),
  fetchReply: z.object({ reqId, error: failure.nullable(), messages: z.array(chatMessage).max(MAX_MESSAGES) }),
  deleteRequest: z.object({ reqId, roomId: id, user: requestUser }),
  deleteReply: z.object({ reqId, error: failure.nullable(), committed: z.boolean(), reason: optionalText }),
  prepare: z.object({ txId: id, roomId: id, participants: z.array(id).max(MAX_NODES) }),
  vote: z.object({ txId: id, ready: z.boolean(), reason: optionalText }),
  decision: z.object({ txId: id, roomId: id, commit: z.boolean() }),
  decisionAck: z.object({ txId: id }),
  decisionQuery: z.object({ txId: id, roomId: id }),
  decisionAnswer: z.object({ txId: id, known: z.boolean(), commit: z.boolean() }),
  deletionProgress: z.object({
    roomId: id,
    phase: z.enum(['prepare', 'commit', 'abort']),
    votes: z.record(z.string().max(128), z.enum(['ready', 'abort', 'pending'])),
    reason: optionalText,
  }),
  // Replicated rooms (docs/replication.md): who may send them is the replication core's business
  // (terms, leaders); here only their shape.
  roomAppend: z.object({
    roomId: id,
    term: count,
    leader: id,
    prevSeq: count,
    prevTerm: count,
    entries: z.array(z.object({ term: count, message: chatMessage })).max(MAX_MESSAGES),
    commitSeq: count,
    meta: replMeta.nullable(),
    noReply: z.boolean().default(false),
  }),
  roomAppendReply: z.object({ roomId: id, term: count, ok: z.boolean(), matchSeq: count, leader: z.string().max(128), metaTerm: count, metaVersion: count }),
  roomVoteRequest: z.object({ roomId: id, term: count, candidate: id, lastSeq: count, lastTerm: count, transfer: z.boolean() }),
  roomVoteReply: z.object({ roomId: id, term: count, granted: z.boolean(), leader: z.string().max(128), meta: replMeta.nullable() }),
  roomTimeoutNow: z.object({ roomId: id, term: count, vote: z.boolean() }),
} satisfies { [K in BodyName]: z.ZodType<Bodies[K]> }

const BODY_NAMES = new Set<string>(Object.keys(schemas))

function isBodyName(s: unknown): s is BodyName {
  return typeof s === 'string' && BODY_NAMES.has(s)
}

export type Checked = { ok: true; message: DecodedMessage } | { ok: false; body: string; reqId: number | undefined; reason: string }

/** Check one decoded peer message (proto-loader's object: `body` names the oneof member set). */
export function checkPeerMessage(raw: unknown): Checked {
  if (typeof raw !== 'object' || raw === null) return { ok: false, body: 'unknown', reqId: undefined, reason: 'not a message' }
  const r = raw as Record<string, unknown>
  const name = r.body
  if (!isBodyName(name)) return { ok: false, body: String(name ?? 'unknown').slice(0, 40), reqId: undefined, reason: 'no known body' }
  const fast = checkFast(name, r)
  return fast !== undefined ? { ok: true, message: fast } : checkWithSchema(raw)
}

/**
 * The hot path's dispatch: a switch on the body's name with a named load and an object literal per
 * case, so each site sees one shape (docs/benchmarks.md "Inline caches"); `FAST[name](r[name])` and
 * `{ body: name, [name]: v }` were keyed loads and stores over every body's shape.
 */
function checkFast(name: BodyName, r: Record<string, unknown>): DecodedMessage | undefined {
  switch (name) {
    case 'roomAppend': {
      const v = FAST.roomAppend(r.roomAppend)
      return v === undefined ? undefined : { body: 'roomAppend', roomAppend: v }
    }
    case 'roomAppendReply': {
      const v = FAST.roomAppendReply(r.roomAppendReply)
      return v === undefined ? undefined : { body: 'roomAppendReply', roomAppendReply: v }
    }
    case 'forwardSend': {
      const v = FAST.forwardSend(r.forwardSend)
      return v === undefined ? undefined : { body: 'forwardSend', forwardSend: v }
    }
    case 'sendAck': {
      const v = FAST.sendAck(r.sendAck)
      return v === undefined ? undefined : { body: 'sendAck', sendAck: v }
    }
    case 'deliver': {
      const v = FAST.deliver(r.deliver)
      return v === undefined ? undefined : { body: 'deliver', deliver: v }
    }
    case 'heartbeat': {
      const v = FAST.heartbeat(r.heartbeat)
      return v === undefined ? undefined : { body: 'heartbeat', heartbeat: v }
    }
    default:
      return undefined
  }
}

/** checkPeerMessage without the hot path: the schemas alone (what the hot path must agree with). */
export function checkWithSchema(raw: unknown): Checked {
  if (typeof raw !== 'object' || raw === null) return { ok: false, body: 'unknown', reqId: undefined, reason: 'not a message' }
  const r = raw as Record<string, unknown>
  const name = r.body
  if (!isBodyName(name)) return { ok: false, body: String(name ?? 'unknown').slice(0, 40), reqId: undefined, reason: 'no known body' }
  const parsed = schemas[name].safeParse(r[name])
  if (!parsed.success) {
    const fields = r[name] as { reqId?: unknown } | undefined
    const rid = typeof fields?.reqId === 'number' ? fields.reqId : undefined
    const issue = parsed.error.issues[0]
    return { ok: false, body: name, reqId: rid, reason: `${issue?.path.join('.') || name}: ${issue?.message ?? 'invalid'}` }
  }
  return { ok: true, message: { body: name, [name]: parsed.data } as DecodedMessage }
}

// -------------------------------------------------------------------------------------------
// Hot path (docs/benchmarks.md): the messages every chat message crosses (forwarded sends, their
// acknowledgements, deliveries, appends and their replies, heartbeats) are checked by hand, without
// building schema objects, with exactly the schemas' rules and output (the same fields, names
// normalised). Anything the hot path does not accept, including anything it is unsure of (a string
// longer in UTF-16 units than its limit in characters, an append carrying room state, an error),
// goes to the schemas, so a bad message gets the same refusal (test/cluster/peer-schema-fast.test.ts).

type FastName = 'heartbeat' | 'forwardSend' | 'sendAck' | 'deliver' | 'roomAppend' | 'roomAppendReply'

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER
const isId = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 128
const isText = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= MAX_TEXT_CHARS
const USER_RAW_MAX = MAX_USER_CHARS * 4 + 64

/** A user name as nameSchema(MAX_USER_CHARS) gives it (normalised), or undefined. */
function fastUser(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length > USER_RAW_MAX) return undefined
  const s = normalizeName(v)
  return nameProblem(s, MAX_USER_CHARS) === undefined ? s : undefined
}

function fastMessage(v: unknown): Bodies['deliver']['messages'][number] | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const m = v as Record<string, unknown>
  const { roomId, seq, nodeId, text, sentAt, clientMsgId } = m
  if (!isId(roomId) || !isCount(seq) || !isId(nodeId) || !isText(text) || !isCount(sentAt) || !isId(clientMsgId)) return undefined
  const user = fastUser(m.user)
  if (user === undefined) return undefined
  return { roomId, seq, user, nodeId, text, sentAt, clientMsgId }
}

const FAST: { [K in FastName]: (v: unknown) => Bodies[K] | undefined } = {
  heartbeat(v) {
    const sentAt = (v as { sentAt?: unknown } | null)?.sentAt
    return isCount(sentAt) ? { sentAt } : undefined
  },
  forwardSend(v) {
    if (typeof v !== 'object' || v === null) return undefined
    const { reqId, roomId, text, clientMsgId } = v as Record<string, unknown>
    if (!isCount(reqId) || !isId(roomId) || !isText(text) || !isId(clientMsgId)) return undefined
    const user = fastUser((v as Record<string, unknown>).user)
    return user === undefined || isReserved(user) ? undefined : { reqId, roomId, user, text, clientMsgId }
  },
  sendAck(v) {
    if (typeof v !== 'object' || v === null) return undefined
    const { reqId, error, seq } = v as Record<string, unknown>
    return isCount(reqId) && error === null && isCount(seq) ? { reqId, error, seq } : undefined
  },
  deliver(v) {
    if (typeof v !== 'object' || v === null) return undefined
    const { roomId, messages } = v as Record<string, unknown>
    if (!isId(roomId) || !Array.isArray(messages) || messages.length < 1 || messages.length > MAX_MESSAGES) return undefined
    const out: Bodies['deliver']['messages'] = []
    for (const x of messages) {
      const m = fastMessage(x)
      if (!m) return undefined
      out.push(m)
    }
    return { roomId, messages: out }
  },
  roomAppend(v) {
    if (typeof v !== 'object' || v === null) return undefined
    const { roomId, term, leader, prevSeq, prevTerm, entries, commitSeq, meta, noReply = false } = v as Record<string, unknown>
    if (meta !== null || !isId(roomId) || !isCount(term) || !isId(leader) || !isCount(prevSeq) || !isCount(prevTerm) || !isCount(commitSeq)) return undefined
    if (typeof noReply !== 'boolean') return undefined
    if (!Array.isArray(entries) || entries.length > MAX_MESSAGES) return undefined
    const out: Bodies['roomAppend']['entries'] = []
    for (const e of entries) {
      if (typeof e !== 'object' || e === null) return undefined
      const t = (e as { term?: unknown }).term
      const message = fastMessage((e as { message?: unknown }).message)
      if (!isCount(t) || !message) return undefined
      out.push({ term: t, message })
    }
    return { roomId, term, leader, prevSeq, prevTerm, entries: out, commitSeq, meta, noReply }
  },
  roomAppendReply(v) {
    if (typeof v !== 'object' || v === null) return undefined
    const { roomId, term, ok, matchSeq, leader, metaTerm, metaVersion } = v as Record<string, unknown>
    if (!isId(roomId) || !isCount(term) || typeof ok !== 'boolean' || !isCount(matchSeq) || typeof leader !== 'string' || leader.length > 128) return undefined
    return isCount(metaTerm) && isCount(metaVersion) ? { roomId, term, ok, matchSeq, leader, metaTerm, metaVersion } : undefined
  },
}
