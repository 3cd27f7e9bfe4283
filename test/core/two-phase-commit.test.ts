// Tables of inputs and expected effects for main/core/two-phase-commit.ts: coordinator and
// participant state machines, all votes, timeouts and repeats (docs/deletion.md).
import { describe, it, expect } from 'vitest'
import {
  startCoordinator,
  coordinatorStep,
  recoverCoordinator,
  presumedAbortAnswer,
  startParticipant,
  participantStep,
  abortBeforePrepare,
  recoverParticipant,
  takeOverCoordinator,
  ackUnknownDecision,
  emptyTombstones,
  addTombstone,
  isTombstoned,
  tombstoneTx,
  describeTxReason,
  reasonFromRecord,
  type CoordinatorInput,
  type CoordinatorState,
  type ParticipantInput,
  type ParticipantState,
  type TwoPhaseConfig,
  type TxEffect,
  type TxReason,
  type TxRecord,
} from '../../main/core/two-phase-commit'
import type { Vote } from '../../proto/client-protocol'

const CONFIG: TwoPhaseConfig = { voteTimeoutMs: 5000, resendMs: 1000, decisionTimeoutMs: 2000 }
const TX = 'tx1'
const ROOM = 'room1'

// --- effect builders: one line per expected effect keeps the tables readable -----------------

const freeze: TxEffect = { type: 'freeze', txId: TX, roomId: ROOM }
const apply = (commit: boolean): TxEffect => ({ type: 'apply', txId: TX, roomId: ROOM, commit })
const forget: TxEffect = { type: 'forget', txId: TX }
/** The record of the 3-node case as its coordinator n1 keeps it, undecided; `record` changes any field. */
const txRecord = (record: Partial<TxRecord> = {}): TxRecord => ({
  txId: TX,
  roomId: ROOM,
  role: 'coordinator',
  coordinator: 'n1',
  participants: ['n2', 'n3'],
  decision: null,
  reason: null,
  ...record,
})
const persist = (record: Partial<TxRecord>): TxEffect => ({ type: 'persist', record: txRecord(record) })
const progress = (phase: 'prepare' | 'commit' | 'abort', votes: Record<string, Vote>, reason?: TxReason): TxEffect => ({
  type: 'progress',
  txId: TX,
  roomId: ROOM,
  phase,
  votes,
  ...(reason ? { reason } : {}),
})
const done = (outcome: 'committed' | 'aborted', reason?: TxReason): TxEffect => ({
  type: 'done',
  txId: TX,
  roomId: ROOM,
  outcome,
  ...(reason ? { reason } : {}),
})
const sendPrepare = (to: string, participants: string[]): TxEffect => ({
  type: 'send',
  to,
  message: { prepare: { txId: TX, roomId: ROOM, participants } },
})
const sendDecision = (to: string, commit: boolean): TxEffect => ({
  type: 'send',
  to,
  message: { decision: { txId: TX, roomId: ROOM, commit } },
})
const sendVote = (to: string, ready: boolean, reason = ''): TxEffect => ({
  type: 'send',
  to,
  message: { vote: { txId: TX, ready, reason } },
})
const sendAck = (to: string): TxEffect => ({ type: 'send', to, message: { decisionAck: { txId: TX } } })
const sendQuery = (to: string): TxEffect => ({
  type: 'send',
  to,
  message: { decisionQuery: { txId: TX, roomId: ROOM } },
})
const sendAnswer = (to: string, known: boolean, commit = false): TxEffect => ({
  type: 'send',
  to,
  message: { decisionAnswer: { txId: TX, known, commit } },
})

// --- coordinator ---------------------------------------------------------------------------

const vote = (from: string, ready: boolean, now: number, reason = ''): CoordinatorInput => ({
  type: 'vote',
  from,
  ready,
  reason,
  now,
})
const ack = (from: string, now: number): CoordinatorInput => ({ type: 'ack', from, now })
const cTick = (now: number): CoordinatorInput => ({ type: 'tick', now })
const peerDead = (peer: string, now: number): CoordinatorInput => ({ type: 'peer-dead', peer, now })
const cQuery = (from: string, now: number): CoordinatorInput => ({ type: 'query', from, now })

