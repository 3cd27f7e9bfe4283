// Requests to other nodes time out on one timer (main/node/request-deadlines.ts): each entry still
// expires exactly at its own deadline, entries answered in time never expire, and a shorter timeout
// added behind longer ones expires first.
import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../../main/cluster/virtual-clock'
import { RequestDeadlines, type Deadline } from '../../main/node/request-deadlines'

interface E extends Deadline {
  name: string
}

function setup() {
  const clock = new VirtualClock(1000)
  const expired: { name: string; at: number }[] = []
  const q = new RequestDeadlines<E>(clock, (e) => expired.push({ name: e.name, at: clock.now() }))
  const add = (name: string, timeoutMs: number): E => {
    const e: E = { name, deadline: clock.now() + timeoutMs, settled: false }
    q.add(e)
    return e
  }
  return { clock, expired, q, add }
}

describe('RequestDeadlines', () => {
  it('expires each unanswered entry at its own deadline, never an answered one', async () => {
    const { clock, expired, add } = setup()
    add('a', 8000)
    await clock.advance(3)
    const b = add('b', 8000)
    await clock.advance(2000)
    add('c', 8000)
    b.settled = true // answered in time
    await clock.advance(5996)
    expect(expired).toEqual([])
    await clock.advance(1)
    expect(expired).toEqual([{ name: 'a', at: 9000 }])
    await clock.advance(2002)
    expect(expired).toEqual([{ name: 'a', at: 9000 }])
    await clock.advance(1)
    expect(expired).toEqual([
      { name: 'a', at: 9000 },
      { name: 'c', at: 11_003 },
    ])
  })

  it('a shorter timeout added behind longer ones expires first, at its deadline', async () => {
    const { clock, expired, add, q } = setup()
    add('long', 8000)
    await clock.advance(10)
    add('short', 500)
    add('mid', 4000)
    await clock.advance(8000)
    expect(expired).toEqual([
      { name: 'short', at: 1510 },
      { name: 'mid', at: 5010 },
      { name: 'long', at: 9000 },
    ])
    expect(q.size).toBe(0)
  })

  it('uses one timer for many entries and forgets answered ones as their deadlines pass', async () => {
    const { clock, expired, add, q } = setup()
    const before = clock.fired
    for (let i = 0; i < 5000; i++) {
      add(`r${i}`, 8000).settled = i !== 4999
      await clock.advance(1)
    }
    await clock.advance(8000)
    expect(expired.map((e) => e.name)).toEqual(['r4999'])
    // One firing per deadline that found the head settled, not one per entry: far fewer than 5000.
    expect(clock.fired - before).toBeLessThan(10)
    expect(q.size).toBe(0)
  })

  it('clear forgets everything and stops the timer', async () => {
    const { clock, expired, add, q } = setup()
    add('a', 100)
    q.clear()
    await clock.advance(1000)
    expect(expired).toEqual([])
    add('b', 100)
    await clock.advance(100)
    expect(expired).toEqual([{ name: 'b', at: 2100 }])
  })
})
