/**
 * The administrator's message log: every message it orders, one file per room, one JSON line per
 * message, appended before the message is sent to anyone (docs/architecture.md §2: persist first, then send).
 *
 * Why a plain append-only file: it needs no native module (the same code runs in Node tests and in
 * Electron without a rebuild), a write is one syscall, and the file is readable by a student with
 * `tail -f`. Each append is a synchronous write, so it is in the operating system's cache before
 * any member hears of the message: a node killed with kill -9 loses nothing it ever announced, and
 * comes back with the exact last seq (no seq is reused or skipped). `fsync` (off by default) also
 * covers power loss, at the cost of a disk flush per message.
 *
 * A torn last line (power loss in the middle of a write) is cut off when the log is opened. A sparse
 * index (the byte offset of every INDEX_EVERY-th seq) lets history reads seek instead of scanning.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import type { ChatMessage } from '../../proto/client-protocol'

const INDEX_EVERY = 256
const READ_CHUNK = 64 * 1024

export interface OpenedLog {
  /** Highest seq in the log (0 for an empty or new log). */
  lastSeq: number
  /** The last `tail` messages, ascending. */
  tail: ChatMessage[]
}

interface RoomFile {
  fd: number
  size: number
  lastSeq: number
  /** index[k] = byte offset of the line holding seq k * INDEX_EVERY + firstSeq, in ascending seqs. */
  offsets: Map<number, number>
}

export class MessageLogError extends Error {
  override readonly name = 'MessageLogError'
  readonly code = 'message_log'
}

function fileName(roomId: string): string {
  return `${encodeURIComponent(roomId)}.jsonl`
}

function parseLine(line: string, roomId: string): ChatMessage | undefined {
  try {
    const o = JSON.parse(line) as Partial<ChatMessage>
    if (typeof o.seq !== 'number' || typeof o.text !== 'string' || typeof o.user !== 'string') return undefined
    return {
      roomId,
      seq: o.seq,
      user: o.user,
      nodeId: String(o.nodeId ?? ''),
      text: o.text,
      sentAt: Number(o.sentAt ?? 0),
      clientMsgId: String(o.clientMsgId ?? ''),
    }
  } catch {
    return undefined
  }
}

/** A line with the replication term it was stored under (docs/replication.md; 0 = unreplicated). */
function parseEntry(line: string, roomId: string): { term: number; message: ChatMessage } | undefined {
  const message = parseLine(line, roomId)
  if (!message) return undefined
  const t = (JSON.parse(line) as { term?: unknown }).term
  return { term: typeof t === 'number' ? t : 0, message }
}

/**
 * A replicated entry's line: exactly `JSON.stringify` of {seq, term, user, nodeId, text, sentAt,
 * clientMsgId} and a newline, built without the object when every field has its type (only the
 * strings need JSON's escaping); anything else goes through JSON.stringify itself.
 */
export function entryLine(term: number, m: ChatMessage): string {
  if (
    Number.isFinite(m.seq) &&
    Number.isFinite(term) &&
    Number.isFinite(m.sentAt) &&
    typeof m.user === 'string' &&
    typeof m.nodeId === 'string' &&
    typeof m.text === 'string' &&
    typeof m.clientMsgId === 'string'
  ) {
    return `{"seq":${m.seq},"term":${term},"user":${JSON.stringify(m.user)},"nodeId":${JSON.stringify(m.nodeId)},"text":${JSON.stringify(m.text)},"sentAt":${m.sentAt},"clientMsgId":${JSON.stringify(m.clientMsgId)}}\n`
  }
  return `${JSON.stringify({ seq: m.seq, term, user: m.user, nodeId: m.nodeId, text: m.text, sentAt: m.sentAt, clientMsgId: m.clientMsgId })}\n`
}

/**
 * Characters JSON.stringify writes other than as themselves: the quote, the backslash, controls, and
 * surrogates (a lone one is escaped; a string with any goes through JSON.stringify, pairs too).
 */
// eslint-disable-next-line no-control-regex -- the control characters are what JSON escapes
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/

/** Buffer's own writers, without write()'s argument handling (protobufjs writes with them too). */
type RawWriters = Buffer & { latin1Write?(s: string, offset: number): number; utf8Write?(s: string, offset: number): number }
const rawWriters = typeof (Buffer.prototype as RawWriters).utf8Write === 'function' && typeof (Buffer.prototype as RawWriters).latin1Write === 'function'