/** What start emits for the 3-node case: the administrator n1 (with members) and n2, n3. */
const START_EFFECTS: TxEffect[] = [
  freeze,
  persist({}),
  sendPrepare('n2', ['n2', 'n3']),
  sendPrepare('n3', ['n2', 'n3']),
  progress('prepare', { n2: 'pending', n3: 'pending' }),
]

function commitEffects(votes: Record<string, Vote>): TxEffect[] {
  return [
    persist({ decision: 'commit' }),
    sendDecision('n2', true),
    sendDecision('n3', true),
    apply(true),
    progress('commit', votes),
    done('committed'),
  ]
}

function abortEffects(votes: Record<string, Vote>, reason: TxReason): TxEffect[] {
  return [
    persist({ decision: 'abort', reason }),
    sendDecision('n2', false),
    sendDecision('n3', false),
    apply(false),
    progress('abort', votes, reason),
    done('aborted', reason),
  ]
}

type CRow = [CoordinatorInput, TxEffect[]]

function runCoordinator(state: CoordinatorState, rows: CRow[]): CoordinatorState {
  rows.forEach(([input, expected], i) => {
    const out = coordinatorStep(state, input)
    expect(out.effects, `row ${i}: ${JSON.stringify(input)}`).toEqual(expected)
    state = out.state
  })
  return state
}

function started(): CoordinatorState {
  const out = startCoordinator({ txId: TX, roomId: ROOM, self: 'n1', participants: ['n1', 'n2', 'n3'], now: 0 }, CONFIG)
  expect(out.effects).toEqual(START_EFFECTS)
  return out.state
}

const READY = { n2: 'ready', n3: 'ready' } as const

// The rows most cases begin with: n2 votes READY (still preparing), then n3 does (commit decided).
const N2_READY: CRow = [vote('n2', true, 100), [progress('prepare', { n2: 'ready', n3: 'pending' })]]
const N3_READY_COMMITS: CRow = [vote('n3', true, 200), commitEffects(READY)]

const coordinatorCases: Array<{ name: string; rows: CRow[]; phase?: CoordinatorState['phase'] }> = [
  {
    name: 'all votes READY: persist commit, then send it, apply, progress, done; forget after all acks',
    phase: 'finished',
    rows: [
      N2_READY,
      N3_READY_COMMITS,
      [ack('n2', 300), []],
      [ack('n3', 400), [forget]],
      [cTick(5000), []],
    ],
  },
  {
    name: 'one ABORT: rollback with the node and its reason',
    phase: 'decided',
    rows: [
      N2_READY,
      [
        vote('n3', false, 200, 'sends in flight'),
        abortEffects({ n2: 'ready', n3: 'abort' }, { code: 'voted-abort', node: 'n3', why: 'sends in flight' }),
      ],
      // A vote after the decision does not reopen it; the voter is sent the decision again.
      [vote('n2', true, 300), [sendDecision('n2', false)]],
    ],
  },
  {
    name: 'first vote ABORT decides at once, without waiting for the others',
    phase: 'decided',
    rows: [
      [
        vote('n2', false, 100, 'another deletion in progress'),
        abortEffects({ n2: 'abort', n3: 'pending' }, { code: 'voted-abort', node: 'n2', why: 'another deletion in progress' }),
      ],
      [vote('n3', true, 150), [sendDecision('n3', false)]],
    ],
  },
  {
    name: 'missing vote at the vote timeout: presumed abort naming the silent node',
    phase: 'decided',
    rows: [
      N2_READY,
      [cTick(1000), []],
      [cTick(4999), []],
      [cTick(5000), abortEffects({ n2: 'ready', n3: 'pending' }, { code: 'no-vote', nodes: ['n3'] })],
      [cTick(5500), []],
    ],
  },
  {
    name: 'no vote at all by the timeout: every silent node is named',
    rows: [[cTick(5000), abortEffects({ n2: 'pending', n3: 'pending' }, { code: 'no-vote', nodes: ['n2', 'n3'] })]],
  },
  {
    name: 'participant dead during prepare: abort at once',
    rows: [
      [peerDead('n9', 50), []],
      N2_READY,
      [peerDead('n3', 200), abortEffects({ n2: 'ready', n3: 'pending' }, { code: 'node-dead', node: 'n3' })],
      [peerDead('n2', 300), []],
    ],
  },
  {
    name: 'participant dead after the decision: no change, it learns by resend when back',
    rows: [
      N2_READY,
      N3_READY_COMMITS,
      [peerDead('n3', 300), []],
    ],
  },
  {
    name: 'decision resent every resendMs to participants that have not acked; repeats are harmless',
    phase: 'finished',
    rows: [
      N2_READY,
      N3_READY_COMMITS,
      [cTick(1199), []],
      [cTick(1200), [sendDecision('n2', true), sendDecision('n3', true)]],
      [ack('n2', 1300), []],
      [ack('n2', 1350), []],
      [cTick(2199), []],
      [cTick(2200), [sendDecision('n3', true)]],
      [cTick(3200), [sendDecision('n3', true)]],
      [ack('n3', 3300), [forget]],
      [ack('n3', 3400), []],
      [cTick(9000), []],
    ],
  },
  {
    name: 'repeated and stranger votes during prepare change nothing; acks before the decision ignored',
    phase: 'preparing',
    rows: [
      N2_READY,
      [vote('n2', false, 150, 'changed my mind'), []],
      [vote('n9', false, 160, 'not a participant'), []],
      [ack('n2', 170), []],
    ],
  },
  {
    name: 'query: unknown while collecting votes, known once decided',
    rows: [
      [cQuery('n2', 100), [sendAnswer('n2', false)]],
      [vote('n2', true, 200), [progress('prepare', { n2: 'ready', n3: 'pending' })]],
      [vote('n3', true, 300), commitEffects(READY)],
      [cQuery('n3', 400), [sendAnswer('n3', true, true)]],
    ],
  },
]

