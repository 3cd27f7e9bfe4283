/**
 * A LinkFrame's bytes, written by hand for the peer messages every chat message crosses
 * (docs/peer-protocol.md §1, "Encoding" item): `roomAppend` without room state, `roomAppendReply`,
 * `forwardSend`, `sendAck` without an error, `deliver`, `heartbeat`. Anything else, and any of these
 * with a value of an unexpected type, goes through proto-loader's serializer, one message at a time.
 *
 * Why: serialising was 11 % of an administrator's CPU at 36k deliveries/s (docs/benchmarks.md,
 * "Per-frame costs"): proto-loader copies every message with protobufjs's `fromObject` before
 * encoding it, and protobufjs's writer builds a list of operations per field and walks it again.
 * Here a message's size is counted first, then it is written into one buffer.
 *
 * The bytes are exactly protobufjs's (test/cluster/frame-encoding.test.ts compares them, field by
 * field around their limits): fields in field-number order; a scalar written whenever it is set,
 * zero and empty included (protobufjs writes a set field even at its default); an empty repeated
 * field and a null message field left out. A LinkFrame is its messages, each as field 1
 * (`0x0a`, length, bytes): a frame of several messages is the concatenation of one-message frames,
 * which is how a message the hand encoder does not take joins the others.
 */
import type { LinkFrame, PeerMessage } from './peer-messages'

type Serialize = (frame: LinkFrame) => Buffer

/**
 * Sizes found by the size pass, in the order the write pass needs them (each string's UTF-8 length,
 * each nested message's size): the write pass reads them back instead of measuring again. Serialising
 * is synchronous, so one list serves every call.
 */
const sizes: number[] = []

function varintSize(n: number): number {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}

/** A uint64 field's value we can write: a non-negative safe integer. */
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/**
 * UTF-8 length of a string, or -1 if it holds a lone surrogate (left to protobufjs: its UTF-8 writer
 * and Buffer's write one differently).
 */
function utf8Length(s: string): number {
  // ASCII (the common case) in one call: any other character takes more than one byte.
  const bytes = Buffer.byteLength(s)
  if (bytes === s.length) return bytes
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdfff) {
      const d = s.charCodeAt(i + 1)
      if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) return -1
      n += 4
      i++
    } else n += 3
  }
  return n
}

// Size pass: each returns a field's encoded size and pushes what the write pass needs, or -1 when
// the value is not one the hand encoder writes (the message then goes to protobufjs).
function strField(tag: number, s: unknown): number {
  if (s == null) return 0
  if (typeof s !== 'string') return -1
  const n = utf8Length(s)
  if (n < 0) return -1
  sizes.push(n)
  return varintSize(tag) + varintSize(n) + n
}
function numField(tag: number, v: unknown): number {
  if (v == null) return 0
  return isCount(v) ? varintSize(tag) + varintSize(v) : -1
}
function boolField(tag: number, v: unknown): number {
  if (v == null) return 0
  return typeof v === 'boolean' ? varintSize(tag) + 1 : -1
}

// Tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
const T = (field: number, wire: 0 | 2) => (field << 3) | wire

/** A nested message field: its size is pushed before its own fields' sizes (the write pass's order). */
function msgField(tag: number, measure: () => number): number {
  const at = sizes.length
  sizes.push(0)
  const size = measure()
  if (size < 0) return -1
  sizes[at] = size
  return varintSize(tag) + varintSize(size) + size
}

function chatMessageSize(m: unknown): number {
  if (m === null || typeof m !== 'object') return -1
  const c = m as Record<string, unknown>
  let n = 0
  let f: number
  if ((f = strField(T(1, 2), c.roomId)) < 0) return -1
  n += f
  if ((f = numField(T(2, 0), c.seq)) < 0) return -1
  n += f
  if ((f = strField(T(3, 2), c.user)) < 0) return -1
  n += f
  if ((f = strField(T(4, 2), c.nodeId)) < 0) return -1
  n += f
  if ((f = strField(T(5, 2), c.text)) < 0) return -1
  n += f
  if ((f = numField(T(6, 0), c.sentAt)) < 0) return -1
  n += f
  if ((f = strField(T(7, 2), c.clientMsgId)) < 0) return -1
  return n + f
}

function entrySize(e: unknown): number {
  if (e === null || typeof e !== 'object') return -1
  const x = e as Record<string, unknown>
  const term = numField(T(1, 0), x.term)
  if (term < 0) return -1
  if (x.message == null) return term
  const m = msgField(T(2, 2), () => chatMessageSize(x.message))
  return m < 0 ? -1 : term + m
}

