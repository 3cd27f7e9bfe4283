/**
 * When a peer link writes its next frame: adaptive batching (docs/peer-protocol.md §1).
 *
 * - An idle link (no frame written within the window) writes what one turn of the event loop
 *   queued at the end of that turn: a lone message waits for nothing.
 * - A busy link (it wrote a frame less than `windowMs` ago) holds what it queues until `flushAt`
 *   messages wait (then they leave at the end of the turn that queued the last of them) or until
 *   `windowMs` after its last frame, whichever comes first. Under a high load frames fill on size
 *   within a millisecond or two; under a moderate one a link writes at most one frame per window.
 *   Messages are counted by weightOf: a peer message carrying several chat messages (an append of
 *   several entries, a merged delivery) counts as that many, so a frame's size follows its bytes
 *   and the chat messages waiting in it, not only how many peer messages it holds.
 *
 * What a frame costs is mostly per frame, not per message it carries (docs/benchmarks.md, "Adaptive
 * batching on peer links"): fewer, fuller frames are the saving, bought with at most one window of
 * wait per hop on a busy link.
 *
 * Kept apart from the gRPC link so that the policy can be checked on a fake clock.
 */

import type { PeerMessage } from './peer-messages'

export interface BatchingOptions {
  /** How long a busy link holds its next frame after the last one (ms); 0 turns lingering off. */
  windowMs: number
  /** How many queued messages (by weightOf) make a busy link write at the end of the turn, window or not. */
  flushAt: number
}

/** The window and size of a link's batching: the environment may set them for A/B runs (docs/benchmarks.md). */
export const DEFAULT_BATCHING: BatchingOptions = {
  windowMs: numberFromEnv('DS_LINK_LINGER_MS', 8),
  flushAt: numberFromEnv('DS_LINK_FLUSH_AT', 16),
}

/** What a queued peer message counts for towards `flushAt`: the chat messages it carries, at least 1. */
export function weightOf(m: PeerMessage): number {
  if ('roomAppend' in m) return Math.max(1, m.roomAppend.entries.length)
  if ('deliver' in m) return Math.max(1, m.deliver.messages.length)
  return 1
}

/** The scheduling this policy needs; the real one is Node's. */
export interface BatchingClock {
  now(): number
  /** Run `fn` at the end of this turn of the event loop (after the I/O it is handling). */
  soon(fn: () => void): void
  later(fn: () => void, ms: number): unknown
  cancel(handle: unknown): void
}

export const realClock: BatchingClock = {
  now: () => performance.now(),
  soon: (fn) => setImmediate(fn),
  later: (fn, ms) => setTimeout(fn, ms),
  cancel: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

export class FrameScheduler {
  private scheduled = false
  /** A busy link's flush waits on this timer; undefined when it waits for the end of the turn. */
  private timer: unknown
  /** now() of the last frame written: a link that wrote one less than a window ago is busy. */
  private lastFrameAt = -Infinity

  constructor(
    /** Writes every queued message (in frames); called at most once per schedule. */
    private readonly flush: () => void,
    readonly options: BatchingOptions = DEFAULT_BATCHING,
    private readonly clock: BatchingClock = realClock,
  ) {}

  /** A message was queued: `queued` messages (by weightOf) wait now. */
  queued(queued: number): void {
    if (this.scheduled) {
      // Enough waits for a frame of its own: stop lingering, leave at the end of this turn.
      if (this.timer !== undefined && queued >= this.options.flushAt) {
        this.clock.cancel(this.timer)
        this.timer = undefined
        this.clock.soon(this.fire)
      }
      return
    }
    this.scheduled = true
    const since = this.clock.now() - this.lastFrameAt
    if (since < this.options.windowMs && queued < this.options.flushAt) {
      this.timer = this.clock.later(this.fire, this.options.windowMs - since)
    } else this.clock.soon(this.fire)
  }

  /** A frame was written now (scheduled or not: a flush on drain or on open counts too). */
  wrote(): void {
    this.lastFrameAt = this.clock.now()
  }

  cancel(): void {
    if (this.timer !== undefined) this.clock.cancel(this.timer)
    this.timer = undefined
  }

  private readonly fire = (): void => {
    // A schedule that was replaced (timer cancelled for the end of the turn) has nothing left to do.
    if (!this.scheduled) return
    this.timer = undefined
    this.scheduled = false
    this.flush()
  }
}

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  return Number.isFinite(n) && n >= 0 ? n : fallback
}