describe('two-phase commit: coordinator (tables)', () => {
  for (const c of coordinatorCases) {
    it(c.name, () => {
      const end = runCoordinator(started(), c.rows)
      if (c.phase) expect(end.phase).toBe(c.phase)
    })
  }

  it('no participant but itself: decides commit at once and forgets', () => {
    const out = startCoordinator({ txId: TX, roomId: ROOM, self: 'n1', participants: ['n1'], now: 0 }, CONFIG)
    expect(out.effects).toEqual([
      freeze,
      persist({ participants: [] }),
      progress('prepare', {}),
      persist({ participants: [], decision: 'commit' }),
      apply(true),
      progress('commit', {}),
      done('committed'),
      forget,
    ])
    expect(out.state.phase).toBe('finished')
  })

  it('abort (the COMMIT of a replicated room could not be stored on its replicas): decided abort while undecided, nothing once decided', () => {
    let s = started()
    s = coordinatorStep(s, vote('n2', true, 1)).state
    const reason = { code: 'text' as const, text: 'not stored on a majority of the replicas' }
    const out = coordinatorStep(s, { type: 'abort', reason, now: 2 })
    expect(out.state).toMatchObject({ phase: 'decided', decision: 'abort', reason })
    expect(out.effects[0]).toMatchObject({ type: 'persist', record: { decision: 'abort' } })
    expect(out.effects).toContainEqual(apply(false))
    expect(coordinatorStep(out.state, { type: 'abort', reason, now: 3 }).effects).toEqual([])
  })

  it('persist comes before every send of the decision (architecture core rule)', () => {
    let s = started()
    s = coordinatorStep(s, vote('n2', true, 1)).state
    const effects = coordinatorStep(s, vote('n3', true, 2)).effects
    const persistAt = effects.findIndex((e) => e.type === 'persist')
    const firstSend = effects.findIndex((e) => e.type === 'send')
    expect(persistAt).toBeGreaterThanOrEqual(0)
    expect(persistAt).toBeLessThan(firstSend)
  })

  it('recovery of a decided tx: resend the decision and re-apply it locally, then finish on acks', () => {
    const record = txRecord({ decision: 'commit' })
    const out = recoverCoordinator(record, 10_000, CONFIG)
    expect(out.effects).toEqual([sendDecision('n2', true), sendDecision('n3', true), apply(true)])
    runCoordinator(out.state, [
      [cQuery('n3', 10_100), [sendAnswer('n3', true, true)]],
      [ack('n2', 10_200), []],
      [cTick(11_000), [sendDecision('n3', true)]],
      [ack('n3', 11_100), [forget]],
    ])
  })

  it('recovery of an undecided tx: presumed abort, persisted before it is sent; no `done`', () => {
    const record = txRecord()
    const reason: TxReason = { code: 'coordinator-restarted' }
    const out = recoverCoordinator(record, 10_000, CONFIG)
    expect(out.effects).toEqual([
      persist({ decision: 'abort', reason }),
      sendDecision('n2', false),
      sendDecision('n3', false),
      apply(false),
      progress('abort', { n2: 'pending', n3: 'pending' }, reason),
    ])
    runCoordinator(out.state, [
      [vote('n2', true, 10_100), [sendDecision('n2', false)]],
      [ack('n2', 10_200), []],
      [ack('n3', 10_300), [forget]],
    ])
  })

  it('no machine and no record at the administrator: presumed abort answer', () => {
    expect(presumedAbortAnswer('n2', TX)).toEqual([sendAnswer('n2', true, false)])
  })
})

