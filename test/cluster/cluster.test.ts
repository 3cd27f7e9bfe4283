/**
 * The cluster with real node processes (docs/peer-protocol.md): transitive discovery, the shared
 * directory, joins through the administrator, and the ordering guarantees of docs/client-protocol.md
 * section 6 under pipelined load from several clients on several nodes.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Client, cleanup, eventually, startCluster, startNode, type NodeProc } from '../helpers/cluster'


afterAll(cleanup)

/**
 * Nothing in this file kills or pauses a node: a detector that tolerates a loaded two-core machine
 * (a node busy ordering hundreds of pipelined sends was silent for 1.3 s there, and declared dead
 * with the 1200 ms of failure.test.ts, which fails the sends in flight as it should).
 */
const STEADY = { heartbeatMs: 250, suspectMs: 2500, deadMs: 5000 }

/** Every client saw the same messages, seq 1..n with no gap or duplicate, and each sender's FIFO. */
function checkDelivery(clients: Client[], roomId: string, total: number, acks: Map<string, number>) {
  const reference = clients[0].messages(roomId)
  expect(reference.length).toBe(total)
  const firstSeq = reference[0].seq
  for (const c of clients) {
    const got = c.messages(roomId)
    expect(got.length).toBe(total)
    got.forEach((m, i) => expect(m.seq).toBe(firstSeq + i)) // rises by exactly 1
    expect(got.map((m) => `${m.seq}:${m.clientMsgId}`)).toEqual(reference.map((m) => `${m.seq}:${m.clientMsgId}`))
    // Each sender's messages appear in the order it sent them (clientMsgId carries the index).
    const bySender = new Map<string, number[]>()
    for (const m of got) {
      const [sender, idx] = m.clientMsgId.split('#')
      bySender.set(sender, [...(bySender.get(sender) ?? []), Number(idx)])
    }
    for (const order of bySender.values()) expect(order).toEqual([...order].sort((a, b) => a - b))
    // The seq a sender was told is the seq everyone got.
    for (const m of got) expect(acks.get(m.clientMsgId)).toBe(m.seq)
  }
}

/** Each client pipelines `count` sends without waiting, then all acks are awaited. */
async function pipeline(clients: Client[], names: string[], roomId: string, count: number): Promise<Map<string, number>> {
  const acks = new Map<string, number>()
  const all: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    clients.forEach((c, k) => {
      const clientMsgId = `${names[k]}#${i}`
      all.push(c.call('message.send', { roomId, text: `${names[k]} says ${i}`, clientMsgId }).then((r) => void acks.set(clientMsgId, r.seq)))
    })
  }
  await Promise.all(all)
  return acks
}

