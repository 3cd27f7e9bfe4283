// Tables of inputs and expected effects for main/core/failure-detector.ts, with time as an input
// (docs/architecture.md §2: the core is a step function; docs/failures.md for the behaviour).
import { describe, it, expect } from 'vitest'
import {
  createFailureDetector,
  failureDetectorStep,
  initialBackoff,
  nextBackoff,
  FailureDetectorConfigError,
  type FailureDetectorConfig,
  type FailureDetectorInput,
  type FailureDetectorState,
  type PeerStateEffect,
} from '../../main/core/failure-detector'

type Row = [FailureDetectorInput, PeerStateEffect[]]

const CONFIG: FailureDetectorConfig = { suspectMs: 1500, deadMs: 3000 }

const heard = (peer: string, now: number): FailureDetectorInput => ({ type: 'heard', peer, now })
const left = (peer: string, now: number): FailureDetectorInput => ({ type: 'left', peer, now })
const tick = (now: number): FailureDetectorInput => ({ type: 'tick', now })
const forget = (peer: string): FailureDetectorInput => ({ type: 'forget', peer })
const change = (
  peer: string,
  from: PeerStateEffect['from'],
  to: PeerStateEffect['to'],
  silentMs: number,
): PeerStateEffect => ({ type: 'peer-state', peer, from, to, silentMs })

/** The row most cases begin with: peer a's first heartbeat, at time 0, makes it alive. */
const A_HEARD_AT_0: Row = [heard('a', 0), [change('a', null, 'alive', 0)]]

/** Feeds the rows in order and checks each row's effects; returns the final state. */
function run(rows: Row[], config: FailureDetectorConfig = CONFIG): FailureDetectorState {
  let state = createFailureDetector(config)
  rows.forEach(([input, expected], i) => {
    const out = failureDetectorStep(state, input)
    expect(out.effects, `row ${i}: ${JSON.stringify(input)}`).toEqual(expected)
    state = out.state
  })
  return state
}