// --- participant -------------------------------------------------------------------------

const prepare = (now: number, canCommit = true, reason = '') => ({
  txId: TX,
  roomId: ROOM,
  self: 'n2',
  coordinator: 'n1',
  participants: ['n2', 'n3', 'n4'],
  canCommit,
  reason,
  now,
})
const decision = (commit: boolean, now: number, from = 'n1'): ParticipantInput => ({
  type: 'decision',
  from,
  commit,
  now,
})
const answer = (from: string, known: boolean, commit: boolean, now: number): ParticipantInput => ({
  type: 'answer',
  from,
  known,
  commit,
  now,
})
const pTick = (now: number): ParticipantInput => ({ type: 'tick', now })
const pQuery = (from: string, now: number): ParticipantInput => ({ type: 'query', from, now })
const rePrepare = (now: number): ParticipantInput => ({ type: 'prepare', coordinator: 'n1', now })

const READY_EFFECTS: TxEffect[] = [
  freeze,
  persist({ role: 'participant', participants: ['n3', 'n4'] }),
  sendVote('n1', true),
]
const BLOCKED: TxEffect = {
  type: 'blocked',
  txId: TX,
  roomId: ROOM,
  reason: { code: 'outcome-unknown', asked: ['n1', 'n3', 'n4'] },
}

type PRow = [ParticipantInput, TxEffect[]]

// A prepared participant's rounds of asking (docs/deletion.md): no decision by decisionTimeoutMs,
// it asks the coordinator; none a timeout later, the other participants.
const ASK_COORDINATOR: PRow = [pTick(2000), [sendQuery('n1')]]
const ASK_PEERS: PRow = [pTick(4000), [sendQuery('n3'), sendQuery('n4')]]

function runParticipant(state: ParticipantState, rows: PRow[]): ParticipantState {
  rows.forEach(([input, expected], i) => {
    const out = participantStep(state, input)
    expect(out.effects, `row ${i}: ${JSON.stringify(input)}`).toEqual(expected)
    state = out.state
  })
  return state
}

