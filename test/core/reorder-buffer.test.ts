// Tables of inputs and expected effects for main/core/reorder-buffer.ts (docs/architecture.md §2:
// the core is a step function). Time is an input (`now`); every row checks the
// effects of one step, in order.
import { describe, it, expect } from 'vitest'
import {
  stepReorder,
  reorderTickDue,
  newReorder,
  DEFAULT_REORDER,
  type ReorderConfig,
  type ReorderEffect,
  type ReorderInput,
  type ReorderState,
} from '../../main/core/reorder-buffer'
import type { ChatMessage } from '../../proto/client-protocol'

type Row = [ReorderInput, ReorderEffect[]]

const CFG: ReorderConfig = { gapWaitMs: 150, refetchMs: 1000, maxPending: 100 }

const msg = (seq: number): ChatMessage => ({ roomId: 'r1', seq, user: 'u', nodeId: 'A', text: `m${seq}`, sentAt: seq, clientMsgId: `c${seq}` })
const arrive = (seqs: number[], now: number): ReorderInput => ({ type: 'arrive', messages: seqs.map(msg), now })
const tick = (now: number): ReorderInput => ({ type: 'tick', now })
const knownLast = (lastSeq: number, now: number): ReorderInput => ({ type: 'known-last', lastSeq, now })
const reset = (lastSeq: number): ReorderInput => ({ type: 'reset', lastSeq })
const deliver = (...seqs: number[]): ReorderEffect => ({ type: 'deliver', messages: seqs.map(msg) })
const fetch = (fromSeq: number, toSeq: number): ReorderEffect => ({ type: 'fetch', fromSeq, toSeq })

interface Scenario {
  name: string
  /** The administrator's lastSeq at join. */
  start?: number
  cfg?: ReorderConfig
  rows: Row[]
  after: { nextSeq: number; pending: number[] }
}

