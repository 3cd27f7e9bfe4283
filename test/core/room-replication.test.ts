// Tables of inputs and expected effects for main/core/room-replication.ts (docs/replication.md):
// replication with log matching, the commit rule, elections with the up-to-date check, term fencing,
// handover; then whole replica groups wired by an in-memory network, under seeded random schedules
// of crashes, pauses and lost messages, checked against the safety invariants.
import { describe, it, expect } from 'vitest'
import {
  newReplica,
  startLeading,
  stepReplica,
  tickDueAt,
  repairDueAt,
  lastSeq,
  lastTerm,
  committedRange,
  metaCommitted,
  DEFAULT_REPLICA_CONFIG,
  type LogEntry,
  type ReplicaConfig,
  type ReplicaEffect,
  type ReplicaInput,
  type ReplicaState,
  type ReplicatedMeta,
  type ReplMessage,
} from '../../main/core/room-replication'

const ROOM = 'r1'
const CONFIG: ReplicaConfig = { ...DEFAULT_REPLICA_CONFIG, electionStepMs: 100, electionTimeoutMs: 1000, resendMs: 300 }
const META: ReplicatedMeta = {
  term: 0,
  version: 0,
  replicas: ['n1', 'n2', 'n3'],
  name: 'design',
  createdBy: { user: 'ann', nodeId: 'n1' },
  createdAt: 0,
  members: [
    { user: 'ann', nodeId: 'n1' },
    { user: 'bob', nodeId: 'n2' },
  ],
  frozen: false,
}

const entry = (term: number, seq: number, clientMsgId = `c${seq}`, user = 'ann', nodeId = 'n1'): LogEntry => ({
  term,
  message: { roomId: ROOM, seq, user, nodeId, text: `t${seq}`, sentAt: seq, clientMsgId },
})
const log = (...terms: number[]): LogEntry[] => terms.map((t, i) => entry(t, i + 1))

function replica(self: string, init: Partial<Parameters<typeof newReplica>[0]> = {}): ReplicaState {
  return newReplica({ roomId: ROOM, self, meta: META, ...init }, CONFIG)
}
/** Every tick of these tests is also checked against tickDueAt (checkedTick, below). */
const step = (s: ReplicaState, input: ReplicaInput) =>
  input.type === 'tick'
    ? checkedTick(s, input.now, input.jitterMs, CONFIG, { quiet: 0, due: 0 })
    : input.type === 'repair'
      ? checkedRepair(s, input)
      : stepReplica(s, input, CONFIG).effects

/** A repair, checked against repairDueAt like checkedTick (every repair of these tests). */
function checkedRepair(s: ReplicaState, input: Extract<ReplicaInput, { type: 'repair' }>): ReplicaEffect[] {
  const due = repairDueAt(s, input.want, CONFIG)
  if (due !== null && due <= input.now) return stepReplica(s, input, CONFIG).effects
  const before = tickView(s)
  const effects = stepReplica(s, input, CONFIG).effects
  if (effects.length) expect.fail(`a repair at ${input.now} before repairDueAt (${due}) returned ${JSON.stringify(effects)}`)
  if (tickView(s) !== before) expect.fail(`a repair at ${input.now} before repairDueAt (${due}) changed the state`)
  return effects
}
const recv = (from: string, message: ReplMessage, now = 0): ReplicaInput => ({ type: 'message', from, message, now })
const propose = (clientMsgId: string, user = 'ann', nodeId = 'n1', now = 10): ReplicaInput => ({ type: 'propose', user, nodeId, text: `text ${clientMsgId}`, clientMsgId, now })
const append = (o: Partial<Extract<ReplMessage, { type: 'append' }>>): Extract<ReplMessage, { type: 'append' }> => ({
  type: 'append',
  roomId: ROOM,
  term: 1,
  leader: 'n1',
  prevSeq: 0,
  prevTerm: 0,
  entries: [],
  commitSeq: 0,
  meta: null,
  noReply: false,
  ...o,
})
const voteReq = (o: Partial<Extract<ReplMessage, { type: 'vote-request' }>>): ReplMessage => ({
  type: 'vote-request',
  roomId: ROOM,
  term: 2,
  candidate: 'n2',
  lastSeq: 0,
  lastTerm: 0,
  transfer: false,
  ...o,
})
const sends = (effects: ReplicaEffect[]) => effects.filter((e) => e.type === 'send').map((e) => e as Extract<ReplicaEffect, { type: 'send' }>)
const replyOf = (effects: ReplicaEffect[]) => {
  const r = sends(effects).map((e) => e.message)
  expect(r).toHaveLength(1)
  return r[0]
}

/** A leader n1 of term 1 whose followers are in step (all appends acknowledged). */
function leader(): ReplicaState {
  const s = replica('n1')
  startLeading(s, 0, CONFIG)
  return s
}
/** A follower's acknowledgement (of the entries and of the room state); meta-committed is tested on its own. */
function ack(s: ReplicaState, from: string, matchSeq: number, ok = true, term = s.term): ReplicaEffect[] {
  return step(s, recv(from, { type: 'append-reply', roomId: ROOM, term, ok, matchSeq, leader: ok ? s.self : '', metaTerm: s.meta.term, metaVersion: s.meta.version })).filter(
    (e) => e.type !== 'meta-committed',
  )
}