const participantCases: Array<{
  name: string
  canCommit?: boolean
  reason?: string
  start: TxEffect[]
  rows: PRow[]
  stage?: ParticipantState['stage']
}> = [
  {
    name: 'READY then COMMIT: apply once, forget the record, ack; a repeated COMMIT is only acked',
    start: READY_EFFECTS,
    stage: 'finished',
    rows: [
      [decision(true, 500), [apply(true), forget, sendAck('n1')]],
      [decision(true, 600), [sendAck('n1')]],
      [decision(true, 700), [sendAck('n1')]],
      [pTick(10_000), []],
    ],
  },
  {
    name: 'READY then ROLLBACK: unfreeze once; a repeated ROLLBACK is only acked',
    start: READY_EFFECTS,
    rows: [
      [decision(false, 500), [apply(false), forget, sendAck('n1')]],
      [decision(false, 600), [sendAck('n1')]],
    ],
  },
  {
    name: 'cannot commit: vote ABORT with the reason; nothing frozen, nothing to apply later',
    canCommit: false,
    reason: 'sends in flight',
    start: [sendVote('n1', false, 'sends in flight')],
    stage: 'finished',
    rows: [
      [pQuery('n3', 100), [sendAnswer('n3', true, false)]],
      [decision(false, 500), [sendAck('n1')]],
      [decision(false, 600), [sendAck('n1')]],
      // A COMMIT after our ABORT vote is a coordinator bug: never applied, never acked.
      [decision(true, 700), []],
      [pTick(10_000), []],
    ],
  },
  {
    name: 'repeated PREPARE: the same vote again, nothing frozen twice',
    start: READY_EFFECTS,
    rows: [
      [rePrepare(100), [sendVote('n1', true)]],
      [rePrepare(200), [sendVote('n1', true)]],
    ],
  },
  {
    name: 'no decision: ask the coordinator, then the other participants; a known answer applies',
    start: READY_EFFECTS,
    stage: 'finished',
    rows: [
      [pTick(1999), []],
      ASK_COORDINATOR,
      [pTick(3999), []],
      ASK_PEERS,
      [answer('n4', false, false, 4100), []],
      [answer('n3', true, true, 4200), [apply(true), forget]],
      // The coordinator's decision arriving later is acked, not applied again.
      [decision(true, 9000), [sendAck('n1')]],
      [answer('n4', true, true, 9100), []],
    ],
  },
  {
    name: 'an answer nobody asked for: not from another participant while waiting for the coordinator, never from a stranger',
    start: READY_EFFECTS,
    rows: [
      // A member node that would vote ABORT and tell the others COMMIT (docs/security.md).
      [answer('n3', true, true, 100), []],
      [answer('n9', true, true, 200), []],
      ASK_COORDINATOR,
      [answer('n4', true, true, 2100), []],
      [answer('n9', true, false, 2200), []],
      // The coordinator is always believed.
      [answer('n1', true, false, 2300), [apply(false), forget]],
    ],
  },
  {
    name: 'a peer that voted ABORT answers abort: the query round ends in rollback',
    start: READY_EFFECTS,
    rows: [
      ASK_COORDINATOR,
      ASK_PEERS,
      [answer('n3', true, false, 4100), [apply(false), forget]],
    ],
  },
  {
    name: 'nobody knows: blocked (room stays frozen), retries coordinator first, unblocks on the decision',
    start: READY_EFFECTS,
    rows: [
      ASK_COORDINATOR,
      // An undecided coordinator answering "unknown" is still collecting votes: keep waiting.
      [answer('n1', false, false, 2100), []],
      ASK_PEERS,
      [answer('n3', false, false, 4100), []],
      [answer('n3', false, false, 4150), []],
      [answer('n4', false, false, 4200), [BLOCKED]],
      [pTick(6199), []],
      [pTick(6200), [sendQuery('n1'), sendQuery('n3'), sendQuery('n4')]],
      [answer('n3', false, false, 6300), []],
      [answer('n4', false, false, 6300), []],
      [pTick(8200), [sendQuery('n1'), sendQuery('n3'), sendQuery('n4')]],
      [pQuery('n3', 8300), [sendAnswer('n3', false)]],
      [decision(true, 9000), [apply(true), forget, sendAck('n1')]],
      [pTick(20_000), []],
    ],
  },
  {
    name: 'peers silent (dead) too: blocked after the second timeout',
    start: READY_EFFECTS,
    stage: 'blocked',
    rows: [
      ASK_COORDINATOR,
      ASK_PEERS,
      [pTick(5999), []],
      [pTick(6000), [BLOCKED]],
      [pTick(8000), [sendQuery('n1'), sendQuery('n3'), sendQuery('n4')]],
    ],
  },
  {
    name: 'while prepared, another participant asking gets "unknown"',
    start: READY_EFFECTS,
    rows: [[pQuery('n4', 100), [sendAnswer('n4', false)]]],
  },
]

