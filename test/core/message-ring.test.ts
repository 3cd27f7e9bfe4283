// The administrator's bounded in-memory log (main/core/message-ring.ts): what it holds after any
// number of appends is exactly the newest `capacity` entries, oldest first, whatever the wrap point.
import { describe, expect, it } from 'vitest'
import { ChatError } from '../../main/core/errors'
import { MessageRing } from '../../main/core/message-ring'

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i)

describe('MessageRing', () => {
  it.each([0, 1, 3, 4, 5, 9, 10, 11, 17])('after %i appends to a ring of 4 it holds the newest 4, oldest first', (n) => {
    const r = new MessageRing<number>(4)
    for (let i = 1; i <= n; i++) r.push(i)
    const want = range(Math.max(1, n - 3), n)
    expect(r.toArray()).toEqual(want)
    expect(r.length).toBe(want.length)
    expect(want.map((_, i) => r.at(i))).toEqual(want)
  })

  it('slice takes positions from the oldest, clamped like Array.slice, across the wrap point', () => {
    const r = new MessageRing<number>(5)
    for (let i = 1; i <= 13; i++) r.push(i) // holds 9..13, wrapped
    expect(r.slice(1, 4)).toEqual([10, 11, 12])
    expect(r.slice(3)).toEqual([12, 13])
    expect(r.slice(-2, 2)).toEqual([9, 10])
    expect(r.slice(4, 99)).toEqual([13])
    expect(r.slice(3, 2)).toEqual([])
  })

  it('at() outside the entries is undefined', () => {
    const r = new MessageRing<number>(3)
    r.push(7)
    expect(r.at(-1)).toBeUndefined()
    expect(r.at(1)).toBeUndefined()
    expect(r.at(0)).toBe(7)
  })

  it('from() keeps the last `capacity` items and appends after them', () => {
    const r = MessageRing.from(range(1, 10), 4)
    expect(r.toArray()).toEqual([7, 8, 9, 10])
    r.push(11)
    expect(r.toArray()).toEqual([8, 9, 10, 11])
    expect(MessageRing.from([1, 2], 4).toArray()).toEqual([1, 2])
  })

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new MessageRing(0)).toThrow(ChatError)
    expect(() => new MessageRing(2.5)).toThrow(/positive integer/)
  })
})
