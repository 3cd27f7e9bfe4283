// The administrator's message log: what is appended survives a restart and a kill -9, history reads
// seek through the sparse index, and a torn last line is cut off instead of poisoning the log.
import { spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageLog, MessageLogError, entryLine } from '../../main/store/message-log'
import type { ChatMessage } from '../../proto/client-protocol'
import { ROOT } from '../helpers/cluster'

const dirs: string[] = []
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ds-log-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const msg = (seq: number, roomId = 'room-1'): ChatMessage => ({
  roomId,
  seq,
  user: `u${seq % 3}`,
  nodeId: 'node-a',
  text: `message ${seq} ✓ "quoted"\nsecond line`,
  sentAt: 1_700_000_000_000 + seq,
  clientMsgId: `c${seq}`,
})

describe('message log', () => {
  it('comes back after a restart with the exact last seq and the tail', () => {
    const d = dir()
    const log = new MessageLog(d)
    expect(log.open('room-1', 3)).toEqual({ lastSeq: 0, tail: [] })
    for (let s = 1; s <= 10; s++) log.append(msg(s))
    log.close()
    const again = new MessageLog(d)
    expect(again.roomIds()).toEqual(['room-1'])
    const opened = again.open('room-1', 3)
    expect(opened.lastSeq).toBe(10)
    expect(opened.tail).toEqual([msg(8), msg(9), msg(10)])
    again.append(msg(11))
    expect(again.range('room-1', 10, 11)).toEqual([msg(10), msg(11)])
    again.close()
  })

  it.each([
    [1, 5],
    [255, 258],
    [300, 310],
    [511, 513],
    [990, 2000],
    [1000, 1000],
  ])('reads seq %i..%i of 1000 through the index', (from, to) => {
    const log = new MessageLog(dir())
    log.open('room-1', 0)
    for (let s = 1; s <= 1000; s++) log.append(msg(s))
    const want = Array.from({ length: Math.min(to, 1000) - from + 1 }, (_, i) => msg(from + i))
    expect(log.range('room-1', from, to)).toEqual(want)
    log.close()
  })

  it('refuses a seq that does not follow the last one (the ordering bug would be silent otherwise)', () => {
    const log = new MessageLog(dir())
    log.open('room-1', 0)
    log.append(msg(1))
    expect(() => log.append(msg(1))).toThrow(MessageLogError)
    expect(() => log.append(msg(5, 'no-such-room'))).toThrow(MessageLogError)
    log.close()
  })

  it('cuts a torn last line and carries on after it', () => {
    const d = dir()
    const log = new MessageLog(d)
    log.open('room-1', 5)
    for (let s = 1; s <= 3; s++) log.append(msg(s))
    log.close()
    appendFileSync(join(d, 'room-1.jsonl'), '{"seq":4,"user":"u1","te') // power cut mid-write
    const again = new MessageLog(d)
    expect(again.open('room-1', 5).lastSeq).toBe(3)
    again.append(msg(4))
    again.close()
    const lines = readFileSync(join(d, 'room-1.jsonl'), 'utf8').trim().split('\n')
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4])
  })

  it('keeps every appended message when the process is killed with kill -9 right after', () => {
    const d = dir()
    const script = `
      const { MessageLog } = require(${JSON.stringify(join(ROOT, 'main', 'store', 'message-log.ts'))})
      const log = new MessageLog(${JSON.stringify(d)})
      log.open('room-1', 0)
      for (let s = 1; s <= 500; s++) log.append({ roomId: 'room-1', seq: s, user: 'k', nodeId: 'n', text: 't' + s, sentAt: s, clientMsgId: 'c' + s })
      process.kill(process.pid, 'SIGKILL')
    `
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, timeout: 20_000 })
    expect(r.signal).toBe('SIGKILL')
    const log = new MessageLog(d)
    const opened = log.open('room-1', 2)
    expect(opened.lastSeq).toBe(500)
    expect(opened.tail.map((m) => m.text)).toEqual(['t499', 't500'])
    log.close()
  })

  it('drops a deleted room with its file', () => {
    const d = dir()
    const log = new MessageLog(d)
    log.open('a/b room', 0) // any room id is a safe file name
    log.append(msg(1, 'a/b room'))
    expect(log.roomIds()).toEqual(['a/b room'])
    log.drop('a/b room')
    expect(log.roomIds()).toEqual([])
    expect(existsSync(join(d, encodeURIComponent('a/b room') + '.jsonl'))).toBe(false)
  })
})