describe('the administrator replicates and commits on a majority', () => {
  it('a new room: term 1, leader, empty appends carry the room state to both followers', () => {
    const s = replica('n1')
    const { effects } = startLeading(s, 0, CONFIG)
    expect(effects.map((e) => e.type)).toEqual(['persist-term', 'role', 'persist-meta', 'send', 'send'])
    expect(effects[0]).toEqual({ type: 'persist-term', term: 1, votedFor: 'n1' })
    expect(sends(effects).map((e) => [e.to, e.message.type, (e.message as { meta: unknown }).meta !== null])).toEqual([
      ['n2', 'append', true],
      ['n3', 'append', true],
    ])
  })

  const rows: { name: string; before: (s: ReplicaState) => void; input: ReplicaInput; expected: (ReplicaEffect | string)[] }[] = [
    {
      name: 'a send is stored, accepted, and sent to both followers; not committed yet',
      before: () => {},
      input: propose('a'),
      expected: ['persist-entries', { type: 'accepted', seq: 1, duplicate: false }, 'send', 'send'],
    },
    {
      name: 'a resend of the same clientMsgId: same seq, nothing stored or sent',
      before: (s) => step(s, propose('a')),
      input: propose('a'),
      expected: [{ type: 'accepted', seq: 1, duplicate: true }],
    },
    {
      name: 'the same clientMsgId from another member is another message',
      before: (s) => step(s, propose('a')),
      input: propose('a', 'bob', 'n2'),
      expected: ['persist-entries', { type: 'accepted', seq: 2, duplicate: false }, 'send', 'send'],
    },
    {
      name: 'a non-member is refused',
      before: () => {},
      input: propose('a', 'eve', 'n3'),
      expected: [{ type: 'refused', code: 'not_member', message: expect.any(String), leader: 'n1' } as unknown as ReplicaEffect],
    },
    {
      name: 'a frozen room (deletion being decided) is busy',
      before: (s) => step(s, { type: 'set-meta', meta: { ...s.meta, frozen: true } }),
      input: propose('a'),
      expected: [{ type: 'refused', code: 'room_busy', message: expect.any(String), leader: 'n1' } as unknown as ReplicaEffect],
    },
    {
      name: 'both followers dead: the administrator stops accepting sends (fencing)',
      before: (s) => {
        expect(step(s, { type: 'peer-dead', peer: 'n2', now: 1, jitterMs: 0 })).toEqual([])
        expect(step(s, { type: 'peer-dead', peer: 'n3', now: 1, jitterMs: 0 })).toEqual([{ type: 'quorum', ok: false }])
      },
      input: propose('a'),
      expected: [{ type: 'refused', code: 'room_unavailable', message: expect.any(String), leader: null } as unknown as ReplicaEffect],
    },
    {
      name: 'one follower dead: a majority is still reachable',
      before: (s) => step(s, { type: 'peer-dead', peer: 'n3', now: 1, jitterMs: 0 }),
      input: propose('a'),
      expected: ['persist-entries', { type: 'accepted', seq: 1, duplicate: false }, 'send'],
    },
  ]
  for (const row of rows) {
    it(row.name, () => {
      const s = leader()
      row.before(s)
      const effects = step(s, row.input)
      expect(effects.map((e, i) => (typeof row.expected[i] === 'string' ? e.type : e))).toEqual(row.expected)
    })
  }

  it('commit needs a majority: one follower acknowledgement commits in a group of 3', () => {
    const s = leader()
    step(s, propose('a'))
    step(s, propose('b'))
    expect(s.commitSeq).toBe(0)
    expect(ack(s, 'n2', 1)).toEqual([{ type: 'commit', fromSeq: 1, toSeq: 1 }])
    expect(ack(s, 'n3', 2)).toEqual([{ type: 'commit', fromSeq: 2, toSeq: 2 }])
    expect(ack(s, 'n2', 2)).toEqual([])
    expect(s.commitSeq).toBe(2)
  })

  it('notify-commit: the named followers not told the commit point get it now, once, with what they were not sent', () => {
    const s = leader()
    step(s, propose('a'))
    step(s, propose('b'))
    ack(s, 'n2', 2)
    ack(s, 'n3', 0) // holds the room state, not yet the entries
    expect(s.commitSeq).toBe(2)
    // n2 and n3 were sent seq 1..2 with commit point 0: both are told 2; an empty append each, that
    // wants no answer (n2 acknowledged the entries, n3 answers the append that carried them).
    const told = sends(step(s, { type: 'notify-commit', to: ['n2', 'n3'], now: 20 }))
    expect(told.map((e) => [e.to, e.message])).toEqual([
      ['n2', append({ prevSeq: 2, prevTerm: 1, commitSeq: 2, noReply: true })],
      ['n3', append({ prevSeq: 2, prevTerm: 1, commitSeq: 2, noReply: true })],
    ])
    // Told already: nothing more until the commit point moves.
    expect(sends(step(s, { type: 'notify-commit', to: ['n2', 'n3'], now: 21 }))).toEqual([])
    // Entries not sent yet go with it; a dead follower and a non-follower get nothing.
    step(s, propose('c'))
    ack(s, 'n2', 3)
    step(s, { type: 'peer-dead', peer: 'n3', now: 22, jitterMs: 0 })
    const more = sends(step(s, { type: 'notify-commit', to: ['n2', 'n3', 'n9'], now: 23 }))
    expect(more.map((e) => [e.to, e.message])).toEqual([['n2', append({ prevSeq: 3, prevTerm: 1, commitSeq: 3, noReply: true })]])
    // A follower commits on an empty append up to what it holds: the follower side of the notice.
    const f = replica('n2', { term: 1 })
    step(f, recv('n1', append({ entries: log(1, 1) })))
    expect(step(f, recv('n1', append({ prevSeq: 2, prevTerm: 1, commitSeq: 2 }))).filter((e) => e.type === 'commit')).toEqual([{ type: 'commit', fromSeq: 1, toSeq: 2 }])
  })

  it('a commit notice wants no answer only when the answer would say nothing new; a refusal is always sent', () => {
    const f = replica('n2', { term: 1 })
    // Entries and their answer, as always.
    expect(replyOf(step(f, recv('n1', append({ entries: log(1, 1) }))))).toMatchObject({ type: 'append-reply', ok: true, matchSeq: 2 })
    // The notice: commits what it holds, answers nothing.
    const notice = step(f, recv('n1', append({ prevSeq: 2, prevTerm: 1, commitSeq: 2, noReply: true })))
    expect(notice.filter((e) => e.type === 'commit')).toEqual([{ type: 'commit', fromSeq: 1, toSeq: 2 }])
    expect(sends(notice)).toEqual([])
    // A notice past what it holds (it lost entries): refused, and the refusal goes.
    expect(replyOf(step(f, recv('n1', append({ prevSeq: 5, prevTerm: 1, commitSeq: 5, noReply: true }))))).toMatchObject({ ok: false, matchSeq: 2 })
    // A notice of a stale term: refused with the current term.
    step(f, recv('n3', append({ term: 2, leader: 'n3', prevSeq: 2, prevTerm: 1, commitSeq: 2 })))
    expect(replyOf(step(f, recv('n1', append({ prevSeq: 2, prevTerm: 1, commitSeq: 2, noReply: true }))))).toMatchObject({ ok: false, term: 2 })
    // The flag is only honoured on an empty append without room state: entries are always answered.
    expect(replyOf(step(f, recv('n3', append({ term: 2, leader: 'n3', prevSeq: 2, prevTerm: 1, entries: [entry(2, 3)], commitSeq: 2, noReply: true }))))).toMatchObject({ ok: true, matchSeq: 3 })

    // The administrator asks for no answer only from a follower that answered with its room state
    // (entries in flight are answered on their own); one that has not is asked as before.
    const s = leader()
    step(s, propose('a'))
    ack(s, 'n2', 1)
    const told = sends(step(s, { type: 'notify-commit', to: ['n2', 'n3'], now: 20 }))
    expect(told.map((e) => [e.to, (e.message as { noReply?: boolean }).noReply === true])).toEqual([['n2', true], ['n3', false]])
    const m = replica('n1')
    startLeading(m, 0, CONFIG)
    step(m, propose('a'))
    step(m, recv('n2', { type: 'append-reply', roomId: ROOM, term: 1, ok: true, matchSeq: 1, leader: 'n1', metaTerm: 0, metaVersion: 0 }))
    step(m, recv('n3', { type: 'append-reply', roomId: ROOM, term: 1, ok: true, matchSeq: 1, leader: 'n1', metaTerm: m.meta.term, metaVersion: m.meta.version }))
    const withMeta = sends(step(m, { type: 'notify-commit', to: ['n2', 'n3'], now: 20 }))
    expect(withMeta.map((e) => [e.to, (e.message as { meta: unknown }).meta !== null, (e.message as { noReply?: boolean }).noReply === true])).toEqual([
      ['n2', true, false],
      ['n3', false, true],
    ])
  })

  it('a group of 5 needs two follower acknowledgements', () => {
    const s = newReplica({ roomId: ROOM, self: 'n1', meta: { ...META, replicas: ['n1', 'n2', 'n3', 'n4', 'n5'] } }, CONFIG)
    startLeading(s, 0, CONFIG)
    step(s, propose('a'))
    expect(ack(s, 'n2', 1)).toEqual([])
    expect(ack(s, 'n5', 1)).toEqual([{ type: 'commit', fromSeq: 1, toSeq: 1 }])
  })

  it('a group of 1 (a cluster of one node) commits at once', () => {
    const s = newReplica({ roomId: ROOM, self: 'n1', meta: { ...META, replicas: ['n1'] } }, CONFIG)
    startLeading(s, 0, CONFIG)
    expect(step(s, propose('a')).map((e) => e.type)).toEqual(['persist-entries', 'accepted', 'commit'])
  })

  it('a follower that refuses (log mismatch) is sent older entries, from its hint', () => {
    const s = leader()
    for (const c of ['a', 'b', 'c']) step(s, propose(c))
    const effects = ack(s, 'n2', 1, false)
    const m = replyOf(effects) as Extract<ReplMessage, { type: 'append' }>
    expect([m.prevSeq, m.prevTerm, m.entries.map((e) => e.message.seq)]).toEqual([1, 1, [2, 3]])
  })

  it('a follower silent for resendMs gets what it has not acknowledged again, with the commit point', () => {
    const s = leader()
    step(s, propose('a'))
    ack(s, 'n2', 1)
    expect(step(s, { type: 'tick', now: 100, jitterMs: 0 })).toEqual([])
    const effects = step(s, { type: 'tick', now: 400, jitterMs: 0 })
    const to = sends(effects).map((e) => [e.to, (e.message as Extract<ReplMessage, { type: 'append' }>).entries.length, (e.message as Extract<ReplMessage, { type: 'append' }>).commitSeq])
    // n2 is in step but has not heard the commit point; n3 never acknowledged entry 1.
    expect(to).toEqual([
      ['n2', 0, 1],
      ['n3', 1, 1],
    ])
  })

  it('entries older than the in-memory tail are read from the store (send-stored)', () => {
    const small = { ...CONFIG, logLimit: 2 }
    const s = newReplica({ roomId: ROOM, self: 'n1', meta: META }, small)
    startLeading(s, 0, small)
    for (const c of ['a', 'b', 'c', 'd']) stepReplica(s, propose(c), small)
    const { effects } = stepReplica(s, recv('n2', { type: 'append-reply', roomId: ROOM, term: 1, ok: false, matchSeq: 0, leader: '', metaTerm: 1, metaVersion: 1 }), small)
    expect(effects.filter((e) => e.type !== 'meta-committed')).toEqual([{ type: 'send-stored', to: 'n2', term: 1, leader: 'n1', prevSeq: 0, toSeq: 4, commitSeq: 0 }])
  })
})

