/**
 * The transport contract (main/cluster/transport.ts), one suite run against both implementations:
 * gRPC streams on real ports and real time, and the in-memory network on a virtual clock. What
 * peer-links.ts relies on is checked the same way for both, so the simulator runs the node on a
 * network that behaves as the real one does.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryNetwork } from '../../main/cluster/memory-transport'
import { msg, type DecodedMessage, type Hello } from '../../main/cluster/peer-messages'
import { PeerTransport } from '../../main/cluster/peer-transport'
import { LinkRefused, type PeerLink, type Transport, type TransportHandlers } from '../../main/cluster/transport'
import { ClusterCredentials, newNodeKeyPem } from '../../main/cluster/cluster-credentials'
import { CLUSTER_KEY } from '../helpers/cluster'
import { VirtualClock } from '../../main/cluster/virtual-clock'

interface Endpoint {
  transport: Transport
  address: string
  hello: Hello
  /** What arrived, by the sender's node id, in order. */
  received: { from: string; m: DecodedMessage }[]
  inboundHellos: { hello: Hello; remoteHost: string | undefined }[]
  /** Set to refuse the next links with this reason. */
  refuse: string | undefined
}

interface Harness {
  /** A node's transport, listening. */
  endpoint(name: string): Promise<Endpoint>
  /** An address nobody listens on. */
  deadAddress(): Promise<string>
  /** Let time pass until `cond` holds (or fail after `ms` of the harness's time). */
  until(cond: () => boolean, ms?: number): Promise<void>
  /** Let `ms` of the harness's time pass. */
  pass(ms: number): Promise<void>
  /** Wait for `p`, letting the harness's time pass meanwhile. */
  settle<T>(p: Promise<T>): Promise<T>
  close(): Promise<void>
}

function helloOf(name: string, address: string): Hello {
  return { self: { nodeId: `id-${name}`, name, address }, incarnation: `inc-${name}`, known: [], rooms: [], protocol: 1 }
}

/** An endpoint whose transport and address are filled in once it listens. */
function blank(): Endpoint {
  return { transport: undefined as unknown as Transport, address: '', hello: helloOf('', ''), received: [], inboundHellos: [], refuse: undefined }
}

function handlersFor(ep: () => Endpoint): TransportHandlers {
  return {
    hello: () => ep().hello,
    inboundHello: (hello, remoteHost) => {
      if (ep().refuse) throw new Error(ep().refuse)
      ep().inboundHellos.push({ hello, remoteHost })
    },
    inbound: (from, messages) => {
      for (const m of messages) ep().received.push({ from, m })
    },
  }
}

