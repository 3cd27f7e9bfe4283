// Tables of inputs and expected effects for main/core/room-ordering.ts (docs/architecture.md §2:
// the core is a step function). Each scenario feeds its rows to one room, in
// order, and checks the effects of every step, then a few facts about the final state.
import { describe, it, expect } from 'vitest'
import {
  stepRoom,
  newAdminRoom,
  logBefore,
  logRange,
  memberList,
  type AdminRoom,
  type RoomEffect,
  type RoomInput,
  type RoomLimits,
} from '../../main/core/room-ordering'
import type { ChatMessage } from '../../proto/client-protocol'
import { MessageRing } from '../../main/core/message-ring'

type Row = [RoomInput, RoomEffect[]]

const ROOM = 'r1'
const NAME = 'general'

const join = (user: string, nodeId: string): RoomInput => ({ type: 'join', user, nodeId })
const leave = (user: string, nodeId: string): RoomInput => ({ type: 'leave', user, nodeId })
const dead = (nodeId: string): RoomInput => ({ type: 'node-dead', nodeId })
const freeze = (frozen: boolean): RoomInput => ({ type: 'freeze', frozen })
const send = (user: string, nodeId: string, clientMsgId: string, now: number, text = `text ${clientMsgId}`): RoomInput => ({
  type: 'send',
  user,
  nodeId,
  text,
  clientMsgId,
  now,
})

const msg = (seq: number, user: string, nodeId: string, clientMsgId: string, sentAt: number, text = `text ${clientMsgId}`): ChatMessage => ({
  roomId: ROOM,
  seq,
  user,
  nodeId,
  text,
  sentAt,
  clientMsgId,
})
const m = (user: string, nodeId: string) => ({ user, nodeId })
const replyJoin = (members: { user: string; nodeId: string }[], lastSeq: number, history: ChatMessage[], fresh: boolean): RoomEffect => ({
  type: 'reply-join',
  members,
  lastSeq,
  history,
  fresh,
})
const joined = (toNodes: string[], user: string, nodeId: string): RoomEffect => ({ type: 'member-event', toNodes, joined: true, member: m(user, nodeId) })
const left = (toNodes: string[], user: string, nodeId: string): RoomEffect => ({ type: 'member-event', toNodes, joined: false, member: m(user, nodeId) })
const dirChanged: RoomEffect = { type: 'directory-changed' }
const persist = (message: ChatMessage): RoomEffect => ({ type: 'persist', message })
const persisted = (message: ChatMessage): RoomInput => ({ type: 'persisted', message })
const deliver = (toNodes: string[], message: ChatMessage): RoomEffect => ({ type: 'deliver', toNodes, message })
const seqReply = (seq: number, duplicate = false): RoomEffect => ({ type: 'reply-send', seq, duplicate })
const ok: RoomEffect = { type: 'reply-ok' }
const error = (code: string): RoomEffect => ({ type: 'reply-error', code, message: expect.any(String) }) as unknown as RoomEffect

function fresh(lastSeq?: number): AdminRoom {
  return newAdminRoom({ roomId: ROOM, name: NAME, createdBy: { user: 'alice', nodeId: 'n-alice' }, createdAt: 1000, lastSeq })
}

/** Feeds the rows in order and checks each row's effects (in order); returns the final state. */
function run(rows: Row[], room = fresh(), limits?: RoomLimits): AdminRoom {
  rows.forEach(([input, expected], i) => {
    const out = limits ? stepRoom(room, input, limits) : stepRoom(room, input)
    expect(out.effects, `row ${i}: ${JSON.stringify(input)}`).toEqual(expected)
    // Error messages are for people: never empty.
    for (const e of out.effects) if (e.type === 'reply-error') expect(e.message.length, `row ${i}`).toBeGreaterThan(0)
    room = out.state
  })
  return room
}

