// The shared history archive (docs/archive.md) with real node processes and a real PostgreSQL
// server that this file starts and stops (test/helpers/postgres.ts). Nodes are checked only
// through the client protocol; the database is read with plain SQL, as a person would.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChatMessage } from '../../proto/client-protocol'
import { Client, cleanup, eventually, killNode, runCli, startNode, stopNode } from '../helpers/cluster'
import { startPostgres, type TempPostgres } from '../helpers/postgres'

let pg: TempPostgres

beforeAll(async () => {
  pg = await startPostgres()
})

afterAll(async () => {
  await cleanup()
  await pg?.destroy()
})

const strip = ({ event: _e, ...m }: { event: string } & ChatMessage): ChatMessage => m

async function archivedSeqs(roomId: string): Promise<number[]> {
  const r = await pg.query<{ seq: string }>('SELECT seq FROM archive_messages WHERE room_id = $1 ORDER BY seq', [roomId])
  return r.rows.map((x) => Number(x.seq))
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe('a cluster sharing a database archive', () => {
  it('writes every committed message; a node with an empty data dir serves the history of a dead administrator', async () => {
    const n1 = await startNode({ name: 'a1', extra: ['--db', pg.url] })
    const n2 = await startNode({ name: 'a2', join: [n1.ready.grpc], extra: ['--db', pg.url] })
    const alice = await Client.as(n1.ready, 'alice')
    const bob = await Client.as(n2.ready, 'bob')
    const info = await alice.call('node.info')
    expect(info.archive).toMatchObject({ url: pg.url, state: expect.stringMatching(/connecting|ok/) })
    const { room } = await alice.call('room.create', { name: 'archived' })
    await bob.event('room.created', (e) => e.room.roomId === room.roomId)
    await alice.call('room.join', { roomId: room.roomId })
    await bob.call('room.join', { roomId: room.roomId })
    const sends = []
    for (let i = 1; i <= 80; i++) {
      const c = i % 2 ? alice : bob
      sends.push(c.call('message.send', { roomId: room.roomId, text: `hello ${i}`, clientMsgId: `m${i}` }))
    }
    await Promise.all(sends)
    await bob.until(() => bob.messages(room.roomId).length === 80)
    const live = bob.messages(room.roomId).map(strip)

    // The administrator catches up: behind 0, every seq once in the database, the room recorded.
    await eventually(async () => (await alice.call('node.stats')).archive?.behind === 0 && (await archivedSeqs(room.roomId)).length === 80, 10_000, 'archive caught up')
    expect(await archivedSeqs(room.roomId)).toEqual(range(1, 80))
    const rooms = await pg.query('SELECT name, created_by, admin_node_id, deleted_at FROM archive_rooms WHERE room_id = $1', [room.roomId])
    expect(rooms.rows).toEqual([{ name: 'archived', created_by: 'alice', admin_node_id: n1.ready.nodeId, deleted_at: null }])
    const stats = await alice.call('node.stats')
    expect(stats.archive).toMatchObject({ state: 'ok', behind: 0 })
    expect(stats.archive!.archived).toBeGreaterThanOrEqual(80)
    // The history as members saw it live, from the administrator's own log.
    const own = await bob.call('history.fetch', { roomId: room.roomId, limit: 30 })
    expect(own).toEqual({ messages: live.slice(50), source: 'embedded' })

    // The administrator dies: bob's node answers the history from the database.
    await killNode(n1)
    await bob.event('room.unavailable', (e) => e.roomId === room.roomId, 10_000)
    const fromDb = await bob.call('history.fetch', { roomId: room.roomId, limit: 30 })
    expect(fromDb).toEqual({ messages: live.slice(50), source: 'database' })
    const older = await bob.call('history.fetch', { roomId: room.roomId, beforeSeq: 11, limit: 10 })
    expect(older.messages).toEqual(live.slice(0, 10))
    // So does the preview of the room (what the UI shows for a room before joining it).
    const erin = await Client.as(n2.ready, 'erin')
    expect((await erin.call('room.preview', { roomId: room.roomId, limit: 5 })).messages).toEqual(live.slice(75))

    // A node started with an empty data dir and the same URL lists the room and serves its history.
    const [fresh, plain] = await Promise.all([startNode({ name: 'a3', extra: ['--db', pg.url] }), startNode({ name: 'a4' })])
    const carol = await Client.as(fresh.ready, 'carol')
    const listed = await carol.call('archive.rooms')
    expect(listed.rooms.find((r) => r.roomId === room.roomId)).toMatchObject({ name: 'archived', createdBy: 'alice', lastSeq: 80, adminNodeId: n1.ready.nodeId })
    const page = await carol.call('history.fetch', { roomId: room.roomId, limit: 200 })
    expect(page).toEqual({ messages: live, source: 'database' })
    expect(await carol.fails('history.fetch', { roomId: 'no-such-room' })).toBe('not_found')

    // Without --db nothing changes: no archive in node.info, archive.rooms refused clearly.
    const dave = await Client.as(plain.ready, 'dave')
    expect((await dave.call('node.info')).archive).toBeUndefined()
    expect(await dave.fails('archive.rooms')).toBe('bad_request')
    await Promise.all([stopNode(n2), stopNode(fresh), stopNode(plain)])
  })

  it('keeps sending while the database is down, says how far behind it is, catches up without loss or duplicates; a deletion empties the room', async () => {
    const n1 = await startNode({ name: 'b1', extra: ['--db', pg.url] })
    const alice = await Client.as(n1.ready, 'alice')
    const { room } = await alice.call('room.create', { name: 'outage' })
    await alice.call('room.join', { roomId: room.roomId })
    let sent = 0
    const send = async (n: number) => {
      const acks = []
      for (let i = 0; i < n; i++) {
        sent++
        acks.push(alice.call('message.send', { roomId: room.roomId, text: `m ${sent}`, clientMsgId: `o${sent}` }))
      }
      return Promise.all(acks)
    }
    await send(40)
    // The database goes away in the middle of the stream.
    const streaming = send(60)
    await pg.stop()
    const acks = await streaming
    expect(acks.map((a) => a.seq)).toEqual(range(41, 100))
    const downAt = Date.now()
    const more = await send(50) // sends do not wait for the database
    expect(more.at(-1)!.seq).toBe(150)
    expect(Date.now() - downAt).toBeLessThan(5000)
    await alice.event('archive.status', (e) => e.state === 'down', 15_000)
    const behind = await eventually(async () => {
      const a = (await alice.call('node.stats')).archive!
      return a.state === 'down' && a.behind > 0 ? a : undefined
    }, 15_000, 'archive reported down and behind')
    expect(behind.behind).toBeLessThanOrEqual(150)
    expect(behind.lastError).toBeTruthy()

    // Only events after the outage count: an 'ok, 0 behind' from before it is already received.
    const fromOutage = alice.events.findIndex((e) => e.event === 'archive.status' && e.state === 'down')
    await pg.start()
    await alice.until(
      () => alice.events.slice(fromOutage).some((e) => e.event === 'archive.status' && e.state === 'ok' && e.behind === 0),
      20_000,
      'archive.status ok, 0 behind, after the outage',
    )
    await eventually(async () => {
      const a = (await alice.call('node.stats')).archive!
      return a.state === 'ok' && a.behind === 0
    }, 10_000, 'node.stats: archive ok, 0 behind')
    expect(await archivedSeqs(room.roomId)).toEqual(range(1, 150))
    const texts = await pg.query<{ body: string }>('SELECT body FROM archive_messages WHERE room_id = $1 ORDER BY seq', [room.roomId])
    expect(texts.rows.map((r) => r.body)).toEqual(range(1, 150).map((i) => `m ${i}`))

    // A committed deletion marks the room deleted and removes its messages from the database.
    expect((await alice.call('room.delete', { roomId: room.roomId })).outcome).toBe('committed')
    await eventually(async () => {
      const r = await pg.query('SELECT deleted_at FROM archive_rooms WHERE room_id = $1', [room.roomId])
      return r.rows[0]?.deleted_at !== null && (await archivedSeqs(room.roomId)).length === 0
    }, 10_000, 'room marked deleted, messages gone')
    expect((await alice.call('archive.rooms')).rooms.some((r) => r.roomId === room.roomId)).toBe(false)
    expect(await alice.fails('history.fetch', { roomId: room.roomId })).toBe('not_found')
    await stopNode(n1)
  })

  it('catches up after a restart from its data dir what it committed while the database was down', async () => {
    const n1 = await startNode({ name: 'c1', extra: ['--db', pg.url] })
    const alice = await Client.as(n1.ready, 'alice')
    const { room } = await alice.call('room.create', { name: 'restart' })
    await alice.call('room.join', { roomId: room.roomId })
    for (let i = 1; i <= 10; i++) await alice.call('message.send', { roomId: room.roomId, text: `r ${i}`, clientMsgId: `r${i}` })
    await eventually(async () => (await archivedSeqs(room.roomId)).length === 10, 10_000, 'first ten archived')
    await pg.stop()
    for (let i = 11; i <= 30; i++) await alice.call('message.send', { roomId: room.roomId, text: `r ${i}`, clientMsgId: `r${i}` })
    // The node has noticed the outage (and saved its watermark, docs/archive.md) before the kill.
    await eventually(async () => {
      const a = (await alice.call('node.stats')).archive
      return a?.state === 'down' && a.behind === 20
    }, 10_000, 'outage noticed with 20 behind')
    await killNode(n1) // kill -9 while 20 messages are only in the embedded log
    const back = await startNode({ name: 'c1', dataDir: n1.dataDir, extra: ['--db', pg.url] })
    const again = await Client.as(back.ready, 'alice')
    // Before the database answers, the node estimates from the watermark it saved: 20 behind. The
    // room is a replica set of one restored from disk, so its log counts once the node has stood for
    // it again (docs/replication.md, "Election"); the database stays down all the while.
    const estimate = await eventually(async () => {
      const a = (await again.call('node.stats')).archive
      return a && a.behind > 0 ? a : undefined
    }, 10_000, 'an estimate from the saved watermark')
    expect(estimate).toMatchObject({ state: expect.stringMatching(/connecting|down/), behind: 20 })
    await pg.start()
    await eventually(async () => (await again.call('node.stats')).archive?.behind === 0 && (await archivedSeqs(room.roomId)).length === 30, 20_000, 'caught up after restart')
    expect(await archivedSeqs(room.roomId)).toEqual(range(1, 30))
    const live = (await again.call('room.join', { roomId: room.roomId })).history

    // Its message log lost (rooms.json kept): the join's history and older pages come from the database.
    await stopNode(back)
    rmSync(join(n1.dataDir, 'messages'), { recursive: true, force: true })
    const lost = await startNode({ name: 'c1', dataDir: n1.dataDir, extra: ['--db', pg.url] })
    const bob = await Client.as(lost.ready, 'bob')
    // The node stands for its rooms again as it starts (a replica set of one needs no vote).
    await eventually(async () => (await bob.call('rooms.list')).rooms.some((r) => r.roomId === room.roomId), 10_000, 'the room listed again')
    const joined = await bob.call('room.join', { roomId: room.roomId })
    expect(joined.lastSeq).toBe(30)
    expect(joined.historySource).toBe('database')
    expect(joined.history).toEqual(live)
    expect(joined.history.map((m) => m.seq)).toEqual(range(1, 30))
    const page = await bob.call('history.fetch', { roomId: room.roomId, beforeSeq: 11, limit: 10 })
    expect(page).toEqual({ messages: live.slice(0, 10), source: 'database' })
    // And the room goes on from seq 31.
    expect((await bob.call('message.send', { roomId: room.roomId, text: 'next', clientMsgId: 'n31' })).seq).toBe(31)
    await stopNode(lost)
  })

  it('refuses a --db that is not a postgresql:// URL with a clear error', async () => {
    const r = await runCli(['--db', 'mysql://u:secret@h/db', '--grpc', '127.0.0.1:0'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--db: .*postgresql:\/\//)
    expect(r.stderr).not.toContain('secret')
  })
})
