/**
 * A bounded log of the newest messages (docs/architecture.md §3: the administrator keeps the last
 * messages of a room in memory for gap fetches and join history). Appending past the capacity
 * overwrites the oldest entry in place: O(1) per message, where trimming an array from its front
 * (splice) moves every remaining entry on every send once the log is full.
 *
 * The backing array grows with the log up to the capacity, so a quiet room costs little memory.
 */
import { ChatError } from './errors'

export class MessageRing<T> {
  private buf: T[] = []
  /** Index in buf of the oldest entry (0 until the ring is full and wraps). */
  private head = 0

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new ChatError('internal', `ring capacity must be a positive integer, got ${capacity}`)
    // Written twice with different values: V8 would otherwise compile the readers (at, slice)
    // around head = 0 and throw that code away when the ring first wraps, under load
    // (docs/benchmarks.md, "The first trim of the log").
    this.head = -1
    this.head = 0
  }

  /** A ring holding the last `capacity` of `items` (oldest first). */
  static from<T>(items: readonly T[], capacity: number): MessageRing<T> {
    const r = new MessageRing<T>(capacity)
    r.buf = items.slice(Math.max(0, items.length - capacity))
    return r
  }

  get length(): number {
    return this.buf.length
  }

  push(item: T): void {
    if (this.buf.length < this.capacity) {
      this.buf.push(item)
      return
    }
    this.buf[this.head] = item
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1
  }

  /** The i-th oldest entry (0 = oldest), or undefined outside 0..length-1. */
  at(i: number): T | undefined {
    const n = this.buf.length
    if (i < 0 || i >= n) return undefined
    const j = this.head + i
    return this.buf[j < n ? j : j - n]
  }

  /** Entries start..end-1 (0 = oldest), like Array.prototype.slice with non-negative bounds. */
  slice(start: number, end: number = this.buf.length): T[] {
    const s = Math.max(0, start)
    const e = Math.min(this.buf.length, end)
    const out: T[] = []
    for (let i = s; i < e; i++) out.push(this.at(i) as T)
    return out
  }

  toArray(): T[] {
    return this.slice(0)
  }
}
