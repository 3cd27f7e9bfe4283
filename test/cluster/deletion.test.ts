/**
 * Room deletion by two-phase commit with real node processes (docs/deletion.md): commit across
 * three nodes, a participant that votes ABORT, a participant killed during PREPARE, and the
 * coordinator killed after PREPARE and restarted with its data dir. Nodes run with --allow-faults so
 * a test can make a node vote ABORT or hold its decision back (`node.faults`).
 *
 * Layout of every test: n1 administers room "doomed" created by alice@n1; bob@n2 and carol@n3 joined
 * it, so n2 and n3 are the participants and n1 the coordinator.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ServerEvent } from '../../proto/client-protocol'
import { Client, cleanup, eventually, killNode, startCluster, startNode, type NodeProc } from '../helpers/cluster'

type Deletion = Extract<ServerEvent, { event: 'deletion' }>

afterEach(cleanup)

interface Setup {
  nodes: NodeProc[]
  alice: Client
  bob: Client
  carol: Client
  roomId: string
}

async function setup(extra: string[] = []): Promise<Setup> {
  const nodes = await startCluster(3, undefined, ['--allow-faults', ...extra])
  // Everyone sees everyone alive first: the coordinator must know both participants' links.
  for (const n of nodes) {
    const c = await Client.as(n.ready, `watch-${n.ready.name}`)
    await eventually(async () => (await c.call('peers.list')).peers.filter((p) => p.state === 'alive').length === 2, 10_000, `${n.ready.name} sees 2 peers`)
    c.close()
  }
  const [alice, bob, carol] = await Promise.all([
    Client.as(nodes[0].ready, 'alice'),
    Client.as(nodes[1].ready, 'bob'),
    Client.as(nodes[2].ready, 'carol'),
  ])
  const { room } = await alice.call('room.create', { name: 'doomed' })
  const roomId = room.roomId
  await bob.event('room.created', (e) => e.room.roomId === roomId)
  await carol.event('room.created', (e) => e.room.roomId === roomId)
  for (const c of [alice, bob, carol]) await c.call('room.join', { roomId })
  // The administrator knows all three members (so both other nodes are participants).
  await eventually(async () => (await alice.call('room.members', { roomId })).members.length === 3, 5000, '3 members')
  return { nodes, alice, bob, carol, roomId }
}

function deletions(c: Client, roomId: string): Deletion[] {
  return c.events.filter((e): e is Deletion => e.event === 'deletion' && e.roomId === roomId)
}

async function listed(c: Client, roomId: string): Promise<boolean> {
  return (await c.call('rooms.list')).rooms.some((r) => r.roomId === roomId)
}

describe('room deletion by two-phase commit', () => {
  it('commits across three nodes: the room leaves every directory, sending gives not_found', async () => {
    const { nodes, alice, bob, carol, roomId } = await setup()
    expect((await alice.call('message.send', { roomId, text: 'last words', clientMsgId: 'a1' })).seq).toBe(1)

    // Only the creator may delete (bob is not alice).
    expect(await bob.fails('room.delete', { roomId })).toBe('forbidden')

    // Hold the decision a moment so the test can see the room frozen on every node.
    await alice.call('node.faults', { pauseBeforeDecisionMs: 1500 })
    // "alice" on n3 is another person than alice on n1, who created the room: the administrator
    // refuses the forwarded request (client-protocol.md section 7).
    const aliceOnN3 = await Client.as(nodes[2].ready, 'alice')
    expect(await aliceOnN3.fails('room.delete', { roomId })).toBe('forbidden')
    const t0 = Date.now()
    const pending = alice.call('room.delete', { roomId })
    const allReady = (e: Deletion) => e.phase === 'prepare' && e.votes.n2 === 'ready' && e.votes.n3 === 'ready'
    await bob.event('deletion', (e) => e.roomId === roomId && allReady(e))
    expect(await bob.fails('message.send', { roomId, text: 'too late', clientMsgId: 'b1' })).toBe('room_busy')
    expect(await alice.fails('message.send', { roomId, text: 'too late', clientMsgId: 'a2' })).toBe('room_busy')
    expect(await bob.fails('room.delete', { roomId })).toBe('forbidden')
    // A second deletion of the same room while the first is undecided is refused, not queued.
    const second = await alice.call('room.delete', { roomId })
    expect(second.outcome).toBe('aborted')
    expect(second.reason).toMatch(/another deletion/)

    const result = await pending
    expect(result).toEqual({ outcome: 'committed' })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400)

    for (const c of [alice, bob, carol]) {
      await c.event('room.deleted', (e) => e.roomId === roomId)
      const seen = deletions(c, roomId)
      expect(seen[0].phase).toBe('prepare')
      const commit = seen.find((e) => e.phase === 'commit')
      expect(commit?.votes).toEqual({ n1: 'ready', n2: 'ready', n3: 'ready' })
      expect(seen.filter((e) => e.phase === 'commit')).toHaveLength(1)
      expect(seen.some((e) => e.phase === 'abort')).toBe(false)
      // The commit report comes before the room is gone.
      const iCommit = c.events.findIndex((e) => e.event === 'deletion' && e.phase === 'commit')
      const iDeleted = c.events.findIndex((e) => e.event === 'room.deleted' && e.roomId === roomId)
      expect(iCommit).toBeLessThan(iDeleted)
    }
    for (const c of [alice, bob, carol, aliceOnN3]) {
      await eventually(async () => !(await listed(c, roomId)), 5000, 'room gone from the directory')
    }
    for (const c of [alice, bob, carol]) {
      expect(await c.fails('message.send', { roomId, text: 'anyone?', clientMsgId: `${Math.random()}` })).toBe('not_found')
    }
    expect(await alice.fails('room.delete', { roomId })).toBe('not_found')
    expect(await bob.fails('room.join', { roomId })).toBe('not_found')

    // A node's default room: created by 'system' on that node, and deletable by nobody, not even a
    // user of that node (client-protocol.md section 7).
    const lobby = (await bob.call('rooms.list')).rooms.find((r) => r.name === 'n1 lobby')!
    expect(lobby.createdBy).toEqual({ user: 'system', nodeId: lobby.adminNodeId })
    expect(await bob.fails('room.delete', { roomId: lobby.roomId })).toBe('forbidden')
    await alice.call('node.faults', { pauseBeforeDecisionMs: 0 })
    expect(await alice.fails('room.delete', { roomId: lobby.roomId })).toBe('forbidden')
    expect(await listed(carol, lobby.roomId)).toBe(true)
  })

  it('a participant votes ABORT: rolled back, the room keeps working and stays ordered', async () => {
    const { alice, bob, carol, roomId } = await setup()
    expect((await alice.call('message.send', { roomId, text: 'one', clientMsgId: 'a1' })).seq).toBe(1)
    expect(await carol.call('node.faults', { voteAbort: true })).toEqual({ voteAbort: true, pauseBeforeDecisionMs: 0, delayForwardMs: 0, partitionedFrom: [] })

    const result = await alice.call('room.delete', { roomId })
    expect(result.outcome).toBe('aborted')
    expect(result.reason).toMatch(/n3 voted ABORT.*voteAbort/)

    for (const c of [alice, bob, carol]) {
      const abort = await c.event('deletion', (e) => e.roomId === roomId && e.phase === 'abort')
      expect(abort.votes.n3).toBe('abort')
      expect(abort.reason).toMatch(/n3 voted ABORT/)
      expect(deletions(c, roomId).filter((e) => e.phase === 'abort')).toHaveLength(1)
      expect(c.events.some((e) => e.event === 'room.deleted')).toBe(false)
    }
    // Unfrozen everywhere; messages after the rollback continue the same sequence on every node.
    await eventually(async () => (await bob.call('rooms.list')).rooms.find((r) => r.roomId === roomId)?.frozen === false, 5000, 'unfrozen')
    expect((await bob.call('message.send', { roomId, text: 'two', clientMsgId: 'b1' })).seq).toBe(2)
    expect((await carol.call('message.send', { roomId, text: 'three', clientMsgId: 'c1' })).seq).toBe(3)
    expect((await alice.call('message.send', { roomId, text: 'four', clientMsgId: 'a2' })).seq).toBe(4)
    for (const c of [alice, bob, carol]) {
      await c.until(() => c.messages(roomId).length === 4, 5000, '4 messages')
      expect(c.messages(roomId).map((m) => m.seq)).toEqual([1, 2, 3, 4])
    }

    // With the fault off, the same room deletes normally.
    await carol.call('node.faults', { voteAbort: false })
    expect(await alice.call('room.delete', { roomId })).toEqual({ outcome: 'committed' })
    for (const c of [bob, carol]) await c.event('room.deleted', (e) => e.roomId === roomId)
  })

  it('a participant with a send still in flight votes ABORT (the textbook reason); the send then lands in order', async () => {
    const { alice, bob, carol, roomId } = await setup()
    // carol's node holds forwarded sends 1.5 s: her message is in flight when PREPARE arrives.
    await carol.call('node.faults', { delayForwardMs: 1500 })
    const inFlight = carol.call('message.send', { roomId, text: 'still travelling', clientMsgId: 'c1' })
    const result = await alice.call('room.delete', { roomId })
    expect(result.outcome).toBe('aborted')
    expect(result.reason).toMatch(/n3 voted ABORT: 1 message for the room still in flight/)
    await carol.event('deletion', (e) => e.roomId === roomId && e.phase === 'abort' && e.votes.n3 === 'abort')
    // The room was never frozen for that send: it arrives, ordered, on every node.
    expect((await inFlight).seq).toBe(1)
    await carol.call('node.faults', { delayForwardMs: 0 })
    expect((await bob.call('message.send', { roomId, text: 'after', clientMsgId: 'b1' })).seq).toBe(2)
    for (const c of [alice, bob, carol]) {
      await c.until(() => c.messages(roomId).length === 2, 5000, 'both messages')
      expect(c.messages(roomId).map((m) => [m.seq, m.text])).toEqual([[1, 'still travelling'], [2, 'after']])
    }
  })

  it('a participant killed during PREPARE: the coordinator aborts (peer dead / vote timeout)', async () => {
    const { nodes, alice, bob, roomId } = await setup()
    // n3 stops answering before it can vote, then dies for good while PREPARE is outstanding.
    nodes[2].proc.kill('SIGSTOP')
    const t0 = Date.now()
    const pending = alice.call('room.delete', { roomId })
    const prepare = await bob.event('deletion', (e) => e.roomId === roomId && e.phase === 'prepare')
    expect(prepare.votes.n3).toBe('pending')
    await killNode(nodes[2])

    const result = await pending
    const tookMs = Date.now() - t0
    expect(result.outcome).toBe('aborted')
    expect(result.reason).toMatch(/n3 is dead|no vote from n3/)
    // Bounded by the failure detector (dead after 1200 ms) or the vote timeout (2400 ms).
    expect(tookMs).toBeLessThan(4000)

    const abort = await bob.event('deletion', (e) => e.roomId === roomId && e.phase === 'abort')
    expect(abort.votes.n2).toBe('ready')
    expect(abort.votes.n3).toBe('pending')
    // The survivors carry on with the room.
    await eventually(async () => (await bob.call('rooms.list')).rooms.find((r) => r.roomId === roomId)?.frozen === false, 5000, 'unfrozen')
    const { seq } = await bob.call('message.send', { roomId, text: 'still here', clientMsgId: 'b1' })
    expect(seq).toBe(1)
    await alice.until(() => alice.messages(roomId).length === 1, 5000, 'message at alice')
    expect(await listed(alice, roomId)).toBe(true)
  })

  it('the coordinator killed after PREPARE and restarted: participants block, then finish its decision', async () => {
    // The coordinator's own recovery from its deletion log, so an unreplicated room: a replicated
    // one would get a new administrator meanwhile (docs/replication.md, "Membership and deletion").
    const { nodes, alice, bob, carol, roomId } = await setup(['--replicas', '1'])
    expect((await alice.call('message.send', { roomId, text: 'before', clientMsgId: 'a1' })).seq).toBe(1)
    await bob.until(() => bob.messages(roomId).length === 1, 5000, 'first message')
    // n1 will collect both READY votes, then sit on its decision: it dies in that window.
    await alice.call('node.faults', { pauseBeforeDecisionMs: 20_000 })
    void alice.reply('room.delete', { roomId })
    const allReady = (e: Deletion) => e.roomId === roomId && e.phase === 'prepare' && e.votes.n2 === 'ready' && e.votes.n3 === 'ready'
    await bob.event('deletion', allReady)
    await carol.event('deletion', allReady)
    const old = nodes[0]
    const grpcPort = Number(old.ready.grpc.slice(old.ready.grpc.lastIndexOf(':') + 1))
    await killNode(old)
    const killedAt = Date.now()

    // Both participants voted READY: they ask n1, then each other; nobody knows, so they block with
    // the room frozen and their users told why. The room stays listed (not deleted, not dropped).
    for (const c of [bob, carol]) {
      const blocked = await c.event('room.unavailable', (e) => e.roomId === roomId && e.reason.startsWith('deletion undecided'), 15_000)
      expect(blocked.reason).toMatch(/voted READY/)
      expect(await listed(c, roomId)).toBe(true)
      expect(deletions(c, roomId).some((e) => e.phase !== 'prepare')).toBe(false)
    }
    expect(await carol.fails('message.send', { roomId, text: 'x', clientMsgId: 'c1' })).toMatch(/room_busy|room_unavailable/)

    // n1 comes back with its data dir and port: its log has the start record, no decision, so it
    // decides ABORT (presumed abort) and tells both participants. A participant may hear it first
    // from the other one, which it keeps asking (cooperative termination, docs/deletion.md): the
    // reason then names that participant; either way it is n1's abort.
    const back = await startNode({ name: 'n1', dataDir: old.dataDir, grpcPort, extra: ['--allow-faults', '--replicas', '1'], join: [nodes[1].ready.grpc] })
    expect(back.ready.nodeId).toBe(old.ready.nodeId)
    for (const c of [bob, carol]) {
      const abort = await c.event('deletion', (e) => e.roomId === roomId && e.phase === 'abort', 15_000)
      expect(abort.reason).toMatch(/restarted before deciding|rolled back \(outcome learned from n[23]\)/)
      await c.event('room.available', (e) => e.roomId === roomId, 15_000)
      expect(c.events.some((e) => e.event === 'room.deleted' && e.roomId === roomId)).toBe(false)
    }
    expect(Date.now() - killedAt).toBeLessThan(30_000)

    // The room carries on, administered by the restarted n1, in the same order on both participants.
    // The administrator's message log survived the kill -9: the sequence continues right after 'before' (1).
    const alice2 = await Client.as(back.ready, 'alice')
    expect(await listed(alice2, roomId)).toBe(true)
    const b = await eventually(
      async () => bob.call('message.send', { roomId, text: 'after', clientMsgId: 'b-after' }),
      10_000,
      'bob can send again',
    )
    expect(b.seq).toBe(2)
    const c = await carol.call('message.send', { roomId, text: 'after too', clientMsgId: 'c-after' })
    expect(c.seq).toBe(b.seq + 1)
    for (const x of [bob, carol]) {
      await x.until(() => x.messages(roomId).some((m) => m.clientMsgId === 'c-after'), 10_000, 'both after-messages')
      const after = x.messages(roomId).filter((m) => m.clientMsgId.endsWith('-after'))
      expect(after.map((m) => [m.clientMsgId, m.seq])).toEqual([['b-after', b.seq], ['c-after', c.seq]])
      const seqs = x.messages(roomId).map((m) => m.seq)
      expect(seqs).toEqual([...seqs].sort((p, q) => p - q))
    }
  })

  it('replicated: the coordinator killed after PREPARE, all voted READY: the replica that takes the room over rolls the deletion back, nobody waits for the old coordinator', async () => {
    // docs/deletion.md, "Replicated rooms": the COMMIT was never stored in the room state, so the
    // new administrator presumes abort and tells the participants itself.
    const { nodes, alice, bob, carol, roomId } = await setup()
    expect((await alice.call('message.send', { roomId, text: 'before', clientMsgId: 'a1' })).seq).toBe(1)
    await alice.call('node.faults', { pauseBeforeDecisionMs: 60_000 })
    void alice.reply('room.delete', { roomId })
    const allReady = (e: Deletion) => e.roomId === roomId && e.phase === 'prepare' && e.votes.n2 === 'ready' && e.votes.n3 === 'ready'
    await bob.event('deletion', allReady)
    await carol.event('deletion', allReady)
    const old = nodes[0]
    await killNode(old)
    const killedAt = Date.now()
    const changed = await bob.event('room.admin_changed', (e) => e.roomId === roomId, 20_000)
    // Both participants learn the ROLLBACK from the new administrator (one of them), without n1.
    for (const c of [bob, carol]) {
      const abort = await c.event('deletion', (e) => e.roomId === roomId && e.phase === 'abort', 20_000)
      expect(abort.reason).toMatch(/replaced by|learned from/)
      expect(c.events.some((e) => e.event === 'room.deleted' && e.roomId === roomId)).toBe(false)
    }
    const abortedMs = Date.now() - killedAt
    // The room carries on under the new administrator, its sequence right after 'before' (1).
    const b = await eventually(async () => {
      const r = await bob.reply('message.send', { roomId, text: 'after', clientMsgId: 'b-after' })
      return r.ok ? (r.result as { seq: number }) : undefined
    }, 15_000, 'bob can send again')
    const sentMs = Date.now() - killedAt
    expect(b.seq).toBe(2)
    const c = await carol.call('message.send', { roomId, text: 'after too', clientMsgId: 'c-after' })
    expect(c.seq).toBe(3)
    await bob.until(() => bob.messages(roomId).some((m) => m.clientMsgId === 'c-after'), 10_000, 'carol\'s message at bob')
    console.log(`replicated deletion, coordinator killed after PREPARE: ${changed.adminNodeName} took over (term ${changed.term}); both participants rolled back ${abortedMs} ms after the kill; sends again after ${sentMs} ms (dead-ms 1200)`)
    // The old coordinator comes back: its log has the tx undecided and the room is replicated, so it
    // asks the room's administrator (the COMMIT gap, docs/deletion.md) and learns the rollback; its
    // users may see room_busy until then.
    const grpcPort = Number(old.ready.grpc.slice(old.ready.grpc.lastIndexOf(':') + 1))
    const back = await startNode({ name: 'n1', dataDir: old.dataDir, grpcPort, extra: ['--allow-faults'], join: [nodes[1].ready.grpc] })
    const alice2 = await Client.as(back.ready, 'alice')
    await eventually(async () => (await alice2.call('rooms.list')).rooms.find((r) => r.roomId === roomId)?.adminNodeId === changed.adminNodeId, 15_000, 'n1 follows the new administrator')
    await alice2.call('room.join', { roomId })
    const a = await eventually(async () => {
      const r = await alice2.reply('message.send', { roomId, text: 'back', clientMsgId: 'a-back' })
      if (!r.ok && r.error?.code !== 'room_busy') throw new Error(`${r.error?.code}: ${r.error?.message}`)
      return r.ok ? (r.result as { seq: number }) : undefined
    }, 15_000, 'the returned node learns the rollback and can send')
    expect(a.seq).toBe(4)
    for (const x of [bob, carol]) {
      await x.until(() => x.messages(roomId).some((m) => m.clientMsgId === 'a-back'), 10_000, 'the message of the returned node')
      expect(x.events.some((e) => e.event === 'room.deleted' && e.roomId === roomId)).toBe(false)
    }
  })

  it.each(['1', '3'])('the coordinator killed after deciding COMMIT: restarted, it re-sends the decision to a participant that missed it (--replicas %s)', async (replicas) => {
    // The decision resent from the coordinator's log. With replicas the COMMIT is also in the room
    // state on n1 and n2 (a majority), so the room is gone whoever n3 hears it from first.
    const { nodes, alice, bob, carol, roomId } = await setup(['--replicas', replicas])
    await alice.call('node.faults', { pauseBeforeDecisionMs: 1000 })
    const pending = alice.call('room.delete', { roomId })
    // Both voted READY; n3 freezes (SIGSTOP) before the decision reaches it.
    await carol.event('deletion', (e) => e.roomId === roomId && e.phase === 'prepare' && e.votes.n3 === 'ready')
    nodes[2].proc.kill('SIGSTOP')
    expect(await pending).toEqual({ outcome: 'committed' })
    await bob.event('room.deleted', (e) => e.roomId === roomId)
    // n1 has the COMMIT on disk but no ack from n3: it dies too.
    const old = nodes[0]
    const grpcPort = Number(old.ready.grpc.slice(old.ready.grpc.lastIndexOf(':') + 1))
    await killNode(old)
    const back = await startNode({ name: 'n1', dataDir: old.dataDir, grpcPort, extra: ['--allow-faults', '--replicas', replicas], join: [nodes[1].ready.grpc] })
    const alice2 = await Client.as(back.ready, 'alice')
    // The restarted coordinator re-applied its decision: the room does not come back from rooms.json.
    expect(await listed(alice2, roomId)).toBe(false)
    nodes[2].proc.kill('SIGCONT')
    // n3 finishes the same decision (from the resent COMMIT, or by asking n1 / n2).
    await carol.event('room.deleted', (e) => e.roomId === roomId, 20_000)
    const commit = deletions(carol, roomId).filter((e) => e.phase === 'commit')
    // Replicated, n3 may hear of the deletion first from a replica's announcement (its room is
    // then dropped without the `deletion` event); never twice, and never a rollback.
    if (replicas === '1') expect(commit).toHaveLength(1)
    else expect(commit.length).toBeLessThanOrEqual(1)
    expect(deletions(carol, roomId).some((e) => e.phase === 'abort')).toBe(false)
    await eventually(async () => !(await listed(carol, roomId)), 5000, 'gone on n3')
    expect(await carol.fails('message.send', { roomId, text: 'x', clientMsgId: 'c1' })).toBe('not_found')
  })

  it('a participant killed after voting READY: restarted, it recovers its vote and finishes the COMMIT', async () => {
    const { nodes, alice, bob, carol, roomId } = await setup()
    // Hold the decision long enough for n3 to die after its READY vote.
    await alice.call('node.faults', { pauseBeforeDecisionMs: 1500 })
    const pending = alice.call('room.delete', { roomId })
    await carol.event('deletion', (e) => e.roomId === roomId && e.phase === 'prepare' && e.votes.n3 === 'ready')
    const old = nodes[2]
    const grpcPort = Number(old.ready.grpc.slice(old.ready.grpc.lastIndexOf(':') + 1))
    await killNode(old)
    // Every vote was READY before n3 died: the decision stands (a later death does not change it).
    expect(await pending).toEqual({ outcome: 'committed' })
    await bob.event('room.deleted', (e) => e.roomId === roomId)
    const back = await startNode({ name: 'n3', dataDir: old.dataDir, grpcPort, extra: ['--allow-faults'], join: [nodes[0].ready.grpc] })
    const watcher = await Client.as(back.ready, 'carol')
    await watcher.call('trace.subscribe', { on: true })
    // Its READY record made it ask for the outcome (or the coordinator's resend reached it).
    await watcher.event('trace', (e) => e.kind === '2pc' && e.roomId === roomId && /COMMIT .*room deleted/.test(e.text), 15_000)
    expect(await listed(watcher, roomId)).toBe(false)
    expect(await watcher.fails('room.join', { roomId })).toBe('not_found')
  })
})
