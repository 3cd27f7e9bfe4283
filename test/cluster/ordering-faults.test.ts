/**
 * The ordering guarantees under faults (docs/ordering.md; client-protocol.md §6, 1 and 2), with real
 * node processes and clients that record everything they send and see. Each schedule repeats its
 * fault several times in one test, so a race between a fault and the traffic has several chances to
 * show, and every client's full history is audited by test/helpers/history-check.ts: no seq shown
 * twice, +1 at every step (join history included), each sender's order kept, nothing acknowledged
 * lost.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, eventually, pauseNode, restartNode, startCluster, type NodeProc } from '../helpers/cluster'
import { checkHistories, summarize } from '../helpers/history-check'
import { RecordedClient } from '../helpers/recorded-client'

afterEach(cleanup)

/** Short timings so each fault and its recovery take a second or two. */
const TIMING = { heartbeatMs: 150, suspectMs: 450, deadMs: 900 }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function lobbyOf(c: RecordedClient, node: NodeProc): Promise<string> {
  const r = await eventually(async () => (await c.client.call('rooms.list')).rooms.find((x) => x.adminNodeId === node.ready.nodeId && x.available), 15_000, `room of ${node.ready.name}`)
  return r.roomId
}

/** Every node's own links to the others are up (an answer to a peer is sent on the answerer's link). */
async function meshUp(clients: RecordedClient[], peers: number): Promise<void> {
  for (const c of clients) {
    await eventually(async () => (await c.client.call('node.stats')).links.filter((l) => l.up).length >= peers, 15_000, `${c.name}'s node linked to its peers`)
  }
}

