/**
 * The ordered send streams of main/node/send-streams.ts against a stand-in administrator that does
 * what a real one does to forwards and joins (docs/ordering.md §2): it handles messages in the order
 * they were written on the link, numbers sends of members, bounces sends of non-members with
 * not_member, and answers in that order, a frame later. The stand-in is the peer on the other side of
 * the link, not one of the node's own components.
 */
import { describe, expect, it } from 'vitest'
import type { Bodies, PeerMessage } from '../../main/cluster/peer-messages'
import { systemClock } from '../../main/cluster/clock'
import { SendStreams } from '../../main/node/send-streams'

type Body = Record<string, unknown> & { reqId: number }

class StandInAdministrator {
  members = new Set<string>()
  lastSeq = 0
  /** What it ordered: clientMsgId by seq. */
  readonly ordered: string[] = []
  private readonly queue: { m: PeerMessage; answer: (body: unknown) => void; onReply?: (body: unknown) => void }[] = []

  /** The link: FIFO; the administrator handles what was written so far, in one frame, later. */
  request = <T>(_nodeId: string, build: (reqId: number) => PeerMessage, _timeoutMs?: number, onReply?: (body: T) => void): Promise<T> =>
    new Promise<T>((resolve) => {
      this.queue.push({ m: build(this.queue.length + 1), answer: resolve as (b: unknown) => void, onReply: onReply as ((b: unknown) => void) | undefined })
      setTimeout(() => this.handleFrame(), 1)
    })

  private handleFrame(): void {
    for (const { m, answer, onReply } of this.queue.splice(0)) {
      const [kind, body] = Object.entries(m)[0] as [string, Body]
      let reply: unknown
      if (kind === 'joinRequest') {
        this.members.add(String(body.user))
        reply = { reqId: body.reqId, error: null, room: null, members: [], lastSeq: this.lastSeq, history: [] } satisfies Bodies['joinReply']
      } else if (kind === 'forwardSend') {
        if (!this.members.has(String(body.user))) {
          reply = { reqId: body.reqId, error: { code: 'not_member', message: 'dropped' }, seq: 0 } satisfies Bodies['sendAck']
        } else {
          this.ordered.push(String(body.clientMsgId))
          reply = { reqId: body.reqId, error: null, seq: ++this.lastSeq } satisfies Bodies['sendAck']
        }
      } else throw new Error(`unexpected ${kind}`)
      onReply?.(reply)
      answer(reply)
    }
  }
}

function streamsOn(admin: StandInAdministrator) {
  const joined: number[] = []
  const streams = new SendStreams({
    request: admin.request,
    isMember: () => true,
    joined: (_roomId, _admin, lastSeq) => joined.push(lastSeq),
    log: () => {},
    clock: systemClock,
  })
  return { streams, joined }
}

const send = (streams: SendStreams, clientMsgId: string, delayMs = 0) =>
  streams.forward({ adminNodeId: 'n1', roomId: 'r', user: 'alice', text: clientMsgId, clientMsgId, delayMs })

describe('send streams: one ordered stream per (room, user)', () => {
  it('pipelined sends of a member are ordered as sent', async () => {
    const admin = new StandInAdministrator()
    admin.members.add('alice')
    const { streams } = streamsOn(admin)
    const seqs = await Promise.all(['a', 'b', 'c', 'd'].map((id) => send(streams, id)))
    expect(seqs).toEqual([1, 2, 3, 4])
    expect(admin.ordered).toEqual(['a', 'b', 'c', 'd'])
    expect(streams.pending('r', 'alice')).toBe(0)
  })

  it('sends bounced while the user was dropped are resent behind one join, before anything sent later', async () => {
    const admin = new StandInAdministrator()
    const { streams, joined } = streamsOn(admin) // alice was dropped: not a member
    const first = ['a', 'b', 'c'].map((id) => send(streams, id))
    // A rejoin of alice (her node resyncing) goes out while a, b and c are still unanswered, and
    // the client keeps typing: d and e must not be ordered before the resends of a, b and c.
    void streams.requestJoin('n1', 'r', 'alice')
    const later = ['d', 'e'].map((id) => send(streams, id))
    const seqs = await Promise.all([...first, ...later])
    expect(admin.ordered).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(seqs).toEqual([1, 2, 3, 4, 5])
    expect(joined).toEqual([]) // the rejoin above was ahead of them: no extra join needed
  })

  it('a bounce with no join after it sends one join, then the resend, then the rest', async () => {
    const admin = new StandInAdministrator()
    const { streams, joined } = streamsOn(admin)
    const seqs = await Promise.all(['a', 'b'].map((id) => send(streams, id)))
    expect(admin.ordered).toEqual(['a', 'b'])
    expect(seqs).toEqual([1, 2])
    expect(joined).toEqual([0])
  })

  it('a user that left is not joined again: the bounce is the answer', async () => {
    const admin = new StandInAdministrator()
    const streams = new SendStreams({ request: admin.request, isMember: () => false, joined: () => {}, log: () => {}, clock: systemClock })
    await expect(send(streams, 'a')).rejects.toMatchObject({ code: 'not_member' })
    expect(admin.members.size).toBe(0)
  })

  it('the delayForwardMs fault holds the stream: lowering the delay never lets a later send overtake', async () => {
    const admin = new StandInAdministrator()
    admin.members.add('alice')
    const { streams } = streamsOn(admin)
    const slow = send(streams, 'slow', 80)
    const fast = send(streams, 'fast', 0)
    expect(await Promise.all([slow, fast])).toEqual([1, 2])
    expect(admin.ordered).toEqual(['slow', 'fast'])
  })
})