describe('two-phase commit: participant (tables)', () => {
  for (const c of participantCases) {
    it(c.name, () => {
      const out = startParticipant(prepare(0, c.canCommit ?? true, c.reason ?? ''), CONFIG)
      expect(out.effects).toEqual(c.start)
      const end = runParticipant(out.state, c.rows)
      if (c.stage) expect(end.stage).toBe(c.stage)
    })
  }

  it('only participant besides the coordinator: blocked straight after asking the coordinator', () => {
    const out = startParticipant({ ...prepare(0), participants: ['n2'] }, CONFIG)
    runParticipant(out.state, [
      ASK_COORDINATOR,
      [
        pTick(4000),
        [
          {
            type: 'blocked',
            txId: TX,
            roomId: ROOM,
            reason: { code: 'outcome-unknown', asked: ['n1'] },
          },
        ],
      ],
      [pTick(6000), [sendQuery('n1')]],
      [answer('n1', true, false, 6100), [apply(false), forget]],
    ])
  })

  it('asked before its PREPARE arrived: aborts unilaterally, answers abort, votes ABORT later', () => {
    const out = abortBeforePrepare({ txId: TX, roomId: ROOM, self: 'n2', from: 'n3', now: 0 }, CONFIG)
    expect(out.effects).toEqual([sendAnswer('n3', true, false)])
    runParticipant(out.state, [
      [pQuery('n4', 10), [sendAnswer('n4', true, false)]],
      [rePrepare(20), [sendVote('n1', false, 'asked about the deletion before its PREPARE arrived')]],
      [decision(false, 30), [sendAck('n1')]],
    ])
  })

  it('recovery with a READY vote and no decision: freeze again and ask the coordinator at once', () => {
    const record = txRecord({ role: 'participant', participants: ['n3', 'n4'] })
    const out = recoverParticipant(record, 50_000, CONFIG)
    expect(out.effects).toEqual([freeze, sendQuery('n1')])
    runParticipant(out.state, [
      [pTick(52_000), [sendQuery('n3'), sendQuery('n4')]],
      [answer('n4', true, true, 52_100), [apply(true), forget]],
    ])
  })

  it('recovery of a record with a decision (crash between apply and forget): apply again, forget', () => {
    const record = txRecord({ role: 'participant', participants: ['n3'], decision: 'commit' })
    expect(recoverParticipant(record, 0, CONFIG).effects).toEqual([apply(true), forget])
  })

  it('decision for an unknown or finished tx: ack only', () => {
    expect(ackUnknownDecision('n1', TX)).toEqual([sendAck('n1')])
  })

  // A replica took the room over from the coordinator n1 (docs/deletion.md, "Replicated rooms").
  const newCoordinator = (coordinator: string, now: number): ParticipantInput => ({ type: 'new-coordinator', coordinator, now })
  const reAsking = (coordinator: string, others: string[]) => persist({ role: 'participant', coordinator, participants: others })
  it.each<{ name: string; rows: PRow[] }>([
    {
      name: 'waiting for the decision: asks the new administrator at once, keeps the old one among those to ask',
      rows: [[newCoordinator('n3', 500), [reAsking('n3', ['n4', 'n1']), sendQuery('n3')]]],
    },
    {
      name: 'blocked: unblocked by the new administrator answer (presumed abort)',
      rows: [
        ASK_COORDINATOR,
        ASK_PEERS,
        [pTick(6000), [BLOCKED]],
        [newCoordinator('n5', 6500), [reAsking('n5', ['n3', 'n4', 'n1']), sendQuery('n5')]],
        [answer('n5', true, false, 6600), [apply(false), forget]],
      ],
    },
    {
      name: 'a ROLLBACK from the new administrator is applied and acked to it',
      rows: [
        [newCoordinator('n3', 500), [reAsking('n3', ['n4', 'n1']), sendQuery('n3')]],
        [decision(false, 600, 'n3'), [apply(false), forget, sendAck('n3')]],
      ],
    },
    {
      name: 'the same administrator again, or none: nothing changes',
      rows: [
        [newCoordinator('n1', 500), []],
        [newCoordinator('', 600), []],
      ],
    },
    {
      name: 'after the outcome is known: nothing to ask',
      rows: [
        [decision(true, 100), [apply(true), forget, sendAck('n1')]],
        [newCoordinator('n3', 500), []],
      ],
    },
  ])('new administrator during the deletion: $name', ({ rows }) => {
    runParticipant(startParticipant(prepare(0), CONFIG).state, rows)
  })
})

