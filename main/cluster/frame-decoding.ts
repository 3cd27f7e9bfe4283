/**
 * A LinkFrame read by hand for the peer messages every chat message crosses (docs/peer-protocol.md
 * §1, "Encoding" item), the counterpart of frame-encoding.ts: `roomAppend` without room state,
 * `roomAppendReply`, `forwardSend`, `sendAck` without an error, `deliver`, `heartbeat`. The result
 * is exactly the object proto-loader gives (protobufjs's `decode` then `toObject` with our loader
 * options: every field present, defaults for those not on the wire, 64-bit numbers as numbers, the
 * oneof's name in `body`), without building protobufjs's message objects and copying them.
 *
 * A frame with anything else goes to proto-loader's deserializer, whole: another kind, a field we do
 * not write or of another wire type, a oneof with more than one member set, bytes that are cut short
 * or run past the message they are in (protobufjs reads on into the next one; we leave it to it).
 * test/cluster/frame-decoding.test.ts compares both on every frame the encoder test makes and on
 * damaged copies of them.
 */
import type { LinkFrame } from './peer-messages'

type Deserialize = (bytes: Buffer) => LinkFrame

/** Thrown inside the reader when it meets something it leaves to proto-loader (never leaves this module). */
class LeftToProtoLoader extends Error {
  readonly code = 'left_to_proto_loader'
}
const GIVE_UP = new LeftToProtoLoader('frame-decoding: left to proto-loader')

/** Buffer's UTF-8 decoder without `toString`'s argument handling (what protobufjs's reader uses too). */
type Utf8Reader = Buffer & { utf8Slice?(start: number, end: number): string }
const utf8Slice = typeof (Buffer.prototype as Utf8Reader).utf8Slice === 'function'

/**
 * Ids read once per process, not once per message (docs/benchmarks.md, "Allocation per message"):
 * the room, user and node ids of a message are a few distinct values that recur on every message,
 * and each message keeps its strings for as long as a room's logs and rings keep it (tens of
 * thousands of messages), so a copy per message is memory the collector marks and moves again and
 * again. A direct-mapped table of the UTF-8 bytes of short ids and the string read from them: the
 * same bytes give the same string (utf8Slice is a function of the bytes), so a hit returns the one
 * already read; a miss (another id in the slot) reads and replaces it. Texts and clientMsgIds, new
 * every message, never go in (they would push the ids out).
 */
const ID_MAX_BYTES = 64
const ID_SLOTS = 256
const idBytes = Buffer.alloc(ID_SLOTS * ID_MAX_BYTES)
const idLength = new Int32Array(ID_SLOTS).fill(-1)
const idString: string[] = new Array<string>(ID_SLOTS).fill('')

