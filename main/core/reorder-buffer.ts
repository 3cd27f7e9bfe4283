/**
 * The member node's side of ordering (docs/architecture.md §3): messages of a room reach a node
 * in batches from the administrator; the node hands them to its clients strictly in seq order, holds
 * back early arrivals, drops duplicates, and asks the administrator for a gap that does not fill by
 * itself within `gapWaitMs` (one FIFO stream rarely has gaps, but a reconnect or a failover does).
 * Pure: time comes in as `now`.
 */
import type { ChatMessage } from '../../proto/client-protocol'

export interface ReorderState {
  /** The next seq clients must see. */
  nextSeq: number
  /** Early arrivals by seq. */
  pending: Map<number, ChatMessage>
  /** When the current gap was first seen (undefined = no gap). */
  gapSince: number | undefined
  /** When a fetch was last asked for (to avoid asking every tick). */
  fetchedAt: number | undefined
  /** The highest seq the administrator is known to have given (from a rejoin): fetched until reached. */
  knownLast: number
}

export type ReorderInput =
  /** Start (or restart) after a join: the administrator's lastSeq. */
  | { type: 'reset'; lastSeq: number }
  | { type: 'arrive'; messages: ChatMessage[]; now: number }
  | { type: 'tick'; now: number }
  /** The administrator is known to have reached `lastSeq` (e.g. a rejoin): fetch what we lack. */
  | { type: 'known-last'; lastSeq: number; now: number }

export type ReorderEffect =
  | { type: 'deliver'; messages: ChatMessage[] }
  | { type: 'fetch'; fromSeq: number; toSeq: number }

export interface ReorderConfig {
  /** How long a gap may stay open before the administrator is asked for it. */
  gapWaitMs: number
  /** How long to wait for a fetch's answer before asking again. */
  refetchMs: number
  /** Most early arrivals held; beyond it the oldest gap is fetched at once. */
  maxPending: number
}

export const DEFAULT_REORDER: ReorderConfig = { gapWaitMs: 150, refetchMs: 1000, maxPending: 20_000 }

export function newReorder(lastSeq: number): ReorderState {
  return { nextSeq: lastSeq + 1, pending: new Map(), gapSince: undefined, fetchedAt: undefined, knownLast: lastSeq }
}

function lowestPending(s: ReorderState): number {
  let min = Infinity
  for (const k of s.pending.keys()) if (k < min) min = k
  return min
}

function highestPending(s: ReorderState): number {
  let max = -Infinity
  for (const k of s.pending.keys()) if (k > max) max = k
  return max
}

/**
 * Whether a tick could do anything: only while there is a gap, that is held-back arrivals or seqs
 * the administrator is known to have given that have not come yet (a lost fetch reply after a
 * rejoin must be asked for again). A driver with many rooms ticks only those (docs/simulation.md,
 * "Speed"); a tick of any other returns no effect and changes nothing.
 */
export function reorderTickDue(s: ReorderState): boolean {
  return s.gapSince !== undefined && (s.pending.size > 0 || s.nextSeq <= s.knownLast)
}

export function stepReorder(
  s: ReorderState,
  input: ReorderInput,
  cfg: ReorderConfig = DEFAULT_REORDER,
): { state: ReorderState; effects: ReorderEffect[] } {
  const effects: ReorderEffect[] = []
  switch (input.type) {
    case 'reset':
      s.nextSeq = input.lastSeq + 1
      s.pending.clear()
      s.gapSince = undefined
      s.fetchedAt = undefined
      s.knownLast = input.lastSeq
      break
    case 'arrive': {
      for (const m of input.messages) {
        if (m.seq >= s.nextSeq) s.pending.set(m.seq, m) // older ones are duplicates: dropped
      }
      const ready: ChatMessage[] = []
      while (s.pending.has(s.nextSeq)) {
        ready.push(s.pending.get(s.nextSeq)!)
        s.pending.delete(s.nextSeq)
        s.nextSeq++
      }
      if (ready.length > 0) effects.push({ type: 'deliver', messages: ready })
      if (s.pending.size === 0 && s.nextSeq > s.knownLast) {
        s.gapSince = undefined
        s.fetchedAt = undefined
      } else {
        if (ready.length > 0 || s.gapSince === undefined) {
          s.gapSince = input.now
          s.fetchedAt = undefined
        }
        if (s.pending.size > cfg.maxPending) {
          effects.push({ type: 'fetch', fromSeq: s.nextSeq, toSeq: lowestPending(s) - 1 })
          s.fetchedAt = input.now
        }
      }
      break
    }
    case 'known-last':
      s.knownLast = Math.max(s.knownLast, input.lastSeq)
      if (input.lastSeq >= s.nextSeq) {
        const top = Math.max(input.lastSeq, s.pending.size ? highestPending(s) : 0)
        effects.push({ type: 'fetch', fromSeq: s.nextSeq, toSeq: top })
        s.gapSince = s.gapSince ?? input.now
        s.fetchedAt = input.now
      }
      break
    case 'tick': {
      if (s.gapSince === undefined || !reorderTickDue(s)) break
      const waited = input.now - s.gapSince
      const sinceFetch = s.fetchedAt === undefined ? Infinity : input.now - s.fetchedAt
      if (waited >= cfg.gapWaitMs && sinceFetch >= cfg.refetchMs) {
        const toSeq = s.pending.size > 0 ? lowestPending(s) - 1 : s.knownLast
        effects.push({ type: 'fetch', fromSeq: s.nextSeq, toSeq })
        s.fetchedAt = input.now
      }
      break
    }
  }
  return { state: s, effects }
}