const cases: Array<{ name: string; rows: Row[]; config?: FailureDetectorConfig }> = [
  {
    name: 'alive -> suspect at suspectMs -> dead at deadMs, ticking every heartbeat',
    rows: [
      A_HEARD_AT_0,
      [tick(500), []],
      [tick(1000), []],
      [tick(1499), []],
      [tick(1500), [change('a', 'alive', 'suspect', 1500)]],
      [tick(2000), []],
      [tick(2999), []],
      [tick(3000), [change('a', 'suspect', 'dead', 3000)]],
      [tick(3500), []],
      [tick(10_000), []],
    ],
  },
  {
    name: 'heard while suspect: alive again at once, and the silence counts from then',
    rows: [
      A_HEARD_AT_0,
      [tick(1000), []],
      [tick(2000), [change('a', 'alive', 'suspect', 2000)]],
      [heard('a', 2100), [change('a', 'suspect', 'alive', 0)]],
      [tick(3000), []],
      [tick(3500), []],
      [tick(4000), [change('a', 'alive', 'suspect', 1900)]],
    ],
  },
  {
    name: 'heard while dead: alive again at once',
    rows: [
      A_HEARD_AT_0,
      [tick(1000), []],
      [tick(2000), [change('a', 'alive', 'suspect', 2000)]],
      [tick(3000), [change('a', 'suspect', 'dead', 3000)]],
      [tick(4000), []],
      [heard('a', 4200), [change('a', 'dead', 'alive', 0)]],
      [tick(5000), []],
    ],
  },
  {
    name: 'heartbeats keep a peer alive; a repeated heard emits nothing',
    rows: [
      A_HEARD_AT_0,
      [heard('a', 500), []],
      [tick(1000), []],
      [heard('a', 1000), []],
      [tick(2000), []],
      [heard('a', 1500), []],
      [tick(2400), []],
      [tick(2999), []],
      [tick(3000), [change('a', 'alive', 'suspect', 1500)]],
    ],
  },
  {
    name: 'an older `now` in heard does not move last-heard backwards',
    rows: [
      [heard('a', 1000), [change('a', null, 'alive', 0)]],
      [heard('a', 200), []],
      [tick(1500), []],
      [tick(2499), []],
      [tick(2500), [change('a', 'alive', 'suspect', 1500)]],
    ],
  },
  {
    name: 'left (graceful leave): dead at once, without waiting; repeated left changes nothing',
    rows: [
      A_HEARD_AT_0,
      [tick(400), []],
      [left('a', 450), [change('a', 'alive', 'dead', 450)]],
      [left('a', 460), []],
      [tick(5000), []],
      [heard('a', 6000), [change('a', 'dead', 'alive', 0)]],
    ],
  },
  {
    name: 'left from suspect, and left of a peer never heard (nothing to mark)',
    rows: [
      A_HEARD_AT_0,
      [tick(1000), []],
      [tick(1600), [change('a', 'alive', 'suspect', 1600)]],
      [left('a', 1700), [change('a', 'suspect', 'dead', 1700)]],
      [left('ghost', 1700), []],
    ],
  },
  {
    name: 'forget drops a peer: no more effects for it; heard later is a new peer again',
    rows: [
      A_HEARD_AT_0,
      [forget('a'), []],
      [forget('a'), []],
      [tick(1000), []],
      [tick(2000), []],
      [tick(3000), []],
      [heard('a', 3100), [change('a', null, 'alive', 0)]],
    ],
  },
  {
    name: 'peers are independent',
    rows: [
      A_HEARD_AT_0,
      [heard('b', 1000), [change('b', null, 'alive', 0)]],
      [tick(1000), []],
      [tick(2000), [change('a', 'alive', 'suspect', 2000)]],
      [tick(2500), [change('b', 'alive', 'suspect', 1500)]],
      [tick(3000), [change('a', 'suspect', 'dead', 3000)]],
      [heard('b', 3200), [change('b', 'suspect', 'alive', 0)]],
      [tick(4000), []],
    ],
  },
  {
    name: 'a tick that finds a peer past deadMs moves it alive -> dead in one effect (guard off)',
    config: { ...CONFIG, pauseGuardMs: Infinity },
    rows: [
      A_HEARD_AT_0,
      [tick(100), []],
      [tick(5000), [change('a', 'alive', 'dead', 5000)]],
    ],
  },
  {
    name: 'pause guard: after our own pause (tick gap > deadMs) peers get a fresh window',
    rows: [
      A_HEARD_AT_0,
      [tick(500), []],
      [tick(1000), []],
      // Paused for 9 s (SIGSTOP): a's silence is counted as it was at the previous tick, 1000 ms.
      [tick(10_000), []],
      [tick(10_499), []],
      [tick(10_500), [change('a', 'alive', 'suspect', 1500)]],
      [tick(11_000), []],
      [tick(12_000), [change('a', 'suspect', 'dead', 3000)]],
    ],
  },
  {
    name: 'pause guard: a peer heard right after the pause, before the tick, stays alive',
    rows: [
      A_HEARD_AT_0,
      [tick(1000), []],
      [heard('a', 9_990), []],
      [tick(10_000), []],
      [tick(11_000), []],
      [tick(11_489), []],
      [tick(11_490), [change('a', 'alive', 'suspect', 1500)]],
    ],
  },
  {
    // Seen with real processes: the tick is every 50 ms and heartbeats arrive all the time, so the
    // last thing before a SIGSTOP is often a heartbeat heard *after* the last tick. It was heard
    // before the pause, not after it: it must get the fresh window too, not be declared dead.
    name: 'pause guard: a peer heard between the last tick and the pause is not declared dead after it',
    rows: [
      A_HEARD_AT_0,
      [heard('b', 0), [change('b', null, 'alive', 0)]],
      [tick(1000), []],
      [heard('a', 1020), []],
      // Paused from about 1030 to 10_000.
      [tick(10_000), []],
      [tick(11_000), [change('b', 'alive', 'suspect', 2000)]],
      [tick(11_499), []],
      [tick(11_500), [change('a', 'alive', 'suspect', 1500)]],
    ],
  },
  {
    // The node sets the guard near one heartbeat (event-loop lag). Under sustained overload every
    // tick is late: crediting every gap would keep a dead peer alive for ever. A silent peer is
    // credited once; it must be heard to be credited again.
    name: 'pause guard: sustained lag (every tick late) credits a silent peer once; a dead one still dies',
    config: { suspectMs: 600, deadMs: 1200, pauseGuardMs: 200 },
    rows: [
      A_HEARD_AT_0,
      [heard('b', 0), [change('b', null, 'alive', 0)]],
      [tick(0), []],
      [tick(300), []], // late: both credited (silence counted from 300)
      [heard('b', 350), []], // b was heard, so it can be credited again
      [tick(600), []], // late again: b credited (silence from 600), a not (still silent)
      [tick(900), [change('a', 'alive', 'suspect', 600)]],
      [tick(1200), [change('b', 'alive', 'suspect', 600)]],
      [tick(1500), [change('a', 'suspect', 'dead', 1200)]],
      [tick(1800), [change('b', 'suspect', 'dead', 1200)]],
    ],
  },
]