describe('two-phase commit: a replicated room\'s new administrator takes the coordinator over', () => {
  const takeOver = (committed: boolean, participants = ['n3', 'n4', 'n2', 'n1']) =>
    takeOverCoordinator({ txId: TX, roomId: ROOM, self: 'n2', participants, committed, replaced: 'n1', now: 1000 }, CONFIG)
  const replaced: TxReason = { code: 'coordinator-replaced', node: 'n1', by: 'n2' }
  const taken = (decision: 'commit' | 'abort', reason: TxReason | null) => persist({ coordinator: 'n2', participants: ['n3', 'n4'], decision, reason })

  it.each<{ name: string; committed: boolean; effects: TxEffect[] }>([
    {
      name: 'no COMMIT in the room state: ROLLBACK, persisted before it is sent, to the others (not itself, not the replaced coordinator)',
      committed: false,
      effects: [taken('abort', replaced), sendDecision('n3', false), sendDecision('n4', false), apply(false), progress('abort', { n3: 'ready', n4: 'ready' }, replaced)],
    },
    {
      name: 'the COMMIT in the room state: COMMIT, persisted, sent, applied here',
      committed: true,
      effects: [taken('commit', null), sendDecision('n3', true), sendDecision('n4', true), apply(true), progress('commit', { n3: 'ready', n4: 'ready' })],
    },
  ])('$name', ({ committed, effects }) => {
    const out = takeOver(committed)
    expect(out.effects).toEqual(effects)
    expect(out.effects.some((e) => e.type === 'done')).toBe(false)
  })

  it('resends to whoever has not acked, answers queries with the decision, forgets once all acked', () => {
    let { state } = takeOver(false)
    expect(coordinatorStep(state, cQuery('n4', 1100)).effects).toEqual([sendAnswer('n4', true, false)])
    ;({ state } = coordinatorStep(state, ack('n3', 1200)))
    expect(coordinatorStep(state, cTick(2000)).effects).toEqual([sendDecision('n4', false)])
    const last = coordinatorStep(state, ack('n4', 2100))
    expect(last.effects).toEqual([forget])
    expect(last.state.phase).toBe('finished')
  })

  it('the old coordinator itself, elected again after a restart without the COMMIT in the room state: ROLLBACK, "restarted before deciding"', () => {
    const out = takeOverCoordinator({ txId: TX, roomId: ROOM, self: 'n1', participants: ['n2', 'n3'], committed: false, replaced: 'n1', now: 1000 }, CONFIG)
    const restarted: TxReason = { code: 'coordinator-restarted' }
    expect(out.effects).toEqual([
      persist({ participants: ['n2', 'n3'], decision: 'abort', reason: restarted }),
      sendDecision('n2', false),
      sendDecision('n3', false),
      apply(false),
      progress('abort', { n2: 'ready', n3: 'ready' }, restarted),
    ])
  })

  it('nobody else to tell: decided, applied and forgotten at once', () => {
    const out = takeOver(false, ['n2', 'n1'])
    expect(out.effects.at(-1)).toEqual(forget)
    expect(out.state.phase).toBe('finished')
  })
})

// --- the two machines together, through a pure in-memory network -----------------------------

describe('two-phase commit: coordinator and participants wired together', () => {
  it('commit across 3 nodes; every node applies exactly once; coordinator forgets after acks', () => {
    const applied: string[] = []
    const parts = new Map<string, ParticipantState>()
    let coord = startCoordinator({ txId: TX, roomId: ROOM, self: 'n1', participants: ['n1', 'n2', 'n3'], now: 0 }, CONFIG)
    const queue: Array<{ from: string; to: string; e: TxEffect }> = coord.effects
      .filter((e) => e.type === 'send')
      .map((e) => ({ from: 'n1', to: (e as { to: string }).to, e }))
    let forgotten = false
    let now = 0
    while (queue.length > 0) {
      const { from, to, e } = queue.shift()!
      if (e.type !== 'send') continue
      now += 10
      const m = e.message
      let effects: TxEffect[] = []
      if ('prepare' in m) {
        const out = startParticipant(
          { txId: m.prepare.txId, roomId: m.prepare.roomId, self: to, coordinator: from, participants: m.prepare.participants, canCommit: true, reason: '', now },
          CONFIG,
        )
        parts.set(to, out.state)
        effects = out.effects
      } else if ('vote' in m) {
        coord = coordinatorStep(coord.state, { type: 'vote', from, ready: m.vote.ready, reason: m.vote.reason, now })
        effects = coord.effects
      } else if ('decision' in m) {
        const out = participantStep(parts.get(to)!, { type: 'decision', from, commit: m.decision.commit, now })
        parts.set(to, out.state)
        effects = out.effects
      } else if ('decisionAck' in m) {
        coord = coordinatorStep(coord.state, { type: 'ack', from, now })
        effects = coord.effects
      }
      for (const x of effects) {
        if (x.type === 'send') queue.push({ from: to, to: x.to, e: x })
        if (x.type === 'apply') applied.push(`${to}:${x.commit ? 'commit' : 'abort'}`)
        if (x.type === 'forget' && to === 'n1') forgotten = true
      }
    }
    expect(applied.sort()).toEqual(['n1:commit', 'n2:commit', 'n3:commit'])
    expect(coord.state.phase).toBe('finished')
    expect(forgotten).toBe(true)
  })
})