/** What entryLine writes around the values. */
const KEYS = {
  seq: Buffer.from('{"seq":'),
  term: Buffer.from(',"term":'),
  user: Buffer.from(',"user":'),
  nodeId: Buffer.from(',"nodeId":'),
  text: Buffer.from(',"text":'),
  sentAt: Buffer.from(',"sentAt":'),
  clientMsgId: Buffer.from(',"clientMsgId":'),
  end: Buffer.from('}\n'),
}

const LINE_BYTES_START = 64 * 1024
const LINE_BYTES_KEPT = 1024 * 1024

/**
 * The bytes of the log lines of a write, built in place in one buffer kept for the next write
 * (docs/benchmarks.md, "Allocation per message"): exactly entryLine's text in UTF-8, without
 * building it as strings (the JSON texts of four strings, the pieces joined and then flattened for
 * the write, about 1.4 kB per entry on every node). Strings that JSON leaves as they are are copied
 * between their quotes; any other goes through JSON.stringify.
 */
class LineBytes {
  buf = Buffer.allocUnsafe(LINE_BYTES_START)
  len = 0

  private room(bytes: number): void {
    if (this.len + bytes <= this.buf.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + bytes))
    this.buf.copy(grown, 0, 0, this.len)
    this.buf = grown
  }

  /** ASCII only. */
  ascii(s: string): void {
    this.room(s.length)
    this.len += rawWriters ? (this.buf as RawWriters).latin1Write!(s, this.len) : this.buf.write(s, this.len, 'latin1')
  }

  /** Bytes made once (the keys between the values). */
  bytes(b: Buffer): void {
    this.room(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
  }

  /** A finite number as JSON writes it (String(n)); a safe integer's digits without a string. */
  number(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) return this.ascii(String(n))
    this.room(16)
    if (n === 0) {
      this.buf[this.len++] = 0x30 // also -0, which JSON writes as 0
      return
    }
    let digits = 0
    for (let k = n; k > 0; k = Math.floor(k / 10)) digits++
    let at = this.len + digits
    for (let k = n; k > 0; k = Math.floor(k / 10)) this.buf[--at] = 0x30 + (k % 10)
    this.len += digits
  }

  /** Bytes written (room made by the caller). */
  private utf8(s: string): number {
    return rawWriters ? (this.buf as RawWriters).utf8Write!(s, this.len) : this.buf.write(s, this.len, 'utf8')
  }

  json(s: string): void {
    const text = JSON_ESCAPED.test(s) ? JSON.stringify(s) : undefined
    const n = text === undefined ? s.length + 2 : text.length
    this.room(3 * n)
    if (text !== undefined) {
      this.len += this.utf8(text)
      return
    }
    this.buf[this.len++] = 0x22
    this.len += this.utf8(s)
    this.buf[this.len++] = 0x22
  }

  /** entryLine(term, m), appended. */
  entry(term: number, m: ChatMessage): void {
    if (
      !Number.isFinite(m.seq) ||
      !Number.isFinite(term) ||
      !Number.isFinite(m.sentAt) ||
      typeof m.user !== 'string' ||
      typeof m.nodeId !== 'string' ||
      typeof m.text !== 'string' ||
      typeof m.clientMsgId !== 'string'
    ) {
      const line = entryLine(term, m)
      this.room(3 * line.length)
      this.len += this.utf8(line)
      return
    }
    this.bytes(KEYS.seq)
    this.number(m.seq)
    this.bytes(KEYS.term)
    this.number(term)
    this.bytes(KEYS.user)
    this.json(m.user)
    this.bytes(KEYS.nodeId)
    this.json(m.nodeId)
    this.bytes(KEYS.text)
    this.json(m.text)
    this.bytes(KEYS.sentAt)
    this.number(m.sentAt)
    this.bytes(KEYS.clientMsgId)
    this.json(m.clientMsgId)
    this.bytes(KEYS.end)
  }
}

const lineBytes = new LineBytes()

