import { describe, expect, it } from 'vitest'
import { ReorderBuffer } from '../../renderer/src/state/reorder-buffer'

const m = (seq: number) => ({ seq })
const seqs = (xs: { seq: number }[]) => xs.map((x) => x.seq)

describe('ReorderBuffer', () => {
  it('releases in-order items immediately after the baseline', () => {
    const b = new ReorderBuffer()
    expect(seqs(b.setBaseline(3))).toEqual([])
    expect(seqs(b.push(m(4)))).toEqual([4])
    expect(seqs(b.push(m(5)))).toEqual([5])
  })

  it('holds items ahead of a gap and releases them when it fills', () => {
    const b = new ReorderBuffer()
    b.setBaseline(0)
    expect(seqs(b.push(m(3)))).toEqual([])
    expect(seqs(b.push(m(2)))).toEqual([])
    expect(b.missing()).toEqual([1])
    expect(seqs(b.push(m(1)))).toEqual([1, 2, 3])
    expect(b.size).toBe(0)
  })

  it('drops duplicates and anything at or below the baseline', () => {
    const b = new ReorderBuffer()
    b.setBaseline(5)
    expect(seqs(b.push(m(5)))).toEqual([])
    expect(seqs(b.push(m(6)))).toEqual([6])
    expect(seqs(b.push(m(6)))).toEqual([])
    expect(b.push(m(8))).toEqual([])
    expect(b.push(m(8))).toEqual([])
    expect(b.size).toBe(1)
  })

  it('holds events that race the join reply, then releases those after lastSeq', () => {
    const b = new ReorderBuffer()
    expect(b.push(m(11))).toEqual([])
    expect(b.push(m(10))).toEqual([])
    expect(b.push(m(12))).toEqual([])
    // room.join said lastSeq 10: 10 is already known (history), 11 and 12 are new.
    expect(seqs(b.setBaseline(10))).toEqual([11, 12])
    expect(b.nextSeq).toBe(13)
  })

  it('flush gives up on a gap and continues after the highest held item', () => {
    const b = new ReorderBuffer()
    b.setBaseline(0)
    b.push(m(4))
    b.push(m(3))
    expect(b.missing()).toEqual([1, 2])
    expect(seqs(b.flush())).toEqual([3, 4])
    expect(seqs(b.push(m(2)))).toEqual([])
    expect(seqs(b.push(m(5)))).toEqual([5])
  })
})
