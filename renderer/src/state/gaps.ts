/**
 * What to tell a person about seq numbers that never arrived (the node promises none do; this is for
 * when it fails to, e.g. an administrator whose log lost its tail). A jump such as 3 then 66 is not
 * listed number by number: it is summarised as ranges ("seq 4–65 (62 messages)").
 */

/** An inclusive range of seq numbers, [from, to]. */
export type SeqRange = readonly [number, number]

/** At most this many ranges are written out; the rest are counted ("and 3 more ranges"). */
export const MAX_RANGES_SHOWN = 4

/** Sorted, merged ranges from any list of seq numbers (duplicates and order do not matter). */
export function seqRanges(seqs: Iterable<number>): SeqRange[] {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b)
  const out: [number, number][] = []
  for (const s of sorted) {
    const last = out[out.length - 1]
    if (last && s === last[1] + 1) last[1] = s
    else out.push([s, s])
  }
  return out
}

export function countInRanges(ranges: readonly SeqRange[]): number {
  let n = 0
  for (const [a, b] of ranges) n += b - a + 1
  return n
}

/** "seq 4–65 (62 messages)", "seq 7 (1 message)", "seq 2, 5–6 (3 messages)". Empty string for no ranges. */
export function formatSeqRanges(ranges: readonly SeqRange[], opts: { upTo?: boolean } = {}): string {
  if (ranges.length === 0) return ''
  const shown = ranges.slice(0, MAX_RANGES_SHOWN).map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`))
  const more = ranges.length - shown.length
  const list = more > 0 ? `${shown.join(', ')} and ${more} more range${more === 1 ? '' : 's'}` : shown.join(', ')
  const n = countInRanges(ranges)
  return `seq ${list} (${opts.upTo ? 'up to ' : ''}${n} message${n === 1 ? '' : 's'})`
}

/**
 * The notice for seqs that did not arrive in a room. `adminRestarted`: the jump came right after the
 * room became available again, which is how an administrator that restarted from a crash looks
 * (a merely paused one loses nothing: its members fetch what they missed, with no jump). Many of
 * those numbers were then never given to any message, hence "up to".
 */
export function describeMissing(ranges: readonly SeqRange[], opts: { roomName?: string; adminRestarted?: boolean } = {}): string {
  if (ranges.length === 0) return ''
  const where = opts.roomName ? ` in “${opts.roomName}”` : ''
  const what = formatSeqRanges(ranges, { upTo: opts.adminRestarted })
  return opts.adminRestarted
    ? `Some messages did not arrive${where}: ${what}. The administrator restarted; messages it had not saved are gone.`
    : `Some messages did not arrive${where}: ${what}.`
}