/** Read a file line by line from `start`, calling `each(line, offsetOfLine)` until it returns false. */
function scanLines(fd: number, start: number, end: number, each: (line: string, offset: number) => boolean): number {
  const buf = Buffer.alloc(READ_CHUNK)
  let pos = start
  let carry = Buffer.alloc(0)
  let carryAt = start
  while (pos < end) {
    const n = readSync(fd, buf, 0, Math.min(READ_CHUNK, end - pos), pos)
    if (n <= 0) break
    pos += n
    let chunk = Buffer.concat([carry, buf.subarray(0, n)])
    let chunkAt = carryAt
    let nl: number
    while ((nl = chunk.indexOf(0x0a)) >= 0) {
      const line = chunk.subarray(0, nl).toString('utf8')
      if (!each(line, chunkAt)) return chunkAt
      chunkAt += nl + 1
      chunk = chunk.subarray(nl + 1)
    }
    carry = Buffer.from(chunk)
    carryAt = chunkAt
  }
  // What is left without a newline is a torn write: the caller cuts the file there.
  return carryAt
}

/** The message logs of a node's rooms, as one component: MessageLog (files) or the simulator's in memory. */
export type MessageStore = Pick<
  MessageLog,
  'roomIds' | 'open' | 'append' | 'range' | 'lastSeq' | 'sync' | 'close' | 'drop' | 'isOpen' | 'appendEntries' | 'truncateAfter' | 'rangeEntries' | 'resumeAfter'
>

export class MessageLog {
  private readonly rooms = new Map<string, RoomFile>()

  constructor(
    readonly dir: string,
    private readonly opts: { fsync?: boolean } = {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  }

  /** Rooms that have a log on disk. */
  roomIds(): string[] {
    if (!existsSync(this.dir)) return []
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => decodeURIComponent(f.slice(0, -'.jsonl'.length)))
  }

  /** Open (or create) a room's log: its last seq and its last `tail` messages. */
  open(roomId: string, tail: number): OpenedLog {
    this.close(roomId)
    const path = join(this.dir, fileName(roomId))
    const fd = openSync(path, 'a+', 0o600)
    const size = statSync(path).size
    const offsets = new Map<number, number>()
    const last: ChatMessage[] = []
    let lastSeq = 0
    const goodEnd = scanLines(fd, 0, size, (line, offset) => {
      const m = parseLine(line, roomId)
      if (!m) return true // a damaged line in the middle: skip it, keep the rest
      lastSeq = m.seq
      if (m.seq % INDEX_EVERY === 0 || offsets.size === 0) offsets.set(m.seq, offset)
      last.push(m)
      if (last.length > tail) last.shift()
      return true
    })
    if (goodEnd < size) ftruncateSync(fd, goodEnd)
    this.rooms.set(roomId, { fd, size: goodEnd, lastSeq, offsets })
    return { lastSeq, tail: last }
  }

  /** Append one message; it is in the OS cache (and on disk with fsync) when this returns. */
  append(m: ChatMessage): void {
    const f = this.rooms.get(m.roomId)
    if (!f) throw new MessageLogError(`room ${m.roomId} has no open log`)
    if (m.seq <= f.lastSeq) throw new MessageLogError(`seq ${m.seq} is not after ${f.lastSeq} in room ${m.roomId}`)
    const line = Buffer.from(
      `${JSON.stringify({ seq: m.seq, user: m.user, nodeId: m.nodeId, text: m.text, sentAt: m.sentAt, clientMsgId: m.clientMsgId })}\n`,
    )
    writeSync(f.fd, line)
    if (this.opts.fsync) fsyncSync(f.fd)
    if (m.seq % INDEX_EVERY === 0 || f.offsets.size === 0) f.offsets.set(m.seq, f.size)
    f.size += line.length
    f.lastSeq = m.seq
  }

  /**
   * Replicated rooms (docs/replication.md): append log entries, each line with its term, in one
   * write (entries ascending, right after the last seq).
   */
  appendEntries(roomId: string, entries: { term: number; message: ChatMessage }[]): void {
    const f = this.rooms.get(roomId)
    if (!f) throw new MessageLogError(`room ${roomId} has no open log`)
    if (entries.length === 0) return
    let expected = f.lastSeq + 1
    // All the lines in one buffer, one write: this runs for every append on every replica
    // (docs/benchmarks.md, "Per-frame costs" and "Allocation per message").
    const out = lineBytes
    out.len = 0
    for (const { term, message: m } of entries) {
      if (m.seq !== expected) throw new MessageLogError(`seq ${m.seq} does not follow ${expected - 1} in room ${roomId}`)
      if (m.seq % INDEX_EVERY === 0 || f.offsets.size === 0) f.offsets.set(m.seq, f.size + out.len)
      out.entry(term, m)
      expected++
    }
    writeSync(f.fd, out.buf, 0, out.len)
    // A catch-up's large batch does not keep its buffer for the life of the process.
    if (out.buf.length > LINE_BYTES_KEPT) out.buf = Buffer.allocUnsafe(LINE_BYTES_START)
    if (this.opts.fsync) fsyncSync(f.fd)
    f.size += out.len
    f.lastSeq = expected - 1
  }

