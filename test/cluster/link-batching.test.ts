/**
 * Adaptive batching of peer links (docs/peer-protocol.md §1): when a link writes its next frame.
 * First the policy on a fake clock (every case, exactly), then the same on a real gRPC link, with a
 * window long enough that only the policy, not the machine's speed, decides what is seen.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { FrameScheduler, weightOf, type BatchingClock } from '../../main/cluster/link-batching'
import { PeerTransport } from '../../main/cluster/peer-transport'
import { msg, type DecodedMessage, type Hello } from '../../main/cluster/peer-messages'
import type { PeerLink } from '../../main/cluster/transport'
import { ClusterCredentials, newNodeKeyPem } from '../../main/cluster/cluster-credentials'
import { CLUSTER_KEY } from '../helpers/cluster'

/** A clock whose time moves only when told; "the end of the turn" runs when the test says so. */
function fakeClock() {
  let now = 0
  let endOfTurn: (() => void)[] = []
  let timers: { at: number; fn: () => void; id: number }[] = []
  let nextId = 1
  const clock: BatchingClock = {
    now: () => now,
    soon: (fn) => void endOfTurn.push(fn),
    later: (fn, ms) => {
      const id = nextId++
      timers.push({ at: now + ms, fn, id })
      return id
    },
    cancel: (id) => void (timers = timers.filter((t) => t.id !== id)),
  }
  return {
    clock,
    /** End the current turn of the event loop: what waits for it runs. */
    endTurn() {
      const run = endOfTurn
      endOfTurn = []
      for (const fn of run) fn()
    },
    /** Let `ms` pass, running the timers that fall due (each in a turn of its own). */
    advance(ms: number) {
      const end = now + ms
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0]
        if (!due) break
        timers = timers.filter((t) => t !== due)
        now = due.at
        due.fn()
        this.endTurn()
      }
      now = end
    },
    get pendingTimers() {
      return timers.length
    },
  }
}

/** A link stand-in: a queue the scheduler's flush empties into frames, as OutboundLink's does. */
function fakeLink(windowMs: number, flushAt: number) {
  const c = fakeClock()
  const frames: { at: number; messages: number }[] = []
  let queued = 0
  const s = new FrameScheduler(
    () => {
      if (queued === 0) return
      frames.push({ at: c.clock.now(), messages: queued })
      queued = 0
      s.wrote()
    },
    { windowMs, flushAt },
    c.clock,
  )
  return {
    c,
    frames,
    s,
    send(n = 1) {
      for (let i = 0; i < n; i++) s.queued(++queued)
    },
    /** One turn of the node that queues `n` messages on the link: the scheduler sees its end. */
    turn(n = 1) {
      this.send(n)
      c.endTurn()
    },
  }
}

/** A link (8 ms window, flushAt 32) that wrote a frame of one message at 0 and is now 1 ms into its window. */
function busyLink() {
  const l = fakeLink(8, 32)
  l.turn()
  l.c.advance(1)
  return l
}

describe('adaptive batching policy (fake clock)', () => {
  it('an idle link writes a lone message at the end of the turn, not after the window', () => {
    const l = fakeLink(8, 32)
    l.send()
    expect(l.frames).toEqual([])
    l.c.endTurn()
    expect(l.frames).toEqual([{ at: 0, messages: 1 }])
    expect(l.c.pendingTimers).toBe(0)
  })

  it('everything one turn queued on an idle link leaves in one frame', () => {
    const l = fakeLink(8, 32)
    l.turn(5)
    expect(l.frames).toEqual([{ at: 0, messages: 5 }])
  })

  it('a busy link holds what it queues until the window after its last frame', () => {
    const l = busyLink()
    l.turn(3)
    expect(l.frames).toHaveLength(1)
    l.c.advance(2)
    l.turn(2)
    l.c.advance(4.9)
    expect(l.frames).toHaveLength(1)
    l.c.advance(0.1)
    expect(l.frames).toEqual([
      { at: 0, messages: 1 },
      { at: 8, messages: 5 },
    ])
  })

  it('a busy link writes at the end of the turn once flushAt messages wait, before the window', () => {
    const l = busyLink()
    l.turn(31)
    expect(l.frames).toHaveLength(1)
    l.send(1)
    expect(l.frames).toHaveLength(1) // not in the middle of the turn that queued it
    l.c.endTurn()
    expect(l.frames).toEqual([
      { at: 0, messages: 1 },
      { at: 1, messages: 32 },
    ])
    // The window's timer was cancelled: nothing more is written when it would have expired.
    expect(l.c.pendingTimers).toBe(0)
    l.c.advance(20)
    expect(l.frames).toHaveLength(2)
  })

  it('a link quiet for a window is idle again; window 0 never lingers', () => {
    const l = fakeLink(8, 32)
    l.turn()
    l.c.advance(8)
    l.turn()
    expect(l.frames.map((f) => f.at)).toEqual([0, 8])
    const off = fakeLink(0, 32)
    off.turn()
    off.turn()
    expect(off.frames).toHaveLength(2)
  })

  it('under a steady load frames fill on size when the rate is high and on the window when it is not', () => {
    // One message every 0.1 ms (10k/s): frames of flushAt messages, well before the window.
    const fast = fakeLink(8, 32)
    for (let i = 0; i < 1000; i++) {
      fast.turn()
      fast.c.advance(0.1)
    }
    const full = fast.frames.slice(1)
    expect(full.every((f) => f.messages === 32)).toBe(true)
    // One every 1 ms (1k/s): one frame per window, of about 8 messages.
    const slow = fakeLink(8, 32)
    for (let i = 0; i < 200; i++) {
      slow.turn()
      slow.c.advance(1)
    }
    expect(slow.frames.length).toBeGreaterThanOrEqual(24)
    expect(slow.frames.length).toBeLessThanOrEqual(27)
    expect(slow.frames.slice(2).every((f) => f.messages === 8)).toBe(true)
  })
})