interface Scenario {
  name: string
  rows: Row[]
  start?: () => AdminRoom
  limits?: RoomLimits
  /** Facts about the final state. */
  after?: { lastSeq?: number; members?: { user: string; nodeId: string }[]; version?: number; frozen?: boolean; logSeqs?: number[]; dedupeSize?: number }
}

const scenarios: Scenario[] = [
  {
    name: 'first join: reply before the member event, then the directory changes',
    rows: [[join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]]],
    after: { members: [m('alice', 'A')], version: 2 },
  },
  {
    name: 'joins from two nodes: the event goes to every member node, the member list is sorted',
    rows: [
      [join('bob', 'B'), [replyJoin([m('bob', 'B')], 0, [], true), joined(['B'], 'bob', 'B'), dirChanged]],
      [join('alice', 'A'), [replyJoin([m('alice', 'A'), m('bob', 'B')], 0, [], true), joined(['B', 'A'], 'alice', 'A'), dirChanged]],
      [join('carol', 'A'), [replyJoin([m('alice', 'A'), m('bob', 'B'), m('carol', 'A')], 0, [], true), joined(['B', 'A'], 'carol', 'A'), dirChanged]],
    ],
    after: { members: [m('alice', 'A'), m('bob', 'B'), m('carol', 'A')], version: 4 },
  },
  {
    name: 'the same user on two nodes is two members',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [join('alice', 'B'), [replyJoin([m('alice', 'A'), m('alice', 'B')], 0, [], true), joined(['A', 'B'], 'alice', 'B'), dirChanged]],
    ],
    after: { members: [m('alice', 'A'), m('alice', 'B')] },
  },
  {
    name: 'joining twice is idempotent: a reply (not fresh), no event, no directory change',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], false)]],
    ],
    after: { members: [m('alice', 'A')], version: 2 },
  },
  {
    name: 'leave: ok, the event reaches the leaver\'s node too, then the directory changes',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [join('bob', 'B'), [replyJoin([m('alice', 'A'), m('bob', 'B')], 0, [], true), joined(['A', 'B'], 'bob', 'B'), dirChanged]],
      [leave('bob', 'B'), [ok, left(['A', 'B'], 'bob', 'B'), dirChanged]],
    ],
    after: { members: [m('alice', 'A')], version: 4 },
  },
  {
    name: 'leave by a non-member (or twice): not_member, nothing changes',
    rows: [
      [leave('alice', 'A'), [error('not_member')]],
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [leave('alice', 'B'), [error('not_member')]],
      [leave('alice', 'A'), [ok, left(['A'], 'alice', 'A'), dirChanged]],
      [leave('alice', 'A'), [error('not_member')]],
    ],
    after: { members: [], version: 3 },
  },
  {
    name: 'seq assignment: 1, 2, 3 in arrival order; persisted first, then delivered to every member node, then the reply',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [join('bob', 'B'), [replyJoin([m('alice', 'A'), m('bob', 'B')], 0, [], true), joined(['A', 'B'], 'bob', 'B'), dirChanged]],
      [send('alice', 'A', 'a1', 10), [persist(msg(1, 'alice', 'A', 'a1', 10))]],
      [persisted(msg(1, 'alice', 'A', 'a1', 10)), [deliver(['A', 'B'], msg(1, 'alice', 'A', 'a1', 10)), seqReply(1)]],
      [send('bob', 'B', 'b1', 11), [persist(msg(2, 'bob', 'B', 'b1', 11))]],
      [persisted(msg(2, 'bob', 'B', 'b1', 11)), [deliver(['A', 'B'], msg(2, 'bob', 'B', 'b1', 11)), seqReply(2)]],
      [send('alice', 'A', 'a2', 12), [persist(msg(3, 'alice', 'A', 'a2', 12))]],
      [persisted(msg(3, 'alice', 'A', 'a2', 12)), [deliver(['A', 'B'], msg(3, 'alice', 'A', 'a2', 12)), seqReply(3)]],
    ],
    after: { lastSeq: 3, logSeqs: [1, 2, 3], version: 3 },
  },
  {
    name: 'a room restored with lastSeq 41 goes on at 42 and says lastSeq 41 on join',
    start: () => fresh(41),
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 41, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [send('alice', 'A', 'x', 5), [persist(msg(42, 'alice', 'A', 'x', 5))]],
      [persisted(msg(42, 'alice', 'A', 'x', 5)), [deliver(['A'], msg(42, 'alice', 'A', 'x', 5)), seqReply(42)]],
    ],
    after: { lastSeq: 42 },
  },
  {
    name: 'idempotent resend: same clientMsgId -> same seq, duplicate, nothing delivered, seq not advanced',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [send('alice', 'A', 'c1', 10), [persist(msg(1, 'alice', 'A', 'c1', 10))]],
      [persisted(msg(1, 'alice', 'A', 'c1', 10)), [deliver(['A'], msg(1, 'alice', 'A', 'c1', 10)), seqReply(1)]],
      [send('alice', 'A', 'c1', 20), [seqReply(1, true)]],
      [send('alice', 'A', 'c1', 30, 'different text, same id'), [seqReply(1, true)]],
      [send('alice', 'A', 'c2', 40), [persist(msg(2, 'alice', 'A', 'c2', 40))]],
      [persisted(msg(2, 'alice', 'A', 'c2', 40)), [deliver(['A'], msg(2, 'alice', 'A', 'c2', 40)), seqReply(2)]],
      [send('alice', 'A', 'c1', 50), [seqReply(1, true)]],
    ],
    after: { lastSeq: 2, logSeqs: [1, 2] },
  },
  {
    name: 'clientMsgId is per sender: the same id from another user is a new message',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [join('bob', 'A'), [replyJoin([m('alice', 'A'), m('bob', 'A')], 0, [], true), joined(['A'], 'bob', 'A'), dirChanged]],
      [send('alice', 'A', 'same', 1), [persist(msg(1, 'alice', 'A', 'same', 1))]],
      [persisted(msg(1, 'alice', 'A', 'same', 1)), [deliver(['A'], msg(1, 'alice', 'A', 'same', 1)), seqReply(1)]],
      [send('bob', 'A', 'same', 2), [persist(msg(2, 'bob', 'A', 'same', 2))]],
      [persisted(msg(2, 'bob', 'A', 'same', 2)), [deliver(['A'], msg(2, 'bob', 'A', 'same', 2)), seqReply(2)]],
    ],
    after: { lastSeq: 2 },
  },
  {
    name: 'the sender is the member (user, node): the same user name and clientMsgId on two nodes are two messages',
    rows: [
      [join('bot', 'A'), [replyJoin([m('bot', 'A')], 0, [], true), joined(['A'], 'bot', 'A'), dirChanged]],
      [join('bot', 'B'), [replyJoin([m('bot', 'A'), m('bot', 'B')], 0, [], true), joined(['A', 'B'], 'bot', 'B'), dirChanged]],
      [send('bot', 'A', '1', 1), [persist(msg(1, 'bot', 'A', '1', 1))]],
      [persisted(msg(1, 'bot', 'A', '1', 1)), [deliver(['A', 'B'], msg(1, 'bot', 'A', '1', 1)), seqReply(1)]],
      [send('bot', 'B', '1', 2), [persist(msg(2, 'bot', 'B', '1', 2))]],
      [persisted(msg(2, 'bot', 'B', '1', 2)), [deliver(['A', 'B'], msg(2, 'bot', 'B', '1', 2)), seqReply(2)]],
      [send('bot', 'B', '1', 3), [seqReply(2, true)]],
      [send('bot', 'A', '1', 4), [seqReply(1, true)]],
    ],
    after: { lastSeq: 2 },
  },
  {
    name: 'send by a non-member: not_member, no seq used',
    rows: [
      [send('mallory', 'M', 'x', 1), [error('not_member')]],
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [send('alice', 'B', 'x', 2), [error('not_member')]],
      [send('alice', 'A', 'x', 3), [persist(msg(1, 'alice', 'A', 'x', 3))]],
      [persisted(msg(1, 'alice', 'A', 'x', 3)), [deliver(['A'], msg(1, 'alice', 'A', 'x', 3)), seqReply(1)]],
      [leave('alice', 'A'), [ok, left(['A'], 'alice', 'A'), dirChanged]],
      [send('alice', 'A', 'y', 4), [error('not_member')]],
    ],
    after: { lastSeq: 1, logSeqs: [1] },
  },
  {
    name: 'frozen (deletion in progress): join and send -> room_busy; a resend still answers its seq; unfreeze resumes',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [send('alice', 'A', 'c1', 1), [persist(msg(1, 'alice', 'A', 'c1', 1))]],
      [persisted(msg(1, 'alice', 'A', 'c1', 1)), [deliver(['A'], msg(1, 'alice', 'A', 'c1', 1)), seqReply(1)]],
      [freeze(true), [dirChanged]],
      [freeze(true), []],
      [send('alice', 'A', 'c2', 2), [error('room_busy')]],
      [join('bob', 'B'), [error('room_busy')]],
      [send('alice', 'A', 'c1', 3), [seqReply(1, true)]],
      [freeze(false), [dirChanged]],
      [freeze(false), []],
      [send('alice', 'A', 'c2', 4), [persist(msg(2, 'alice', 'A', 'c2', 4))]],
      [persisted(msg(2, 'alice', 'A', 'c2', 4)), [deliver(['A'], msg(2, 'alice', 'A', 'c2', 4)), seqReply(2)]],
    ],
    after: { lastSeq: 2, frozen: false, members: [m('alice', 'A')], version: 4 },
  },
  {
    name: 'leave while frozen is still allowed (people may always go)',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [freeze(true), [dirChanged]],
      [leave('alice', 'A'), [ok, left(['A'], 'alice', 'A'), dirChanged]],
    ],
    after: { frozen: true, members: [] },
  },
  {
    name: 'node-dead removes all its users, tells the surviving nodes only, one directory change',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [join('bob', 'B'), [replyJoin([m('alice', 'A'), m('bob', 'B')], 0, [], true), joined(['A', 'B'], 'bob', 'B'), dirChanged]],
      [join('carol', 'B'), [replyJoin([m('alice', 'A'), m('bob', 'B'), m('carol', 'B')], 0, [], true), joined(['A', 'B'], 'carol', 'B'), dirChanged]],
      [dead('B'), [left(['A'], 'bob', 'B'), left(['A'], 'carol', 'B'), dirChanged]],
      [dead('B'), []],
      [dead('Z'), []],
      [send('bob', 'B', 'late', 9), [error('not_member')]],
      [send('alice', 'A', 'a1', 10), [persist(msg(1, 'alice', 'A', 'a1', 10))]],
      [persisted(msg(1, 'alice', 'A', 'a1', 10)), [deliver(['A'], msg(1, 'alice', 'A', 'a1', 10)), seqReply(1)]],
    ],
    after: { members: [m('alice', 'A')], version: 5, lastSeq: 1 },
  },
  {
    name: 'node-dead of the last member node: member events to nobody, room empty',
    rows: [
      [join('bob', 'B'), [replyJoin([m('bob', 'B')], 0, [], true), joined(['B'], 'bob', 'B'), dirChanged]],
      [dead('B'), [left([], 'bob', 'B'), dirChanged]],
    ],
    after: { members: [] },
  },
  {
    name: 'join after messages: history and lastSeq in the reply',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [send('alice', 'A', 'a1', 1), [persist(msg(1, 'alice', 'A', 'a1', 1))]],
      [persisted(msg(1, 'alice', 'A', 'a1', 1)), [deliver(['A'], msg(1, 'alice', 'A', 'a1', 1)), seqReply(1)]],
      [send('alice', 'A', 'a2', 2), [persist(msg(2, 'alice', 'A', 'a2', 2))]],
      [persisted(msg(2, 'alice', 'A', 'a2', 2)), [deliver(['A'], msg(2, 'alice', 'A', 'a2', 2)), seqReply(2)]],
      [
        join('bob', 'B'),
        [
          replyJoin([m('alice', 'A'), m('bob', 'B')], 2, [msg(1, 'alice', 'A', 'a1', 1), msg(2, 'alice', 'A', 'a2', 2)], true),
          joined(['A', 'B'], 'bob', 'B'),
          dirChanged,
        ],
      ],
    ],
  },
  {
    name: 'log limit 2 keeps the last two messages; dedupe limit 2 forgets the oldest id (a resend of it is new)',
    limits: { logLimit: 2, dedupeLimit: 2 },
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [send('alice', 'A', 'c1', 1), [persist(msg(1, 'alice', 'A', 'c1', 1))]],
      [persisted(msg(1, 'alice', 'A', 'c1', 1)), [deliver(['A'], msg(1, 'alice', 'A', 'c1', 1)), seqReply(1)]],
      [send('alice', 'A', 'c2', 2), [persist(msg(2, 'alice', 'A', 'c2', 2))]],
      [persisted(msg(2, 'alice', 'A', 'c2', 2)), [deliver(['A'], msg(2, 'alice', 'A', 'c2', 2)), seqReply(2)]],
      [send('alice', 'A', 'c3', 3), [persist(msg(3, 'alice', 'A', 'c3', 3))]],
      [persisted(msg(3, 'alice', 'A', 'c3', 3)), [deliver(['A'], msg(3, 'alice', 'A', 'c3', 3)), seqReply(3)]],
      [send('alice', 'A', 'c3', 4), [seqReply(3, true)]],
      [send('alice', 'A', 'c1', 5), [persist(msg(4, 'alice', 'A', 'c1', 5))]],
      [persisted(msg(4, 'alice', 'A', 'c1', 5)), [deliver(['A'], msg(4, 'alice', 'A', 'c1', 5)), seqReply(4)]],
    ],
    after: { lastSeq: 4, logSeqs: [3, 4], dedupeSize: 2 },
  },
  {
    name: 'a send whose log write failed is never stepped as persisted: no seq used, the retry gets the same seq, fresh',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [send('alice', 'A', 'a1', 10), [persist(msg(1, 'alice', 'A', 'a1', 10))]],
      // (the write failed: the driver steps nothing more and answers the sender `internal`)
      [join('bob', 'B'), [replyJoin([m('alice', 'A'), m('bob', 'B')], 0, [], true), joined(['A', 'B'], 'bob', 'B'), dirChanged]],
      [send('alice', 'A', 'a1', 20), [persist(msg(1, 'alice', 'A', 'a1', 20))]],
      [persisted(msg(1, 'alice', 'A', 'a1', 20)), [deliver(['A', 'B'], msg(1, 'alice', 'A', 'a1', 20)), seqReply(1)]],
    ],
    after: { lastSeq: 1, logSeqs: [1], dedupeSize: 1 },
  },
  {
    name: 'persisted for anything but the next seq (a driver bug): internal, nothing delivered, nothing changes',
    rows: [
      [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
      [persisted(msg(2, 'alice', 'A', 'a1', 10)), [error('internal')]],
      [send('alice', 'A', 'a1', 10), [persist(msg(1, 'alice', 'A', 'a1', 10))]],
      [persisted(msg(1, 'alice', 'A', 'a1', 10)), [deliver(['A'], msg(1, 'alice', 'A', 'a1', 10)), seqReply(1)]],
      [persisted(msg(1, 'alice', 'A', 'a1', 10)), [error('internal')]],
    ],
    after: { lastSeq: 1, logSeqs: [1], dedupeSize: 1 },
  },
]

