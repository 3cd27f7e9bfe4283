/**
 * The simulator's seeded pseudo-random generator (sfc32, seeded through splitmix32): every choice
 * of a run comes from it, so a seed names exactly one run. Not for cryptography.
 */
export class Prng {
  /**
   * sfc32's four words a, b, c, d. In a typed array rather than four fields: most values are past
   * V8's small integers, and a word written to a field or returned from a call that is not inlined
   * becomes a heap number, one allocation per draw (docs/simulation.md, "Speed").
   */
  private readonly s = new Uint32Array(4)

  constructor(seed: number) {
    let s = seed >>> 0
    const mix = () => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.s[0] = mix()
    this.s[1] = mix()
    this.s[2] = mix()
    this.s[3] = mix()
    for (let i = 0; i < 12; i++) this.nextU32()
  }

  nextU32(): number {
    const s = this.s
    const a = s[0], b = s[1], c = s[2], d = s[3]
    const t = (((a + b) >>> 0) + d) >>> 0
    s[3] = d + 1
    s[0] = b ^ (b >>> 9)
    s[1] = c + (c << 3)
    const r = (c << 21) | (c >>> 11)
    s[2] = r + t
    return t
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296
  }

  /**
   * Uniform integer in [0, n): floor(next() * n). For an integer n below 2^21, t * n / 2^32 is that same
   * number, exactly (t / 2^32 and t * n are both exact in a double), and no double leaves this call.
   */
  int(n: number): number {
    const t = this.nextU32()
    return (n & 0x1fffff) === n ? Math.floor((t * n) / 4294967296) : Math.floor((t / 4294967296) * n)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }

  /** An independent stream derived from this one (so adding draws to one part does not shift the other). */
  fork(): Prng {
    return new Prng(this.nextU32())
  }
}