describe('failure detector (tables, time as input)', () => {
  for (const c of cases) it(c.name, () => void run(c.rows, c.config))

  it('steps do not mutate the state they are given', () => {
    const s0 = createFailureDetector(CONFIG)
    const s1 = failureDetectorStep(s0, heard('a', 0)).state
    failureDetectorStep(s1, tick(5000))
    failureDetectorStep(s1, left('a', 10))
    expect(s0.peers).toEqual({})
    expect(s1.peers).toEqual({ a: { state: 'alive', lastHeardMs: 0 } })
  })

  it("'heard-many' gives the state and effects of one 'heard' per peer, in the map's order", () => {
    // A driver batches the 'heard' of every frame (main/node/peer-links.ts): the result must not change.
    const start = [heard('a', 0), heard('b', 0), heard('c', 0), tick(50), tick(1600), tick(3100)]
      .reduce((s, i) => failureDetectorStep(s, i).state, createFailureDetector(CONFIG))
    const batch = new Map([['c', 3150], ['a', 3120], ['d', 3130], ['a', 3140]])
    const one = [...batch].reduce<{ state: FailureDetectorState; effects: PeerStateEffect[] }>((acc, [peer, now]) => {
      const out = failureDetectorStep(acc.state, heard(peer, now))
      return { state: out.state, effects: [...acc.effects, ...out.effects] }
    }, { state: start, effects: [] })
    const many = failureDetectorStep(start, { type: 'heard-many', heard: batch })
    expect(many.effects).toEqual(one.effects)
    expect(many.state).toEqual(one.state)
    expect(Object.keys(many.state.peers)).toEqual(Object.keys(one.state.peers))
    // A tick that changes no peer keeps the peers object; quiet ticks allocate nothing per peer.
    const quiet = failureDetectorStep(many.state, tick(3160)).state
    expect(quiet.peers).toBe(many.state.peers)
    expect(quiet.lastTickMs).toBe(3160)
  })

  it("a 'tick' with `heard` gives the state and effects of 'heard-many' then 'tick'", () => {
    const start = [heard('a', 0), heard('b', 0), heard('c', 0), tick(50), tick(1600)]
      .reduce((s, i) => failureDetectorStep(s, i).state, createFailureDetector(CONFIG))
    const unchanged = JSON.stringify(start)
    // Quiet ticks, a peer going suspect and dead, a paused node (the guard credits the gap), a new peer.
    for (const [batch, at] of [
      [new Map([['a', 1650], ['b', 1640]]), 1700],
      [new Map([['a', 3300]]), 3350],
      [new Map([['b', 3400], ['d', 3390]]), 9000],
      [new Map<string, number>(), 9050],
    ] as [Map<string, number>, number][]) {
      const two = failureDetectorStep(start, { type: 'heard-many', heard: batch })
      const then = failureDetectorStep(two.state, tick(at))
      const one = failureDetectorStep(start, { type: 'tick', now: at, heard: batch })
      expect(one.effects).toEqual([...two.effects, ...then.effects])
      expect(one.state).toEqual(then.state)
      expect(Object.keys(one.state.peers)).toEqual(Object.keys(then.state.peers))
    }
    expect(JSON.stringify(start)).toBe(unchanged)
  })

  it.each([
    [{ suspectMs: 0, deadMs: 3000 }],
    [{ suspectMs: 3000, deadMs: 3000 }],
    [{ suspectMs: 2000, deadMs: 1000 }],
    [{ suspectMs: 1500, deadMs: 3000, pauseGuardMs: 0 }],
  ])('rejects config %j with a named error and a stable code', (config) => {
    expect(() => createFailureDetector(config)).toThrow(FailureDetectorConfigError)
    try {
      createFailureDetector(config)
    } catch (e) {
      expect((e as FailureDetectorConfigError).code).toBe('failure_detector_config')
    }
  })
})

describe('reconnect backoff', () => {
  it('doubles from 100 ms and caps at 2000 ms', () => {
    let b = initialBackoff()
    const delays: number[] = []
    for (let i = 0; i < 8; i++) {
      const out = nextBackoff(b)
      delays.push(out.delayMs)
      b = out.backoff
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600, 2000, 2000, 2000])
  })

  it('resets to the base delay once the peer is heard (initialBackoff again)', () => {
    let b = initialBackoff()
    for (let i = 0; i < 6; i++) b = nextBackoff(b).backoff
    expect(nextBackoff(b).delayMs).toBe(2000)
    b = initialBackoff()
    expect(nextBackoff(b).delayMs).toBe(100)
  })

  it('stays at the cap after very many failures (no overflow)', () => {
    expect(nextBackoff({ failures: 10_000 }).delayMs).toBe(2000)
    expect(nextBackoff({ failures: 10_000 }, { baseMs: 50, maxMs: 3000 }).delayMs).toBe(3000)
  })

  it.each([
    [{ baseMs: 100, maxMs: 2000 }, [100, 200, 400, 800, 1600, 2000]],
    [{ baseMs: 250, maxMs: 1000 }, [250, 500, 1000, 1000, 1000, 1000]],
  ])('config %j gives %j', (config, expected) => {
    let b = initialBackoff()
    const delays = expected.map(() => {
      const out = nextBackoff(b, config)
      b = out.backoff
      return out.delayMs
    })
    expect(delays).toEqual(expected)
  })
})