describe('room-ordering: a send whose log write fails', () => {
  const snapshot = (room: AdminRoom) => ({
    lastSeq: room.lastSeq,
    version: room.version,
    frozen: room.frozen,
    members: memberList(room),
    log: room.log.toArray(),
    dedupe: [...room.dedupe],
  })
  it('leaves the room as it was, with a full log ring too: nothing to serve, nothing to remember', () => {
    const limits = { logLimit: 2, dedupeLimit: 2 }
    const room = run(
      [
        [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
        [send('alice', 'A', 'a1', 1), [persist(msg(1, 'alice', 'A', 'a1', 1))]],
        [persisted(msg(1, 'alice', 'A', 'a1', 1)), [deliver(['A'], msg(1, 'alice', 'A', 'a1', 1)), seqReply(1)]],
        [send('alice', 'A', 'a2', 2), [persist(msg(2, 'alice', 'A', 'a2', 2))]],
        [persisted(msg(2, 'alice', 'A', 'a2', 2)), [deliver(['A'], msg(2, 'alice', 'A', 'a2', 2)), seqReply(2)]],
      ],
      fresh(),
      limits,
    )
    const before = snapshot(room)
    expect(stepRoom(room, send('alice', 'A', 'a3', 3), limits).effects).toEqual([persist(msg(3, 'alice', 'A', 'a3', 3))])
    expect(snapshot(room)).toEqual(before)
    expect(logRange(room, 1, 10).map((x) => x.seq)).toEqual([1, 2])
    expect(logBefore(room, undefined, 50).map((x) => x.seq)).toEqual([1, 2])
  })
})

describe('room-ordering: the resend memory of a room that was replicated here', () => {
  const committed = (message: ChatMessage): RoomInput => ({ type: 'committed', message })
  it('keeps none while messages come committed, and knows them from the log ring when an unreplicated send comes', () => {
    const limits = { logLimit: 3, dedupeLimit: 10 }
    const room = run(
      [
        [join('alice', 'A'), [replyJoin([m('alice', 'A')], 0, [], true), joined(['A'], 'alice', 'A'), dirChanged]],
        [committed(msg(1, 'alice', 'A', 'c1', 1)), [deliver(['A'], msg(1, 'alice', 'A', 'c1', 1))]],
        [committed(msg(2, 'alice', 'A', 'c2', 2)), [deliver(['A'], msg(2, 'alice', 'A', 'c2', 2))]],
        [committed(msg(3, 'alice', 'A', 'c3', 3)), [deliver(['A'], msg(3, 'alice', 'A', 'c3', 3))]],
        [committed(msg(4, 'alice', 'A', 'c4', 4)), [deliver(['A'], msg(4, 'alice', 'A', 'c4', 4))]],
      ],
      fresh(),
      limits,
    )
    // The replica core remembers these sends: the room keeps no second resend memory of them.
    expect(room.dedupe.size).toBe(0)
    // A resend of a message still in the ring (seqs 2-4) gets its seq back, nothing ordered again.
    expect(stepRoom(room, send('alice', 'A', 'c3', 5), limits).effects).toEqual([seqReply(3, true)])
    expect(room.dedupe.size).toBe(3)
    // One the ring no longer holds is a new message, as with a resend memory of that size.
    expect(stepRoom(room, send('alice', 'A', 'c1', 6), limits).effects).toEqual([persist(msg(5, 'alice', 'A', 'c1', 6))])
    // And sends from here on are remembered as every unreplicated send is.
    expect(stepRoom(room, persisted(msg(5, 'alice', 'A', 'c1', 6)), limits).effects).toEqual([deliver(['A'], msg(5, 'alice', 'A', 'c1', 6)), seqReply(5)])
    expect(stepRoom(room, send('alice', 'A', 'c1', 7), limits).effects).toEqual([seqReply(5, true)])
  })
})

describe('room-ordering: stepRoom tables', () => {
  it.each(scenarios)('$name', ({ rows, start, limits, after }) => {
    const room = run(rows, start ? start() : fresh(), limits)
    if (after?.lastSeq !== undefined) expect(room.lastSeq).toBe(after.lastSeq)
    if (after?.members !== undefined) expect(memberList(room)).toEqual(after.members)
    if (after?.version !== undefined) expect(room.version).toBe(after.version)
    if (after?.frozen !== undefined) expect(room.frozen).toBe(after.frozen)
    if (after?.logSeqs !== undefined) expect(room.log.toArray().map((x) => x.seq)).toEqual(after.logSeqs)
    if (after?.dedupeSize !== undefined) expect(room.dedupe.size).toBe(after.dedupeSize)
  })
})

describe('room-ordering: log queries', () => {
  function withLog(seqs: number[]): AdminRoom {
    const room = fresh()
    room.log = MessageRing.from(seqs.map((s) => msg(s, 'alice', 'A', `c${s}`, s)), 10_000)
    room.lastSeq = seqs.length ? seqs[seqs.length - 1] : 0
    return room
  }
  const cases: Array<{ name: string; log: number[]; q: ['range', number, number] | ['before', number | undefined, number]; expect: number[] }> = [
    { name: 'range inside the log', log: [1, 2, 3, 4, 5], q: ['range', 2, 4], expect: [2, 3, 4] },
    { name: 'range partly before a trimmed log', log: [4, 5, 6], q: ['range', 1, 5], expect: [4, 5] },
    { name: 'range past the end', log: [1, 2, 3], q: ['range', 3, 10], expect: [3] },
    { name: 'empty range (to < from)', log: [1, 2, 3], q: ['range', 3, 2], expect: [] },
    { name: 'range on an empty log', log: [], q: ['range', 1, 5], expect: [] },
    { name: 'range wholly before the log', log: [10, 11], q: ['range', 1, 5], expect: [] },
    { name: 'before: the newest `limit`', log: [1, 2, 3, 4, 5], q: ['before', undefined, 2], expect: [4, 5] },
    { name: 'before seq 4, limit 2', log: [1, 2, 3, 4, 5], q: ['before', 4, 2], expect: [2, 3] },
    { name: 'before seq 2, limit 50', log: [1, 2, 3], q: ['before', 2, 50], expect: [1] },
    { name: 'before seq 1: nothing', log: [1, 2, 3], q: ['before', 1, 50], expect: [] },
  ]
  it.each(cases)('$name', ({ log, q, expect: want }) => {
    const room = withLog(log)
    const got = q[0] === 'range' ? logRange(room, q[1], q[2]) : logBefore(room, q[1], q[2])
    expect(got.map((x) => x.seq)).toEqual(want)
  })
})

describe('room-ordering: the member list kept sorted as members come and go', () => {
  it('matches a fresh sort of the members after every join, leave and node death of a seeded sequence', () => {
    let seed = 42
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    }
    const users = ['ann', 'Ben', 'ben', 'carl', 'Émile', 'emile', 'zoë', 'al', 'Al', 'bob']
    const nodes = ['n1', 'n2', 'n3']
    const room = fresh()
    const sortedFresh = () => [...room.members.values()].sort((a, b) => a.user.localeCompare(b.user) || a.nodeId.localeCompare(b.nodeId))
    for (let step = 0; step < 600; step++) {
      const r = rand(10)
      const user = users[rand(users.length)]
      const nodeId = nodes[rand(nodes.length)]
      if (r < 6) stepRoom(room, { type: 'join', user, nodeId })
      else if (r < 9) stepRoom(room, { type: 'leave', user, nodeId })
      else stepRoom(room, { type: 'node-dead', nodeId })
      expect(memberList(room)).toEqual(sortedFresh())
    }
  })
})