describe('three nodes', () => {
  let nodes: NodeProc[]
  const clients: Client[] = []
  const names = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay']
  let roomId = ''

  it('n2 and n3 that joined only n1 discover each other', async () => {
    nodes = await startCluster(3, STEADY)
    for (const n of nodes) {
      const c = await Client.as(n.ready, `watcher-${n.ready.name}`)
      const others = nodes.filter((o) => o !== n).map((o) => o.ready.nodeId).sort()
      await eventually(async () => {
        const { peers } = await c.call('peers.list')
        const alive = peers.filter((p) => p.state === 'alive').map((p) => p.nodeId).sort()
        return JSON.stringify(alive) === JSON.stringify(others)
      }, 10_000, `${n.ready.name} to see both others alive`)
      const { self } = await c.call('peers.list')
      expect(self.nodeId).toBe(n.ready.nodeId)
      c.close()
    }
  })

  it('a room created on n3 reaches every directory and every client', async () => {
    for (let i = 0; i < 6; i++) clients.push(await Client.as(nodes[i % 3].ready, names[i]))
    const { room } = await clients[2].call('room.create', { name: 'distributed systems' })
    roomId = room.roomId
    expect(room.adminNodeId).toBe(nodes[2].ready.nodeId)
    for (const c of clients) await c.event('room.created', (e) => e.room.roomId === roomId)
    for (const c of clients) {
      const { rooms } = await c.call('rooms.list')
      const listed = rooms.find((r) => r.roomId === roomId)
      expect(listed).toMatchObject({ name: 'distributed systems', adminNodeName: 'n3', available: true })
      // Every node's default room is listed everywhere too.
      expect(new Set(rooms.map((r) => r.adminNodeName))).toEqual(new Set(['n1', 'n2', 'n3']))
    }
  })

  it('joins from every node go through the administrator, which answers members everywhere', async () => {
    for (const [i, c] of clients.entries()) {
      const joined = await c.call('room.join', { roomId })
      expect(joined.members.map((m) => m.user)).toContain(names[i])
      expect(joined.lastSeq).toBe(0)
    }
    // member.joined reached the earliest member for every later joiner, wherever it sits.
    for (const name of names.slice(1)) await clients[0].event('member.joined', (e) => e.roomId === roomId && e.user === name)
    const { members } = await clients[0].call('room.members', { roomId })
    expect(members.map((m) => m.user).sort()).toEqual([...names].sort())
    expect(members.find((m) => m.user === 'ben')!.nodeId).toBe(nodes[1].ready.nodeId)
    const { rooms } = await clients[1].call('rooms.list')
    await eventually(async () => (await clients[1].call('rooms.list')).rooms.find((r) => r.roomId === roomId)?.memberCount === 6)
    expect(rooms.find((r) => r.roomId === roomId)!.joined).toBe(true)
  })

  it('6 clients on 3 nodes pipelining 60 messages each: same order everywhere, no gap, no duplicate', async () => {
    const acks = await pipeline(clients, names, roomId, 60)
    const total = 6 * 60
    await Promise.all(clients.map((c) => c.until(() => c.messages(roomId).length >= total, 20_000, 'all messages')))
    await new Promise((r) => setTimeout(r, 300)) // anything extra (a duplicate) would arrive now
    checkDelivery(clients, roomId, total, acks)
    expect(clients[0].messages(roomId)[0].seq).toBe(1)
    // Fan-out is batched on the long-lived links: the administrator (n3) wrote its peer messages to
    // each member node (acks, and the room's appends and commit points: the member nodes are its
    // replicas and deliver from their copies, docs/replication.md) in far fewer gRPC frames than
    // there were messages, not one call per message.
    const { links } = await clients[2].call('node.stats')
    for (const l of links) {
      expect(l.up).toBe(true)
      expect(l.framesSent, `frames to ${l.name}`).toBeLessThan(total / 2)
      expect(l.messagesSent / l.framesSent, `batching to ${l.name}`).toBeGreaterThan(1.5)
      console.log(`[cluster] n3 -> ${l.name}: ${l.messagesSent} peer messages in ${l.framesSent} frames (${(l.messagesSent / l.framesSent).toFixed(1)} per frame)`)
    }
  })

  it('a client that says batch: true in hello gets `messages` events under load; one that does not gets only `message`', async () => {
    // On n1 (deliveries arrive from the administrator in gRPC frames) and on n3 (the administrator's
    // own members, batched per turn): a batching client and an old one on each.
    const watchers: { c: Client; batch: boolean }[] = []
    for (const [k, batch] of [[0, true], [0, false], [2, true], [2, false]] as const) {
      const c = await Client.connect(nodes[k].ready)
      const hello = await c.call('hello', { user: `watch${watchers.length}`, ...(batch ? { batch: true } : {}) })
      expect(hello.batch ?? false).toBe(batch)
      await c.call('room.join', { roomId })
      watchers.push({ c, batch })
    }
    const acks = await pipeline(clients, names.map((n) => `${n}-b`), roomId, 40) // new clientMsgIds, not resends
    const lastSeq = Math.max(...acks.values())
    const seqsOf = (c: Client) =>
      c.events.flatMap((e) => (e.event === 'message' && e.roomId === roomId ? [e.seq] : e.event === 'messages' && e.roomId === roomId ? e.messages.map((m) => m.seq) : []))
    for (const { c } of watchers) await c.until(() => seqsOf(c).at(-1) === lastSeq, 20_000, 'the last message')
    await new Promise((r) => setTimeout(r, 300)) // anything extra (a duplicate) would arrive now
    const first = lastSeq - 6 * 40 + 1
    const want = Array.from({ length: 6 * 40 }, (_, i) => first + i)
    for (const [i, { c, batch }] of watchers.entries()) {
      expect(seqsOf(c), `watcher ${i}: every seq once, in order`).toEqual(want)
      const batches = c.events.filter((e) => e.event === 'messages')
      if (batch) {
        expect(batches.length, `watcher ${i} got batches`).toBeGreaterThan(0)
        expect(Math.max(...batches.map((b) => (b.event === 'messages' ? b.messages.length : 0))), `watcher ${i}`).toBeGreaterThan(1)
        // A batch is the same as its `message` events: every field of every message is there.
        const b = batches[0]
        if (b.event === 'messages') for (const m of b.messages) expect(m).toEqual(expect.objectContaining({ roomId, seq: expect.any(Number), user: expect.any(String), nodeId: expect.any(String), text: expect.any(String), clientMsgId: expect.any(String), sentAt: expect.any(Number) }))
      } else expect(batches, `old client ${i} never sees a messages event`).toEqual([])
    }
    for (const { c } of watchers) c.close()
  })

  it('trace events reach only the sessions that subscribed, until they unsubscribe', async () => {
    const watcher = await Client.as(nodes[2].ready, 'tracer')
    const bystander = await Client.as(nodes[2].ready, 'bystander')
    expect(await watcher.call('trace.subscribe', { on: true })).toEqual({ on: true })
    const { seq } = await clients[0].call('message.send', { roomId, text: 'traced', clientMsgId: 'ann-traced' })
    await watcher.event('trace', (e) => e.kind === 'seq' && e.roomId === roomId && e.text.startsWith(`seq ${seq} `))
    expect(await watcher.call('trace.subscribe', { on: false })).toEqual({ on: false })
    const seen = watcher.events.filter((e) => e.event === 'trace').length
    const after = await clients[0].call('message.send', { roomId, text: 'untraced', clientMsgId: 'ann-untraced' })
    await Promise.all(clients.map((c) => c.until(() => c.messages(roomId).some((m) => m.seq === after.seq))))
    await new Promise((r) => setTimeout(r, 200))
    expect(watcher.events.filter((e) => e.event === 'trace').length).toBe(seen)
    expect(bystander.events.filter((e) => e.event === 'trace')).toEqual([])
    watcher.close()
    bystander.close()
  })

  it('a resent clientMsgId returns the same seq and delivers nothing new, across nodes', async () => {
    const before = clients.map((c) => c.messages(roomId).length)
    const first = await clients[1].call('message.send', { roomId, text: 'once', clientMsgId: 'ben-once' })
    await Promise.all(clients.map((c, i) => c.until(() => c.messages(roomId).length === before[i] + 1)))
    const again = await clients[1].call('message.send', { roomId, text: 'once', clientMsgId: 'ben-once' })
    expect(again.seq).toBe(first.seq)
    // The same member (user and node) on a second connection, e.g. after a reconnect, gets the same answer.
    const benAgain = await Client.as(nodes[1].ready, 'ben')
    await benAgain.call('room.join', { roomId })
    const third = await benAgain.call('message.send', { roomId, text: 'once', clientMsgId: 'ben-once' })
    expect(third.seq).toBe(first.seq)
    const probe = await clients[0].call('message.send', { roomId, text: 'after', clientMsgId: 'ann-after' })
    expect(probe.seq).toBe(first.seq + 1)
    await Promise.all(clients.map((c, i) => c.until(() => c.messages(roomId).length === before[i] + 2)))
    // A sender is a member (user, node): a "ben" on n3 is another person, whose ids are his own.
    const otherBen = await Client.as(nodes[2].ready, 'ben')
    await otherBen.call('room.join', { roomId })
    const theirs = await otherBen.call('message.send', { roomId, text: 'my own once', clientMsgId: 'ben-once' })
    expect(theirs.seq).toBe(first.seq + 2)
    await Promise.all(clients.map((c, i) => c.until(() => c.messages(roomId).length === before[i] + 3)))
    benAgain.close()
    otherBen.close()
    for (const c of clients) {
      const once = c.messages(roomId).filter((m) => m.clientMsgId === 'ben-once')
      expect(once.map((m) => [m.seq, m.nodeId])).toEqual([
        [first.seq, nodes[1].ready.nodeId],
        [first.seq + 2, nodes[2].ready.nodeId],
      ])
    }
  })

  it('member.left reaches the members on other nodes; the leaver stops receiving', async () => {
    await clients[5].call('room.leave', { roomId })
    await clients[0].event('member.left', (e) => e.roomId === roomId && e.user === 'fay')
    await clients[1].event('member.left', (e) => e.roomId === roomId && e.user === 'fay')
    const count = clients[5].messages(roomId).length
    await clients[0].call('message.send', { roomId, text: 'fay is gone', clientMsgId: 'ann-gone' })
    await clients[4].until(() => clients[4].messages(roomId).some((m) => m.clientMsgId === 'ann-gone'))
    expect(clients[5].messages(roomId).length).toBe(count)
    expect(await clients[5].fails('message.send', { roomId, text: 'x', clientMsgId: 'fay-x' })).toBe('not_member')
  })

  it('peers.add: itself is bad_request "that is this node", a second time is harmless, nonsense is bad_request', async () => {
    const c = await Client.as(nodes[1].ready, 'admin')
    const self = await c.reply('peers.add', { address: nodes[1].ready.grpc })
    expect(self.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/is this node/) })
    const again = await c.call('peers.add', { address: nodes[0].ready.grpc })
    expect(again.peer).toMatchObject({ nodeId: nodes[0].ready.nodeId, state: 'alive' })
    expect(await c.fails('peers.add', { address: 'no-port' })).toBe('bad_request')
    expect(await c.fails('peers.add', { address: '127.0.0.1:70000' })).toBe('bad_request')
    const { peers } = await c.call('peers.list')
    expect(peers.map((p) => p.nodeId).sort()).toEqual([nodes[0].ready.nodeId, nodes[2].ready.nodeId].sort())
    c.close()
  })
})