const scenarios: Scenario[] = [
  {
    name: 'in order: each arrival is delivered at once, nothing is fetched',
    rows: [
      [arrive([1], 0), [deliver(1)]],
      [arrive([2], 10), [deliver(2)]],
      [arrive([3, 4, 5], 20), [deliver(3, 4, 5)]],
      [tick(5000), []],
    ],
    after: { nextSeq: 6, pending: [] },
  },
  {
    name: 'joined at lastSeq 10: the next deliverable seq is 11',
    start: 10,
    rows: [
      [arrive([11], 0), [deliver(11)]],
      [arrive([12], 1), [deliver(12)]],
    ],
    after: { nextSeq: 13, pending: [] },
  },
  {
    name: 'out of order: early arrivals are held, then released in seq order when the gap fills',
    rows: [
      [arrive([3], 0), []],
      [arrive([2], 5), []],
      [arrive([1], 10), [deliver(1, 2, 3)]],
      [tick(1000), []],
    ],
    after: { nextSeq: 4, pending: [] },
  },
  {
    name: 'a batch in reverse order is delivered sorted',
    rows: [[arrive([5, 4, 3, 2, 1], 0), [deliver(1, 2, 3, 4, 5)]]],
    after: { nextSeq: 6, pending: [] },
  },
  {
    name: 'partial release: 1 fills, 3 is still waiting for 2',
    rows: [
      [arrive([3], 0), []],
      [arrive([1], 10), [deliver(1)]],
      [arrive([2], 20), [deliver(2, 3)]],
    ],
    after: { nextSeq: 4, pending: [] },
  },
  {
    name: 'duplicates are dropped: already delivered, and twice in the same batch or while held',
    rows: [
      [arrive([1, 2], 0), [deliver(1, 2)]],
      [arrive([1], 1), []],
      [arrive([2, 1], 2), []],
      [arrive([4, 4], 3), []],
      [arrive([4], 4), []],
      [arrive([3, 3], 5), [deliver(3, 4)]],
      [arrive([3, 4], 6), []],
    ],
    after: { nextSeq: 5, pending: [] },
  },
  {
    name: 'a gap is fetched after gapWaitMs (not before), then re-fetched only every refetchMs',
    rows: [
      [arrive([1], 0), [deliver(1)]],
      [arrive([4, 5], 100), []],
      [tick(200), []],
      [tick(249), []],
      [tick(250), [fetch(2, 3)]],
      [tick(300), []],
      [tick(1249), []],
      [tick(1250), [fetch(2, 3)]],
      [tick(1300), []],
      [tick(2250), [fetch(2, 3)]],
      [arrive([2, 3], 2300), [deliver(2, 3, 4, 5)]],
      [tick(5000), []],
    ],
    after: { nextSeq: 6, pending: [] },
  },
  {
    name: 'progress restarts the gap clock: a partly filled gap waits gapWaitMs again, and fetches only what is missing',
    rows: [
      [arrive([2, 5], 0), []],
      [tick(150), [fetch(1, 1)]],
      [arrive([1], 200), [deliver(1, 2)]],
      [tick(300), []],
      [tick(349), []],
      [tick(350), [fetch(3, 4)]],
    ],
    after: { nextSeq: 3, pending: [5] },
  },
  {
    name: 'more arrivals while a gap is open do not restart its clock',
    rows: [
      [arrive([3], 0), []],
      [arrive([4], 100), []],
      [arrive([5], 140), []],
      [tick(150), [fetch(1, 2)]],
    ],
    after: { nextSeq: 1, pending: [3, 4, 5] },
  },
  {
    name: 'too many held (maxPending 3): the oldest gap is fetched at once, without waiting',
    cfg: { gapWaitMs: 150, refetchMs: 1000, maxPending: 3 },
    rows: [
      [arrive([3, 4, 5], 0), []],
      [arrive([6], 10), [fetch(1, 2)]],
      [tick(160), []],
      [tick(1010), [fetch(1, 2)]],
    ],
    after: { nextSeq: 1, pending: [3, 4, 5, 6] },
  },
  {
    name: 'known-last ahead of us (a rejoin): fetch everything we lack at once',
    start: 4,
    rows: [
      [knownLast(9, 0), [fetch(5, 9)]],
      [arrive([5, 6, 7, 8, 9], 50), [deliver(5, 6, 7, 8, 9)]],
    ],
    after: { nextSeq: 10, pending: [] },
  },
  {
    name: 'known-last behind what we hold: the fetch reaches up to the highest held seq',
    rows: [
      [arrive([8], 0), []],
      [knownLast(5, 10), [fetch(1, 8)]],
    ],
    after: { nextSeq: 1, pending: [8] },
  },
  {
    name: 'known-last with nothing held: a lost fetch reply is asked for again until the known seq arrives',
    start: 4,
    rows: [
      [knownLast(9, 0), [fetch(5, 9)]],
      [tick(500), []],
      [tick(1000), [fetch(5, 9)]],
      [arrive([5, 6], 1100), [deliver(5, 6)]],
      [tick(1200), []],
      [tick(1260), [fetch(7, 9)]],
      [arrive([7, 8, 9], 1300), [deliver(7, 8, 9)]],
      [tick(5000), []],
    ],
    after: { nextSeq: 10, pending: [] },
  },
  {
    name: 'known-last not ahead of us: nothing to fetch',
    start: 5,
    rows: [
      [knownLast(5, 0), []],
      [knownLast(3, 0), []],
      [tick(5000), []],
    ],
    after: { nextSeq: 6, pending: [] },
  },
  {
    name: 'known-last counts as a fetch: the gap tick waits refetchMs before asking again',
    rows: [
      [arrive([3], 0), []],
      [knownLast(3, 10), [fetch(1, 3)]],
      [tick(200), []],
      [tick(1009), []],
      [tick(1010), [fetch(1, 2)]],
    ],
    after: { nextSeq: 1, pending: [3] },
  },
  {
    name: 'reset (rejoin at a new lastSeq): held messages and the gap are forgotten; older arrivals are dropped',
    rows: [
      [arrive([1], 0), [deliver(1)]],
      [arrive([3, 4], 10), []],
      [reset(20), []],
      [tick(5000), []],
      [arrive([4, 20], 5001), []],
      [arrive([21], 5002), [deliver(21)]],
    ],
    after: { nextSeq: 22, pending: [] },
  },
  {
    name: 'reset backwards is allowed (the administrator is the authority)',
    start: 10,
    rows: [
      [reset(2), []],
      [arrive([3], 0), [deliver(3)]],
    ],
    after: { nextSeq: 4, pending: [] },
  },
]

