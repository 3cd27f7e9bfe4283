/**
 * A history checker for the ordering guarantees (docs/ordering.md; client-protocol.md §6, 1–3):
 * given what every client recorded (its sends and their acks, its join replies, every message event
 * in arrival order), it reports each violation it finds. Pure and independent of how the history was
 * recorded, so real-process tests and the simulator can both feed it.
 *
 * What it checks, per client and room (a "segment" runs from one room.join to the next):
 * - duplicate: a seq shown twice to the client (in history or live);
 * - gap: history + live messages do not rise by exactly 1 (includes a join whose history does not
 *   reach its `lastSeq`, or whose first live message is not `lastSeq + 1`);
 * - fifo: a client's acknowledged sends did not get rising seqs in the order it sent them, or a
 *   receiver saw one sender's messages out of that order;
 * - mismatch: two clients saw different messages under the same seq, or an ack's seq holds another
 *   message;
 * - lost: an acknowledged send that no client in the room ever saw (only with `expectDelivered`).
 */

export interface RecordedMessage {
  roomId: string
  seq: number
  user: string
  nodeId: string
  clientMsgId: string
  text?: string
}

export interface RecordedJoin {
  roomId: string
  /** How many messages the client had received when it sent the join (live messages after it count). */
  at: number
  lastSeq: number
  history: RecordedMessage[]
}

export interface RecordedSend {
  roomId: string
  clientMsgId: string
  /** The ack: ok with its seq, or the error code; neither while unanswered. */
  ok?: boolean
  seq?: number
  code?: string
}

export interface ClientHistory {
  /** A label for reports, e.g. "alice@n2#3" (one per connection). */
  name: string
  /** The sender identity the administrator records: (user, nodeId). */
  user: string
  nodeId: string
  /** Every message event, in arrival order. */
  messages: RecordedMessage[]
  joins: RecordedJoin[]
  /** In the order the client sent them. */
  sends: RecordedSend[]
}

export type ViolationKind = 'duplicate' | 'gap' | 'fifo' | 'mismatch' | 'lost'

export interface Violation {
  kind: ViolationKind
  client: string
  roomId: string
  detail: string
}

export interface CheckOptions {
  /** Every acknowledged send must have reached some client of the room (all stayed to the end). */
  expectDelivered?: boolean
}

function identity(m: RecordedMessage): string {
  return `${m.user}@${m.nodeId}/${m.clientMsgId}`
}

