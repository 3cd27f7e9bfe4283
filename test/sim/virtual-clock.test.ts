/**
 * The virtual clock's order (docs/simulation.md, "Clock"): timers run by due time, then in the order
 * they were set, whatever else was set and cancelled meanwhile. The clock sweeps cancelled timers
 * out of its heap as it grows ("Speed"); this checks, on seeded random schedules with most timers
 * cancelled, that what runs and when is what a plain sorted list of the live timers says.
 */
import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../../main/cluster/virtual-clock'
import { Prng } from '../../sim/prng'

describe('VirtualClock', () => {
  it('runs live timers by (due time, order set) through many cancellations', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new Prng(seed)
      const clock = new VirtualClock(0)
      const view = clock.view()
      /** The reference: every timer set, with whether it was cleared. */
      const model: { at: number; order: number; cleared: boolean; handle: ReturnType<typeof view.setTimeout> }[] = []
      const ran: number[] = []
      let order = 0
      const set = () => {
        const me = order++
        const ms = rng.int(300)
        const handle = view.setTimeout(() => ran.push(me), ms)
        model.push({ at: clock.now() + ms, order: me, cleared: false, handle })
      }
      for (let step = 0; step < 3000; step++) {
        // Set a few, clear most of what is pending (as links' pump timers and request timeouts are).
        for (let k = rng.int(4); k > 0; k--) set()
        for (let i = Math.max(0, model.length - 40); i < model.length; i++) {
          const t = model[i]
          if (!t.cleared && t.at > clock.now() && rng.next() < 0.1) {
            t.cleared = true
            view.clear(t.handle)
          }
        }
        const before = ran.length
        if (!clock.runNext(clock.now() + 5)) clock.runNext()
        // At most one timer per step, and it is the first live one by (due time, order set).
        expect(ran.length - before).toBeLessThanOrEqual(1)
      }
      while (clock.runNext()) {
        // run the rest
      }
      const expected = model
        .filter((t) => !t.cleared)
        .sort((a, b) => a.at - b.at || a.order - b.order)
        .map((t) => t.order)
      expect(ran).toEqual(expected)
    }
  })
})