  /** Replicated rooms: drop every entry after `seq` (an uncommitted tail another administrator replaced). */
  truncateAfter(roomId: string, seq: number): void {
    const f = this.rooms.get(roomId)
    if (!f || seq >= f.lastSeq) return
    let start = 0
    let best = -Infinity
    for (const [s, off] of f.offsets) {
      if (s <= seq && s > best) {
        best = s
        start = off
      }
    }
    let cut = f.size
    scanLines(f.fd, start, f.size, (line, offset) => {
      const m = parseLine(line, roomId)
      if (m && m.seq > seq) {
        cut = offset
        return false
      }
      return true
    })
    ftruncateSync(f.fd, cut)
    if (this.opts.fsync) fsyncSync(f.fd)
    f.size = cut
    f.lastSeq = Math.min(f.lastSeq, seq)
    for (const s of [...f.offsets.keys()]) if (s > seq || (f.offsets.get(s) ?? 0) >= cut) f.offsets.delete(s)
  }

  /** Replicated rooms: entries with from <= seq <= to, with their terms, ascending. */
  rangeEntries(roomId: string, from: number, to: number): { term: number; message: ChatMessage }[] {
    const f = this.rooms.get(roomId)
    if (!f || to < from) return []
    const start = startOffset(f.offsets, from)
    const out: { term: number; message: ChatMessage }[] = []
    scanLines(f.fd, start, f.size, (line) => {
      const e = parseEntry(line, roomId)
      if (!e) return true
      if (e.message.seq > to) return false
      if (e.message.seq >= from) out.push(e)
      return true
    })
    return out
  }

  /** Messages with from <= seq <= to, ascending, read from disk. */
  range(roomId: string, from: number, to: number): ChatMessage[] {
    const f = this.rooms.get(roomId)
    if (!f || to < from) return []
    const start = startOffset(f.offsets, from)
    const out: ChatMessage[] = []
    scanLines(f.fd, start, f.size, (line) => {
      const m = parseLine(line, roomId)
      if (!m) return true
      if (m.seq > to) return false
      if (m.seq >= from) out.push(m)
      return true
    })
    return out
  }

  /**
   * A room whose log lost messages it had committed (its file removed by hand: docs/persistence.md)
   * goes on after `seq`: the next append is `seq` + 1, and reads below it find nothing here (the
   * history archive answers them, docs/archive.md). No effect on a log already past `seq`.
   */
  resumeAfter(roomId: string, seq: number): void {
    const f = this.rooms.get(roomId)
    if (!f) throw new MessageLogError(`room ${roomId} has no open log`)
    if (f.lastSeq < seq) f.lastSeq = seq
  }

  lastSeq(roomId: string): number {
    return this.rooms.get(roomId)?.lastSeq ?? 0
  }

  isOpen(roomId: string): boolean {
    return this.rooms.has(roomId)
  }

  /** Flush to disk (graceful stop). */
  sync(): void {
    for (const f of this.rooms.values()) fsyncSync(f.fd)
  }

  close(roomId?: string): void {
    for (const [id, f] of this.rooms) {
      if (roomId !== undefined && id !== roomId) continue
      closeSync(f.fd)
      this.rooms.delete(id)
    }
  }

  /** The room was deleted: its log goes too. */
  drop(roomId: string): void {
    this.close(roomId)
    rmSync(join(this.dir, fileName(roomId)), { force: true })
  }
}

/** Where to start reading for `from`: the offset of the last indexed seq at or before it (or 0). */
function startOffset(offsets: Map<number, number>, from: number): number {
  let start = 0
  let best = -Infinity
  for (const [seq, off] of offsets) {
    if (seq <= from && seq > best) {
      best = seq
      start = off
    }
  }
  return start
}
