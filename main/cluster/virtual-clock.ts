/**
 * A virtual clock (docs/simulation.md, "Clock"): time moves only when its owner runs the timers that
 * are due, in a fixed order (due time, then the order they were set), so a run of many nodes in one
 * process is the same run every time. Each node gets its own view of the clock, which can be paused
 * (SIGSTOP: its timers wait, and fire late when it resumes) or stopped (the process died: its timers
 * never fire again).
 */
import type { Clock, Timer } from './clock'

interface Entry {
  at: number
  seq: number
  fn: () => void
  /** Repeats every `every` ms (setInterval) until cleared. */
  every: number
  view: ClockView | undefined
  cancelled: boolean
}

export class VirtualClock implements Clock {
  private t: number
  private seq = 0
  private readonly heap: Entry[] = []
  /** Timers that ran so far (a measure of the work a run did). */
  fired = 0

  constructor(start = 0) {
    this.t = start
  }

  now(): number {
    return this.t
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, 0, undefined) as unknown as Timer
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, Math.max(1, ms), undefined) as unknown as Timer
  }

  clear(timer: Timer | undefined): void {
    if (timer !== undefined) (timer as unknown as Entry).cancelled = true
  }

  /** A view of this clock for one node: same time, its own timers, pausable and stoppable. */
  view(): ClockView {
    return new ClockView(this)
  }

  /** When the next timer is due (undefined: none). */
  nextAt(): number | undefined {
    this.dropCancelled()
    return this.heap[0]?.at
  }

  /** Run the next due timer (moving time to it) if it is due at or before `until`; false if none. */
  runNext(until = Infinity): boolean {
    this.dropCancelled()
    const e = this.heap[0]
    if (!e || e.at > until) return false
    this.pop()
    this.t = Math.max(this.t, e.at)
    if (e.every > 0) {
      e.at = this.t + e.every
      e.seq = this.seq++
      this.push(e)
    }
    const v = e.view
    if (v) {
      if (v.paused) {
        v.hold(e)
        return true
      }
      if (e.every === 0) v.ran(e)
    }
    this.fired++
    e.fn()
    return true
  }

  /**
   * Run every timer due up to `until`, letting promise continuations run after each one (as Node
   * runs microtasks after each timer callback), then set the time to `until`.
   */
  async runUntil(until: number, afterEach?: () => void): Promise<void> {
    while (this.runNext(until)) {
      await drainMicrotasks()
      afterEach?.()
    }
    if (until > this.t) this.t = until
  }

  /** Run for `ms` of virtual time from now. */
  advance(ms: number, afterEach?: () => void): Promise<void> {
    return this.runUntil(this.t + ms, afterEach)
  }

  // Used by ClockView

  add(fn: () => void, ms: number, every: number, view: ClockView | undefined): Entry {
    const e: Entry = { at: this.t + Math.max(0, ms || 0), seq: this.seq++, fn, every, view, cancelled: false }
    this.push(e)
    return e
  }

  /** Put a held timer back, due now (behind what is already due now). */
  requeue(e: Entry): void {
    if (e.cancelled) return
    if (e.every > 0) {
      // An interval fires once on resume, then keeps its period from there (as Node's would).
      e.cancelled = true
      const again = this.add(e.fn, 0, e.every, e.view)
      e.view?.replaced(e, again)
      return
    }
    e.at = this.t
    e.seq = this.seq++
    this.push(e)
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop()
  }

  // A binary heap ordered by (at, seq); entries move into a hole rather than by swaps, since every
  // timer of a simulation goes through here (docs/simulation.md, "Speed").

  /**
   * Heap length at which cancelled entries are swept out. Most timers of a run are cancelled before
   * they are due (a link's pump and flush timers, request timeouts), about four in five of the
   * heap's entries at any time; sweeping them when the heap has doubled since the last sweep keeps
   * it shallow at O(1) per timer. The order timers run in is (due time, order set), a total order,
   * so the heap's shape changes nothing of a run.
   */
  private sweepAt = 64

  private push(e: Entry): void {
    const h = this.heap
    if (h.length >= this.sweepAt) this.sweep()
    let i = h.length
    h.push(e)
    while (i > 0) {
      const p = (i - 1) >> 1
      const up = h[p]
      if (!before(e, up)) break
      h[i] = up
      i = p
    }
    h[i] = e
  }

  /** Drop every cancelled entry and restore the heap order (Floyd's bottom-up heapify). */
  private sweep(): void {
    const h = this.heap
    let n = 0
    for (let i = 0; i < h.length; i++) if (!h[i].cancelled) h[n++] = h[i]
    h.length = n
    for (let i = (n >> 1) - 1; i >= 0; i--) {
      const e = h[i]
      let j = i
      for (;;) {
        const l = 2 * j + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && before(h[r], h[l]) ? r : l
        if (!before(h[c], e)) break
        h[j] = h[c]
        j = c
      }
      h[j] = e
    }
    this.sweepAt = Math.max(64, 2 * n)
  }

  private pop(): Entry | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    const n = h.length
    if (n > 0 && last) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && before(h[r], h[l]) ? r : l
        if (!before(h[c], last)) break
        h[i] = h[c]
        i = c
      }
      h[i] = last
    }
    return top
  }
}

