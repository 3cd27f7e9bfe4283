/**
 * One ordered stream of forwarded sends per (room, user) of this node (docs/ordering.md, "A sender's
 * sends are one stream"). Guarantee 2 of client-protocol.md §6 (a client's messages appear in the
 * order it sent them) rests on three facts this module keeps true:
 *
 * 1. Forwards of one stream leave in the order the client sent them, pipelined on the one FIFO link
 *    to the administrator, which numbers them in arrival order.
 * 2. A forward the administrator bounced with `not_member` (it dropped our users while it thought
 *    this node dead) is forwarded again after a join, and nothing sent later by the same user may be
 *    forwarded before it. Joins for (room, user) all go through `requestJoin` here, which raises the
 *    stream's fence: forwards queued after a join wait until every forward sent before it has been
 *    answered (and, if bounced, forwarded again behind the join). Since the administrator only
 *    re-admits a user on a join, a bounced forward and any later one of the same stream either both
 *    bounce or are separated by a join the later one waits for.
 * 3. The `delayForwardMs` fault holds the head of the stream, not each send on its own timer, so
 *    changing the delay never lets a later send overtake an earlier one.
 */
import { errorFromPeer } from '../core/errors'
import { msg, type Bodies } from '../cluster/peer-messages'
import type { Clock, Timer } from '../cluster/clock'
import type { PeerLinks } from './peer-links'

export interface SendStreamsComponents {
  request: PeerLinks['request']
  /** Does `user` still have a session in `roomId` on this node (a bounced send is retried only then)? */
  isMember(roomId: string, user: string): boolean
  /** A join reply arrived (synchronously, in order with the deliveries around it). */
  joined(roomId: string, adminNodeId: string, lastSeq: number): void
  log(line: string): void
  readonly clock: Clock
}

export interface ForwardedSend {
  adminNodeId: string
  roomId: string
  user: string
  text: string
  clientMsgId: string
  /** Fault injection: hold this send this long before it may leave (read when the client sent it). */
  delayMs: number
  /** Called when the forward actually leaves (for the protocol log). */
  onForward?: () => void
}

/** A `not_member` bounce is retried at most this many times (the node was dropped again meanwhile). */
const MAX_BOUNCES = 2

interface Entry {
  send: ForwardedSend
  releaseAt: number
  /** The stream's join count when this forward last left: joins after it are ahead of it. */
  fence: number
  bounces: number
  resolve(seq: number): void
  reject(e: Error): void
}

interface Stream {
  key: string
  /** Not yet forwarded, in the order the client sent them. */
  queue: Entry[]
  /** Forwarded and not yet answered, in the order they left. */
  inFlight: Set<Entry>
  /** Joins sent for this (room, user) while the stream existed. */
  joins: number
  timer: Timer | undefined
}

export class SendStreams {
  private readonly streams = new Map<string, Stream>()

  constructor(private readonly c: SendStreamsComponents) {}

  /** Forward a send in its stream; resolves with its seq once the administrator acknowledged it. */
  forward(send: ForwardedSend): Promise<number> {
    const st = this.stream(send.roomId, send.user)
    return new Promise<number>((resolve, reject) => {
      st.queue.push({ send, releaseAt: this.c.clock.now() + send.delayMs, fence: 0, bounces: 0, resolve, reject })
      this.pump(st)
    })
  }

  /**
   * The one way this node asks an administrator to (re)join one of its users: the join is a fence in
   * that user's send stream (see the module comment). `onReply` runs synchronously when the reply
   * arrives, before any message behind it in the same frame.
   */
  requestJoin(adminNodeId: string, roomId: string, user: string, onReply?: (r: Bodies['joinReply']) => void, timeoutMs?: number, memberLimit = 0): Promise<Bodies['joinReply']> {
    const st = this.streams.get(keyOf(roomId, user))
    const reply = this.c.request<Bodies['joinReply']>(adminNodeId, (reqId) => msg('joinRequest', { reqId, roomId, user, memberLimit }), timeoutMs, onReply)
    // request() has written the join (or failed to) by now: every forward that left before it is
    // behind a fence. Counting a join that could not be sent only holds later sends back a little.
    if (st) st.joins++
    return reply
  }

  private stream(roomId: string, user: string): Stream {
    const key = keyOf(roomId, user)
    let st = this.streams.get(key)
    if (!st) this.streams.set(key, (st = { key, queue: [], inFlight: new Set(), joins: 0, timer: undefined }))
    return st
  }

  private pump(st: Stream): void {
    while (st.queue.length > 0) {
      // A join is on the link ahead of a forward still unanswered: later sends wait for that answer
      // (it may be a bounce that must be forwarded again before them). Entries enter inFlight in
      // the order they leave, each with the join count of that moment, so the oldest has the
      // lowest fence: checking it is enough.
      const oldest = st.inFlight.values().next().value
      if (oldest && oldest.fence < st.joins) return
      const head = st.queue[0]
      const wait = head.releaseAt - this.c.clock.now()
      if (wait > 0) {
        if (!st.timer) {
          st.timer = this.c.clock.setTimeout(() => {
            st.timer = undefined
            this.pump(st)
          }, wait)
        }
        return
      }
      st.queue.shift()
      this.send(st, head)
    }
    this.dropIfIdle(st)
  }

  private send(st: Stream, e: Entry): void {
    const f = e.send
    e.fence = st.joins
    st.inFlight.add(e)
    f.onForward?.()
    this.c
      .request<Bodies['sendAck']>(f.adminNodeId, (reqId) =>
        msg('forwardSend', { reqId, roomId: f.roomId, user: f.user, text: f.text, clientMsgId: f.clientMsgId }),
      )
      .then(
        (reply) => this.answered(st, e, reply),
        (err: Error) => this.settle(st, e, err),
      )
  }

  private answered(st: Stream, e: Entry, reply: Bodies['sendAck']): void {
    if (reply.error?.code === 'not_member' && e.bounces < MAX_BOUNCES && this.c.isMember(e.send.roomId, e.send.user)) {
      // The administrator dropped this user while it thought our node dead, and the client never
      // left: join again (idempotent at the administrator) unless a join already left after this
      // forward, then forward it again behind that join, before anything sent later.
      e.bounces++
      st.inFlight.delete(e)
      if (e.fence === st.joins) {
        const f = e.send
        this.requestJoin(f.adminNodeId, f.roomId, f.user, (r) => {
          if (!r.error) this.c.joined(f.roomId, f.adminNodeId, r.lastSeq)
        }).catch((err: Error) => this.c.log(`rejoin ${f.user} to ${f.roomId} before a resend: ${err.message}`))
      }
      this.send(st, e)
      this.pump(st)
      return
    }
    if (reply.error) this.settle(st, e, errorFromPeer(reply.error.code, reply.error.message))
    else this.settle(st, e, undefined, reply.seq)
  }

  private settle(st: Stream, e: Entry, err: Error | undefined, seq = 0): void {
    st.inFlight.delete(e)
    if (err) e.reject(err)
    else e.resolve(seq)
    this.pump(st)
  }

  private dropIfIdle(st: Stream): void {
    if (st.queue.length === 0 && st.inFlight.size === 0 && !st.timer) this.streams.delete(st.key)
  }

  /** Sends still queued or unanswered (for tests of this module and the protocol log). */
  pending(roomId: string, user: string): number {
    const st = this.streams.get(keyOf(roomId, user))
    return st ? st.queue.length + st.inFlight.size : 0
  }
}

function keyOf(roomId: string, user: string): string {
  return `${roomId}\u0000${user}`
}