function run(rows: Row[], s: ReorderState, cfg: ReorderConfig): ReorderState {
  rows.forEach(([input, expected], i) => {
    const out = stepReorder(s, input, cfg)
    expect(out.effects, `row ${i}: ${JSON.stringify(input)}`).toEqual(expected)
    s = out.state
  })
  return s
}

describe('reorder-buffer: stepReorder tables', () => {
  it.each(scenarios)('$name', ({ start, cfg, rows, after }) => {
    const s = run(rows, newReorder(start ?? 0), cfg ?? CFG)
    expect(s.nextSeq).toBe(after.nextSeq)
    expect([...s.pending.keys()].sort((a, b) => a - b)).toEqual(after.pending)
  })

  it('reorderTickDue says when a tick can do anything: a tick of a room without a gap has no effect and changes nothing', () => {
    // A node ticks only the member rooms this says are due (main/node/room-member.ts).
    let s = newReorder(0)
    const steps: ReorderInput[] = [arrive([1], 0), tick(200), arrive([3], 210), tick(300), tick(400), arrive([2], 410), tick(2000), knownLast(6, 2010), tick(2200), tick(3300), arrive([4, 5, 6], 3310), tick(5000)]
    for (const input of steps) {
      const due = reorderTickDue(s)
      if (input.type === 'tick' && !due) {
        const before = JSON.stringify({ ...s, pending: [...s.pending] })
        expect(stepReorder(s, input, CFG).effects).toEqual([])
        expect(JSON.stringify({ ...s, pending: [...s.pending] })).toBe(before)
        continue
      }
      s = stepReorder(s, input, CFG).state
    }
    // A gap (3 held back) is due until 2 comes; a known last seq not yet reached is due until it is.
    expect(reorderTickDue(stepReorder(newReorder(0), arrive([2], 0), CFG).state)).toBe(true)
    expect(reorderTickDue(newReorder(0))).toBe(false)
    expect(s.nextSeq).toBe(7)
    expect(reorderTickDue(s)).toBe(false)
  })

  it('whatever the arrival order and duplication, clients see 1..N exactly once, in order', () => {
    // A deterministic shuffle (no Math.random: a failure must be reproducible).
    let seed = 12345
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let round = 0; round < 50; round++) {
      const n = 1 + Math.floor(rand() * 40)
      const seqs = Array.from({ length: n }, (_, i) => i + 1)
      const withDupes = [...seqs, ...seqs.filter(() => rand() < 0.3)]
      for (let i = withDupes.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1))
        ;[withDupes[i], withDupes[j]] = [withDupes[j], withDupes[i]]
      }
      let s = newReorder(0)
      const seen: number[] = []
      let now = 0
      while (withDupes.length) {
        const batch = withDupes.splice(0, 1 + Math.floor(rand() * 3))
        const out = stepReorder(s, arrive(batch, (now += 7)), DEFAULT_REORDER)
        s = out.state
        for (const e of out.effects) if (e.type === 'deliver') seen.push(...e.messages.map((x) => x.seq))
      }
      expect(seen, `round ${round}`).toEqual(seqs)
      expect(s.pending.size).toBe(0)
    }
  })
})