describe('a follower applies the log-matching rule', () => {
  const rows: { name: string; log: LogEntry[]; commitSeq?: number; term?: number; msg: Extract<ReplMessage, { type: 'append' }>; persist: ReplicaEffect[]; reply: { ok: boolean; matchSeq: number }; after: number[] }[] = [
    {
      name: 'an empty follower takes the first entries',
      log: [],
      msg: append({ entries: log(1, 1) }),
      persist: [{ type: 'persist-entries', truncateAfter: null, entries: log(1, 1) }],
      reply: { ok: true, matchSeq: 2 },
      after: [1, 1],
    },
    {
      name: 'entries it holds already (a repeated append) are not stored twice',
      log: log(1, 1),
      msg: append({ entries: log(1, 1) }),
      persist: [],
      reply: { ok: true, matchSeq: 2 },
      after: [1, 1],
    },
    {
      name: 'a gap (prevSeq beyond its log) is refused with its last seq',
      log: log(1),
      msg: append({ prevSeq: 3, prevTerm: 1, entries: [entry(1, 4)] }),
      persist: [],
      reply: { ok: false, matchSeq: 1 },
      after: [1],
    },
    {
      name: 'prevTerm differs: refused, hint = its commit point',
      log: log(1, 1, 1),
      commitSeq: 1,
      term: 2,
      msg: append({ term: 3, leader: 'n3', prevSeq: 3, prevTerm: 2, entries: [] }),
      persist: [],
      reply: { ok: false, matchSeq: 1 },
      after: [1, 1, 1],
    },
    {
      name: 'an uncommitted conflicting tail is cut and replaced',
      log: log(1, 1, 1),
      commitSeq: 1,
      msg: append({ term: 2, leader: 'n2', prevSeq: 1, prevTerm: 1, entries: [entry(2, 2, 'x'), entry(2, 3, 'y'), entry(2, 4, 'z')] }),
      persist: [{ type: 'persist-entries', truncateAfter: 1, entries: [entry(2, 2, 'x'), entry(2, 3, 'y'), entry(2, 4, 'z')] }],
      reply: { ok: true, matchSeq: 4 },
      after: [1, 2, 2, 2],
    },
    {
      name: 'committed entries are kept as they are, even under another term (a re-stamped entry)',
      log: log(1, 1, 1),
      commitSeq: 3,
      msg: append({ term: 2, leader: 'n2', prevSeq: 2, prevTerm: 1, entries: [entry(2, 3), entry(2, 4)] }),
      persist: [{ type: 'persist-entries', truncateAfter: null, entries: [entry(2, 4)] }],
      reply: { ok: true, matchSeq: 4 },
      after: [1, 1, 1, 2],
    },
    {
      name: 'an append at or below the commit point matches whatever its prevTerm',
      log: log(1, 1, 1),
      commitSeq: 2,
      msg: append({ term: 2, leader: 'n2', prevSeq: 2, prevTerm: 2, entries: [entry(2, 3)] }),
      persist: [{ type: 'persist-entries', truncateAfter: 2, entries: [entry(2, 3)] }],
      reply: { ok: true, matchSeq: 3 },
      after: [1, 1, 2],
    },
  ]
  for (const row of rows) {
    it(row.name, () => {
      const s = replica('n2', { entries: row.log, commitSeq: row.commitSeq ?? 0, term: row.term ?? 1 })
      const effects = step(s, recv(row.msg.leader, row.msg))
      expect(effects.filter((e) => e.type === 'persist-entries')).toEqual(row.persist)
      const r = replyOf(effects) as Extract<ReplMessage, { type: 'append-reply' }>
      expect({ ok: r.ok, matchSeq: r.matchSeq }).toEqual(row.reply)
      expect(s.log.map((e) => e.term)).toEqual(row.after)
    })
  }

  it('the commit point follows the leader, but never past what matched', () => {
    const s = replica('n2', { term: 1 })
    expect(step(s, recv('n1', append({ entries: log(1, 1), commitSeq: 5 }))).filter((e) => e.type === 'commit')).toEqual([{ type: 'commit', fromSeq: 1, toSeq: 2 }])
    expect(s.commitSeq).toBe(2)
  })

  it('resend deduplication travels in the log: the follower knows every clientMsgId', () => {
    const s = replica('n2', { term: 1 })
    step(s, recv('n1', append({ entries: [entry(1, 1, 'hello')] })))
    expect(s.dedupe.get('n1\u0000ann\u0000hello')).toBe(1)
  })

  it('membership and deletion state are adopted from the administrator (higher term, version)', () => {
    const s = replica('n2', { term: 1 })
    const meta = { ...META, term: 1, version: 3, frozen: true, members: [{ user: 'zed', nodeId: 'n3' }] }
    const effects = step(s, recv('n1', append({ meta })))
    expect(effects.filter((e) => e.type === 'persist-meta')).toEqual([{ type: 'persist-meta', meta }])
    expect(step(s, recv('n1', append({ meta: { ...meta, version: 2, frozen: false } }))).filter((e) => e.type === 'persist-meta')).toEqual([])
    expect(s.meta.frozen).toBe(true)
  })
})

describe('term fencing', () => {
  it('an append of a stale term is refused with the current term and administrator', () => {
    const s = replica('n2', { term: 3 })
    step(s, recv('n3', append({ term: 3, leader: 'n3' })))
    const r = replyOf(step(s, recv('n1', append({ term: 2, entries: log(2) })))) as Extract<ReplMessage, { type: 'append-reply' }>
    expect(r).toMatchObject({ type: 'append-reply', ok: false, term: 3, leader: 'n3' })
    expect(s.log).toEqual([])
  })

  it('a deposed administrator learns the higher term from a refusal, steps down, and follows the new one', () => {
    const s = leader()
    step(s, propose('a'))
    const effects = step(s, recv('n2', { type: 'append-reply', roomId: ROOM, term: 2, ok: false, matchSeq: 0, leader: 'n3', metaTerm: 2, metaVersion: 1 }))
    expect(effects).toEqual([
      { type: 'persist-term', term: 2, votedFor: null },
      { type: 'role', role: 'follower', term: 2, leader: 'n3', reason: 'higher term' },
    ])
    expect(step(s, propose('b'))).toEqual([{ type: 'refused', code: 'room_unavailable', message: expect.any(String), leader: 'n3' }])
  })

  it('a returning old administrator drops its uncommitted tail and catches up as a replica', () => {
    const s = leader()
    step(s, propose('a'))
    ack(s, 'n2', 1)
    step(s, propose('lost')) // seq 2 of term 1, never acknowledged by anyone
    const effects = step(s, recv('n2', append({ term: 2, leader: 'n2', prevSeq: 1, prevTerm: 1, entries: [entry(2, 2, 'b', 'bob', 'n2')], commitSeq: 2 })))
    expect(effects.map((e) => e.type)).toEqual(['persist-term', 'role', 'persist-entries', 'commit', 'send'])
    expect(effects[2]).toEqual({ type: 'persist-entries', truncateAfter: 1, entries: [entry(2, 2, 'b', 'bob', 'n2')] })
    expect(s.role).toBe('follower')
    expect(s.log.map((e) => e.message.clientMsgId)).toEqual(['a', 'b'])
    expect(s.dedupe.has('n1\u0000ann\u0000lost')).toBe(false)
  })
})

