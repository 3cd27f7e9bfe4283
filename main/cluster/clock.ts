/**
 * The time a node runs on, as one injected component (docs/simulation.md, "Clock"): the current
 * time and timers. Every part of the node layer (main/node) and the in-memory network takes them
 * from a `Clock` instead of the globals, so the same code runs on the real clock in a process and on
 * a virtual clock in the simulator, where a seed decides when every timer fires.
 */

/** An opaque handle of a timer, only good for `clear`. */
export interface Timer {
  readonly __timer: unique symbol
}

export interface Clock {
  /** Milliseconds since the epoch (the real clock) or since the start of a simulation. */
  now(): number
  /** Run `fn` once, `ms` from now (0: after the current turn, behind what is already due). */
  setTimeout(fn: () => void, ms: number): Timer
  /** Run `fn` every `ms` until cleared. */
  setInterval(fn: () => void, ms: number): Timer
  /** Cancel a timer of either kind; undefined and an already fired timer are ignored. */
  clear(timer: Timer | undefined): void
  /**
   * Run `fn` once the I/O callbacks due now have run (the end of this turn of the event loop:
   * setImmediate), so that what several sockets brought at once is handled as one batch.
   * Optional: without it a caller batches up to the end of the current callback (a microtask), as
   * the virtual clock does (its events come one at a time).
   */
  afterIo?(fn: () => void): void
}

/** The process's own clock and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as Timer,
  setInterval: (fn, ms) => setInterval(fn, ms) as unknown as Timer,
  // clearTimeout and clearInterval are the same operation in Node (Node's timers documentation: either clears either).
  clear: (timer) => {
    if (timer !== undefined) clearTimeout(timer as unknown as NodeJS.Timeout)
  },
  afterIo: (fn) => {
    setImmediate(fn)
  },
}

/** Wait `ms` on `clock` (a promise that resolves when its timer fires). */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms))
}