/** A client typing steadily: a send every `everyMs`, at most `window` unanswered. */
function typing(c: RecordedClient, roomId: string, everyMs: number, window = Infinity): { stop: () => Promise<void> } {
  let running = true
  let i = 0
  const loop = (async () => {
    while (running) {
      if (c.pending() < window) void c.send(roomId, `${c.name}-${++i}`)
      await sleep(everyMs)
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
    },
  }
}

/** Two nodes, alice on n1 and bob on n2, both in the room of node `admin` (0: n1, 1: n2). */
async function aliceAndBob(admin: 0 | 1): Promise<{ nodes: NodeProc[]; alice: RecordedClient; bob: RecordedClient; roomId: string }> {
  const nodes = await startCluster(2, TIMING)
  const alice = await RecordedClient.as(nodes[0].ready, 'alice')
  const bob = await RecordedClient.as(nodes[1].ready, 'bob')
  await meshUp([alice, bob], 1)
  const roomId = await lobbyOf(alice, nodes[admin])
  await alice.join(roomId)
  await bob.join(roomId)
  return { nodes, alice, bob, roomId }
}

/** Every send answered, then every receiver shown everything acknowledged; then audit all histories. */
async function audit(roomId: string, senders: RecordedClient[], receivers: RecordedClient[], all: RecordedClient[]): Promise<void> {
  for (const c of senders) await c.settled(20_000)
  const top = Math.max(0, ...senders.flatMap((c) => c.acked().map((s) => s.seq!)))
  for (const r of receivers) await r.client.until(() => r.lastShown(roomId) >= top, 10_000, `${r.name} shown up to seq ${top}`)
  await sleep(300) // a late duplicate would arrive now
  const violations = checkHistories(all.map((c) => c.history()), { expectDelivered: true })
  expect(violations, summarize(violations)).toEqual([])
}

describe('ordering under faults, real processes (heartbeat 150 / suspect 450 / dead 900 ms)', () => {
  /** Two nodes, the room on n1, four users on n2 typing; `fault` hits n1 `rounds` times. */
  async function memberNodeSendsThrough(fault: (admin: NodeProc) => Promise<NodeProc>, what: string, rounds: number): Promise<void> {
    const [n1, n2] = await startCluster(2, TIMING)
    const clients = await Promise.all([1, 2, 3, 4].map((k) => RecordedClient.as(n2.ready, `u${k}`)))
    await meshUp([clients[0], await RecordedClient.as(n1.ready, 'observer')], 1)
    const roomId = await lobbyOf(clients[0], n1)
    for (const c of clients) await c.join(roomId)
    // 4 users on n2 at about 15 msgs/s each, up to 4 unanswered each: forwards, acks, deliveries
    // and the rejoin replies share frames.
    const loops = clients.map((c) => typing(c, roomId, 65, 4))
    let admin = n1
    const t0 = Date.now()
    for (let round = 0; round < rounds; round++) {
      await sleep(500)
      const ackedBefore = clients[0].acked().length
      admin = await fault(admin)
      // Back in business: the 4 users are members again and new sends are acknowledged.
      await eventually(async () => clients[0].acked().length > ackedBefore && (await clients[0].client.call('room.members', { roomId })).members.length === 4, 15_000, 'all 4 users rejoined')
    }
    // Enough traffic to audit: keep typing until 100 sends are acknowledged (a loaded machine gets
    // there later, not never; a stuck room fails here).
    const ackedNow = () => clients.reduce((n, c) => n + c.acked().length, 0)
    await sleep(600)
    await eventually(async () => ackedNow() > 100, 20_000, 'more than 100 sends acknowledged')
    await Promise.all(loops.map((l) => l.stop()))
    const acked = ackedNow()
    console.log(`[ordering] administrator ${what} x${rounds} in ${Date.now() - t0} ms: ${acked} sends acknowledged, ${clients.reduce((n, c) => n + c.failed().length, 0)} refused`)
    expect(acked).toBeGreaterThan(100)
    await audit(roomId, clients, clients, clients)
  }

  // Two rounds: each restart boots a node process, the slowest step on a loaded machine.
  it('an administrator killed (-9) and restarted twice while a member node sends: no seq delivered twice after the rejoins', async () => {
    await memberNodeSendsThrough((admin) => restartNode(admin, { timing: TIMING }), 'kill -9 and restart', 2)
  })

  it('an administrator paused for 2 x dead-ms three times while a member node sends: no seq delivered twice after the rejoins', async () => {
    await memberNodeSendsThrough(async (admin) => {
      await pauseNode(admin, 2 * TIMING.deadMs)
      return admin
    }, 'SIGSTOP/SIGCONT', 3)
  })

  it("a member node paused for 3 x dead-ms, three times: its client's sends keep their order", async () => {
    const { nodes: [n1], alice: sender, bob: receiver, roomId } = await aliceAndBob(1)
    // alice types at 60 msgs/s without waiting for acks; while n1 is stopped her frames wait in its socket.
    const loop = typing(sender, roomId, 16)
    const t0 = Date.now()
    for (let round = 0; round < 3; round++) {
      await sleep(500)
      const leftBefore = receiver.client.events.filter((e) => e.event === 'member.left' && e.user === 'alice').length
      n1.proc.kill('SIGSTOP')
      // n2 declares n1 dead and drops alice from the room.
      await receiver.client.until(() => receiver.client.events.filter((e) => e.event === 'member.left' && e.user === 'alice').length > leftBefore, 5000, 'alice dropped')
      await sleep(3 * TIMING.deadMs)
      n1.proc.kill('SIGCONT')
      await eventually(async () => (await receiver.client.call('room.members', { roomId })).members.some((m) => m.user === 'alice'), 10_000, 'alice rejoined')
    }
    await sleep(500)
    // Enough traffic to audit, however slow the machine: a stuck sender fails here.
    await eventually(async () => sender.acked().length > 300, 20_000, 'more than 300 sends acknowledged')
    await loop.stop()
    console.log(`[ordering] member paused x3 in ${Date.now() - t0} ms: ${sender.acked().length} sends acknowledged, ${sender.failed().length} refused`)
    expect(sender.acked().length).toBeGreaterThan(300)
    await audit(roomId, [sender], [sender, receiver], [sender, receiver])
  })

  it('a client joining 25 times while messages flow: join history and live messages meet exactly', async () => {
    const { nodes: [, n2], alice: local, bob: remote, roomId } = await aliceAndBob(0)
    // Traffic from both nodes, pipelined: deliveries to n2 travel in the frames of the join replies.
    const loops = [typing(local, roomId, 10, 8), typing(remote, roomId, 10, 8)]
    const joiners: RecordedClient[] = []
    const t0 = Date.now()
    for (let k = 1; k <= 25; k++) {
      const j = await RecordedClient.as(n2.ready, 'carol', `carol@n2#${k}`)
      joiners.push(j)
      await j.join(roomId)
      await sleep(60 + (k % 5) * 30)
      j.close()
    }
    await Promise.all(loops.map((l) => l.stop()))
    const lastSeqs = joiners.map((j) => j.history().joins[0].lastSeq)
    console.log(`[ordering] 25 joins in ${Date.now() - t0} ms at lastSeq ${lastSeqs[0]}..${lastSeqs[lastSeqs.length - 1]}; ${local.acked().length + remote.acked().length} sends acknowledged`)
    expect(lastSeqs[lastSeqs.length - 1]).toBeGreaterThan(lastSeqs[0])
    await audit(roomId, [local, remote], [local, remote], [local, remote, ...joiners])
  })
})
