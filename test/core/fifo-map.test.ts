// The resend memory's map (main/core/fifo-map.ts) drops its oldest entry as a Map iterated in
// insertion order would, in O(1).
import { describe, expect, it } from 'vitest'
import { FifoMap } from '../../main/core/fifo-map'

describe('FifoMap', () => {
  it('drops entries oldest first, like the first key of a Map', () => {
    const f = new FifoMap()
    const m = new Map<string, number>()
    for (let i = 0; i < 5000; i++) {
      const k = `k${i % 3000}` // some keys set again while present: they keep their place
      f.set(k, i)
      m.set(k, i)
      if (i % 7 === 0) {
        f.delete(`k${(i * 13) % 3000}`)
        m.delete(`k${(i * 13) % 3000}`)
      }
      while (f.size > 1000) {
        f.deleteOldest()
        m.delete(m.keys().next().value!)
      }
      expect(f.size).toBe(m.size)
    }
    expect([...f]).toEqual([...m])
  })

  it('a key deleted and set again is new at the back; clear empties the order too', () => {
    const f = new FifoMap()
    f.set('a', 1)
    f.set('b', 2)
    f.delete('a')
    f.set('a', 3)
    expect(f.deleteOldest()).toBe(true)
    expect([...f]).toEqual([['a', 3]])
    f.clear()
    expect(f.deleteOldest()).toBe(false)
    f.set('c', 4)
    expect(f.deleteOldest()).toBe(true)
    expect(f.size).toBe(0)
  })

  it('keeps its queue bounded when entries are deleted without deleteOldest', () => {
    const f = new FifoMap()
    for (let i = 0; i < 100_000; i++) {
      f.set(`k${i}`, i)
      f.delete(`k${i}`)
    }
    f.set('last', 1)
    expect((f as unknown as { order: string[] }).order.length).toBeLessThan(2000)
    expect(f.deleteOldest()).toBe(true)
    expect(f.size).toBe(0)
  })

  it('the insert that rebuilds the queue is in it once, at the back', () => {
    const f = new FifoMap()
    f.set('kept', 0)
    for (let i = 0; i < 1026; i++) {
      f.set(`k${i}`, i)
      f.delete(`k${i}`)
    }
    const queue = f as unknown as { order: string[]; head: number }
    expect(queue.order.length).toBe(1027)
    f.set('new', 1) // 1,027 queued for one live key: rebuilt from the map
    expect(queue.order.slice(queue.head)).toEqual(['kept', 'new'])
    f.set('new', 1) // set again while present: not queued twice
    expect(queue.order.slice(queue.head)).toEqual(['kept', 'new'])
    expect(f.deleteOldest()).toBe(true)
    expect([...f]).toEqual([['new', 1]])
    expect(f.deleteOldest()).toBe(true)
    expect(f.deleteOldest()).toBe(false)
  })
})