describe('five nodes joined in a chain', () => {
  it('everyone finds everyone, and a room on the middle node orders messages for all five', async () => {
    // n2 joins n1, n3 joins n2, ... : discovery must be transitive over more than one hop.
    const nodes: NodeProc[] = [await startNode({ name: 'c1', timing: STEADY })]
    for (let i = 2; i <= 5; i++) nodes.push(await startNode({ name: `c${i}`, join: [nodes[i - 2].ready.grpc], timing: STEADY }))
    const clients = await Promise.all(nodes.map((n, i) => Client.as(n.ready, `user${i + 1}`)))
    for (const [i, c] of clients.entries()) {
      await eventually(async () => {
        const { peers } = await c.call('peers.list')
        return peers.filter((p) => p.state === 'alive').length === 4
      }, 15_000, `c${i + 1} to see 4 peers alive`)
    }
    const { room } = await clients[2].call('room.create', { name: 'five' })
    for (const c of clients) {
      await c.event('room.created', (e) => e.room.roomId === room.roomId)
      await c.call('room.join', { roomId: room.roomId })
    }
    const names = clients.map((_, i) => `user${i + 1}`)
    const acks = await pipeline(clients, names, room.roomId, 50)
    await Promise.all(clients.map((c) => c.until(() => c.messages(room.roomId).length >= 250, 20_000, '250 messages')))
    checkDelivery(clients, room.roomId, 250, acks)
    for (const c of clients) expect((await c.call('rooms.list')).rooms).toHaveLength(6) // 5 lobbies + five
    // Five start-ups one after the other (each needs the address of the one before): over 10 s each on
    // a loaded two-core machine.
  }, 180_000)
})