describe('what a queued message counts for', () => {
  it('the chat messages it carries, at least 1', () => {
    const entry = (seq: number) => ({ term: 1, message: { roomId: 'r1', seq, user: 'ann', nodeId: 'id-a', text: 'x', sentAt: 1, clientMsgId: `c-${seq}` } })
    const append = (n: number) => msg('roomAppend', { roomId: 'r1', term: 1, leader: 'id-a', prevSeq: 0, prevTerm: 0, entries: Array.from({ length: n }, (_, i) => entry(i + 1)), commitSeq: 0, meta: null })
    expect(weightOf(append(5))).toBe(5)
    expect(weightOf(append(0))).toBe(1) // a commit notice
    expect(weightOf(msg('deliver', { roomId: 'r1', messages: [entry(1).message, entry(2).message] }))).toBe(2)
    expect(weightOf(msg('heartbeat', { sentAt: 1 }))).toBe(1)
  })
})

describe('adaptive batching on a gRPC link', () => {
  const transports: PeerTransport[] = []
  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close()))
  })

  async function endpoint(name: string, received: DecodedMessage[], batching = { windowMs: 60_000, flushAt: 8 }) {
    const creds = new ClusterCredentials(CLUSTER_KEY, newNodeKeyPem())
    const ours: { hello?: Hello } = {}
    const t = new PeerTransport(
      { hello: () => ours.hello!, inboundHello: () => {}, inbound: (_from, messages) => void received.push(...messages) },
      () => creds,
      { batching },
    )
    transports.push(t)
    const port = await t.listen('127.0.0.1', 0)
    const hello: Hello = { self: { nodeId: creds.nodeId, name, address: `127.0.0.1:${port}` }, incarnation: `inc-${name}`, known: [], rooms: [], protocol: 1 }
    ours.hello = hello
    return { t, hello }
  }
  const endOfTurn = () => new Promise((r) => setImmediate(r))
  const until = async (cond: () => boolean) => {
    const end = Date.now() + 10_000
    while (!cond()) {
      if (Date.now() > end) throw new Error('condition not met in time')
      await new Promise((r) => setTimeout(r, 5))
    }
  }

  it('a lone message leaves at the end of its turn; a busy link waits for flushAt messages, then writes at once', async () => {
    const got: DecodedMessage[] = []
    const a = await endpoint('a', [])
    const b = await endpoint('b', got)
    const l: PeerLink = a.t.newLink(b.hello.self.address, () => {})
    await l.open(a.hello, 5000)
    const sentAt = (m: DecodedMessage) => (m.body === 'heartbeat' ? m.heartbeat.sentAt : -1)

    l.send(msg('heartbeat', { sentAt: 1 }))
    expect(l.framesWritten).toBe(0)
    await endOfTurn()
    expect(l.framesWritten).toBe(1) // idle: written at the end of the turn (the window is a minute)
    await until(() => got.length === 1)

    // Busy now (a frame less than a minute ago): 7 messages wait, over several turns.
    for (let i = 2; i <= 8; i++) {
      l.send(msg('heartbeat', { sentAt: i }))
      await endOfTurn()
    }
    await new Promise((r) => setTimeout(r, 100))
    expect(l.framesWritten).toBe(1)
    expect(got).toHaveLength(1)

    // The eighth waiting message fills a frame: it leaves at the end of this turn, not in a minute.
    l.send(msg('heartbeat', { sentAt: 9 }))
    await endOfTurn()
    expect(l.framesWritten).toBe(2)
    expect(l.messagesWritten).toBe(9)
    await until(() => got.length === 9)
    expect(got.map(sentAt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('a peer message carrying several chat messages counts as that many towards the size', async () => {
    const got: DecodedMessage[] = []
    const a = await endpoint('a', [])
    const b = await endpoint('b', got)
    const l: PeerLink = a.t.newLink(b.hello.self.address, () => {})
    await l.open(a.hello, 5000)
    l.send(msg('heartbeat', { sentAt: 1 }))
    await endOfTurn()
    expect(l.framesWritten).toBe(1)
    // Busy: a delivery of 7 messages waits (7 < 8)...
    const wire = (seq: number) => ({ roomId: 'r1', seq, user: 'ann', nodeId: 'id-a', text: `m${seq}`, sentAt: seq, clientMsgId: `c-${seq}` })
    l.send(msg('deliver', { roomId: 'r1', messages: [1, 2, 3, 4, 5, 6, 7].map(wire) }))
    await endOfTurn()
    await new Promise((r) => setTimeout(r, 50))
    expect(l.framesWritten).toBe(1)
    // ...and one more makes 8: the frame leaves at the end of this turn, with both peer messages.
    l.send(msg('deliver', { roomId: 'r1', messages: [wire(8)] }))
    await endOfTurn()
    expect(l.framesWritten).toBe(2)
    expect(l.messagesWritten).toBe(3)
    await until(() => got.length === 2)
    const last = got[1]
    expect(last.body === 'deliver' && last.deliver.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
  })
})
