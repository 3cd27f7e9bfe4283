// The gateway's hot path for message.send (proto/client-protocol.ts parseSendFast) must accept
// exactly what the schema accepts and give back the same request; everything it does not accept
// goes to the schema, so bad frames keep their errors (the bad-frame cases in gateway.test.ts).
import { describe, expect, it } from 'vitest'
import { MAX_TEXT_CHARS, RequestSchema, parseSendFast } from '../../proto/client-protocol'

const good = { id: 7, op: 'message.send', roomId: 'r-1', text: 'hello', clientMsgId: 'c1' }

/** Field values around every limit the schema has, plus wrong types. */
const variants: Record<string, unknown[]> = {
  id: [0, -3.5, 1e300, 'x', '', 'i'.repeat(128), 'i'.repeat(129), NaN, Infinity, null, undefined, true, {}, []],
  roomId: ['r', 'r'.repeat(128), 'r'.repeat(129), '', 5, null, undefined, ['r']],
  text: ['a', 'a'.repeat(MAX_TEXT_CHARS), 'a'.repeat(MAX_TEXT_CHARS + 1), '😀'.repeat(MAX_TEXT_CHARS / 2), '😀'.repeat(MAX_TEXT_CHARS / 2) + 'a', '', ' ', 42, null, undefined, { t: 'x' }],
  clientMsgId: ['c', 'c'.repeat(128), 'c'.repeat(129), '', 1, null, undefined],
  op: ['message.send', 'message.sen', 'hello', 'MESSAGE.SEND', 1, undefined],
}

function frames(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [good, { ...good, extra: 'ignored', nested: { a: 1 } }]
  for (const [field, values] of Object.entries(variants)) {
    for (const v of values) {
      const f: Record<string, unknown> = { ...good, [field]: v }
      if (v === undefined) delete f[field]
      out.push(f)
    }
  }
  // Pairs of changed fields, so no combination of one good and one bad field slips through.
  const fields = Object.keys(variants)
  for (let i = 0; i < fields.length; i++)
    for (let j = i + 1; j < fields.length; j++)
      for (const a of variants[fields[i]]) for (const b of variants[fields[j]]) out.push({ ...good, [fields[i]]: a, [fields[j]]: b })
  return out
}

describe('message.send hot path', () => {
  const all = frames()

  it('accepts every frame the schema accepts for message.send and returns the same request', () => {
    let accepted = 0
    for (const f of all) {
      const z = RequestSchema.safeParse(f)
      if (!z.success || z.data.op !== 'message.send') continue
      accepted++
      // The schema counts code points; the hot path counts UTF-16 units and leaves a string longer
      // than its limit in units (only possible with characters outside the BMP) to the schema.
      if ((f.text as string).length > MAX_TEXT_CHARS) expect(parseSendFast(f)).toBeUndefined()
      else expect(parseSendFast(f), JSON.stringify(f).slice(0, 200)).toEqual(z.data)
    }
    expect(accepted).toBeGreaterThan(20)
  })

  it('accepts nothing the schema refuses (those frames get the schema error)', () => {
    let refused = 0
    for (const f of all) {
      if (RequestSchema.safeParse(f).success) continue
      refused++
      expect(parseSendFast(f), JSON.stringify(f).slice(0, 200)).toBeUndefined()
    }
    expect(refused).toBeGreaterThan(100)
  })

  it('leaves every other op to the schema', () => {
    expect(parseSendFast({ id: 1, op: 'hello', user: 'ann' })).toBeUndefined()
    expect(parseSendFast({ id: 1, op: 'room.join', roomId: 'r' })).toBeUndefined()
  })

  it('drops unknown fields like the schema does', () => {
    expect(parseSendFast({ ...good, admin: true })).toEqual({ id: 7, op: 'message.send', roomId: 'r-1', text: 'hello', clientMsgId: 'c1' })
  })
})
