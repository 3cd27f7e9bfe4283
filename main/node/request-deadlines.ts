/**
 * The timeouts of requests to other nodes (peer-links.ts) on one timer (docs/benchmarks.md,
 * "Client ingress"): a forwarded chat message is a request, so a timer of its own per request was
 * one created and one cancelled per send. Entries wait in deadline order, and one timer is armed for
 * the earliest; an entry answered in time is only marked settled and skipped when its deadline
 * comes. Each entry still expires exactly at its own deadline, as with a timer per request.
 *
 * Almost every request has the same timeout, so a new entry goes at the back of the queue; one with
 * an earlier deadline (a shorter timeout) is put in its place and re-arms the timer if it is first.
 */
import type { Clock, Timer } from '../cluster/clock'

export interface Deadline {
  /** When it expires, on the clock the queue was given. */
  readonly deadline: number
  /** Answered or failed otherwise: its deadline is skipped. */
  settled: boolean
}

export class RequestDeadlines<E extends Deadline> {
  private queue: E[] = []
  /** Index of the first entry not yet taken off the queue. */
  private head = 0
  private timer: Timer | undefined
  /** The deadline the timer is armed for (Infinity: not armed). */
  private armedFor = Infinity

  /** `expire` runs for each entry still unsettled at its deadline (it is marked settled first). */
  constructor(
    private readonly clock: Clock,
    private readonly expire: (e: E) => void,
  ) {}

  /** Watch `e` until its deadline (or until it is settled). */
  add(e: E): void {
    const q = this.queue
    let i = q.length
    while (i > this.head && q[i - 1].deadline > e.deadline) i--
    if (i === q.length) q.push(e)
    else q.splice(i, 0, e)
    if (e.deadline < this.armedFor) this.arm(e.deadline)
  }

  /** Entries waiting (settled or not) on the queue: bounded by the requests of one timeout period. */
  get size(): number {
    return this.queue.length - this.head
  }

  /** Forget every entry and stop the timer (the entries' owner fails them itself). */
  clear(): void {
    this.clock.clear(this.timer)
    this.timer = undefined
    this.armedFor = Infinity
    this.queue = []
    this.head = 0
  }

  private arm(at: number): void {
    this.clock.clear(this.timer)
    this.armedFor = at
    this.timer = this.clock.setTimeout(this.fire, Math.max(0, at - this.clock.now()))
  }

  private readonly fire = (): void => {
    this.timer = undefined
    this.armedFor = Infinity
    const now = this.clock.now()
    const q = this.queue
    while (this.head < q.length) {
      const e = q[this.head]
      if (!e.settled && e.deadline > now) break
      this.head++
      if (e.settled) continue
      e.settled = true
      this.expire(e)
    }
    // Drop the taken front once it is most of the array: amortised O(1) per entry.
    if (this.head === q.length) {
      this.queue = []
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= q.length) {
      this.queue = q.slice(this.head)
      this.head = 0
    }
    // An entry added by `expire` may have armed the timer already.
    if (this.head < this.queue.length && this.queue[this.head].deadline < this.armedFor) this.arm(this.queue[this.head].deadline)
  }
}
