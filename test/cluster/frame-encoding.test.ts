// The hand-written LinkFrame encoder (main/cluster/frame-encoding.ts) must give proto-loader's bytes
// for every frame: the same bytes for the kinds it writes, whatever their values (around every
// limit, of the wrong type, missing), and proto-loader's own for everything else.
import { describe, expect, it } from 'vitest'
import * as protoLoader from '@grpc/proto-loader'
import { linkFrameSerializer } from '../../main/cluster/frame-encoding'
import type { LinkFrame } from '../../main/cluster/peer-messages'
import { LOADER_OPTIONS } from '../../main/cluster/peer-transport'
import { peerProtoFile, protoDir } from '../../main/cluster/proto-path'
import { message, good } from '../helpers/peer-samples'

const def = protoLoader.loadSync([peerProtoFile()], { ...LOADER_OPTIONS, includeDirs: [protoDir()] })
const link = (def['chat.peer.v1.PeerService'] as protoLoader.ServiceDefinition).Link
const slow = link.requestSerialize as (f: LinkFrame) => Buffer
let slowCalls = 0
const fast = linkFrameSerializer((f) => {
  slowCalls++
  return slow(f)
})
const decode = link.requestDeserialize as (b: Buffer) => LinkFrame


/** Values around every varint length and limit, the wrong types, and strings UTF-8 writes differently. */
const values: unknown[] = [
  0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 35, Number.MAX_SAFE_INTEGER, -1, 1.5, NaN, Infinity, 2 ** 60,
  '', 'x', 'é', '€', '😀', 'a😀b', '\uD800', 'a\uDC00', '\uDC00\uD800', 'a\uD800', '\uD800a', 'x'.repeat(39), 'x'.repeat(40), 'x'.repeat(200), 'é'.repeat(300), '7',
  null, undefined, true, false, {}, [], [1], { a: 1 },
]

function variants(body: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [body, { ...body, extra: 'ignored' }, {}]
  for (const field of Object.keys(body)) {
    for (const v of values) {
      const b: Record<string, unknown> = { ...body, [field]: v }
      if (v === undefined) delete b[field]
      out.push(b)
    }
  }
  return out
}

/** The same nested values inside entries and delivered messages. */
function nested(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (const field of Object.keys(message)) {
    for (const v of values) {
      const m: Record<string, unknown> = { ...message, [field]: v }
      if (v === undefined) delete m[field]
      out.push({ roomAppend: { ...good.roomAppend, entries: [{ term: 2, message: m }, { term: 3, message }] } })
      out.push({ deliver: { roomId: 'r-1', messages: [message, m] } })
    }
  }
  for (const v of values) out.push({ roomAppend: { ...good.roomAppend, entries: [{ term: v, message }] } })
  out.push({ roomAppend: { ...good.roomAppend, entries: [{ term: 2 }, { term: 2, message: null }, null] } })
  out.push({ roomAppend: { ...good.roomAppend, entries: [] } }, { deliver: { roomId: 'r', messages: [] } })
  return out
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const STRINGS = new Set(['roomId', 'user', 'nodeId', 'text', 'clientMsgId', 'leader'])
const BOOLS = new Set(['ok', 'noReply'])
/** A value the hand encoder writes itself: set or not, of its field's type (the other fields: those of `good`). */
function ofItsType(field: string, v: unknown): boolean {
  if (v == null) return true
  if (STRINGS.has(field)) return typeof v === 'string' && !LONE_SURROGATE.test(v)
  if (BOOLS.has(field)) return typeof v === 'boolean'
  if (field === 'meta' || field === 'error') return false
  if (field === 'entries' || field === 'messages') return Array.isArray(v) && (v.length === 0 || v === good.roomAppend.entries || v === good.deliver.messages)
  if (field === 'extra') return true
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** proto-loader's verdict on a frame: its bytes, or the error it throws. */
function both(frame: unknown): { fast: string; slow: string } {
  const run = (f: (x: LinkFrame) => Buffer) => {
    try {
      return f(frame as LinkFrame).toString('hex')
    } catch (e) {
      return `throws ${(e as Error).message}`
    }
  }
  return { fast: run(fast), slow: run(slow) }
}

describe('the hand-written LinkFrame encoder', () => {
  it('writes the bytes proto-loader writes for every value of every field of the kinds it handles', () => {
    let compared = 0
    let handWritten = 0
    for (const [kind, body] of Object.entries(good)) {
      for (const b of variants(body)) {
        const before = slowCalls
        const r = both({ messages: [{ [kind]: b }] })
        expect(r.fast, `${kind} ${JSON.stringify(b)}`).toBe(r.slow)
        // Written by hand exactly when every value is of its field's type (else proto-loader's).
        const ownTypes = Object.entries(b).every(([f, v]) => ofItsType(f, v))
        expect(slowCalls - before, `${kind} ${JSON.stringify(b)}`).toBe(ownTypes ? 0 : 1)
        if (ownTypes) handWritten++
        compared++
      }
    }
    expect(handWritten).toBeGreaterThan(200)
    for (const m of nested()) {
      const r = both({ messages: [m] })
      expect(r.fast, JSON.stringify(m)).toBe(r.slow)
      compared++
    }
    expect(compared).toBeGreaterThan(1000)
  })

  it('frames of several messages, hand-written and not, in their order; odd frames go to proto-loader', () => {
    const others = [
      { gossip: { nodes: [{ nodeId: 'n-2', name: 'two', address: '127.0.0.1:7001' }], rooms: [] } },
      { joinRequest: { reqId: 9, roomId: 'r-1', user: 'bob', memberLimit: 0 } },
      { sendAck: { reqId: 4, error: { code: 'not_member', message: 'no' }, seq: 0 } },
      { roomAppend: { ...good.roomAppend, meta: { term: 1, version: 2, name: 'lobby', replicas: ['n-1'], members: ['bob'], createdBy: 'n-1', createdAt: 5 } } },
      { body: 'sendAck', sendAck: good.sendAck },
    ]
    const hot = Object.entries(good).map(([k, b]) => ({ [k]: b }))
    const frames: unknown[] = [
      { messages: [...hot, ...others, ...hot] },
      { messages: [...others.reverse(), hot[4], hot[4], hot[5]] },
      { messages: [] },
      {},
      { messages: [hot[0], 7, null] },
      { messages: 'x' },
    ]
    for (const f of frames) {
      const r = both(f)
      expect(r.fast, JSON.stringify(f)).toBe(r.slow)
    }
    // The kinds written by hand never reach proto-loader when their values are of their types.
    slowCalls = 0
    fast({ messages: Object.entries(good).map(([k, b]) => ({ [k]: b })) } as unknown as LinkFrame)
    expect(slowCalls).toBe(0)
    // And they decode to what was sent.
    const big = { messages: hot.concat(hot) }
    expect(decode(fast(big as unknown as LinkFrame))).toEqual(decode(slow(big as unknown as LinkFrame)))
  })
})
