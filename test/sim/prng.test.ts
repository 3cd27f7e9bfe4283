import { describe, expect, it } from 'vitest'
import { Prng } from '../../sim/prng'

// A seed names one run (docs/simulation.md): the generator's sequence must never move. These values
// are the ones the generator gave before its words moved into a typed array and int() into integer
// arithmetic (docs/simulation.md, "Speed").
describe('Prng', () => {
  it('gives the same sequence for a seed', () => {
    const p = new Prng(42)
    expect([p.nextU32(), p.nextU32(), p.nextU32()]).toEqual([1028872839, 2516511472, 400437680])
    const r = new Prng(1)
    expect([r.next(), r.next()]).toEqual([0.4256499295588583, 0.79042171058245])
  })

  it('int(n) is floor(next() * n), for integer and other n', () => {
    const q = new Prng(7)
    const ints = Array.from({ length: 12 }, (_, i) => q.int([100, 3, 1000, 2.5][i % 4]))
    expect(ints).toEqual([19, 1, 840, 2, 38, 1, 924, 0, 64, 0, 804, 0])
    const a = new Prng(9)
    const b = new Prng(9)
    for (let i = 0; i < 10_000; i++) {
      const n = [1, 2, 7, 100, 12345, 0x1fffff, 0x200000, 1e9][i % 8]
      expect(a.int(n)).toBe(Math.floor(b.next() * n))
    }
  })
})