/** Every violation of the ordering guarantees in these histories (empty when they hold). */
export function checkHistories(clients: ClientHistory[], opts: CheckOptions = {}): Violation[] {
  const out: Violation[] = []
  // Per room: seq -> the message under it, as first seen by anyone.
  const bySeq = new Map<string, Map<number, { id: string; by: string }>>()
  const seen = (roomId: string) => {
    let m = bySeq.get(roomId)
    if (!m) bySeq.set(roomId, (m = new Map()))
    return m
  }
  // Per (sender identity, room, clientMsgId): which client sent it and where in its order, counting
  // only sends acknowledged ok (a send that failed and was resent later may land later).
  const sentAt = new Map<string, { by: string; index: number }>()
  for (const c of clients) {
    c.sends.forEach((s, index) => {
      const key = `${c.user}@${c.nodeId}\u0000${s.roomId}\u0000${s.clientMsgId}`
      if (s.ok && !sentAt.has(key)) sentAt.set(key, { by: c.name, index })
    })
  }

  for (const c of clients) {
    const rooms = new Set([...c.messages.map((m) => m.roomId), ...c.joins.map((j) => j.roomId)])
    for (const roomId of rooms) {
      const joins = c.joins.filter((j) => j.roomId === roomId).sort((a, b) => a.at - b.at)
      // Segments: messages before the first join (if any), then from each join to the next.
      const cuts = [0, ...joins.map((j) => j.at), c.messages.length]
      for (let k = 0; k + 1 < cuts.length; k++) {
        const join = k > 0 ? joins[k - 1] : undefined
        const live = c.messages.slice(cuts[k], cuts[k + 1]).filter((m) => m.roomId === roomId)
        const history = join?.history ?? []
        const stream = [...history, ...live]
        const where = join ? `join #${k} (lastSeq ${join.lastSeq}, history ${rangeOf(history)})` : 'before any join'
        const shown = new Set<number>()
        const senderOrder = new Map<string, { index: number; id: string }>()
        for (let i = 0; i < stream.length; i++) {
          const m = stream[i]
          const dup = shown.has(m.seq)
          if (dup) out.push({ kind: 'duplicate', client: c.name, roomId, detail: `seq ${m.seq} (${identity(m)}) shown twice after ${where}` })
          shown.add(m.seq)
          if (i > 0) {
            const p = stream[i - 1].seq
            if (m.seq > p + 1) out.push({ kind: 'gap', client: c.name, roomId, detail: `seq ${p} then ${m.seq} after ${where}` })
            else if (m.seq <= p && !dup) out.push({ kind: 'gap', client: c.name, roomId, detail: `seq went back from ${p} to ${m.seq} after ${where}` })
          }
          const known = seen(roomId).get(m.seq)
          if (!known) seen(roomId).set(m.seq, { id: identity(m), by: c.name })
          else if (known.id !== identity(m)) {
            out.push({ kind: 'mismatch', client: c.name, roomId, detail: `seq ${m.seq} is ${identity(m)} here but ${known.id} at ${known.by}` })
          }
          // Each sender's messages in the order it sent them.
          const sent = sentAt.get(`${m.user}@${m.nodeId}\u0000${roomId}\u0000${m.clientMsgId}`)
          if (sent && !dup) {
            const prev = senderOrder.get(sent.by)
            if (prev && sent.index < prev.index) {
              out.push({ kind: 'fifo', client: c.name, roomId, detail: `${sent.by} sent ${m.clientMsgId} before ${prev.id}, shown after it (seq ${m.seq})` })
            }
            senderOrder.set(sent.by, { index: sent.index, id: m.clientMsgId })
          }
        }
        if (join) {
          const lastHistory = history.length ? history[history.length - 1].seq : undefined
          if (lastHistory !== undefined && lastHistory !== join.lastSeq) {
            out.push({ kind: 'gap', client: c.name, roomId, detail: `join history ends at ${lastHistory} but its lastSeq is ${join.lastSeq}` })
          }
          if (live.length && live[0].seq > join.lastSeq + 1) {
            out.push({ kind: 'gap', client: c.name, roomId, detail: `join lastSeq ${join.lastSeq} but first live message is seq ${live[0].seq}` })
          }
          if (live.length && live[0].seq <= join.lastSeq && !history.some((h) => h.seq === live[0].seq)) {
            out.push({ kind: 'duplicate', client: c.name, roomId, detail: `join lastSeq ${join.lastSeq} already covers live seq ${live[0].seq}` })
          }
        }
      }
    }
  }

  for (const c of clients) {
    // A sender's acknowledged sends get rising seqs in the order it sent them; a resend of an
    // earlier clientMsgId is judged by its first ok ack.
    const acked = new Set<string>()
    const last = new Map<string, { seq: number; id: string }>()
    for (const s of c.sends) {
      if (!s.ok || s.seq === undefined) continue
      const key = `${s.roomId}\u0000${s.clientMsgId}`
      if (acked.has(key)) continue
      acked.add(key)
      const prev = last.get(s.roomId)
      if (prev && s.seq <= prev.seq) {
        out.push({ kind: 'fifo', client: c.name, roomId: s.roomId, detail: `${s.clientMsgId} sent after ${prev.id} but got seq ${s.seq} <= ${prev.seq}` })
      }
      last.set(s.roomId, { seq: s.seq, id: s.clientMsgId })
      const at = bySeq.get(s.roomId)?.get(s.seq)
      const id = `${c.user}@${c.nodeId}/${s.clientMsgId}`
      if (at && at.id !== id) out.push({ kind: 'mismatch', client: c.name, roomId: s.roomId, detail: `ack says ${s.clientMsgId} is seq ${s.seq}, but ${at.by} saw ${at.id} there` })
      if (!at && opts.expectDelivered) out.push({ kind: 'lost', client: c.name, roomId: s.roomId, detail: `${s.clientMsgId} acknowledged as seq ${s.seq}, seen by no client` })
    }
  }
  return out
}

function rangeOf(ms: RecordedMessage[]): string {
  return ms.length ? `${ms[0].seq}..${ms[ms.length - 1].seq}` : 'empty'
}

/** One line per violation kind with a count and the first few details (for a test failure message). */
export function summarize(violations: Violation[], max = 5): string {
  if (violations.length === 0) return 'no violation'
  const byKind = new Map<ViolationKind, Violation[]>()
  for (const v of violations) byKind.set(v.kind, [...(byKind.get(v.kind) ?? []), v])
  return [...byKind]
    .map(([k, vs]) => `${vs.length} ${k}: ${vs.slice(0, max).map((v) => `[${v.client} ${v.roomId.slice(0, 8)}] ${v.detail}`).join('; ')}`)
    .join('\n')
}