function repeatedSize(tag: number, list: unknown, size: (x: unknown) => number): number {
  if (list == null) return 0
  if (!Array.isArray(list)) return -1
  let total = 0
  for (const x of list) {
    const s = msgField(tag, () => size(x))
    if (s < 0) return -1
    total += s
  }
  return total
}

/** Sum of field sizes, -1 if any is -1 (the fields are measured in order, as they are written). */
function sum(...fields: number[]): number {
  let total = 0
  for (const f of fields) {
    if (f < 0) return -1
    total += f
  }
  return total
}

/** The body's size for a kind the hand encoder writes, or -1. */
function bodySize(kind: string, b: Record<string, unknown>): number {
  switch (kind) {
    case 'roomAppend':
      if (b.meta != null) return -1
      return sum(
        strField(T(1, 2), b.roomId),
        numField(T(2, 0), b.term),
        strField(T(3, 2), b.leader),
        numField(T(4, 0), b.prevSeq),
        numField(T(5, 0), b.prevTerm),
        repeatedSize(T(6, 2), b.entries, entrySize),
        numField(T(7, 0), b.commitSeq),
        boolField(T(9, 0), b.noReply),
      )
    case 'roomAppendReply':
      return sum(
        strField(T(1, 2), b.roomId),
        numField(T(2, 0), b.term),
        boolField(T(3, 0), b.ok),
        numField(T(4, 0), b.matchSeq),
        strField(T(5, 2), b.leader),
        numField(T(6, 0), b.metaTerm),
        numField(T(7, 0), b.metaVersion),
      )
    case 'forwardSend':
      return sum(
        numField(T(1, 0), b.reqId),
        strField(T(2, 2), b.roomId),
        strField(T(3, 2), b.user),
        strField(T(4, 2), b.text),
        strField(T(5, 2), b.clientMsgId),
      )
    case 'sendAck':
      if (b.error != null) return -1
      return sum(numField(T(1, 0), b.reqId), numField(T(3, 0), b.seq))
    case 'deliver':
      return sum(strField(T(1, 2), b.roomId), repeatedSize(T(2, 2), b.messages, chatMessageSize))
    case 'heartbeat':
      return numField(T(1, 0), b.sentAt)
    default:
      return -1
  }
}

/** PeerMessage field numbers of the kinds written by hand. */
const FIELD: Record<string, number> = { heartbeat: 2, forwardSend: 20, sendAck: 21, deliver: 22, roomAppend: 50, roomAppendReply: 51 }

/** Buffer's own UTF-8 writer without `write`'s argument juggling (what protobufjs uses too), where it exists. */
type Utf8Writer = Buffer & { utf8Write?(s: string, offset: number, length: number): number }
const writeUtf8 =
  typeof (Buffer.prototype as Utf8Writer).utf8Write === 'function'
    ? (buf: Buffer, s: string, pos: number, n: number) => (buf as Utf8Writer).utf8Write!(s, pos, n)
    : (buf: Buffer, s: string, pos: number, n: number) => buf.write(s, pos, n, 'utf8')

