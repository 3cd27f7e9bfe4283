import { describe, expect, it } from 'vitest'
import { ERROR_CODES, ERROR_TEXT } from '../../proto/client-protocol'
import { DISCONNECTED, ProtocolError, describeError, errorText, rawDetail } from '../../renderer/src/state/errors'

describe('error messages', () => {
  it('has a sentence for every protocol error code', () => {
    for (const code of ERROR_CODES) {
      const text = errorText(code)
      expect(text).toBe(ERROR_TEXT[code])
      expect(text.length).toBeGreaterThan(10)
    }
  })

  it('adds the node’s own, more specific message', () => {
    expect(errorText('room_busy', 'deletion in progress')).toBe(`${ERROR_TEXT.room_busy} (deletion in progress)`)
    expect(errorText('not_found', 'not_found')).toBe(ERROR_TEXT.not_found)
    // Details that only restate the sentence (plus the room's name) are left out; new facts stay.
    expect(errorText('room_busy', 'room exam is frozen while its deletion is decided')).toBe(ERROR_TEXT.room_busy)
    expect(errorText('room_unavailable', 'room n3 lobby: its administrator n3 is unreachable')).toContain('(room n3 lobby')
  })

  it('keeps technical detail out of the sentence (it goes to the protocol log)', () => {
    const grpc = '127.0.0.1:1 did not answer in time: 14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1 (2026-11-29T14:00:00.000Z). Resolution note: '
    expect(errorText('timeout', grpc)).toBe(ERROR_TEXT.timeout)
    expect(describeError(new ProtocolError('internal', 'TypeError: x is undefined\n    at foo (/a/b.ts:1:2)'))).toBe(ERROR_TEXT.internal)
    expect(rawDetail(new ProtocolError('timeout', grpc))).toBe(`timeout: ${grpc}`)
  })

  it('explains a lost connection and unknown codes', () => {
    expect(errorText(DISCONNECTED)).toMatch(/not connected/i)
    expect(errorText('weird')).toMatch(/unexpected/i)
    expect(describeError(new ProtocolError('timeout', 'peer slow'))).toContain('did not answer in time')
    expect(describeError(new Error('boom'))).toContain('boom')
  })
})
