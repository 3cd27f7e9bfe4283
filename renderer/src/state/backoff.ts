/**
 * Reconnect backoff policy (docs/ui.md): exponential growth so a node that is down is not
 * hammered, a cap so a node that comes back is found within a few seconds, and jitter so several
 * tabs of the same user do not reconnect in lock step. Pure: randomness is injected.
 */
export interface BackoffOptions {
  baseMs: number
  maxMs: number
  /** Fraction of the delay that is randomised (0 = none, 0.5 = delay in [0.5d, d]). */
  jitter: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 5000, jitter: 0.3 }

export class ReconnectBackoff {
  private attempt = 0

  constructor(
    private readonly opts: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt; each call counts as one failed attempt. */
  nextDelayMs(): number {
    const exp = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** this.attempt)
    this.attempt++
    const j = Math.min(1, Math.max(0, this.opts.jitter))
    return Math.round(exp * (1 - j * this.random()))
  }

  /** How many attempts failed since the last success. */
  get attempts(): number {
    return this.attempt
  }

  /** A connection succeeded: the next failure starts over from the base delay. */
  reset(): void {
    this.attempt = 0
  }
}
