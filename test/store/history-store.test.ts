// One contract for both places history lives (main/store/history-store.ts): the embedded message
// log and the database archive, against a real PostgreSQL server this file starts and stops
// (test/helpers/postgres.ts). Then what only the database has: concurrent schema migrations and
// the retry of transactions that fail with SQLSTATE 40001.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChatMessage } from '../../proto/client-protocol'
import { ArchiveDb, MIGRATIONS, parseArchiveUrl, redactUrl } from '../../main/store/archive-db'
import { DatabaseHistory, EmbeddedHistory, type HistoryStore } from '../../main/store/history-store'
import { MessageLog } from '../../main/store/message-log'
import { startPostgres, type TempPostgres } from '../helpers/postgres'

let pg: TempPostgres
const dbs: ArchiveDb[] = []
const dirs: string[] = []

beforeAll(async () => {
  pg = await startPostgres()
})

afterAll(async () => {
  await Promise.all(dbs.map((d) => d.close()))
  await pg?.destroy()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function db(o: { onRetry?: (code: string, attempt: number) => void } = {}): ArchiveDb {
  const d = new ArchiveDb(pg.url, { applicationName: 'ds-g1-sms test', ...o })
  dbs.push(d)
  return d
}

function msg(roomId: string, seq: number, text = `message ${seq}`): ChatMessage {
  return { roomId, seq, user: seq % 2 ? 'alice' : 'bob', nodeId: 'node-a', text, sentAt: 1_700_000_000_000 + seq, clientMsgId: `c${seq}` }
}

let roomCounter = 0
const stores: [string, () => Promise<HistoryStore>][] = [
  [
    'embedded message log',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ds-hist-'))
      dirs.push(dir)
      return new EmbeddedHistory(new MessageLog(dir))
    },
  ],
  [
    'database archive',
    async () => {
      const d = db()
      await d.migrate()
      return {
        kind: 'database',
        // The writer records a room before its messages (main/store/archive-writer.ts).
        append: async (roomId, messages) => {
          await d.recordRoom({ roomId, name: roomId, createdBy: 'alice', adminNodeId: 'node-a', adminNodeName: 'a', createdAt: 1 })
          await new DatabaseHistory(d).append(roomId, messages)
        },
        range: (r, f, t) => new DatabaseHistory(d).range(r, f, t),
        latest: (r, l, b) => new DatabaseHistory(d).latest(r, l, b),
        lastSeq: (r) => new DatabaseHistory(d).lastSeq(r),
        drop: (r) => new DatabaseHistory(d).drop(r),
      } satisfies HistoryStore
    },
  ],
]

describe.each(stores)('history store contract: %s', (_name, make) => {
  it('reads back what was written, by range and newest-first pages, ascending', async () => {
    const s = await make()
    const room = `room-${++roomCounter}`
    const all = Array.from({ length: 300 }, (_, i) => msg(room, i + 1, `text ${i + 1} ünïcødé "quoted" \\ back`))
    await s.append(room, all.slice(0, 120))
    await s.append(room, all.slice(120))
    expect(await s.lastSeq(room)).toBe(300)
    expect(await s.range(room, 1, 300)).toEqual(all)
    expect(await s.range(room, 250, 400)).toEqual(all.slice(249))
    expect(await s.range(room, 10, 9)).toEqual([])
    expect(await s.latest(room, 50)).toEqual(all.slice(250))
    expect(await s.latest(room, 10, 11)).toEqual(all.slice(0, 10))
    expect(await s.latest(room, 10, 1)).toEqual([])
  })

  it('keeps the first copy of a seq written twice (a retried batch changes nothing)', async () => {
    const s = await make()
    const room = `room-${++roomCounter}`
    await s.append(room, [msg(room, 1), msg(room, 2), msg(room, 3)])
    await s.append(room, [msg(room, 2, 'a different text'), msg(room, 3, 'another'), msg(room, 4)])
    const got = await s.range(room, 1, 10)
    expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4])
    expect(got[1].text).toBe('message 2')
    expect(got[2].text).toBe('message 3')
  })

  it('forgets a dropped room and keeps the others', async () => {
    const s = await make()
    const a = `room-${++roomCounter}`
    const b = `room-${++roomCounter}`
    await s.append(a, [msg(a, 1), msg(a, 2)])
    await s.append(b, [msg(b, 1)])
    await s.drop(a)
    expect(await s.range(a, 1, 10)).toEqual([])
    expect(await s.lastSeq(a)).toBe(0)
    expect(await s.range(b, 1, 10)).toEqual([msg(b, 1)])
  })
})