describe('replicated entries (appendEntries)', () => {
  it('each line is JSON.stringify of the entry, whatever its strings and numbers hold', () => {
    const odd = ['', 'é😀', '"\\\n\t\u0000\u2028', '\uD800 lone', 'x'.repeat(4000)]
    const nums = [0, 1, 2 ** 53 - 1, 1e21, -0, NaN, Infinity]
    for (const s of odd) {
      for (const n of nums) {
        const m = { roomId: 'r', seq: n, user: s, nodeId: s, text: s, sentAt: n, clientMsgId: s }
        const expected = `${JSON.stringify({ seq: m.seq, term: n, user: m.user, nodeId: m.nodeId, text: m.text, sentAt: m.sentAt, clientMsgId: m.clientMsgId })}\n`
        expect(entryLine(n, m)).toBe(expected)
      }
    }
    // A field missing or of another type: still JSON.stringify's line (it leaves an undefined field out).
    const partial = { roomId: 'r', seq: 1, user: 'u', text: 't', sentAt: 2, clientMsgId: 'c' } as unknown as ChatMessage
    expect(entryLine(3, partial)).toBe(`${JSON.stringify({ seq: 1, term: 3, user: 'u', text: 't', sentAt: 2, clientMsgId: 'c' })}\n`)
  })

  it('a batch written is byte for byte the JSON.stringify lines of its entries, whatever they hold', () => {
    // appendEntries builds the lines' bytes itself (not through entryLine's strings): every kind of
    // string JSON escapes or not, multi-byte and surrogate text, long text that outgrows its buffer,
    // numbers JSON writes oddly, and a field of another type.
    const d = dir()
    const log = new MessageLog(d)
    log.open('room-1', 0)
    const odd = ['é'.repeat(40_000), '', 'plain', 'é😀', '"\\\n\t\u0000\u001f\u007f\u2028', '\uD800 lone', 'lone \uDC00', '😀😀', 'x'.repeat(40_000)]
    const nums = [1e21, -0, 0, 7, 10, 1796690089433, 2 ** 53 - 1, 2 ** 53, -3, 0.5, 1e-7]
    const entries: { term: number; message: ChatMessage }[] = []
    let seq = 1
    for (const s of odd) for (const n of nums) entries.push({ term: n, message: { roomId: 'room-1', seq: seq++, user: s, nodeId: `${s}n`, text: s + s, sentAt: n, clientMsgId: s } })
    entries.push({ term: 1, message: { roomId: 'room-1', seq: seq++, user: 'u', nodeId: 'n', text: 't', sentAt: 'soon', clientMsgId: 'c' } as unknown as ChatMessage })
    log.appendEntries('room-1', entries.slice(0, 5))
    log.appendEntries('room-1', entries.slice(5))
    const expected = entries.map((e) => `${JSON.stringify({ seq: e.message.seq, term: e.term, user: e.message.user, nodeId: e.message.nodeId, text: e.message.text, sentAt: e.message.sentAt, clientMsgId: e.message.clientMsgId })}\n`).join('')
    expect(readFileSync(join(d, 'room-1.jsonl')).equals(Buffer.from(expected))).toBe(true)
    // The index offsets of what was written this way find the lines.
    expect(log.rangeEntries('room-1', 1, seq - 1).map((e) => e.message.text)).toEqual(entries.map((e) => e.message.text))
  })

  it('batches of entries come back after a restart, in order, and ranges read through the index', () => {
    const d = dir()
    const log = new MessageLog(d)
    log.open('room-1', 10)
    let seq = 1
    // Batches of 1 to 7 entries past several index points (every 256th seq), with multi-byte text.
    while (seq <= 1000) {
      const batch = Array.from({ length: 1 + (seq % 7) }, (_, i) => ({ term: 2, message: msg(seq + i) }))
      log.appendEntries('room-1', batch)
      seq += batch.length
    }
    // Through the index this log built as it wrote, then through the one a restart builds.
    expect(log.range('room-1', 511, 513).map((m) => m.seq)).toEqual([511, 512, 513])
    expect(log.rangeEntries('room-1', 768, 769).map((e) => e.message.seq)).toEqual([768, 769])
    log.close('room-1')
    const again = new MessageLog(d)
    const opened = again.open('room-1', 3)
    expect(opened.lastSeq).toBe(seq - 1)
    expect(opened.tail.map((m) => m.seq)).toEqual([seq - 3, seq - 2, seq - 1])
    expect(again.rangeEntries('room-1', 250, 260).map((e) => [e.term, e.message.seq, e.message.text])).toEqual(
      Array.from({ length: 11 }, (_, i) => [2, 250 + i, msg(250 + i).text]),
    )
    expect(again.range('room-1', 511, 513).map((m) => m.seq)).toEqual([511, 512, 513])
  })
})