class In {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    public end: number,
  ) {}

  /** A tag or a length: protobufjs's uint32 (up to 5 bytes, modulo 2^32). */
  uint32(): number {
    const buf = this.buf
    let pos = this.pos
    if (pos + 5 > this.end) return this.uint32Slow()
    let b = buf[pos++]
    let value = b & 0x7f
    if (b >= 0x80) {
      b = buf[pos++]
      value |= (b & 0x7f) << 7
      if (b >= 0x80) {
        b = buf[pos++]
        value |= (b & 0x7f) << 14
        if (b >= 0x80) {
          b = buf[pos++]
          value |= (b & 0x7f) << 21
          if (b >= 0x80) {
            b = buf[pos++]
            value = (value | ((b & 0x0f) << 28)) >>> 0
            // protobufjs reads on over a longer varint; leave that to it.
            if (b >= 0x80) throw GIVE_UP
          }
        }
      }
    }
    this.pos = pos
    return value
  }

  /** uint32 near the end of the bytes: each byte checked. */
  private uint32Slow(): number {
    let value = 0
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw GIVE_UP
      const b = this.buf[this.pos++]
      value = (value | ((b & 0x7f) << (7 * i))) >>> 0
      if (b < 0x80) return value
    }
    throw GIVE_UP
  }

  /** A uint64 as protobufjs turns it into a number: low 32 bits plus high 32 bits × 2^32. */
  uint64(): number {
    const buf = this.buf
    let lo = 0
    let hi = 0
    let i = 0
    for (; i < 4; i++) {
      if (this.pos >= this.end) throw GIVE_UP
      const b = buf[this.pos++]
      lo = (lo | ((b & 0x7f) << (i * 7))) >>> 0
      if (b < 0x80) return lo
    }
    if (this.pos >= this.end) throw GIVE_UP
    let b = buf[this.pos++]
    lo = (lo | ((b & 0x7f) << 28)) >>> 0
    hi = (b & 0x7f) >> 4
    if (b < 0x80) return lo + hi * 4294967296
    for (i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw GIVE_UP
      b = buf[this.pos++]
      hi = (hi | ((b & 0x7f) << (i * 7 + 3))) >>> 0
      if (b < 0x80) return lo + hi * 4294967296
    }
    throw GIVE_UP
  }

  /** protobufjs reads a bool as a uint32: only the low 32 bits count. */
  bool(): boolean {
    return this.uint32() !== 0
  }

  /** The end of a length-delimited field that starts here. */
  sub(): number {
    const n = this.uint32()
    const end = this.pos + n
    if (end > this.end) throw GIVE_UP
    return end
  }

  string(): string {
    return this.stringTo(this.sub())
  }

  /** A string that is an id (room, user, node): the one string already read from the same bytes, if any. */
  id(): string {
    const end = this.sub()
    const buf = this.buf
    const start = this.pos
    const n = end - start
    if (n > ID_MAX_BYTES) return this.stringTo(end)
    // FNV-1a over the bytes picks the slot.
    let h = 0x811c9dc5 ^ n
    for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193)
    const slot = (h >>> 0) % ID_SLOTS
    const at = slot * ID_MAX_BYTES
    if (idLength[slot] === n) {
      let i = 0
      while (i < n && idBytes[at + i] === buf[start + i]) i++
      if (i === n) {
        this.pos = end
        return idString[slot]
      }
    }
    const s = this.stringTo(end)
    buf.copy(idBytes, at, start, end)
    idLength[slot] = n
    idString[slot] = s
    return s
  }

  /** The string from here to `end`, and past it. */
  private stringTo(end: number): string {
    const s = utf8Slice ? (this.buf as Utf8Reader).utf8Slice!(this.pos, end) : this.buf.toString('utf8', this.pos, end)
    this.pos = end
    return s
  }
}

/** Wire types: 0 varint, 2 length-delimited. A field of another type than ours is left to proto-loader. */
function expect(tag: number, wire: 0 | 2): void {
  if ((tag & 7) !== wire) throw GIVE_UP
}

function chatMessage(r: In, end: number): Record<string, unknown> {
  const m = { roomId: '', seq: 0, user: '', nodeId: '', text: '', sentAt: 0, clientMsgId: '' }
  const outer = r.end
  r.end = end
  while (r.pos < end) {
    const tag = r.uint32()
    switch (tag >>> 3) {
      case 1: expect(tag, 2); m.roomId = r.id(); break
      case 2: expect(tag, 0); m.seq = r.uint64(); break
      case 3: expect(tag, 2); m.user = r.id(); break
      case 4: expect(tag, 2); m.nodeId = r.id(); break
      case 5: expect(tag, 2); m.text = r.string(); break
      case 6: expect(tag, 0); m.sentAt = r.uint64(); break
      case 7: expect(tag, 2); m.clientMsgId = r.string(); break
      default: throw GIVE_UP
    }
  }
  r.end = outer
  return m
}

function entry(r: In, end: number): Record<string, unknown> {
  const e: { term: number; message: Record<string, unknown> | null } = { term: 0, message: null }
  const outer = r.end
  r.end = end
  while (r.pos < end) {
    const tag = r.uint32()
    switch (tag >>> 3) {
      case 1: expect(tag, 0); e.term = r.uint64(); break
      case 2: { expect(tag, 2); const to = r.sub(); e.message = chatMessage(r, to); break }
      default: throw GIVE_UP
    }
  }
  r.end = outer
  return e
}