function grpcHarness(): Harness {
  const transports: Transport[] = []
  const until = async (cond: () => boolean, ms = 10_000) => {
    const end = Date.now() + ms
    while (!cond()) {
      if (Date.now() > end) throw new Error('condition not met in time')
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  return {
    async endpoint(name) {
      const ep = blank()
      // Over gRPC a node's id is the hash of its key (docs/security.md): each endpoint has its own.
      const creds = new ClusterCredentials(CLUSTER_KEY, newNodeKeyPem())
      const t = new PeerTransport(handlersFor(() => ep), () => creds)
      transports.push(t)
      const port = await t.listen('127.0.0.1', 0)
      const hello = helloOf(name, `127.0.0.1:${port}`)
      return Object.assign(ep, { transport: t, address: `127.0.0.1:${port}`, hello: { ...hello, self: { ...hello.self, nodeId: creds.nodeId } } })
    },
    async deadAddress() {
      const t = new PeerTransport(handlersFor(() => undefined as unknown as Endpoint), () => new ClusterCredentials(CLUSTER_KEY, newNodeKeyPem()))
      const port = await t.listen('127.0.0.1', 0)
      await t.close()
      return `127.0.0.1:${port}`
    },
    until,
    pass: (ms) => new Promise((r) => setTimeout(r, ms)),
    settle: (p) => p,
    async close() {
      await Promise.all(transports.map((t) => t.close()))
    },
  }
}

function memoryHarness(): Harness {
  const clock = new VirtualClock(1_000_000)
  const net = new MemoryNetwork({ clock, latencyMs: () => 3 })
  let hostN = 0
  return {
    async endpoint(name) {
      const ep = blank()
      const t = net.transport(handlersFor(() => ep))
      const host = `10.0.0.${++hostN}`
      const port = await t.listen(host, 7000)
      return Object.assign(ep, { transport: t, address: `${host}:${port}`, hello: helloOf(name, `${host}:${port}`) })
    },
    async deadAddress() {
      return '10.0.9.9:7000'
    },
    async until(cond, ms = 10_000) {
      const end = clock.now() + ms
      while (!cond()) {
        if (clock.now() >= end) throw new Error('condition not met in time')
        await clock.advance(5)
      }
    },
    pass: (ms) => clock.advance(ms),
    async settle(p) {
      let done = false
      const watched = p.finally(() => (done = true))
      watched.catch(() => {})
      for (let i = 0; i < 10_000 && !done; i++) await clock.advance(5)
      return watched
    },
    async close() {},
  }
}

/** Open a link from `a` to `b`, recording its downs. */
function link(a: Endpoint, b: Endpoint): { l: PeerLink; downs: string[] } {
  const downs: string[] = []
  const l = a.transport.newLink(b.address, (_link, reason) => downs.push(reason))
  return { l, downs }
}

const implementations: [string, () => Harness][] = [
  ['gRPC', grpcHarness],
  ['in-memory network', memoryHarness],
]

describe.each(implementations)('transport contract: %s', (_name, make) => {
  let h: Harness
  afterEach(async () => {
    await h?.close()
  })

  it('a dialer gets the dialed node’s Hello; the dialed node gets the dialer’s, with its host', async () => {
    h = make()
    const a = await h.endpoint('a')
    const b = await h.endpoint('b')
    const { l } = link(a, b)
    expect(l.up).toBe(false)
    const got = await h.settle(l.open(a.hello, 5000))
    expect(got.self).toEqual(b.hello.self)
    expect(got.incarnation).toBe('inc-b')
    expect(l.up).toBe(true)
    expect(l.peer?.self.nodeId).toBe(b.hello.self.nodeId)
    expect(b.inboundHellos).toHaveLength(1)
    expect(b.inboundHellos[0].hello.self).toEqual(a.hello.self)
    expect(b.inboundHellos[0].remoteHost).toBe(a.address.slice(0, a.address.lastIndexOf(':')))
  })

  it('delivers every message once, in the order written, decoded with `body`, batched into frames', async () => {
    h = make()
    const a = await h.endpoint('a')
    const b = await h.endpoint('b')
    const { l } = link(a, b)
    await h.settle(l.open(a.hello, 5000))
    for (let i = 1; i <= 500; i++) l.send(msg('heartbeat', { sentAt: i }))
    const text = 'héllo, wörld'
    l.send(msg('deliver', { roomId: 'r1', messages: [{ roomId: 'r1', seq: 7, user: 'ann', nodeId: 'id-a', text, sentAt: 1234, clientMsgId: 'c-1' }] }))
    await h.until(() => b.received.length === 501)
    expect(b.received.every((r) => r.from === a.hello.self.nodeId)).toBe(true)
    expect(b.received.slice(0, 500).map((r) => (r.m.body === 'heartbeat' ? r.m.heartbeat.sentAt : -1))).toEqual(Array.from({ length: 500 }, (_, i) => i + 1))
    const last = b.received[500].m
    expect(last.body).toBe('deliver')
    if (last.body !== 'deliver') return
    expect(last.deliver.roomId).toBe('r1')
    expect(last.deliver.messages).toEqual([{ roomId: 'r1', seq: 7, user: 'ann', nodeId: 'id-a', text, sentAt: 1234, clientMsgId: 'c-1' }])
    expect(l.messagesWritten).toBe(501)
    expect(l.framesWritten).toBeGreaterThan(0)
    expect(l.framesWritten).toBeLessThan(100)
    await h.pass(50)
    expect(b.received).toHaveLength(501)
  })

  it('a refused Hello rejects open with LinkRefused, nothing is delivered, and onDown runs once', async () => {
    h = make()
    const a = await h.endpoint('a')
    const b = await h.endpoint('b')
    b.refuse = 'not in this cluster'
    const { l, downs } = link(a, b)
    const err = await h.settle(l.open(a.hello, 5000)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LinkRefused)
    expect((err as LinkRefused).code).toBe('bad_hello')
    expect((err as LinkRefused).message).toContain('not in this cluster')
    l.send(msg('heartbeat', { sentAt: 1 }))
    await h.pass(100)
    expect(l.up).toBe(false)
    expect(b.received).toHaveLength(0)
    expect(downs).toHaveLength(1)
  })

  it('a link to an address nobody listens on is refused as unreachable', async () => {
    h = make()
    const a = await h.endpoint('a')
    const { l, downs } = link(a, { address: await h.deadAddress() } as Endpoint)
    const err = await h.settle(l.open(a.hello, 5000)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LinkRefused)
    expect((err as LinkRefused).code).toBe('unreachable')
    expect(l.up).toBe(false)
    await h.until(() => downs.length === 1)
  })

  it('closing a link drops what is queued, says why once, and ignores later sends', async () => {
    h = make()
    const a = await h.endpoint('a')
    const b = await h.endpoint('b')
    const { l, downs } = link(a, b)
    await h.settle(l.open(a.hello, 5000))
    l.close('removed by the user')
    l.close('again')
    l.send(msg('heartbeat', { sentAt: 1 }))
    await h.pass(100)
    expect(downs).toEqual(['removed by the user'])
    expect(l.up).toBe(false)
    expect(b.received).toHaveLength(0)
  })

  it('drainAndEnd writes what is queued before the link ends', async () => {
    h = make()
    const a = await h.endpoint('a')
    const b = await h.endpoint('b')
    const { l, downs } = link(a, b)
    await h.settle(l.open(a.hello, 5000))
    for (let i = 1; i <= 20; i++) l.send(msg('heartbeat', { sentAt: i }))
    l.send(msg('leaving', { reason: 'node stopping' }))
    await h.settle(l.drainAndEnd(2000))
    await h.until(() => b.received.length === 21)
    expect(b.received[20].m.body).toBe('leaving')
    expect(l.up).toBe(false)
    expect(downs).toHaveLength(1)
  })

  it('a newer link from the same node ends the older one (its dialer hears onDown)', async () => {
    h = make()
    const a = await h.endpoint('a')
    const b = await h.endpoint('b')
    const first = link(a, b)
    await h.settle(first.l.open(a.hello, 5000))
    const second = link(a, b)
    await h.settle(second.l.open(a.hello, 5000))
    await h.until(() => first.downs.length === 1)
    expect(first.l.up).toBe(false)
    expect(second.l.up).toBe(true)
    second.l.send(msg('heartbeat', { sentAt: 42 }))
    await h.until(() => b.received.length === 1)
    expect(second.downs).toHaveLength(0)
  })

  it('closing the dialed transport ends the links to it', async () => {
    h = make()
    const a = await h.endpoint('a')
    const b = await h.endpoint('b')
    const { l, downs } = link(a, b)
    await h.settle(l.open(a.hello, 5000))
    await b.transport.close()
    await h.until(() => downs.length === 1)
    expect(l.up).toBe(false)
  })
})

describe('in-memory network faults', () => {
  async function pair() {
    const clock = new VirtualClock(0)
    const net = new MemoryNetwork({ clock, latencyMs: () => 2, breakAfterMs: 10_000 })
    const eps: Endpoint[] = []
    for (const name of ['a', 'b']) {
      const ep = blank()
      const t = net.transport(handlersFor(() => ep))
      const host = name === 'a' ? '10.0.0.1' : '10.0.0.2'
      await t.listen(host, 7000)
      eps.push(Object.assign(ep, { transport: t, address: `${host}:7000`, hello: helloOf(name, `${host}:7000`) }))
    }
    const [a, b] = eps
    const ab = link(a, b)
    const opened = ab.l.open(a.hello, 5000)
    await clock.advance(10)
    await opened
    const seqs = () => b.received.map((r) => (r.m.body === 'heartbeat' ? r.m.heartbeat.sentAt : -1))
    return { clock, net, a, b, ab, seqs }
  }

  it('a partition holds frames back and delivers them in order, none lost, when healed in time', async () => {
    const { clock, net, a, b, ab, seqs } = await pair()
    ab.l.send(msg('heartbeat', { sentAt: 1 }))
    await clock.advance(10)
    net.partition(a.address, b.address)
    ab.l.send(msg('heartbeat', { sentAt: 2 }))
    ab.l.send(msg('heartbeat', { sentAt: 3 }))
    await clock.advance(5000)
    expect(seqs()).toEqual([1])
    net.heal()
    await clock.advance(10)
    expect(seqs()).toEqual([1, 2, 3])
    expect(ab.downs).toEqual([])
  })

  it('a partition that outlasts the keepalive breaks the link, losing what it held', async () => {
    const { clock, net, a, b, ab, seqs } = await pair()
    net.partition(a.address, b.address)
    ab.l.send(msg('heartbeat', { sentAt: 1 }))
    await clock.advance(10_100)
    expect(ab.downs).toHaveLength(1)
    expect(ab.downs[0]).toMatch(/keepalive/)
    net.heal()
    await clock.advance(100)
    expect(seqs()).toEqual([])
  })

  it('a one-way partition silences one direction only', async () => {
    const { clock, net, a, b, ab, seqs } = await pair()
    const ba = link(b, a)
    net.blockOneWay(b.address, a.address)
    // b's answer to a's handshake and b's own frames are held; a's frames to b still arrive.
    const opened = ba.l.open(b.hello, 1000).catch((e: unknown) => e)
    ab.l.send(msg('heartbeat', { sentAt: 9 }))
    await clock.advance(1500)
    expect(seqs()).toEqual([9])
    expect(await opened).toBeInstanceOf(LinkRefused)
    expect(a.received).toHaveLength(0)
  })

  it('a paused receiver gets what was sent to it when it resumes', async () => {
    const { clock, net, b, ab, seqs } = await pair()
    net.pause(b.address)
    ab.l.send(msg('heartbeat', { sentAt: 1 }))
    await clock.advance(3000)
    expect(seqs()).toEqual([])
    net.resume(b.address)
    await clock.advance(5)
    expect(seqs()).toEqual([1])
  })

  it('delay slows a direction without reordering a link', async () => {
    const { clock, net, a, b, ab, seqs } = await pair()
    ab.l.send(msg('heartbeat', { sentAt: 1 }))
    await clock.advance(0)
    net.setDelay(a.address, b.address, 500)
    ab.l.send(msg('heartbeat', { sentAt: 2 }))
    await clock.advance(0)
    net.setDelay(a.address, b.address, 0)
    ab.l.send(msg('heartbeat', { sentAt: 3 }))
    await clock.advance(100)
    expect(seqs()).toEqual([1])
    await clock.advance(500)
    expect(seqs()).toEqual([1, 2, 3])
  })

  it('a crash resets the links to the dead node; nothing reaches it afterwards', async () => {
    const { clock, net, b, ab, seqs } = await pair()
    net.crash(b.address)
    ab.l.send(msg('heartbeat', { sentAt: 1 }))
    await clock.advance(10)
    expect(ab.downs).toHaveLength(1)
    expect(seqs()).toEqual([])
  })
})