describe('the database archive', () => {
  it('migrates the schema from several nodes at once: every version applied exactly once', async () => {
    await pg.query('CREATE DATABASE migrate_race')
    const url = pg.url.replace(/\/postgres$/, '/migrate_race')
    const nodes = Array.from({ length: 4 }, () => {
      const d = new ArchiveDb(url, { applicationName: 'ds-g1-sms migrate' })
      dbs.push(d)
      return d
    })
    const applied = await Promise.all(nodes.map((d) => d.migrate()))
    // Each version was applied by exactly one of them; the others found it done.
    const all = applied.flat().sort()
    expect(all).toEqual(MIGRATIONS.map((m) => m.version).sort())
    const rows = await nodes[0].tx((c) => c.query('SELECT version FROM schema_migrations ORDER BY version'))
    expect(rows.rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version))
    // And again at the next start: nothing to do.
    expect(await nodes[1].migrate()).toEqual([])
  })

  it('retries a transaction that fails with SQLSTATE 40001, and the batch lands once', async () => {
    const retries: string[] = []
    const d = db({ onRetry: (code) => retries.push(code) })
    await d.migrate()
    const room = `room-${++roomCounter}`
    await d.recordRoom({ roomId: room, name: 'contended', createdBy: 'alice', adminNodeId: 'n', adminNodeName: 'n', createdAt: 1 })
    // A trigger that raises serialization_failure on its first two runs: a sequence is not rolled
    // back with the failed transaction, so it counts the attempts.
    await pg.query(`CREATE SEQUENCE fail_twice`)
    await pg.query(`CREATE FUNCTION fail_twice() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.room_id = '${room}' AND nextval('fail_twice') <= 2 THEN
          RAISE EXCEPTION 'forced serialization failure' USING ERRCODE = '40001';
        END IF;
        RETURN NEW;
      END $$`)
    await pg.query(`CREATE TRIGGER fail_twice BEFORE INSERT ON archive_messages FOR EACH ROW EXECUTE FUNCTION fail_twice()`)
    try {
      await d.appendMessages(room, [msg(room, 1), msg(room, 2), msg(room, 3)])
    } finally {
      await pg.query('DROP TRIGGER fail_twice ON archive_messages')
    }
    expect(retries).toEqual(['40001', '40001'])
    expect((await d.range(room, 1, 10)).map((m) => m.seq)).toEqual([1, 2, 3])
    expect((await d.room(room))?.archivedSeq).toBe(3)
    const count = await pg.query(`SELECT count(*)::int AS n FROM archive_messages WHERE room_id = $1`, [room])
    expect(count.rows[0].n).toBe(3)
  })

  it('sets application_name on its connections', async () => {
    const d = new ArchiveDb(pg.url, { applicationName: 'ds-g1-sms probe-42' })
    dbs.push(d)
    const r = await d.tx((c) => c.query(`SELECT current_setting('application_name') AS a`))
    expect(r.rows[0].a).toBe('ds-g1-sms probe-42')
  })

  it('refuses a URL that is not postgresql:// and never shows a password back', () => {
    expect(() => parseArchiveUrl('mysql://u:p@h/db')).toThrow(/postgresql:\/\//)
    expect(() => parseArchiveUrl('not a url')).toThrow(/postgresql:\/\//)
    expect(parseArchiveUrl('postgres://h:26257/defaultdb').hostname).toBe('h')
    expect(redactUrl('postgresql://chat:s3cret@db.lab:26257/chat?sslmode=require')).toBe('postgresql://chat:****@db.lab:26257/chat?sslmode=require')
    expect(redactUrl('postgresql://chat:s3cret@db.lab:26257/chat')).not.toContain('s3cret')
  })
})
