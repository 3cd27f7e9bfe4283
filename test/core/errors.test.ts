// ChatError (main/core/errors.ts): an expected refusal with a code, made without a stack trace
// (docs/simulation.md, "Speed"); other errors keep theirs.
import { describe, expect, it } from 'vitest'
import { ChatError, errorFromPeer } from '../../main/core/errors'

describe('ChatError', () => {
  it('keeps its code, message and name, and captures no stack', () => {
    const e = new ChatError('not_found', 'no room r1')
    expect(e).toBeInstanceOf(Error)
    expect(e).toBeInstanceOf(ChatError)
    expect(e.code).toBe('not_found')
    expect(e.message).toBe('no room r1')
    expect(e.name).toBe('ChatError')
    expect(String(e)).toBe('ChatError: no room r1')
    expect(e.stack).toBe('ChatError: no room r1')
  })

  it('leaves stack traces of other errors as they were', () => {
    const limit = Error.stackTraceLimit
    new ChatError('internal', 'x')
    expect(Error.stackTraceLimit).toBe(limit)
    expect(new Error('a bug').stack).toMatch(/\n\s+at /)
  })

  it('a peer error with an unknown code becomes internal', () => {
    const e = errorFromPeer('no_such_code', 'odd')
    expect(e.code).toBe('internal')
    expect(e.stack).toBe('ChatError: odd')
  })
})