// --- tombstones --------------------------------------------------------------------------------

describe('tombstones', () => {
  it('a deleted room is tombstoned with the tx that deleted it', () => {
    let t = emptyTombstones(3)
    expect(isTombstoned(t, 'r1')).toBe(false)
    t = addTombstone(t, 'r1', 'tx1')
    expect(isTombstoned(t, 'r1')).toBe(true)
    expect(tombstoneTx(t, 'r1')).toBe('tx1')
    expect(tombstoneTx(t, 'r2')).toBeUndefined()
  })

  it('bounded: the oldest tombstone goes first; re-adding is idempotent', () => {
    let t = emptyTombstones(3)
    for (const r of ['r1', 'r2', 'r3']) t = addTombstone(t, r, `tx-${r}`)
    const same = addTombstone(t, 'r2', 'tx-r2')
    expect(same).toBe(t)
    t = addTombstone(t, 'r4', 'tx-r4')
    expect([...t.rooms.keys()]).toEqual(['r2', 'r3', 'r4'])
    expect(isTombstoned(t, 'r1')).toBe(false)
  })

  it('adding does not mutate the previous set', () => {
    const t0 = emptyTombstones()
    const t1 = addTombstone(t0, 'r1', 'tx1')
    expect(isTombstoned(t0, 'r1')).toBe(false)
    expect(isTombstoned(t1, 'r1')).toBe(true)
  })
})

describe('two-phase commit: reasons are codes and node ids; names go in only for the words', () => {
  const names: Record<string, string> = { 'id-2': 'n2', 'id-3': 'n3' }
  const nameOf = (id: string) => names[id] ?? id
  it.each<[TxReason, string]>([
    [{ code: 'voted-abort', node: 'id-3', why: '1 message for the room still in flight' }, 'node n3 voted ABORT: 1 message for the room still in flight'],
    [{ code: 'voted-abort', node: 'id-3', why: '' }, 'node n3 voted ABORT: no reason given'],
    [{ code: 'node-dead', node: 'id-2' }, 'node n2 is dead'],
    [{ code: 'no-vote', nodes: ['id-2', 'id-3'] }, 'no vote from n2, n3'],
    [{ code: 'coordinator-restarted' }, 'the coordinator restarted before deciding'],
    [{ code: 'coordinator-replaced', node: 'id-2', by: 'id-3' }, 'the coordinator n2 was replaced by n3 before deciding'],
    [{ code: 'outcome-unknown', asked: ['id-2'] }, 'voted READY and nobody reachable knows the outcome (asked n2); the room stays frozen until the coordinator returns'],
  ])('%j', (reason, words) => {
    expect(describeTxReason(reason, nameOf)).toBe(words)
  })

  it('a record written before reasons had codes reads back as its words', () => {
    expect(reasonFromRecord('node 4f2a voted ABORT: busy')).toEqual({ code: 'text', text: 'node 4f2a voted ABORT: busy' })
    expect(reasonFromRecord('')).toBeNull()
    expect(reasonFromRecord(undefined)).toBeNull()
    expect(reasonFromRecord({ code: 'node-dead', node: 'id-2' })).toEqual({ code: 'node-dead', node: 'id-2' })
  })
})
