// The hot path of the peer-message check (main/cluster/peer-schema.ts) must accept exactly what the
// schemas accept for the kinds it handles and give back the same message; what it does not accept
// goes to the schemas, so a bad message keeps its refusal and its reason.
import { describe, expect, it } from 'vitest'
import { checkPeerMessage, checkWithSchema } from '../../main/cluster/peer-schema'
import { MAX_TEXT_CHARS } from '../../proto/client-protocol'
import { message, good } from '../helpers/peer-samples'


/** Values around every limit, wrong types, and names that normalise or are refused. */
const scalars: unknown[] = [0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, NaN, Infinity, '', 'x', 'x'.repeat(128), 'x'.repeat(129), null, undefined, true, {}, []]
const names: unknown[] = [' bob ', 'e\u0301', '', ' ', 'a'.repeat(64), 'a'.repeat(65), 'a\u0000b', 'a\u202eb', '\u200b', 'system', 'a'.repeat(400), 7, null]
const texts: unknown[] = ['a', 'a'.repeat(MAX_TEXT_CHARS), 'a'.repeat(MAX_TEXT_CHARS + 1), '😀'.repeat(MAX_TEXT_CHARS / 2) + 'a', '', 3, null]

function variants(body: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [body, { ...body, extra: 'dropped' }]
  for (const field of Object.keys(body)) {
    const values = field === 'user' ? names : field === 'text' ? texts : scalars
    for (const v of values) {
      const b: Record<string, unknown> = { ...body, [field]: v }
      if (v === undefined) delete b[field]
      out.push(b)
    }
  }
  return out
}

function cases(): unknown[] {
  const out: unknown[] = [null, 5, {}, { body: 'nope' }, { body: 'deliver' }]
  for (const [name, body] of Object.entries(good)) {
    for (const b of variants(body)) out.push({ body: name, [name]: b })
  }
  // Inside the lists: every field of a delivered message and of an appended entry.
  for (const m of variants(message)) {
    out.push({ body: 'deliver', deliver: { roomId: 'r-1', messages: [message, m] } })
    out.push({ body: 'roomAppend', roomAppend: { ...good.roomAppend, entries: [{ term: 2, message: m }] } })
  }
  for (const e of [{ term: -1, message }, { term: 2 }, { message }, null, 'x'])
    out.push({ body: 'roomAppend', roomAppend: { ...good.roomAppend, entries: [e] } })
  out.push({ body: 'deliver', deliver: { roomId: 'r-1', messages: [] } })
  out.push({ body: 'deliver', deliver: { roomId: 'r-1', messages: Array(5001).fill(message) } })
  out.push({ body: 'sendAck', sendAck: { reqId: 1, error: { code: 'timeout', message: 'late' }, seq: 0 } })
  out.push({ body: 'roomAppend', roomAppend: { ...good.roomAppend, meta: { term: 1, version: 0, replicas: ['n-1'], name: 'r', createdBy: { user: 'a', nodeId: 'n-1' }, createdAt: 1, members: [], frozen: false } } })
  return out
}

describe('peer message check, hot path', () => {
  it('gives the same verdict and the same message as the schemas, for good and bad messages', () => {
    let accepted = 0
    let refused = 0
    for (const c of cases()) {
      const fast = checkPeerMessage(c)
      const slow = checkWithSchema(c)
      expect(fast, JSON.stringify(c)?.slice(0, 300)).toEqual(slow)
      if (slow.ok) accepted++
      else refused++
    }
    expect(accepted).toBeGreaterThan(40)
    expect(refused).toBeGreaterThan(150)
  })
})
