import { describe, expect, it } from 'vitest'
import { continuesGroup, dayLabel, mentionsUser, naturalCompare, parseMessage, relativeTime } from '../../renderer/src/state/message-format'

describe('message text', () => {
  it('finds links without the sentence punctuation after them', () => {
    expect(parseMessage('see https://example.org/a?b=1. ok')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.org/a?b=1', href: 'https://example.org/a?b=1' },
      { kind: 'text', text: '. ok' },
    ])
    expect(parseMessage('(http://x.y/z)')).toEqual([
      { kind: 'text', text: '(' },
      { kind: 'link', text: 'http://x.y/z', href: 'http://x.y/z' },
      { kind: 'text', text: ')' },
    ])
    // Only http(s): no javascript: or file: links.
    expect(parseMessage('javascript:alert(1) file:///etc/passwd').every((s) => s.kind === 'text')).toBe(true)
  })

  it('keeps inline code and code blocks literal', () => {
    expect(parseMessage('run `npm test` @bob')).toEqual([
      { kind: 'text', text: 'run ' },
      { kind: 'code', text: 'npm test' },
      { kind: 'text', text: ' ' },
      { kind: 'mention', text: '@bob', self: false },
    ])
    expect(parseMessage('before\n```ts\nconst a = "https://x.org" // @alice\n```\nafter', 'alice')).toEqual([
      { kind: 'text', text: 'before\n' },
      { kind: 'codeblock', text: 'const a = "https://x.org" // @alice' },
      { kind: 'text', text: '\nafter' },
    ])
    // An unclosed fence is just text.
    expect(parseMessage('a ``` b')).toEqual([{ kind: 'text', text: 'a ``` b' }])
  })

  it('marks mentions of the reader, in any case, and not e-mail addresses', () => {
    expect(parseMessage('hi @Alice, and @bob.', 'alice')).toEqual([
      { kind: 'text', text: 'hi ' },
      { kind: 'mention', text: '@Alice', self: true },
      { kind: 'text', text: ', and ' },
      { kind: 'mention', text: '@bob', self: false },
      { kind: 'text', text: '.' },
    ])
    expect(parseMessage('mail alice@example.org', 'alice')).toEqual([{ kind: 'text', text: 'mail alice@example.org' }])
    expect(mentionsUser('ping @ada', 'Ada Lovelace')).toBe(true)
    expect(mentionsUser('ping @adam', 'ada')).toBe(false)
    expect(mentionsUser('`@ada` is code', 'ada')).toBe(false)
  })
})

describe('grouping, days and times', () => {
  const t0 = new Date(2026, 10, 29, 14, 0, 0).getTime()
  it('groups one sender on one node within five minutes on one day', () => {
    const a = { user: 'a', nodeId: 'n1', at: t0 }
    expect(continuesGroup(a, { ...a, at: t0 + 60_000 })).toBe(true)
    expect(continuesGroup(a, { ...a, at: t0 + 5 * 60_000 })).toBe(false)
    expect(continuesGroup(a, { ...a, nodeId: 'n2', at: t0 + 1000 })).toBe(false)
    expect(continuesGroup(a, { ...a, user: 'b', at: t0 + 1000 })).toBe(false)
    expect(continuesGroup(undefined, a)).toBe(false)
    const late = new Date(2026, 10, 29, 23, 59, 0).getTime()
    expect(continuesGroup({ ...a, at: late }, { ...a, at: late + 2 * 60_000 })).toBe(false)
  })
  it('labels days and times relative to now', () => {
    expect(dayLabel(t0, t0 + 3600_000)).toBe('Today')
    expect(dayLabel(t0 - 86_400_000, t0)).toBe('Yesterday')
    expect(dayLabel(t0 - 3 * 86_400_000, t0)).toMatch(/2026/)
    expect(relativeTime(t0, t0 + 10_000)).toBe('just now')
    expect(relativeTime(t0, t0 + 5 * 60_000)).toBe('5 min ago')
    expect(relativeTime(t0, t0 + 2 * 3600_000)).toMatch(/^(14.00|0?2.00.PM)$/)
  })
  it('sorts names naturally', () => {
    expect(['spam 10', 'spam 100', 'Spam 2', 'spam 1'].sort(naturalCompare)).toEqual(['spam 1', 'Spam 2', 'spam 10', 'spam 100'])
  })
})