/** Write pass: the same fields, in the same order, into `buf` from `pos`, with the sizes measured. */
class Out {
  pos = 0
  /** Next entry of `sizes`. */
  next = 0
  constructor(readonly buf: Buffer) {}
  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    this.buf[this.pos++] = n
  }
  str(tag: number, v: unknown): void {
    if (v == null) return
    const s = v as string
    const n = sizes[this.next++]
    this.varint(tag)
    this.varint(n)
    if (n === s.length && n < 64) {
      // Short ASCII: byte by byte, cheaper than a call into C++.
      const buf = this.buf
      let pos = this.pos
      for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i)
      this.pos = pos
    } else this.pos += writeUtf8(this.buf, s, this.pos, n)
  }
  num(tag: number, v: unknown): void {
    if (v == null) return
    this.varint(tag)
    this.varint(v as number)
  }
  bool(tag: number, v: unknown): void {
    if (v == null) return
    this.varint(tag)
    this.buf[this.pos++] = v ? 1 : 0
  }
  sub(tag: number): void {
    this.varint(tag)
    this.varint(sizes[this.next++])
  }
  chatMessage(m: Record<string, unknown>): void {
    this.str(T(1, 2), m.roomId)
    this.num(T(2, 0), m.seq)
    this.str(T(3, 2), m.user)
    this.str(T(4, 2), m.nodeId)
    this.str(T(5, 2), m.text)
    this.num(T(6, 0), m.sentAt)
    this.str(T(7, 2), m.clientMsgId)
  }
  body(kind: string, b: Record<string, unknown>): void {
    switch (kind) {
      case 'roomAppend': {
        this.str(T(1, 2), b.roomId)
        this.num(T(2, 0), b.term)
        this.str(T(3, 2), b.leader)
        this.num(T(4, 0), b.prevSeq)
        this.num(T(5, 0), b.prevTerm)
        for (const e of (b.entries as Record<string, unknown>[] | undefined) ?? []) {
          this.sub(T(6, 2))
          this.num(T(1, 0), e.term)
          if (e.message != null) {
            this.sub(T(2, 2))
            this.chatMessage(e.message as Record<string, unknown>)
          }
        }
        this.num(T(7, 0), b.commitSeq)
        this.bool(T(9, 0), b.noReply)
        return
      }
      case 'roomAppendReply':
        this.str(T(1, 2), b.roomId)
        this.num(T(2, 0), b.term)
        this.bool(T(3, 0), b.ok)
        this.num(T(4, 0), b.matchSeq)
        this.str(T(5, 2), b.leader)
        this.num(T(6, 0), b.metaTerm)
        this.num(T(7, 0), b.metaVersion)
        return
      case 'forwardSend':
        this.num(T(1, 0), b.reqId)
        this.str(T(2, 2), b.roomId)
        this.str(T(3, 2), b.user)
        this.str(T(4, 2), b.text)
        this.str(T(5, 2), b.clientMsgId)
        return
      case 'sendAck':
        this.num(T(1, 0), b.reqId)
        this.num(T(3, 0), b.seq)
        return
      case 'deliver':
        this.str(T(1, 2), b.roomId)
        for (const m of (b.messages as Record<string, unknown>[] | undefined) ?? []) {
          this.sub(T(2, 2))
          this.chatMessage(m)
        }
        return
      case 'heartbeat':
        this.num(T(1, 0), b.sentAt)
        return
    }
  }
}

/** The one key of a message object (its kind), or undefined if it has none or several. */
function kindOf(m: PeerMessage): string | undefined {
  let kind: string | undefined
  for (const k in m) {
    if (kind !== undefined) return undefined
    kind = k
  }
  return kind
}

/**
 * proto-loader's LinkFrame serializer, with the hot kinds written by hand; `slow` is proto-loader's
 * own (used for every other message, and for a frame that is not a plain list of messages).
 */
export function linkFrameSerializer(slow: Serialize): Serialize {
  return (frame: LinkFrame): Buffer => {
    const messages = (frame as { messages?: unknown } | null)?.messages
    if (!Array.isArray(messages)) return slow(frame)
    sizes.length = 0
    // Per message: its kind (written by hand) with its sizes in `sizes`, or its bytes from protobufjs.
    const kinds: (string | Buffer)[] = new Array(messages.length)
    let total = 0
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as unknown
      const kind = m !== null && typeof m === 'object' ? kindOf(m as PeerMessage) : undefined
      const body = kind !== undefined ? (m as Record<string, unknown>)[kind] : undefined
      const mark = sizes.length
      let size = -1
      if (kind !== undefined && FIELD[kind] !== undefined && body !== null && typeof body === 'object') {
        sizes.push(0, 0)
        size = bodySize(kind, body as Record<string, unknown>)
      }
      if (size < 0) {
        sizes.length = mark
        // A one-message LinkFrame is exactly this message's part of any frame.
        const part = slow({ messages: [m as PeerMessage] })
        kinds[i] = part
        total += part.length
        continue
      }
      const field = T(FIELD[kind!], 2)
      const inner = varintSize(field) + varintSize(size) + size
      sizes[mark] = inner
      sizes[mark + 1] = size
      kinds[i] = kind!
      total += 1 + varintSize(inner) + inner
    }
    const out = new Out(Buffer.allocUnsafe(total))
    for (let i = 0; i < messages.length; i++) {
      const k = kinds[i]
      if (typeof k !== 'string') {
        k.copy(out.buf, out.pos)
        out.pos += k.length
        continue
      }
      out.sub(T(1, 2))
      out.sub(T(FIELD[k], 2))
      out.body(k, (messages[i] as Record<string, Record<string, unknown>>)[k])
    }
    // Cannot happen (both passes read the same fields); if it did, protobufjs's bytes are right.
    return out.pos === total && out.next === sizes.length ? out.buf : slow(frame)
  }
}
