/**
 * A Map of strings to numbers that can drop its oldest key in O(1): the resend memory of a room
 * (clientMsgId → seq), bounded by dropping the oldest entry on every send once full
 * (docs/benchmarks.md).
 *
 * Why not `map.keys().next()` on a plain Map: V8 leaves a hole for every deleted entry until the
 * table is rebuilt, and an iterator walks over the holes, so taking the oldest key after many
 * deletions from the front costs O(deleted entries): 75–85 µs per send with 50,000 entries, against
 * about 4 µs for the whole insert here (docs/benchmarks.md).
 *
 * The keys are also kept in insertion order in a queue of (key, value); `deleteOldest` pops it until
 * it removes an entry still in the map with that value. A key set again while present keeps its
 * place (as in a Map); a key deleted and set again later is a new entry at the back, although its
 * stale place in the queue, if its value is the same, may drop it early (a resend memory forgets
 * that entry a little sooner, never later).
 */
export class FifoMap extends Map<string, number> {
  private order: string[] = []
  private values_: number[] = []
  /** Index in `order` of the oldest queued key. */
  private head = 0

  override set(key: string, value: number): this {
    // One lookup, not `has` then `set` (every send sets a new key; docs/simulation.md "Speed"): the
    // key was new if the map grew.
    const before = this.size
    super.set(key, value)
    if (this.size === before) return this
    // Keys deleted by `delete` stay queued until popped: rebuilt from the map (which iterates in
    // insertion order, so the new key comes last) when they outnumber the live ones, so the queue
    // stays O(size).
    if (this.order.length - this.head > 2 * before + 1024) this.rebuild()
    else {
      this.order.push(key)
      this.values_.push(value)
    }
    return this
  }

  private rebuild(): void {
    this.order = []
    this.values_ = []
    this.head = 0
    for (const [k, v] of super.entries()) {
      this.order.push(k)
      this.values_.push(v)
    }
  }

  override clear(): void {
    super.clear()
    this.order = []
    this.values_ = []
    this.head = 0
  }

  /** Delete the oldest entry still present (insertion order); false when there is none. */
  deleteOldest(): boolean {
    while (this.head < this.order.length) {
      const key = this.order[this.head]
      const value = this.values_[this.head]
      this.head++
      this.compact()
      if (super.get(key) === value && super.delete(key)) return true
    }
    return false
  }

  /** Drop the popped front of the queue once it is most of it: amortised O(1) per key. */
  private compact(): void {
    if (this.head < 1024 || this.head * 2 < this.order.length) return
    this.order = this.order.slice(this.head)
    this.values_ = this.values_.slice(this.head)
    this.head = 0
  }
}