/** `a` runs before `b`: due earlier, or due at once and set earlier. */
function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** One node's clock: the shared virtual time, and timers that pause and stop with the node. */
export class ClockView implements Clock {
  paused = false
  stopped = false
  private held: Entry[] = []
  /** Intervals replaced on resume: a handle the node holds must still clear the new one. */
  private readonly forwards = new Map<Entry, Entry>()

  constructor(private readonly clock: VirtualClock) {}

  now(): number {
    return this.clock.now()
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, 0)
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, Math.max(1, ms))
  }

  clear(timer: Timer | undefined): void {
    if (timer === undefined) return
    let e: Entry | undefined = timer as unknown as Entry
    while (e) {
      e.cancelled = true
      this.alive.delete(e)
      const next = this.forwards.get(e)
      this.forwards.delete(e)
      e = next
    }
  }

  /** SIGSTOP: timers that come due wait until resume(). */
  pause(): void {
    this.paused = true
  }

  /** SIGCONT: what came due meanwhile runs now, in the order it came due. */
  resume(): void {
    if (!this.paused) return
    this.paused = false
    const held = this.held
    this.held = []
    for (const e of held) this.clock.requeue(e)
  }

  /** The process died: no timer of it runs again, and new ones are ignored. */
  stop(): void {
    this.stopped = true
    for (const e of this.held) e.cancelled = true
    this.held = []
    this.alive.forEach((e) => (e.cancelled = true))
    this.alive.clear()
  }

  hold(e: Entry): void {
    if (e.every > 0) {
      // A paused interval fires once on resume however many periods it missed.
      if (this.held.includes(e)) return
      e.cancelled = true
      const copy: Entry = { ...e, cancelled: false }
      this.forwards.set(e, copy)
      this.held.push(copy)
      return
    }
    this.held.push(e)
  }

  /** A timer of this view is running: it is no longer one stop() must cancel. */
  ran(e: Entry): void {
    this.alive.delete(e)
  }

  replaced(old: Entry, next: Entry): void {
    this.forwards.set(old, next)
    this.alive.add(next)
  }

  /** Timers of this view not yet run or cancelled (so stop() can cancel them). */
  private readonly alive = new Set<Entry>()

  private add(fn: () => void, ms: number, every: number): Timer {
    if (this.stopped) return { cancelled: true } as unknown as Timer
    const e = this.clock.add(fn, ms, every, this)
    this.alive.add(e)
    return e as unknown as Timer
  }
}

/** Let every pending promise continuation run (setImmediate runs after the microtask queue). */
export function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
