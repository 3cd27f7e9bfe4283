// The hand-written LinkFrame reader (main/cluster/frame-decoding.ts) must give proto-loader's object
// for every frame: the same object for the kinds it reads, proto-loader's own for everything else,
// and for damaged frames the same object or the same failure.
import { describe, expect, it } from 'vitest'
import * as protoLoader from '@grpc/proto-loader'
import { linkFrameDeserializer } from '../../main/cluster/frame-decoding'
import type { LinkFrame } from '../../main/cluster/peer-messages'
import { LOADER_OPTIONS } from '../../main/cluster/peer-transport'
import { peerProtoFile, protoDir } from '../../main/cluster/proto-path'
import { Prng } from '../../sim/prng'
import { message, good } from '../helpers/peer-samples'

const def = protoLoader.loadSync([peerProtoFile()], { ...LOADER_OPTIONS, includeDirs: [protoDir()] })
const link = (def['chat.peer.v1.PeerService'] as protoLoader.ServiceDefinition).Link
const encode = link.requestSerialize as (f: unknown) => Buffer
const slow = link.requestDeserialize as (b: Buffer) => LinkFrame
let slowCalls = 0
const fast = linkFrameDeserializer((b) => {
  slowCalls++
  return slow(b)
})

const values: Record<string, unknown[]> = {
  number: [0, 1, 127, 128, 2 ** 32 - 1, 2 ** 32, 2 ** 35 + 7, Number.MAX_SAFE_INTEGER, 2 ** 60, undefined],
  string: ['', 'x', 'é😀', '\uD800', 'x'.repeat(300), undefined],
  boolean: [true, false, undefined],
}

/** Frames of the kinds read by hand, every field through its values (left out, too: then its default). */
function hotFrames(): unknown[] {
  const out: unknown[] = []
  for (const [kind, body] of Object.entries(good)) {
    out.push({ messages: [{ [kind]: body }] }, { messages: [{ [kind]: {} }] })
    for (const [field, v0] of Object.entries(body)) {
      for (const v of values[typeof v0] ?? []) {
        const b: Record<string, unknown> = { ...body, [field]: v }
        if (v === undefined) delete b[field]
        out.push({ messages: [{ [kind]: b }] })
      }
    }
  }
  for (const [field, v0] of Object.entries(message)) {
    for (const v of values[typeof v0]) {
      const m: Record<string, unknown> = { ...message, [field]: v }
      if (v === undefined) delete m[field]
      out.push({ messages: [{ roomAppend: { ...good.roomAppend, entries: [{ term: 1, message: m }, { term: 2 }] } }, { deliver: { roomId: 'r', messages: [m, {}] } }] })
    }
  }
  out.push({ messages: Object.entries(good).map(([k, b]) => ({ [k]: b })) }, { messages: [] })
  return out
}

const coldMessages = [
  { gossip: { nodes: [{ nodeId: 'n-2', name: 'two', address: '127.0.0.1:7001' }], rooms: [] } },
  { joinRequest: { reqId: 9, roomId: 'r-1', user: 'bob', memberLimit: 0 } },
  { sendAck: { reqId: 4, error: { code: 'not_member', message: 'no' }, seq: 0 } },
  { roomAppend: { ...good.roomAppend, meta: { term: 1, version: 2, name: 'lobby', replicas: ['n-1'], members: [{ user: 'bob', nodeId: 'n-1' }], createdBy: { user: 'bob', nodeId: 'n-1' }, createdAt: 5, frozen: false, deleted: '' } } },
]

function same(bytes: Buffer): void {
  let want: unknown
  let got: unknown
  try {
    want = slow(bytes)
  } catch (e) {
    want = `throws ${(e as Error).message}`
  }
  try {
    got = fast(bytes)
  } catch (e) {
    got = `throws ${(e as Error).message}`
  }
  expect(got, bytes.toString('hex')).toEqual(want)
}

describe('the hand-written LinkFrame reader', () => {
  it('reads what proto-loader reads: by hand for the hot kinds, a frame with any other kind with proto-loader', () => {
    const frames = hotFrames()
    for (const f of frames) {
      slowCalls = 0
      same(encode(f))
      // Written by the encoder of either side, the hot kinds are read without proto-loader.
      expect(slowCalls, JSON.stringify(f)).toBe(0)
    }
    expect(frames.length).toBeGreaterThan(100)
    const hot = Object.entries(good).map(([k, b]) => ({ [k]: b }))
    for (const f of [{ messages: [...hot, ...coldMessages, ...hot] }, { messages: coldMessages }]) {
      slowCalls = 0
      same(encode(f))
      // A frame with another kind is proto-loader's, whole.
      expect(slowCalls).toBe(1)
    }
  })

  it('ids read through the table of ids already read are the ids on the wire, also when many differ or collide', () => {
    // More distinct ids than the table has slots, of equal and of different lengths, some differing
    // in one byte only, non-ASCII, invalid UTF-8 and too long for the table, each read several times
    // in different orders: a wrong hit or a stale slot would give another id.
    const prng = new Prng(11)
    const ids = ['', 'é😀', '\uD800', 'x'.repeat(64), 'x'.repeat(65), 'y'.repeat(300)]
    for (let i = 0; i < 700; i++) ids.push(`bench${i}`, `bench${i}x`, `n-${String(i).padStart(4, '0')}`)
    for (let k = 0; k < 3; k++) {
      const order = ids.map((id) => ({ id, at: prng.int(1 << 30) })).sort((a, b) => a.at - b.at)
      for (const { id } of order) {
        const m = { ...message, roomId: id, user: `${id}u`, nodeId: id }
        const f = {
          messages: [
            { roomAppend: { ...good.roomAppend, roomId: id, leader: id, entries: [{ term: 1, message: m }] } },
            { deliver: { roomId: id, messages: [m] } },
            { forwardSend: { ...good.forwardSend, roomId: id, user: id } },
            { roomAppendReply: { ...good.roomAppendReply, roomId: id, leader: `${id}l` } },
          ],
        }
        slowCalls = 0
        same(encode(f))
        expect(slowCalls).toBe(0)
      }
    }
    // Bytes that are not valid UTF-8 read as utf8Slice reads them, from the table too.
    const bad = encode({ messages: [{ deliver: { roomId: 'r', messages: [{ ...message, user: 'ab' }] } }] })
    const at = bad.indexOf(Buffer.from('ab'))
    bad[at] = 0xff
    same(bad)
    same(Buffer.from(bad))
  })

  it('a damaged frame gives the same object or the same failure', () => {
    const prng = new Prng(7)
    const base = [...hotFrames().slice(0, 60), { messages: [...Object.entries(good).map(([k, b]) => ({ [k]: b })), ...coldMessages] }].map((f) => encode(f))
    let n = 0
    for (const bytes of base) {
      for (let k = 0; k < 40; k++) {
        const b = Buffer.from(bytes)
        const what = prng.int(3)
        if (what === 0 && b.length > 0) b[prng.int(b.length)] = prng.int(256)
        const cut = what === 1 ? b.subarray(0, prng.int(b.length + 1)) : b
        const extra = what === 2 ? Buffer.concat([b, Buffer.from([prng.int(256), prng.int(256), prng.int(256)])]) : cut
        same(extra)
        n++
      }
    }
    expect(n).toBeGreaterThan(2000)
  })
})
