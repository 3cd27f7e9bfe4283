import { describe, expect, it } from 'vitest'
import { ReconnectBackoff } from '../../renderer/src/state/backoff'

describe('ReconnectBackoff', () => {
  it('doubles from the base up to the cap, without jitter', () => {
    const b = new ReconnectBackoff({ baseMs: 100, maxMs: 1000, jitter: 0 })
    expect([1, 2, 3, 4, 5, 6].map(() => b.nextDelayMs())).toEqual([100, 200, 400, 800, 1000, 1000])
    expect(b.attempts).toBe(6)
  })

  it('starts over after a success', () => {
    const b = new ReconnectBackoff({ baseMs: 100, maxMs: 1000, jitter: 0 })
    b.nextDelayMs()
    b.nextDelayMs()
    b.reset()
    expect(b.attempts).toBe(0)
    expect(b.nextDelayMs()).toBe(100)
  })

  it('jitter only ever shortens the delay, within the configured fraction', () => {
    const lo = new ReconnectBackoff({ baseMs: 1000, maxMs: 1000, jitter: 0.5 }, () => 0.999999)
    const hi = new ReconnectBackoff({ baseMs: 1000, maxMs: 1000, jitter: 0.5 }, () => 0)
    expect(lo.nextDelayMs()).toBe(500)
    expect(hi.nextDelayMs()).toBe(1000)
  })
})
