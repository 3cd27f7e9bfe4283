import { describe, expect, it } from 'vitest'
import { countInRanges, describeMissing, formatSeqRanges, seqRanges } from '../../renderer/src/state/gaps'

describe('seq ranges', () => {
  it('merges runs, sorts, and ignores duplicates', () => {
    expect(seqRanges([])).toEqual([])
    expect(seqRanges([7])).toEqual([[7, 7]])
    expect(seqRanges([6, 4, 5, 5, 9, 11, 10, 2])).toEqual([
      [2, 2],
      [4, 6],
      [9, 11],
    ])
    expect(countInRanges(seqRanges([6, 4, 5, 9, 11, 10, 2]))).toBe(7)
  })

  it('writes a jump as one range with its count, not every number', () => {
    const jump = seqRanges(Array.from({ length: 62 }, (_, i) => i + 4))
    expect(formatSeqRanges(jump)).toBe('seq 4–65 (62 messages)')
    expect(formatSeqRanges([[7, 7]])).toBe('seq 7 (1 message)')
    expect(formatSeqRanges([[2, 2], [5, 6]])).toBe('seq 2, 5–6 (3 messages)')
    expect(formatSeqRanges([])).toBe('')
  })

  it('shows at most four ranges and counts the rest, still counting every missing seq', () => {
    const r = seqRanges([1, 3, 5, 7, 9, 11])
    expect(formatSeqRanges(r)).toBe('seq 1, 3, 5, 7 and 2 more ranges (6 messages)')
    expect(formatSeqRanges(seqRanges([1, 3, 5, 7, 9]))).toBe('seq 1, 3, 5, 7 and 1 more range (5 messages)')
  })

  it('handles a far jump without listing it (a busy room leases more than 64)', () => {
    expect(formatSeqRanges([[4, 1_000_003]])).toBe('seq 4–1000003 (1000000 messages)')
  })
})

describe('the "did not arrive" notice', () => {
  it('plain gap', () => {
    expect(describeMissing([[4, 65]], { roomName: 'lab' })).toBe('Some messages did not arrive in “lab”: seq 4–65 (62 messages).')
    expect(describeMissing([[4, 4]])).toBe('Some messages did not arrive: seq 4 (1 message).')
  })

  it('after the administrator restarted it says so plainly, and "up to" since most numbers were never used', () => {
    expect(describeMissing([[4, 65]], { roomName: 'lab', adminRestarted: true })).toBe(
      'Some messages did not arrive in “lab”: seq 4–65 (up to 62 messages). The administrator restarted; messages it had not saved are gone.',
    )
  })

  it('nothing missing, nothing to say', () => {
    expect(describeMissing([], { adminRestarted: true })).toBe('')
  })
})
