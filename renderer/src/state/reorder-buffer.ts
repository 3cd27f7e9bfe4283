/**
 * Per-room reorder buffer (docs/client-protocol.md §6.1). The node promises gap-free,
 * in-order delivery, but a client must still survive frames that race a `room.join` reply or a
 * reconnect: messages are released strictly in seq order, duplicates are dropped, and anything ahead
 * of the next expected seq waits until the gap fills (or the caller gives up and flushes).
 */
export interface Sequenced {
  seq: number
}

export class ReorderBuffer<T extends Sequenced> {
  /** Next seq we may release; undefined until the baseline (lastSeq of room.join) is known. */
  private next: number | undefined
  private readonly held = new Map<number, T>()

  /** Set where the stream starts: everything at or below lastSeq is already known. Returns what is now releasable. */
  setBaseline(lastSeq: number): T[] {
    this.next = lastSeq + 1
    for (const seq of [...this.held.keys()]) if (seq < this.next) this.held.delete(seq)
    return this.drain()
  }

  /** Offer one item; returns the items that can be released now, in seq order. */
  push(item: T): T[] {
    if (this.next !== undefined && item.seq < this.next) return [] // duplicate or already known
    if (!this.held.has(item.seq)) this.held.set(item.seq, item)
    return this.drain()
  }

  /** Seq numbers that are missing before the earliest held item (empty when nothing waits). */
  missing(): number[] {
    if (this.next === undefined || this.held.size === 0) return []
    const first = Math.min(...this.held.keys())
    const out: number[] = []
    for (let s = this.next; s < first; s++) out.push(s)
    return out
  }

  /**
   * Every hole up to the highest held item, as inclusive ranges: what a flush would skip. Ranges,
   * not numbers, because a restarted administrator can jump far ahead (its seq ceiling).
   */
  missingRanges(): [number, number][] {
    if (this.next === undefined || this.held.size === 0) return []
    const held = [...this.held.keys()].sort((a, b) => a - b)
    const out: [number, number][] = []
    let expect = this.next
    for (const seq of held) {
      if (seq > expect) out.push([expect, seq - 1])
      expect = seq + 1
    }
    return out
  }

  /** Give up on a gap: release everything held, in order, and continue after the highest. */
  flush(): T[] {
    const items = [...this.held.values()].sort((a, b) => a.seq - b.seq)
    this.held.clear()
    if (items.length > 0) this.next = items[items.length - 1].seq + 1
    return items
  }

  get size(): number {
    return this.held.size
  }

  get nextSeq(): number | undefined {
    return this.next
  }

  private drain(): T[] {
    const out: T[] = []
    if (this.next === undefined) return out
    for (;;) {
      const item = this.held.get(this.next)
      if (!item) break
      this.held.delete(this.next)
      out.push(item)
      this.next++
    }
    return out
  }
}