describe('elections', () => {
  const grantRows: { name: string; mine: LogEntry[]; cand: { lastTerm: number; lastSeq: number }; granted: boolean }[] = [
    { name: 'equal logs', mine: log(1, 1), cand: { lastTerm: 1, lastSeq: 2 }, granted: true },
    { name: 'candidate longer, same last term', mine: log(1, 1), cand: { lastTerm: 1, lastSeq: 3 }, granted: true },
    { name: 'candidate shorter, same last term', mine: log(1, 1), cand: { lastTerm: 1, lastSeq: 1 }, granted: false },
    { name: 'candidate shorter but higher last term', mine: log(1, 1, 1), cand: { lastTerm: 2, lastSeq: 2 }, granted: true },
    { name: 'candidate longer but lower last term', mine: log(1, 2), cand: { lastTerm: 1, lastSeq: 9 }, granted: false },
    { name: 'both empty', mine: [], cand: { lastTerm: 0, lastSeq: 0 }, granted: true },
  ]
  for (const row of grantRows) {
    it(`vote with the up-to-date check: ${row.name} -> ${row.granted ? 'granted' : 'refused'}`, () => {
      const s = replica('n3', { entries: row.mine, term: 1 })
      const effects = step(s, recv('n2', voteReq({ ...row.cand })))
      const r = replyOf(effects) as Extract<ReplMessage, { type: 'vote-reply' }>
      expect([r.term, r.granted]).toEqual([2, row.granted])
      // A granted vote is durable before the reply leaves.
      if (row.granted) expect(effects.map((e) => e.type)).toEqual(['persist-term', 'persist-term', 'send'])
    })
  }

  it('one vote per term: a second candidate of the same term is refused', () => {
    const s = replica('n3', { term: 1 })
    expect((replyOf(step(s, recv('n2', voteReq({})))) as { granted: boolean }).granted).toBe(true)
    expect((replyOf(step(s, recv('n1', voteReq({ candidate: 'n1' })))) as { granted: boolean }).granted).toBe(false)
    expect((replyOf(step(s, recv('n2', voteReq({})))) as { granted: boolean }).granted).toBe(true)
  })

  it('a stale vote request is refused with the current administrator', () => {
    const s = replica('n3', { term: 4 })
    step(s, recv('n1', append({ term: 4 })))
    expect(replyOf(step(s, recv('n2', voteReq({ term: 3 }))))).toEqual({ type: 'vote-reply', roomId: ROOM, term: 4, granted: false, leader: 'n1', meta: null })
  })

  it('a vote while our administrator is alive is refused, then granted when our detector declares it dead', () => {
    const s = replica('n3', { term: 1 })
    step(s, recv('n1', append({})))
    expect(replyOf(step(s, recv('n2', voteReq({}))))).toMatchObject({ granted: false, term: 1 })
    const effects = step(s, { type: 'peer-dead', peer: 'n1', now: 5, jitterMs: 0 })
    expect(sends(effects).map((e) => e.message)).toEqual([{ type: 'vote-reply', roomId: ROOM, term: 2, granted: true, leader: '', meta: expect.objectContaining({ replicas: expect.any(Array) }) }])
    expect(s.votedFor).toBe('n2')
  })

  it('a handover vote (transfer) is granted although the administrator is alive', () => {
    const s = replica('n3', { term: 1 })
    step(s, recv('n1', append({})))
    expect(replyOf(step(s, recv('n2', voteReq({ transfer: true }))))).toMatchObject({ granted: true, term: 2 })
  })

  it('the death of the administrator starts a ranked, jittered candidacy', () => {
    const n2 = replica('n2', { term: 1 })
    const n3 = replica('n3', { term: 1 })
    for (const s of [n2, n3]) step(s, recv('n1', append({})))
    step(n2, { type: 'peer-dead', peer: 'n1', now: 1000, jitterMs: 7 })
    step(n3, { type: 'peer-dead', peer: 'n1', now: 1000, jitterMs: 7 })
    expect([n2.electionAt, n3.electionAt]).toEqual([1007, 1107])
    expect(step(n2, { type: 'tick', now: 1006, jitterMs: 0 })).toEqual([])
    const effects = step(n2, { type: 'tick', now: 1007, jitterMs: 0 })
    expect(effects).toEqual([
      { type: 'persist-term', term: 2, votedFor: 'n2' },
      { type: 'role', role: 'candidate', term: 2, leader: null, reason: 'administrator dead' },
      { type: 'send', to: 'n1', message: { type: 'vote-request', roomId: ROOM, term: 2, candidate: 'n2', lastSeq: 0, lastTerm: 0, transfer: false } },
      { type: 'send', to: 'n3', message: { type: 'vote-request', roomId: ROOM, term: 2, candidate: 'n2', lastSeq: 0, lastTerm: 0, transfer: false } },
    ])
  })

  it('a restarted administrator (new incarnation) is replaced by an election, and the others vote', () => {
    const n2 = replica('n2', { term: 1 })
    const n3 = replica('n3', { term: 1 })
    for (const s of [n2, n3]) step(s, recv('n1', append({})))
    step(n2, { type: 'peer-restarted', peer: 'n1', now: 0, jitterMs: 0 })
    step(n3, { type: 'peer-restarted', peer: 'n1', now: 0, jitterMs: 0 })
    const req = sends(step(n2, { type: 'tick', now: 0, jitterMs: 0 })).find((e) => e.to === 'n3')!.message
    expect(replyOf(step(n3, recv('n2', req)))).toMatchObject({ type: 'vote-reply', term: 2, granted: true })
  })

  it('the death of a follower starts nothing', () => {
    const n2 = replica('n2', { term: 1 })
    step(n2, recv('n1', append({})))
    expect(step(n2, { type: 'peer-dead', peer: 'n3', now: 1000, jitterMs: 0 })).toEqual([])
    expect(n2.electionAt).toBeNull()
  })

  it('the winner re-stamps its last entry and commits the previous term tail once a follower has it', () => {
    const n2 = replica('n2', { term: 1, entries: log(1, 1, 1), commitSeq: 1 })
    step(n2, recv('n1', append({ commitSeq: 1, prevSeq: 3, prevTerm: 1 })))
    step(n2, { type: 'peer-dead', peer: 'n1', now: 0, jitterMs: 0 })
    step(n2, { type: 'tick', now: 0, jitterMs: 0 })
    const effects = step(n2, recv('n3', { type: 'vote-reply', roomId: ROOM, term: 2, granted: true, leader: '', meta: null }))
    expect(effects.slice(0, 3)).toEqual([
      { type: 'role', role: 'leader', term: 2, leader: 'n2', reason: 'takeover' },
      { type: 'persist-entries', truncateAfter: 2, entries: [entry(2, 3)] },
      { type: 'persist-meta', meta: expect.objectContaining({ term: 2, version: 1 }) },
    ])
    const toN3 = sends(effects).find((e) => e.to === 'n3')!.message as Extract<ReplMessage, { type: 'append' }>
    expect([toN3.prevSeq, toN3.prevTerm, toN3.entries.map((e) => [e.term, e.message.seq])]).toEqual([2, 1, [[2, 3]]])
    expect(ack(n2, 'n3', 3)).toEqual([{ type: 'commit', fromSeq: 2, toSeq: 3 }])
    // seq continues with no gap and no reuse.
    expect(step(n2, propose('next', 'bob', 'n2'))).toContainEqual({ type: 'accepted', seq: 4, duplicate: false })
  })

  it('a candidate without a majority by its timeout stands again at a higher term', () => {
    const n2 = replica('n2', { term: 1 })
    step(n2, recv('n1', append({})))
    step(n2, { type: 'peer-dead', peer: 'n1', now: 0, jitterMs: 0 })
    step(n2, { type: 'tick', now: 0, jitterMs: 0 })
    expect(n2.electionAt).toBe(1000)
    expect(step(n2, { type: 'tick', now: 999, jitterMs: 0 })).toEqual([])
    expect(step(n2, { type: 'tick', now: 1000, jitterMs: 3 })[0]).toEqual({ type: 'persist-term', term: 3, votedFor: 'n2' })
  })

  it('graceful handover: the most up-to-date follower gets timeout-now with our vote, and wins as it stands', () => {
    const s = leader()
    step(s, propose('a'))
    ack(s, 'n2', 0)
    ack(s, 'n3', 1)
    // Our vote for n3 in term 2 is on disk before the timeout-now that says so leaves; we step down.
    expect(step(s, { type: 'transfer', now: 5 })).toEqual([
      { type: 'persist-term', term: 2, votedFor: 'n3' },
      { type: 'role', role: 'follower', term: 2, leader: null, reason: 'handover' },
      { type: 'send', to: 'n3', message: { type: 'timeout-now', roomId: ROOM, term: 1, vote: true } },
    ])
    // No new sends while the room changes hands (the sender's node retries at the new administrator).
    expect(step(s, propose('b'))).toEqual([{ type: 'refused', code: 'room_unavailable', message: expect.any(String), leader: null }])
    const n3 = replica('n3', { term: 1, entries: log(1) })
    step(n3, recv('n1', append({ prevSeq: 1, prevTerm: 1 })))
    // Three replicas: itself and our vote are a majority, no round trip.
    const effects = step(n3, recv('n1', { type: 'timeout-now', roomId: ROOM, term: 1, vote: true }))
    expect(effects).toContainEqual({ type: 'role', role: 'leader', term: 2, leader: 'n3', reason: 'handover' })
    expect(sends(effects).map((e) => e.message.type)).not.toContain('vote-request')
    // One vote per term: the old administrator grants n3's request again, refuses anyone else's.
    expect(replyOf(step(s, recv('n3', voteReq({ candidate: 'n3', lastSeq: 1, lastTerm: 1, transfer: true }))))).toMatchObject({ granted: true, term: 2 })
    expect(replyOf(step(s, recv('n2', voteReq({ candidate: 'n2', lastSeq: 1, lastTerm: 1, transfer: true }))))).toMatchObject({ granted: false, term: 2 })
  })

  it('graceful handover with five replicas: the vote in timeout-now counts, one more is asked for', () => {
    const five = { ...META, replicas: ['n1', 'n2', 'n3', 'n4', 'n5'] }
    const n3 = replica('n3', { term: 1, meta: five })
    step(n3, recv('n1', append({})))
    const effects = step(n3, recv('n1', { type: 'timeout-now', roomId: ROOM, term: 1, vote: true }))
    expect(effects).toContainEqual({ type: 'role', role: 'candidate', term: 2, leader: null, reason: 'handover' })
    expect(sends(effects).map((e) => e.to)).toEqual(['n1', 'n2', 'n4', 'n5'])
    expect(step(n3, recv('n2', { type: 'vote-reply', roomId: ROOM, term: 2, granted: true, leader: '', meta: null }))).toContainEqual(
      { type: 'role', role: 'leader', term: 2, leader: 'n3', reason: 'handover' },
    )
  })

  it('a timeout-now without a vote (an older node) starts a transfer election that asks everyone', () => {
    const n3 = replica('n3', { term: 1 })
    step(n3, recv('n1', append({})))
    const effects = step(n3, recv('n1', { type: 'timeout-now', roomId: ROOM, term: 1, vote: false }))
    expect(n3.role).toBe('candidate')
    expect(sends(effects).map((e) => e.message)).toContainEqual({ type: 'vote-request', roomId: ROOM, term: 2, candidate: 'n3', lastSeq: 0, lastTerm: 0, transfer: true })
  })

  it('handover waits for the target to hold the whole log', () => {
    const s = leader()
    step(s, propose('a'))
    step(s, propose('b'))
    ack(s, 'n2', 1)
    ack(s, 'n3', 0)
    const effects = step(s, { type: 'transfer', now: 5 })
    expect(effects).toEqual([])
    expect(s.role).toBe('leader')
    expect(ack(s, 'n2', 2)).toContainEqual({ type: 'send', to: 'n2', message: { type: 'timeout-now', roomId: ROOM, term: 1, vote: true } })
    expect([s.role, s.term, s.votedFor]).toEqual(['follower', 2, 'n2'])
  })

  it('handover waits for the target to hold the room state too (the vote it gets carries none)', () => {
    const s = leader()
    step(s, propose('a'))
    ack(s, 'n2', 1)
    ack(s, 'n3', 1)
    step(s, { type: 'set-meta', meta: { ...s.meta, members: [...s.meta.members, { user: 'cy', nodeId: 'n3' }] } })
    const effects = step(s, { type: 'transfer', now: 5 })
    const toN2 = sends(effects).map((e) => e.message)
    expect(toN2.map((m) => m.type)).toEqual(['append'])
    expect((toN2[0] as Extract<ReplMessage, { type: 'append' }>).meta?.members).toHaveLength(3)
    const done = step(s, recv('n2', { type: 'append-reply', roomId: ROOM, term: 1, ok: true, matchSeq: 1, leader: 'n1', metaTerm: s.meta.term, metaVersion: s.meta.version }))
    expect(done).toContainEqual({ type: 'send', to: 'n2', message: { type: 'timeout-now', roomId: ROOM, term: 1, vote: true } })
  })

  describe('a split vote (two replicas stood in the same term)', () => {
    /** n2 and n3 both candidates of term 2 after n1 died, each having voted for itself. */
    function split(n2Log: LogEntry[], n3Log: LogEntry[]) {
      const n2 = replica('n2', { term: 1, entries: n2Log })
      const n3 = replica('n3', { term: 1, entries: n3Log })
      for (const s of [n2, n3]) step(s, recv('n1', append({ prevSeq: lastSeq(s), prevTerm: lastTerm(s) })))
      for (const s of [n2, n3]) step(s, { type: 'peer-dead', peer: 'n1', now: 0, jitterMs: 0 })
      const req2 = sends(step(n2, { type: 'tick', now: 0, jitterMs: 0 })).find((e) => e.to === 'n3')!.message
      const req3 = sends(step(n3, { type: 'tick', now: 100, jitterMs: 0 })).find((e) => e.to === 'n2')!.message
      expect([n2.role, n2.term, n3.role, n3.term]).toEqual(['candidate', 2, 'candidate', 2])
      return { n2, n3, req2, req3 }
    }
    const rows: { name: string; n2: LogEntry[]; n3: LogEntry[]; first: 'n2' | 'n3' }[] = [
      { name: 'equal logs: the earlier in the replica set', n2: log(1, 1), n3: log(1, 1), first: 'n2' },
      { name: 'the longer log, though later in the set', n2: log(1), n3: log(1, 1), first: 'n3' },
      { name: 'the higher last term', n2: log(1, 1, 1), n3: log(1, 2), first: 'n3' },
    ]
    for (const row of rows) {
      it(`${row.name} stands again after one election step, the other waits and votes for it`, () => {
        const { n2, n3, req2, req3 } = split(row.n2, row.n3)
        // Each refuses the other (one vote per term) and both learn which goes first.
        expect(replyOf(step(n3, recv('n2', req2, 150)))).toMatchObject({ granted: false, term: 2 })
        expect(replyOf(step(n2, recv('n3', req3, 150)))).toMatchObject({ granted: false, term: 2 })
        const [first, second] = row.first === 'n2' ? [n2, n3] : [n3, n2]
        expect(first.electionAt).toBe(150 + CONFIG.electionStepMs)
        expect(second.electionAt).toBeGreaterThanOrEqual(second === n2 ? CONFIG.electionTimeoutMs : 100 + CONFIG.electionTimeoutMs)
        // Not before its step; then term 3, and the other (still a candidate of term 2) votes for it.
        expect(step(first, { type: 'tick', now: 150 + CONFIG.electionStepMs - 1, jitterMs: 0 })).toEqual([])
        const req = sends(step(first, { type: 'tick', now: 150 + CONFIG.electionStepMs, jitterMs: 0 })).find((e) => e.to === second.self)!.message
        const reply = replyOf(step(second, recv(first.self, req, 300)))
        expect(reply).toMatchObject({ type: 'vote-reply', term: 3, granted: true })
        expect(step(first, recv(second.self, reply, 310))).toContainEqual({ type: 'role', role: 'leader', term: 3, leader: first.self, reason: 'takeover' })
      })
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Whole groups under random schedules: a tiny deterministic simulation of three (or five) replicas.

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 0x100000000
  }
}

interface SimNode {
  id: string
  s: ReplicaState
  /** The durable log as the store holds it (persist effects applied). */
  disk: LogEntry[]
  up: boolean
}

/** What a tick could change: compared before and after a tick that tickDueAt says is not due. */
function tickView(s: ReplicaState): string {
  return JSON.stringify([
    s.term, s.votedFor, s.role, s.leader, s.electionAt, s.electionTransfer, [...s.votes], s.commitSeq, lastSeq(s), s.quorum, s.transferTo,
    [...s.progress], [...s.removedPeers], s.meta,
  ])
}

/**
 * A tick, checked against tickDueAt: before the time it names (or ever, if null) the tick returns
 * nothing and leaves the state as it was, which is what lets the node skip it.
 */
function checkedTick(s: ReplicaState, now: number, jitterMs: number, cfg: ReplicaConfig, counts: { quiet: number; due: number }): ReplicaEffect[] {
  const due = tickDueAt(s, cfg)
  if (due !== null && due <= now) {
    counts.due++
    return stepReplica(s, { type: 'tick', now, jitterMs }, cfg).effects
  }
  counts.quiet++
  const before = tickView(s)
  const effects = stepReplica(s, { type: 'tick', now, jitterMs }, cfg).effects
  if (effects.length) expect.fail(`a tick at ${now} before tickDueAt (${due}) returned ${JSON.stringify(effects)}`)
  if (tickView(s) !== before) expect.fail(`a tick at ${now} before tickDueAt (${due}) changed the state: ${before} -> ${tickView(s)}`)
  return effects
}

function simulate(seed: number, replicas: string[], steps: number) {
  const ticks = { quiet: 0, due: 0 }
  const rnd = prng(seed)
  const meta = { ...META, replicas, members: replicas.map((r) => ({ user: `u-${r}`, nodeId: r })) }
  const nodes = new Map<string, SimNode>()
  const net: { from: string; to: string; m: ReplMessage }[] = []
  const leadersByTerm = new Map<number, string>()
  /** Messages acknowledged to a sender (committed at the administrator that accepted them). */
  const acked = new Map<number, string>()
  const pendingAck = new Map<string, { seq: number; clientMsgId: string }[]>()
  let now = 0
  let sent = 0

  const apply = (n: SimNode, effects: ReplicaEffect[]) => {
    for (const e of effects) {
      if (e.type === 'persist-entries') {
        if (e.truncateAfter !== null) n.disk = n.disk.filter((x) => x.message.seq <= e.truncateAfter!)
        const at = n.disk.length ? n.disk[n.disk.length - 1].message.seq : 0
        if (e.entries.length && at !== e.entries[0].message.seq - 1) expect.fail(`${n.id}: appending seq ${e.entries[0].message.seq} after ${at}`)
        n.disk.push(...e.entries)
      } else if (e.type === 'send') net.push({ from: n.id, to: e.to, m: e.message })
      else if (e.type === 'role' && e.role === 'leader') {
        const prev = leadersByTerm.get(e.term)
        if (prev !== undefined && prev !== n.id) expect.fail(`two administrators in term ${e.term}: ${prev} and ${n.id}`)
        leadersByTerm.set(e.term, n.id)
      } else if (e.type === 'accepted') {
        const q = pendingAck.get(n.id) ?? []
        q.push({ seq: e.seq, clientMsgId: '' })
        pendingAck.set(n.id, q)
      } else if (e.type === 'commit' && n.s.role === 'leader') {
        const q = pendingAck.get(n.id) ?? []
        for (const p of q.filter((x) => x.seq <= e.toSeq)) {
          const committed = n.disk.find((x) => x.message.seq === p.seq)!
          const prev = acked.get(p.seq)
          if (prev !== undefined && prev !== committed.message.clientMsgId) expect.fail(`seq ${p.seq} acknowledged twice with different messages`)
          acked.set(p.seq, committed.message.clientMsgId)
        }
        pendingAck.set(n.id, q.filter((x) => x.seq > e.toSeq))
      } else if (e.type === 'send-stored') {
        const entries = n.disk.filter((x) => x.message.seq > e.prevSeq && x.message.seq <= e.toSeq)
        const prevTerm = n.disk.find((x) => x.message.seq === e.prevSeq)?.term ?? 0
        net.push({ from: n.id, to: e.to, m: { type: 'append', roomId: ROOM, term: e.term, leader: e.leader, prevSeq: e.prevSeq, prevTerm, entries, commitSeq: e.commitSeq, meta: null, noReply: false } })
      }
    }
  }
  const restart = (id: string) => {
    const n = nodes.get(id)!
    const s = newReplica({ roomId: ROOM, self: id, meta, term: n.s.term, votedFor: n.s.votedFor, entries: n.disk, commitSeq: 0 }, { ...CONFIG, logLimit: 20 })
    n.s = s
    n.up = true
    pendingAck.delete(id)
  }
  // The followers learnt the room (term 1, administrator n1) from its creation.
  for (const id of replicas) nodes.set(id, { id, s: newReplica({ roomId: ROOM, self: id, meta, term: id === replicas[0] ? 0 : 1, leader: replicas[0] }, { ...CONFIG, logLimit: 20 }), disk: [], up: true })
  apply(nodes.get(replicas[0])!, startLeading(nodes.get(replicas[0])!.s, 0, { ...CONFIG, logLimit: 20 }).effects)
  const cfg = { ...CONFIG, logLimit: 20 }
  const deadFor = (observer: string, peer: string) => {
    const o = nodes.get(observer)!
    if (!o.up) return
    apply(o, stepReplica(o.s, { type: 'peer-dead', peer, now, jitterMs: Math.floor(rnd() * 50) }, cfg).effects)
  }

  for (let i = 0; i < steps; i++) {
    now += 10
    const r = rnd()
    const upNodes = [...nodes.values()].filter((n) => n.up)
    if (r < 0.35 && net.length) {
      // Deliver (or lose, 5%) a message, picked at random among the in-flight ones per link order.
      const k = Math.floor(rnd() * net.length)
      const { from, to, m } = net.splice(k, 1)[0]
      const dst = nodes.get(to)!
      if (dst.up && nodes.get(from)!.up && rnd() > 0.05) apply(dst, stepReplica(dst.s, { type: 'message', from, message: m, now }, cfg).effects)
    } else if (r < 0.6) {
      const n = upNodes[Math.floor(rnd() * upNodes.length)]
      if (n?.s.role === 'leader') {
        const member = `u-${n.id}`
        apply(n, stepReplica(n.s, { type: 'propose', user: member, nodeId: n.id, text: 'x', clientMsgId: `m${sent++}`, now }, cfg).effects)
      }
    } else if (r < 0.9) {
      for (const n of upNodes) apply(n, checkedTick(n.s, now, Math.floor(rnd() * 50), cfg, ticks))
    } else if (r < 0.95) {
      // Crash a node (at most a minority down at once); everyone's detector says so.
      const down = [...nodes.values()].filter((n) => !n.up).length
      const n = upNodes[Math.floor(rnd() * upNodes.length)]
      if (n && down + 1 < replicas.length / 2) {
        n.up = false
        for (const o of nodes.values()) if (o.id !== n.id) deadFor(o.id, n.id)
      }
    } else {
      const n = [...nodes.values()].find((x) => !x.up)
      if (n) {
        restart(n.id)
        for (const o of nodes.values()) if (o.id !== n.id && o.up) apply(o, stepReplica(o.s, { type: 'peer-alive', peer: n.id, now }, cfg).effects)
        for (const o of nodes.values()) if (o.id !== n.id && !o.up) deadFor(n.id, o.id)
      }
    }
    // Invariant: committed prefixes agree on every node (log matching + commit rule).
    const committed = [...nodes.values()].map((n) => n.disk.slice(0, n.s.commitSeq).map((e) => e.message.clientMsgId))
    // (Plain comparisons: this runs at every step, and expect() per element is slow.)
    for (const a of committed) for (const b of committed) for (let j = 0; j < Math.min(a.length, b.length); j++) if (a[j] !== b[j]) expect.fail(`seed ${seed}: committed seq ${j + 1} differs: ${a[j]} vs ${b[j]}`)
  }
  // Heal: everyone up, every message delivered, ticks until quiet.
  for (const n of nodes.values()) if (!n.up) restart(n.id)
  for (const o of nodes.values()) for (const p of nodes.values()) if (o !== p) apply(o, stepReplica(o.s, { type: 'peer-alive', peer: p.id, now }, cfg).effects)
  const hasLeader = () => [...nodes.values()].some((n) => n.s.role === 'leader' && n.s.term === Math.max(...[...nodes.values()].map((x) => x.s.term)))
  for (let round = 0; round < 400; round++) {
    now += 100
    for (let k = 0; net.length; k++) {
      if (k > 100_000) {
        const brief = (m: ReplMessage) => (m.type === 'append' ? { ...m, entries: m.entries.map((e) => [e.message.seq, e.term]), meta: null } : m)
        const st = [...nodes.values()].map((n) => ({ id: n.id, role: n.s.role, term: n.s.term, floor: [n.s.floorSeq, n.s.floorTerm], commit: n.s.commitSeq, log: n.s.log.map((e) => `${e.message.seq}:${e.term}`).join(' '), disk: n.disk.length }))
        throw new Error(`seed ${seed}: messages never stop: ${JSON.stringify(net.slice(0, 3).map((x) => ({ ...x, m: brief(x.m) })))} ${JSON.stringify(st, null, 1)}`)
      }
      const { from, to, m } = net.shift()!
      const dst = nodes.get(to)!
      apply(dst, stepReplica(dst.s, { type: 'message', from, message: m, now }, cfg).effects)
    }
    if (!hasLeader() && round % 20 === 10) {
      // No administrator after healing (it crashed and was restarted as a follower): the detector
      // of the others would have declared it dead meanwhile.
      // Every node is up, so those detectors hear it again right after: alive again (a peer left
      // dead for good would never be sent another append by an administrator that thinks so).
      const terms = [...nodes.values()]
      for (const o of terms) {
        const was = o.s.leader
        if (!was || was === o.id) continue
        deadFor(o.id, was)
        apply(o, stepReplica(o.s, { type: 'peer-alive', peer: was, now }, cfg).effects)
      }
    }
    for (const n of nodes.values()) apply(n, checkedTick(n.s, now, Math.floor(rnd() * 50), cfg, ticks))
  }
  return { nodes, acked, leadersByTerm, stats: { now, sent, ticks } }
}


describe('membership through the replicated room state, and repair', () => {
  const metaAck = (s: ReplicaState, from: string) =>
    step(s, recv(from, { type: 'append-reply', roomId: ROOM, term: s.term, ok: true, matchSeq: lastSeq(s), leader: s.self, metaTerm: s.meta.term, metaVersion: s.meta.version }))
  const withCarol = { ...META, members: [...META.members, { user: 'carol', nodeId: 'n3' }] }

  it('a join is committed (meta-committed) once a majority of the replica set holds the room state', () => {
    const s = leader()
    expect(metaAck(s, 'n2')).toContainEqual({ type: 'meta-committed', term: 1, version: 1 })
    const joined = step(s, { type: 'set-meta', meta: withCarol })
    expect(joined.some((e) => e.type === 'meta-committed')).toBe(false)
    expect(sends(joined).map((e) => [e.to, (e.message as Extract<ReplMessage, { type: 'append' }>).meta?.members.length])).toEqual([
      ['n2', 3],
      ['n3', 3],
    ])
    expect(metaAck(s, 'n3')).toContainEqual({ type: 'meta-committed', term: 1, version: 2 })
  })

  // A leave is acknowledged on the same rule as a join (docs/replication.md, "Membership and
  // deletion"): the room state without the member, on a majority, before the answer goes.
  const withoutBob = { ...META, members: [{ user: 'ann', nodeId: 'n1' }] }
  const leaveRows: { name: string; acks: string[]; committed: boolean }[] = [
    { name: 'no follower holds it yet', acks: [], committed: false },
    { name: 'a follower acknowledged the older state only', acks: ['n2-old'], committed: false },
    { name: 'one follower holds it: with the administrator, a majority of three', acks: ['n2'], committed: true },
    { name: 'both followers hold it', acks: ['n2', 'n3'], committed: true },
  ]
  for (const row of leaveRows) {
    it(`a leave is committed (meta-committed) only on a majority: ${row.name}`, () => {
      const s = leader()
      metaAck(s, 'n2')
      metaAck(s, 'n3')
      const oldVersion = s.meta.version
      const left = step(s, { type: 'set-meta', meta: withoutBob })
      expect(left.some((e) => e.type === 'meta-committed')).toBe(false)
      // The new state goes to both followers with the member gone.
      expect(sends(left).map((e) => (e.message as Extract<ReplMessage, { type: 'append' }>).meta?.members.map((m) => m.user))).toEqual([['ann'], ['ann']])
      const effects: ReplicaEffect[] = []
      for (const a of row.acks) {
        const [from, old] = a.split('-')
        effects.push(
          ...step(s, recv(from, { type: 'append-reply', roomId: ROOM, term: s.term, ok: true, matchSeq: lastSeq(s), leader: s.self, metaTerm: s.meta.term, metaVersion: old ? oldVersion : s.meta.version })),
        )
      }
      expect(effects.some((e) => e.type === 'meta-committed' && e.version === s.meta.version)).toBe(row.committed)
      expect(metaCommitted(s)).toBe(row.committed)
    })
  }

  it('a leave on a majority survives the election: the winner that missed it adopts the state without the member', () => {
    // n2 missed the leave (its state still lists bob); n3 holds it (the majority with n1).
    const n2 = replica('n2', { term: 1, leader: 'n1', meta: { ...META, term: 1, version: 1 } })
    step(n2, { type: 'peer-dead', peer: 'n1', now: 0, jitterMs: 0 })
    step(n2, { type: 'tick', now: 0, jitterMs: 0 })
    expect(n2.role).toBe('candidate')
    step(n2, recv('n3', { type: 'vote-reply', roomId: ROOM, term: 2, granted: true, leader: '', meta: { ...withoutBob, term: 1, version: 2 } }))
    expect(n2.role).toBe('leader')
    expect(n2.meta.members.map((m) => m.user)).toEqual(['ann'])
  })

  it('a leave only the old administrator held is lost with it (it was never acknowledged)', () => {
    const n2 = replica('n2', { term: 1, leader: 'n1', meta: { ...META, term: 1, version: 1 } })
    step(n2, { type: 'peer-dead', peer: 'n1', now: 0, jitterMs: 0 })
    step(n2, { type: 'tick', now: 0, jitterMs: 0 })
    step(n2, recv('n3', { type: 'vote-reply', roomId: ROOM, term: 2, granted: true, leader: '', meta: { ...META, term: 1, version: 1 } }))
    expect(n2.role).toBe('leader')
    expect(n2.meta.members.map((m) => m.user)).toEqual(['ann', 'bob'])
  })

  it('the winner of an election adopts the newest room state among its votes (a join only it lacked)', () => {
    const n2 = replica('n2', { term: 1, leader: 'n1', meta: { ...META, term: 1, version: 1 } })
    step(n2, { type: 'peer-dead', peer: 'n1', now: 0, jitterMs: 0 })
    step(n2, { type: 'tick', now: 0, jitterMs: 0 })
    expect(n2.role).toBe('candidate')
    const newer = { ...withCarol, term: 1, version: 2 }
    const effects = step(n2, recv('n3', { type: 'vote-reply', roomId: ROOM, term: 2, granted: true, leader: '', meta: newer }))
    expect(n2.role).toBe('leader')
    expect(n2.meta.members.map((m) => m.user)).toEqual(['ann', 'bob', 'carol'])
    expect(n2.meta).toMatchObject({ term: 2, version: 1 })
    expect(effects).toContainEqual({ type: 'persist-meta', meta: expect.objectContaining({ members: withCarol.members }) })
  })

  it('a granted vote carries the voter room state', () => {
    const n3 = replica('n3', { term: 1, meta: { ...withCarol, term: 1, version: 2 } })
    step(n3, { type: 'peer-dead', peer: 'n1', now: 0, jitterMs: 0 })
    const r = replyOf(step(n3, recv('n2', voteReq({})))) as Extract<ReplMessage, { type: 'vote-reply' }>
    expect(r.granted).toBe(true)
    expect(r.meta?.members.map((m) => m.user)).toEqual(['ann', 'bob', 'carol'])
  })

  it('a change of the replica set counts a follower only once its log holds every committed entry, not on a refusal that adopted the room state', () => {
    // a and b committed with n3 alone; n2 never got them. n3 dies and is removed by repair.
    const s = leader()
    metaAck(s, 'n2')
    metaAck(s, 'n3')
    step(s, propose('a'))
    step(s, propose('b'))
    ack(s, 'n3', 2)
    expect(s.commitSeq).toBe(2)
    step(s, { type: 'peer-dead', peer: 'n3', now: 1000, jitterMs: 0 })
    step(s, { type: 'repair', now: 1000 + CONFIG.repairMs, want: 3, spares: [] })
    expect(s.meta.replicas).toEqual(['n1', 'n2'])
    // n2 adopts the new room state but refuses the entries (its log does not match yet): were that
    // enough, a spare could be added and n2 elected with it after n1 dies, without a and b.
    const refused = step(s, recv('n2', { type: 'append-reply', roomId: ROOM, term: 1, ok: false, matchSeq: 0, leader: '', metaTerm: 1, metaVersion: s.meta.version }))
    expect(refused.filter((e) => e.type === 'meta-committed')).toEqual([])
    expect(metaCommitted(s)).toBe(false)
    expect(step(s, { type: 'repair', now: 1000 + CONFIG.repairMs + 1, want: 3, spares: ['n4'] }).filter((e) => e.type === 'replicas')).toEqual([])
    // Once n2 holds the committed entries, the change is on a majority.
    const caughtUp = step(s, recv('n2', { type: 'append-reply', roomId: ROOM, term: 1, ok: true, matchSeq: 2, leader: 'n1', metaTerm: 1, metaVersion: s.meta.version }))
    expect(caughtUp).toContainEqual({ type: 'meta-committed', term: 1, version: s.meta.version })
  })

  it('repair: a replica dead for repairMs is removed, then a live spare is added, one committed change at a time', () => {
    const s = leader()
    metaAck(s, 'n2')
    metaAck(s, 'n3')
    step(s, propose('a'))
    step(s, { type: 'peer-dead', peer: 'n3', now: 1000, jitterMs: 0 })
    const repair = (now: number, spares = ['n4']) => step(s, { type: 'repair', now, want: 3, spares })
    expect(repair(1000 + CONFIG.repairMs - 1)).toEqual([])
    const removed = repair(1000 + CONFIG.repairMs)
    expect(removed).toContainEqual({ type: 'replicas', replicas: ['n1', 'n2'], removed: 'n3', added: null })
    expect(s.meta.replicas).toEqual(['n1', 'n2'])
    // Not yet on a majority of {n1, n2}: no second change.
    expect(repair(1000 + CONFIG.repairMs + 1)).toEqual([])
    expect(metaAck(s, 'n2')).toContainEqual({ type: 'meta-committed', term: 1, version: 2 })
    const added = repair(1000 + CONFIG.repairMs + 2, ['n3', 'n4'])
    expect(added).toContainEqual({ type: 'replicas', replicas: ['n1', 'n2', 'n4'], removed: null, added: 'n4' })
    const toN4 = sends(added).find((e) => e.to === 'n4')!.message as Extract<ReplMessage, { type: 'append' }>
    expect(toN4.meta?.replicas).toEqual(['n1', 'n2', 'n4'])
    // n4 has nothing: it refuses with its last seq (0), and is sent the log from the start.
    const catchUp = step(s, recv('n4', { type: 'append-reply', roomId: ROOM, term: 1, ok: false, matchSeq: 0, leader: '', metaTerm: 1, metaVersion: 3 }))
    const resent = sends(catchUp).find((e) => e.to === 'n4')!.message as Extract<ReplMessage, { type: 'append' }>
    expect([resent.prevSeq, resent.entries.map((e) => e.message.clientMsgId)]).toEqual([0, ['a']])
    expect(repair(1000 + CONFIG.repairMs + 3, ['n3'])).toEqual([])
  })

  it('a room created on a lone node (a set of one) grows one committed change at a time once other nodes are alive, members\' nodes first', () => {
    const s = newReplica({ roomId: ROOM, self: 'n1', meta: { ...META, replicas: ['n1'] } }, CONFIG)
    // Its room state is on a majority (itself) at once: joins are acknowledged, repair may start.
    expect(startLeading(s, 0, CONFIG).effects).toContainEqual({ type: 'meta-committed', term: 1, version: 1 })
    step(s, propose('a'))
    step(s, propose('b'))
    expect(s.commitSeq).toBe(2)
    const repair = (spares: string[], want = 3) => step(s, { type: 'repair', now: 10, want, spares })
    expect(repair([])).toEqual([])
    // The caller orders the spares (nodes with members first); the first live one is added.
    expect(repair(['n2', 'n3'])).toContainEqual({ type: 'replicas', replicas: ['n1', 'n2'], removed: null, added: 'n2' })
    // Not on a majority of {n1, n2} yet: no second change, and a send waits for n2.
    expect(repair(['n3'])).toEqual([])
    step(s, propose('c'))
    expect(s.commitSeq).toBe(2)
    // n2 holds nothing: it refuses, is sent the whole log, and acknowledges it with the room state.
    const catchUp = step(s, recv('n2', { type: 'append-reply', roomId: ROOM, term: 1, ok: false, matchSeq: 0, leader: '', metaTerm: 0, metaVersion: 0 }))
    const resent = sends(catchUp).find((e) => e.to === 'n2')!.message as Extract<ReplMessage, { type: 'append' }>
    expect([resent.prevSeq, resent.entries.map((e) => e.message.clientMsgId)]).toEqual([0, ['a', 'b', 'c']])
    const acked = metaAck(s, 'n2')
    expect(acked).toContainEqual({ type: 'meta-committed', term: 1, version: 2 })
    expect(acked).toContainEqual({ type: 'commit', fromSeq: 3, toSeq: 3 })
    expect(repair(['n3'])).toContainEqual({ type: 'replicas', replicas: ['n1', 'n2', 'n3'], removed: null, added: 'n3' })
    metaAck(s, 'n2')
    expect(repair(['n4'])).toEqual([])
    expect(s.meta.replicas).toEqual(['n1', 'n2', 'n3'])
  })

  it('a set of one deposed by the replica it is adding (a stale replica at a higher term) steps down to the set of one, wins alone and adds it again', () => {
    // Simulator seeds 9021, 9037, 9072, 9151 with --repair-ms 2000: n2 was removed while cut off and
    // stood at ever higher terms in its old set; with n2 in the set, n1 could win no election (n2
    // gives it no vote) and the room had no administrator for good.
    const s = newReplica({ roomId: ROOM, self: 'n1', meta: { ...META, replicas: ['n1'] } }, CONFIG)
    startLeading(s, 0, CONFIG)
    step(s, propose('a'))
    expect(step(s, { type: 'repair', now: 10, want: 3, spares: ['n2'] })).toContainEqual({ type: 'replicas', replicas: ['n1', 'n2'], removed: null, added: 'n2' })
    const version = s.meta.version
    const refused = step(s, recv('n2', { type: 'append-reply', roomId: ROOM, term: 20, ok: false, matchSeq: 0, leader: '', metaTerm: 1, metaVersion: 1 }, 20))
    expect([s.role, s.term, s.meta.replicas, s.meta.version]).toEqual(['follower', 20, ['n1'], version + 1])
    expect(refused).toContainEqual({ type: 'persist-meta', meta: s.meta })
    // No administrator known: it stands after the election timeout, and needs no vote but its own.
    step(s, { type: 'tick', now: 30, jitterMs: 0 })
    const won = step(s, { type: 'tick', now: 30 + CONFIG.electionTimeoutMs, jitterMs: 0 })
    expect([s.role, s.term, s.commitSeq]).toEqual(['leader', 21, 1])
    expect(sends(won)).toEqual([])
    // Its set of one is on a majority at once: n2 is added again, now at the higher term.
    const again = step(s, { type: 'repair', now: 40 + CONFIG.electionTimeoutMs, want: 3, spares: ['n2'] })
    expect(again).toContainEqual({ type: 'replicas', replicas: ['n1', 'n2'], removed: null, added: 'n2' })
    expect(sends(again).map((e) => [e.to, e.message.term])).toEqual([['n2', 21]])
  })

  it('a higher term from a replica it is adding to a set of two deposes the administrator as before (its set is kept)', () => {
    const s = newReplica({ roomId: ROOM, self: 'n1', meta: { ...META, replicas: ['n1', 'n2'] } }, CONFIG)
    startLeading(s, 0, CONFIG)
    metaAck(s, 'n2')
    step(s, { type: 'repair', now: 10, want: 3, spares: ['n3'] })
    expect(s.meta.replicas).toEqual(['n1', 'n2', 'n3'])
    step(s, recv('n3', { type: 'append-reply', roomId: ROOM, term: 20, ok: false, matchSeq: 0, leader: '', metaTerm: 1, metaVersion: 1 }, 20))
    expect([s.role, s.term, s.meta.replicas]).toEqual(['follower', 20, ['n1', 'n2', 'n3']])
  })

  it('a higher term from the replica added once that addition is on a majority deposes the administrator as before', () => {
    const s = newReplica({ roomId: ROOM, self: 'n1', meta: { ...META, replicas: ['n1'] } }, CONFIG)
    startLeading(s, 0, CONFIG)
    step(s, { type: 'repair', now: 10, want: 3, spares: ['n2'] })
    metaAck(s, 'n2')
    step(s, recv('n2', { type: 'append-reply', roomId: ROOM, term: 20, ok: false, matchSeq: 0, leader: '', metaTerm: 1, metaVersion: 2 }, 20))
    expect([s.role, s.term, s.meta.replicas]).toEqual(['follower', 20, ['n1', 'n2']])
  })

  it('a removed replica alive again is sent the room state without it once its removal is on a majority, and stops standing whatever its term', () => {
    const s = leader()
    metaAck(s, 'n2')
    metaAck(s, 'n3')
    step(s, { type: 'peer-dead', peer: 'n3', now: 0, jitterMs: 0 })
    step(s, { type: 'repair', now: CONFIG.repairMs, want: 3, spares: [] })
    expect(s.meta.replicas).toEqual(['n1', 'n2'])
    const t0 = CONFIG.repairMs
    step(s, { type: 'peer-alive', peer: 'n3', now: t0 + 1 })
    // Not yet on a majority of {n1, n2}: nothing to tell.
    expect(sends(step(s, { type: 'tick', now: t0 + 2, jitterMs: 0 })).filter((e) => e.to === 'n3')).toEqual([])
    metaAck(s, 'n2')
    const told = sends(step(s, { type: 'tick', now: t0 + 3, jitterMs: 0 })).filter((e) => e.to === 'n3')
    expect(told).toHaveLength(1)
    // Told again a resend period later (it does not answer), a bounded number of times.
    expect(sends(step(s, { type: 'tick', now: t0 + 4, jitterMs: 0 })).filter((e) => e.to === 'n3')).toEqual([])
    let more = 0
    for (let k = 1; k <= 10; k++) more += sends(step(s, { type: 'tick', now: t0 + 3 + k * CONFIG.resendMs, jitterMs: 0 })).filter((e) => e.to === 'n3').length
    expect(more).toBe(4)
    const notice = told[0].message as Extract<ReplMessage, { type: 'append' }>
    expect([told[0].to, notice.meta?.replicas]).toEqual(['n3', ['n1', 'n2']])
    // n3 stood meanwhile, up to term 7: the notice of term 1 still removes it.
    const n3 = replica('n3', { term: 7, meta: { ...META, term: 1, version: 1 } })
    n3.role = 'candidate'
    n3.electionAt = 5000
    const effects = step(n3, recv('n1', notice))
    expect(effects).toEqual([{ type: 'persist-meta', meta: expect.objectContaining({ replicas: ['n1', 'n2'] }) }])
    expect([n3.role, n3.electionAt, n3.term]).toEqual(['follower', null, 7])
  })

  it('a replica removed while away is told so by a voter when it stands, and stops standing; nobody steps down', () => {
    const n2 = replica('n2', { term: 3, leader: 'n1', meta: { ...META, term: 3, version: 3, replicas: ['n1', 'n2', 'n4'] } })
    const n3 = replica('n3', { term: 1, leader: 'n1', meta: { ...META, term: 1, version: 1 } })
    step(n3, { type: 'peer-dead', peer: 'n1', now: 0, jitterMs: 0 })
    const asked = sends(step(n3, { type: 'tick', now: 1000, jitterMs: 0 }))
    const toN2 = asked.find((e) => e.to === 'n2')!.message
    const answer = replyOf(step(n2, recv('n3', toN2))) as Extract<ReplMessage, { type: 'vote-reply' }>
    expect(answer).toMatchObject({ granted: false, term: 3 })
    expect(n2.term).toBe(3)
    expect(n2.leader).toBe('n1')
    step(n3, recv('n2', answer))
    expect(n3.meta.replicas).toEqual(['n1', 'n2', 'n4'])
    expect(n3.role).toBe('follower')
    expect(n3.electionAt).toBeNull()
  })

  it('... also when it stood at a higher term than the voter, whose administrator is alive: told at once, not kept as a deferred vote', () => {
    // n3 stood again and again while cut off (term 13); n2 follows a live administrator n4 in term 3.
    const n2 = replica('n2', { term: 3, leader: 'n4', meta: { ...META, term: 3, version: 3, replicas: ['n1', 'n2', 'n4'] } })
    const n3 = replica('n3', { term: 13, leader: null, meta: { ...META, term: 1, version: 1 } })
    n3.role = 'candidate'
    n3.electionAt = 20_000
    const request: ReplMessage = { type: 'vote-request', roomId: n3.roomId, term: 14, candidate: 'n3', lastSeq: 0, lastTerm: 0, transfer: false }
    const effects = step(n2, recv('n3', request))
    const answer = replyOf(effects) as Extract<ReplMessage, { type: 'vote-reply' }>
    expect(answer).toMatchObject({ granted: false, term: 3, leader: 'n4', meta: expect.objectContaining({ replicas: ['n1', 'n2', 'n4'] }) })
    expect([n2.term, n2.leader, n2.votedFor, n2.deferredVote]).toEqual([3, 'n4', null, null])
    expect(effects.filter((e) => e.type !== 'send')).toEqual([])
    // The removed replica stops standing, whatever its own term.
    step(n3, recv('n2', answer))
    expect([n3.role, n3.electionAt, n3.meta.replicas]).toEqual(['follower', null, ['n1', 'n2', 'n4']])
    // Its detector declaring n4 dead later does not make n2 replay the request as a vote.
    expect(sends(step(n2, { type: 'peer-dead', peer: 'n4', now: 100, jitterMs: 0 })).filter((e) => e.to === 'n3')).toEqual([])
  })

  it('a replica cut off while the set changed (it is in the new set, with a replica it never heard of) learns the set from a voter that follows a live administrator, and stops standing', () => {
    // n1 held {n5, n1, n2} in term 1; meanwhile n3 replaced n2 and took over in term 2, and added n1 again.
    const n5 = replica('n5', { term: 2, leader: 'n3', meta: { ...META, term: 2, version: 4, replicas: ['n5', 'n3', 'n1'] } })
    const n1 = replica('n1', { term: 9, leader: null, meta: { ...META, term: 1, version: 3, replicas: ['n5', 'n1', 'n2'] } })
    n1.role = 'candidate'
    n1.electionAt = 20_000
    const request: ReplMessage = { type: 'vote-request', roomId: n1.roomId, term: 10, candidate: 'n1', lastSeq: 0, lastTerm: 0, transfer: false }
    // n5's administrator is alive: the vote waits (deferred), and the refusal carries n5's room state.
    const answer = replyOf(step(n5, recv('n1', request))) as Extract<ReplMessage, { type: 'vote-reply' }>
    expect(answer).toMatchObject({ granted: false, leader: 'n3', meta: expect.objectContaining({ replicas: ['n5', 'n3', 'n1'] }) })
    expect([n5.term, n5.leader]).toEqual([2, 'n3'])
    step(n1, recv('n5', answer))
    // Still a replica (nothing dropped), now of the new set: n3's appends are a replica's to it.
    expect([n1.role, n1.electionAt, n1.leader, n1.term, n1.meta.replicas]).toEqual(['follower', null, null, 9, ['n5', 'n3', 'n1']])
  })

  it('a voter that follows no live administrator tells a candidate outside its set nothing: its set may be older than the candidate missed', () => {
    // n2 was itself removed while cut off, and knows no administrator: its {n5, n2} is stale.
    const n2 = replica('n2', { term: 8, leader: null, meta: { ...META, term: 1, version: 14, replicas: ['n5', 'n2'] } })
    const n1 = replica('n1', { term: 9, leader: null, meta: { ...META, term: 1, version: 3, replicas: ['n5', 'n1', 'n2'] } })
    n1.role = 'candidate'
    const request: ReplMessage = { type: 'vote-request', roomId: n1.roomId, term: 10, candidate: 'n1', lastSeq: 0, lastTerm: 0, transfer: false }
    const answer = replyOf(step(n2, recv('n1', request))) as Extract<ReplMessage, { type: 'vote-reply' }>
    expect(answer).toMatchObject({ granted: false, meta: null })
    expect(n2.term).toBe(8)
    step(n1, recv('n2', answer))
    expect(n1.meta.replicas).toEqual(['n5', 'n1', 'n2'])
  })
})

describe('random failover schedules (seeded)', () => {
  for (const [replicas, seeds] of [
    [['n1', 'n2', 'n3'], 60],
    [['n1', 'n2', 'n3', 'n4', 'n5'], 30],
  ] as const) {
    it(`${replicas.length} replicas, ${seeds} seeds: one administrator per term, every acknowledged message on every replica at its seq`, () => {
      let failovers = 0
      let totalAcked = 0
      const ticks = { quiet: 0, due: 0 }
      for (let seed = 1; seed <= seeds; seed++) {
        const { nodes, acked, leadersByTerm, stats } = simulate(seed, [...replicas], 600)
        ticks.quiet += stats.ticks.quiet
        ticks.due += stats.ticks.due
        failovers += leadersByTerm.size - 1
        totalAcked += acked.size
        const leaders = [...nodes.values()].filter((n) => n.s.role === 'leader')
        expect(leaders.length, `seed ${seed}: one administrator after healing`).toBe(1)
        for (const n of nodes.values()) {
          expect(n.s.commitSeq, `seed ${seed}: ${n.id} caught up`).toBe(leaders[0].s.commitSeq)
          for (const [seq, id] of acked) expect(n.disk[seq - 1]?.message.clientMsgId, `seed ${seed}: ${n.id} seq ${seq}`).toBe(id)
          // One message per seq, seqs contiguous from 1.
          expect(n.disk.map((e) => e.message.seq)).toEqual(n.disk.map((_, i) => i + 1))
          expect(lastSeq(n.s)).toBe(n.disk.length)
          expect(lastTerm(n.s)).toBe(n.disk.length ? n.disk[n.disk.length - 1].term : 0)
        }
        expect(committedRange(leaders[0].s, 1, leaders[0].s.commitSeq).length).toBeGreaterThan(0)
      }
      // The schedules did exercise failover, and messages were acknowledged across it.
      expect(failovers).toBeGreaterThan(seeds / 2)
      expect(totalAcked).toBeGreaterThan(seeds * 5)
      // Both kinds of tick happened, so checkedTick compared tickDueAt with tick in earnest.
      expect(ticks.quiet).toBeGreaterThan(seeds * 10)
      expect(ticks.due).toBeGreaterThan(seeds)
    })
  }
})