/** PeerMessage field number → the reader of that kind: the message as toObject gives it (defaults, `body`). */
const BODIES: Record<number, (r: In, end: number) => Record<string, unknown>> = {
  2: (r, end) => {
    const b = { sentAt: 0 }
    while (r.pos < end) {
      const tag = r.uint32()
      if (tag >>> 3 !== 1) throw GIVE_UP
      expect(tag, 0)
      b.sentAt = r.uint64()
    }
    return { heartbeat: b, body: 'heartbeat' }
  },
  20: (r, end) => {
    const b = { reqId: 0, roomId: '', user: '', text: '', clientMsgId: '' }
    while (r.pos < end) {
      const tag = r.uint32()
      switch (tag >>> 3) {
        case 1: expect(tag, 0); b.reqId = r.uint64(); break
        case 2: expect(tag, 2); b.roomId = r.id(); break
        case 3: expect(tag, 2); b.user = r.id(); break
        case 4: expect(tag, 2); b.text = r.string(); break
        case 5: expect(tag, 2); b.clientMsgId = r.string(); break
        default: throw GIVE_UP
      }
    }
    return { forwardSend: b, body: 'forwardSend' }
  },
  21: (r, end) => {
    const b = { reqId: 0, error: null, seq: 0 }
    while (r.pos < end) {
      const tag = r.uint32()
      switch (tag >>> 3) {
        case 1: expect(tag, 0); b.reqId = r.uint64(); break
        case 3: expect(tag, 0); b.seq = r.uint64(); break
        default: throw GIVE_UP // an error (field 2) is proto-loader's to read
      }
    }
    return { sendAck: b, body: 'sendAck' }
  },
  22: (r, end) => {
    const b: { roomId: string; messages: Record<string, unknown>[] } = { roomId: '', messages: [] }
    while (r.pos < end) {
      const tag = r.uint32()
      switch (tag >>> 3) {
        case 1: expect(tag, 2); b.roomId = r.id(); break
        case 2: { expect(tag, 2); const to = r.sub(); b.messages.push(chatMessage(r, to)); break }
        default: throw GIVE_UP
      }
    }
    return { deliver: b, body: 'deliver' }
  },
  50: (r, end) => {
    const b: Record<string, unknown> & { entries: Record<string, unknown>[] } = {
      roomId: '', term: 0, leader: '', prevSeq: 0, prevTerm: 0, entries: [], commitSeq: 0, meta: null, noReply: false,
    }
    while (r.pos < end) {
      const tag = r.uint32()
      switch (tag >>> 3) {
        case 1: expect(tag, 2); b.roomId = r.id(); break
        case 2: expect(tag, 0); b.term = r.uint64(); break
        case 3: expect(tag, 2); b.leader = r.id(); break
        case 4: expect(tag, 0); b.prevSeq = r.uint64(); break
        case 5: expect(tag, 0); b.prevTerm = r.uint64(); break
        case 6: { expect(tag, 2); const to = r.sub(); b.entries.push(entry(r, to)); break }
        case 7: expect(tag, 0); b.commitSeq = r.uint64(); break
        case 9: expect(tag, 0); b.noReply = r.bool(); break
        default: throw GIVE_UP // room state (field 8) is proto-loader's to read
      }
    }
    return { roomAppend: b, body: 'roomAppend' }
  },
  51: (r, end) => {
    const b = { roomId: '', term: 0, ok: false, matchSeq: 0, leader: '', metaTerm: 0, metaVersion: 0 }
    while (r.pos < end) {
      const tag = r.uint32()
      switch (tag >>> 3) {
        case 1: expect(tag, 2); b.roomId = r.id(); break
        case 2: expect(tag, 0); b.term = r.uint64(); break
        case 3: expect(tag, 0); b.ok = r.bool(); break
        case 4: expect(tag, 0); b.matchSeq = r.uint64(); break
        case 5: expect(tag, 2); b.leader = r.id(); break
        case 6: expect(tag, 0); b.metaTerm = r.uint64(); break
        case 7: expect(tag, 0); b.metaVersion = r.uint64(); break
        default: throw GIVE_UP
      }
    }
    return { roomAppendReply: b, body: 'roomAppendReply' }
  },
}

/** One PeerMessage's bytes (start..end) read by hand, or undefined when they are proto-loader's to read. */
function peerMessage(r: In, end: number): Record<string, unknown> | undefined {
  r.end = end
  const tag = r.uint32()
  const read = BODIES[tag >>> 3]
  if (!read || (tag & 7) !== 2) return undefined
  // One member of the oneof, and nothing after it.
  if (r.sub() !== end) return undefined
  return read(r, end)
}

/** proto-loader's LinkFrame deserializer, with the hot kinds read by hand; `slow` is proto-loader's own. */
export function linkFrameDeserializer(slow: Deserialize): Deserialize {
  return (bytes: Buffer): LinkFrame => {
    const messages: unknown[] = []
    const r = new In(bytes, 0, bytes.length)
    try {
      while (r.pos < bytes.length) {
        r.end = bytes.length
        const tag = r.uint32()
        if (tag !== ((1 << 3) | 2)) return slow(bytes)
        const end = r.sub()
        const m = peerMessage(r, end)
        // Another kind: proto-loader reads the whole frame (a message it reads alone could read
        // differently from a damaged frame than within it; such frames are rare under load).
        if (m === undefined) return slow(bytes)
        messages.push(m)
        r.pos = end
      }
    } catch (e) {
      if (e === GIVE_UP) return slow(bytes)
      throw e
    }
    return { messages } as LinkFrame
  }
}
