// The archive writer's own rules (main/store/archive-writer.ts), with a database stand-in whose
// answers the test controls: a hung database never holds up a commit, a deletion is written after a
// batch of its room already in flight, and an outage is caught up from the watermark. (The same
// writer against a real PostgreSQL is in test/cluster/archive.test.ts.)
import { describe, expect, it } from 'vitest'
import type { ChatMessage } from '../../proto/client-protocol'
import type { ArchivedRoom } from '../../main/store/archive-db'
import { ArchiveWriter, type ArchiveStatus, type ArchiveWriterComponents } from '../../main/store/archive-writer'

const msg = (roomId: string, seq: number): ChatMessage => ({ roomId, seq, user: 'u', nodeId: 'n', text: `t${seq}`, sentAt: seq, clientMsgId: `c${seq}` })

class StandInDb {
  rows = new Map<string, Map<number, ChatMessage>>()
  rooms = new Map<string, ArchivedRoom>()
  ops: string[] = []
  down = false
  /** When set, appendMessages waits for this before it answers. */
  gate: Promise<void> | undefined

  /** A database that hangs: every appendMessages waits until the returned function is called. */
  hang(): () => void {
    let open!: () => void
    this.gate = new Promise((r) => (open = r))
    return open
  }

  async migrate() {
    if (this.down) throw new Error('connection refused')
    return []
  }
  async recordRoom(r: Omit<ArchivedRoom, 'archivedSeq' | 'deletedAt'>) {
    if (this.down) throw new Error('connection refused')
    if (!this.rooms.has(r.roomId)) this.rooms.set(r.roomId, { ...r, archivedSeq: 0 })
  }
  async room(roomId: string) {
    if (this.down) throw new Error('connection refused')
    return this.rooms.get(roomId)
  }
  async appendMessages(roomId: string, messages: ChatMessage[]) {
    if (this.gate) await this.gate
    if (this.down) throw new Error('connection refused')
    const m = this.rows.get(roomId) ?? new Map()
    for (const x of messages) if (!m.has(x.seq)) m.set(x.seq, x)
    this.rows.set(roomId, m)
    const r = this.rooms.get(roomId)!
    r.archivedSeq = Math.max(r.archivedSeq, messages[messages.length - 1].seq)
    this.ops.push(`append ${roomId} ${messages[0].seq}..${messages[messages.length - 1].seq}`)
  }
  async markDeleted(roomId: string) {
    if (this.down) throw new Error('connection refused')
    this.rows.delete(roomId)
    this.ops.push(`delete ${roomId}`)
  }
}

/** A started writer over `db` that holds `roomId`, with no message yet: where every case begins. */
function startedWithRoom(db: StandInDb, roomId: string) {
  const log = new Map<string, ChatMessage[]>()
  const statuses: ArchiveStatus[] = []
  let saved: Parameters<ArchiveWriterComponents['save']>[0] | undefined
  const writer = new ArchiveWriter({
    db,
    source: (roomId, from, to) => log.get(roomId)?.filter((m) => m.seq >= from && m.seq <= to),
    load: () => saved,
    save: (s) => (saved = JSON.parse(JSON.stringify(s))),
    log: () => {},
    statusChanged: (s) => statuses.push(s),
  })
  const commit = (roomId: string, n: number) => {
    const l = log.get(roomId) ?? []
    log.set(roomId, l)
    for (let i = 0; i < n; i++) {
      const m = msg(roomId, l.length + 1)
      l.push(m)
      writer.committed(roomId, m.seq, Date.now())
    }
  }
  writer.start()
  log.set(roomId, [])
  writer.holdRoom({ roomId, name: roomId, createdBy: 'u', adminNodeId: 'n', adminNodeName: 'n', createdAt: 1 }, 0)
  return { writer, commit, statuses }
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('archive writer', () => {
  it('never holds up a commit while the database hangs, and counts what is behind', async () => {
    const db = new StandInDb()
    const open = db.hang()
    const { writer, commit } = startedWithRoom(db, 'a')
    const t0 = performance.now()
    commit('a', 5000)
    expect(performance.now() - t0).toBeLessThan(500) // 5000 commits, no I/O among them
    expect(writer.status().behind).toBe(5000)
    open()
    await until(() => writer.status().behind === 0)
    expect([...db.rows.get('a')!.keys()]).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1))
    await writer.stop()
  })

  it('writes a deletion after the batch of that room already in flight, and nothing of the room after it', async () => {
    const db = new StandInDb()
    const open = db.hang()
    const { writer, commit } = startedWithRoom(db, 'a')
    commit('a', 3)
    await new Promise((r) => setTimeout(r, 50)) // the batch is now waiting on the database
    commit('a', 2)
    writer.roomDeleted('a', 123)
    open()
    await until(() => db.ops.includes('delete a'))
    expect(db.ops).toEqual(['append a 1..3', 'delete a'])
    expect(db.rows.has('a')).toBe(false)
    await writer.stop()
  })

  it('goes down and catches up from the watermark when the database returns: every seq once', async () => {
    const db = new StandInDb()
    const { writer, commit, statuses } = startedWithRoom(db, 'a')
    commit('a', 10)
    await until(() => writer.status().behind === 0 && writer.status().state === 'ok')
    db.down = true
    commit('a', 20)
    await until(() => writer.status().state === 'down')
    expect(writer.status().behind).toBe(20)
    expect(statuses.some((s) => s.state === 'down' && s.behind === 20)).toBe(true)
    db.down = false
    await until(() => writer.status().state === 'ok' && writer.status().behind === 0, 10_000)
    expect([...db.rows.get('a')!.keys()]).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    // The batches that landed never overlap: after the outage the writer went on from seq 11.
    expect(db.ops).toEqual(['append a 1..10', 'append a 11..30'])
    await writer.stop()
  })
})
