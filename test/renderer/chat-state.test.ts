import { describe, expect, it } from 'vitest'
import type { ChatMessage, RoomInfo } from '../../proto/client-protocol'
import {
  chatReducer,
  initialChatState,
  mentionsSelf,
  roomsByAdmin,
  shouldNotify,
  timeline,
  totalUnread,
  unreadCount,
  type ChatAction,
  type ChatState,
} from '../../renderer/src/state/chat-state'

const room = (roomId: string, over: Partial<RoomInfo> = {}): RoomInfo => ({
  roomId,
  name: roomId,
  adminNodeId: 'A',
  adminNodeName: 'alpha',
  memberCount: 1,
  available: true,
  joined: false,
  createdBy: { user: 'x', nodeId: 'A' },
  ...over,
})
const msg = (roomId: string, seq: number, over: Partial<ChatMessage> = {}): ChatMessage => ({
  roomId,
  seq,
  user: 'bob',
  nodeId: 'B',
  text: `m${seq}`,
  sentAt: 1000 + seq,
  clientMsgId: `c${seq}`,
  ...over,
})
const run = (actions: ChatAction[], s: ChatState = initialChatState) => actions.reduce(chatReducer, s)

const joined = (roomId: string, lastSeq = 0): ChatAction => ({
  type: 'room.joined',
  room: room(roomId, { joined: true }),
  members: [{ user: 'me', nodeId: 'A' }],
  lastSeq,
  history: [],
})

describe('unread counts', () => {
  it('counts latest seq minus last read seq for rooms not in view', () => {
    const s = run([
      { type: 'hello', user: 'me', nodeId: 'A', nodeName: 'alpha' },
      { type: 'rooms.listed', rooms: [room('r1'), room('r2')] },
      joined('r1', 5),
      joined('r2'),
      { type: 'room.select', roomId: 'r2' },
      { type: 'message', message: msg('r1', 6) },
      { type: 'message', message: msg('r1', 7) },
      { type: 'message', message: msg('r2', 1) },
    ])
    // The 5 messages before joining are not unread; the two that came after are.
    expect(unreadCount(s.rooms.r1)).toBe(2)
    expect(unreadCount(s.rooms.r2)).toBe(0)
    expect(totalUnread(s)).toBe(2)
    const viewed = chatReducer(s, { type: 'room.select', roomId: 'r1' })
    expect(unreadCount(viewed.rooms.r1)).toBe(0)
  })

  it('does not mark the active room read while the window is hidden', () => {
    const s = run([
      { type: 'rooms.listed', rooms: [room('r1')] },
      joined('r1'),
      { type: 'room.select', roomId: 'r1' },
      { type: 'visibility', visible: false },
      { type: 'message', message: msg('r1', 1) },
    ])
    expect(unreadCount(s.rooms.r1)).toBe(1)
    expect(unreadCount(chatReducer(s, { type: 'visibility', visible: true }).rooms.r1)).toBe(0)
  })

  it('rooms not joined have no unread count', () => {
    const s = run([{ type: 'rooms.listed', rooms: [room('r1')] }])
    expect(unreadCount(s.rooms.r1)).toBe(0)
  })
})

describe('pending and sent messages', () => {
  const base = run([{ type: 'hello', user: 'me', nodeId: 'A', nodeName: 'alpha' }, joined('r1')])
  const pend: ChatAction = { type: 'send.pending', roomId: 'r1', clientMsgId: 'x1', text: 'hi', user: 'me', at: 5 }

  it('shows pending, then the seq, then the delivered message in its place', () => {
    let s = chatReducer(base, pend)
    expect(timeline(s.rooms.r1)).toEqual([{ kind: 'pending', pending: expect.objectContaining({ status: 'pending', text: 'hi' }) }])
    s = chatReducer(s, { type: 'send.acked', roomId: 'r1', clientMsgId: 'x1', seq: 1 })
    expect(s.rooms.r1.pending[0]).toMatchObject({ status: 'sent', seq: 1 })
    s = chatReducer(s, { type: 'message', message: msg('r1', 1, { user: 'me', nodeId: 'A', clientMsgId: 'x1', text: 'hi' }) })
    expect(s.rooms.r1.pending).toEqual([])
    expect(timeline(s.rooms.r1).map((i) => i.kind)).toEqual(['message'])
  })

  it('an ack that arrives after the message event changes nothing', () => {
    let s = chatReducer(base, pend)
    s = chatReducer(s, { type: 'message', message: msg('r1', 1, { clientMsgId: 'x1' }) })
    const after = chatReducer(s, { type: 'send.acked', roomId: 'r1', clientMsgId: 'x1', seq: 1 })
    expect(after).toBe(s)
  })

  it('a failed send keeps the text with the error, and can be dismissed', () => {
    let s = chatReducer(base, pend)
    s = chatReducer(s, { type: 'send.failed', roomId: 'r1', clientMsgId: 'x1', error: 'busy' })
    expect(s.rooms.r1.pending[0]).toMatchObject({ status: 'failed', error: 'busy', text: 'hi' })
    s = chatReducer(s, { type: 'pending.dismiss', roomId: 'r1', clientMsgId: 'x1' })
    expect(s.rooms.r1.pending).toEqual([])
  })
})

describe('messages', () => {
  it('keeps seq order and drops duplicates, history and live overlapping', () => {
    let s = run([{ type: 'rooms.listed', rooms: [room('r1')] }])
    s = chatReducer(s, {
      type: 'room.joined',
      room: room('r1', { joined: true }),
      members: [],
      lastSeq: 3,
      history: [msg('r1', 2), msg('r1', 3)],
    })
    s = run([{ type: 'message', message: msg('r1', 3) }, { type: 'message', message: msg('r1', 4) }], s)
    s = chatReducer(s, { type: 'message', message: msg('r1', 1) })
    expect(s.rooms.r1.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4])
  })

  it('appending 10,000 messages stays fast', () => {
    let s = run([joined('r1')])
    const t0 = performance.now()
    for (let i = 1; i <= 10_000; i++) s = chatReducer(s, { type: 'message', message: msg('r1', i) })
    expect(s.rooms.r1.messages).toHaveLength(10_000)
    expect(performance.now() - t0).toBeLessThan(3000)
  })

  it('flags possibly missed messages when a rejoin reports a later lastSeq', () => {
    let s = run([joined('r1'), { type: 'message', message: msg('r1', 1) }, { type: 'message', message: msg('r1', 2) }])
    s = chatReducer(s, joined('r1', 5))
    expect(s.rooms.r1.mayHaveMissed).toBe(true)
    expect(s.rooms.r1.latestSeq).toBe(5)
    // ...but not when history filled the hole.
    let t = run([joined('r1'), { type: 'message', message: msg('r1', 1) }])
    t = chatReducer(t, { ...(joined('r1', 3) as Extract<ChatAction, { type: 'room.joined' }>), history: [msg('r1', 2), msg('r1', 3)] })
    expect(t.rooms.r1.mayHaveMissed).toBe(false)
  })
})

describe('membership, availability, deletion', () => {
  it('tracks members joining and leaving with their node', () => {
    const s = run([
      joined('r1'),
      { type: 'member.joined', roomId: 'r1', user: 'bob', nodeId: 'B' },
      { type: 'member.joined', roomId: 'r1', user: 'bob', nodeId: 'B' },
      { type: 'member.left', roomId: 'r1', user: 'me', nodeId: 'A' },
    ])
    expect(s.rooms.r1.members).toEqual([{ user: 'bob', nodeId: 'B' }])
    expect(s.rooms.r1.info.memberCount).toBe(1)
  })

  it('leaving a room forgets its members, messages and pending sends (it reads as never joined), and keeps why it is unavailable', () => {
    const s = run([
      joined('r1', 3),
      { type: 'member.joined', roomId: 'r1', user: 'bob', nodeId: 'B' },
      { type: 'message', message: msg('r1', 4) },
      { type: 'room.unavailable', roomId: 'r1', reason: 'admin dead' },
      { type: 'room.left', roomId: 'r1' },
    ])
    const { info, unavailableReason, ...rest } = s.rooms.r1
    expect(info).toEqual(room('r1', { joined: false, available: false, memberCount: 2 }))
    expect(unavailableReason).toBe('admin dead')
    // Nothing else is left: no members, messages, pending sends, seqs, deletion or handover.
    expect(rest).toEqual({ joined: false, members: [], messages: [], pending: [], latestSeq: 0, lastReadSeq: 0, mayHaveMissed: false })
  })

  it('a large room: its first page of members with the room’s count, kept by members.count (client-protocol.md §5)', () => {
    const page = [{ user: 'a', nodeId: 'A' }, { user: 'b', nodeId: 'B' }]
    let s = run([{ type: 'room.joined', room: room('r1', { memberCount: 9_998 }), members: page, lastSeq: 0, history: [], memberCount: 10_000 }])
    expect(s.rooms.r1.members).toEqual(page)
    expect(s.rooms.r1.info.memberCount).toBe(10_000)
    s = chatReducer(s, { type: 'members.count', roomId: 'r1', memberCount: 10_250 })
    expect(s.rooms.r1.info.memberCount).toBe(10_250)
    expect(s.rooms.r1.members).toEqual(page)
    // Below the threshold again, joins and leaves come one by one: the count moves with them.
    s = chatReducer(s, { type: 'members.count', roomId: 'r1', memberCount: 400 })
    s = chatReducer(s, { type: 'member.joined', roomId: 'r1', user: 'c', nodeId: 'C' })
    s = chatReducer(s, { type: 'member.left', roomId: 'r1', user: 'a', nodeId: 'A' })
    expect(s.rooms.r1.info.memberCount).toBe(400)
    expect(s.rooms.r1.members.map((m) => m.user)).toEqual(['b', 'c'])
  })

  it('Show more: the next page of a large room is added after the members shown', () => {
    const page = [{ user: 'a', nodeId: 'A' }, { user: 'b', nodeId: 'B' }]
    let s = run([{ type: 'room.joined', room: room('r1'), members: page, lastSeq: 0, history: [], memberCount: 4 }])
    s = chatReducer(s, { type: 'room.members.page', roomId: 'r1', offset: 2, members: [{ user: 'c', nodeId: 'C' }, { user: 'd', nodeId: 'D' }], memberCount: 4 })
    expect(s.rooms.r1.members.map((m) => m.user)).toEqual(['a', 'b', 'c', 'd'])
    expect(s.rooms.r1.info.memberCount).toBe(4)
  })

  it('shows unavailable and available with notices', () => {
    let s = run([joined('r1'), { type: 'room.unavailable', roomId: 'r1', reason: 'admin dead' }])
    expect(s.rooms.r1.info.available).toBe(false)
    expect(s.rooms.r1.unavailableReason).toBe('admin dead')
    expect(s.notices.at(-1)?.text).toMatch(/unavailable/)
    s = chatReducer(s, { type: 'room.available', roomId: 'r1', reason: 'back' })
    expect(s.rooms.r1.info.available).toBe(true)
    expect(s.notices.at(-1)?.text).toMatch(/available again/)
  })

  it('a takeover (room.admin_changed) replaces the unavailable notice: the room is run by the new administrator', () => {
    let s = run([joined('r1'), { type: 'room.unavailable', roomId: 'r1', reason: 'admin dead' }])
    s = chatReducer(s, { type: 'room.admin_changed', roomId: 'r1', adminNodeId: 'B', adminNodeName: 'n2', term: 2, reason: 'n1 left' })
    expect(s.rooms.r1.info).toMatchObject({ adminNodeId: 'B', adminNodeName: 'n2', term: 2, available: true })
    expect(s.rooms.r1.unavailableReason).toBeUndefined()
    const forRoom = s.notices.filter((n) => n.roomId === 'r1')
    expect(forRoom.map((n) => n.text)).toEqual([`“${s.rooms.r1.info.name}” is now run by n2 (n1 left).`])
    // The cluster view draws the handover from the old administrator to the new one.
    expect(s.rooms.r1.handover).toMatchObject({ fromNodeId: s.rooms.r1.handover?.fromNodeId, toNodeId: 'B', toName: 'n2', term: 2, reason: 'n1 left' })
    expect(s.rooms.r1.handover?.fromNodeId).not.toBe('B')
    // The same administrator announced again (a later term) keeps the handover that made it so.
    const again = chatReducer(s, { type: 'room.admin_changed', roomId: 'r1', adminNodeId: 'B', adminNodeName: 'n2', term: 3, reason: 'elected' })
    expect(again.rooms.r1.handover?.term).toBe(2)
  })

  it('records the phases of a deletion, freezes on prepare, removes on room.deleted', () => {
    let s = run([
      joined('r1'),
      { type: 'room.select', roomId: 'r1' },
      { type: 'deletion', roomId: 'r1', phase: 'prepare', votes: { A: 'ready', B: 'pending' } },
    ])
    expect(s.rooms.r1.info.frozen).toBe(true)
    s = chatReducer(s, { type: 'deletion', roomId: 'r1', phase: 'commit', votes: { A: 'ready', B: 'ready' } })
    expect(s.rooms.r1.deletion?.phases).toEqual(['prepare', 'commit'])
    expect(s.rooms.r1.info.frozen).toBe(false)
    s = chatReducer(s, { type: 'room.deleted', roomId: 'r1' })
    expect(s.rooms.r1).toBeUndefined()
    expect(s.activeRoomId).toBeNull()
    // One notice per subject: the deletion's latest state replaced its earlier phases.
    expect(s.notices.map((n) => n.text)).toEqual(['Room “r1” was deleted.'])
    expect(s.deletedActive?.deletion?.phases).toEqual(['prepare', 'commit'])
  })

  it('remembers the open room that was deleted, with its phases, until another room is picked', () => {
    let s = run([
      joined('r1'),
      joined('r2'),
      { type: 'room.select', roomId: 'r1' },
      { type: 'deletion', roomId: 'r2', phase: 'prepare', votes: {} },
      { type: 'room.deleted', roomId: 'r2' },
    ])
    expect(s.deletedActive).toBeUndefined() // r2 was not open
    s = run(
      [
        { type: 'deletion', roomId: 'r1', phase: 'prepare', votes: { A: 'ready' } },
        { type: 'deletion', roomId: 'r1', phase: 'commit', votes: { A: 'ready', B: 'ready' } },
        { type: 'room.deleted', roomId: 'r1' },
      ],
      s,
    )
    expect(s.deletedActive?.name).toBe('r1')
    expect(s.deletedActive?.deletion?.phases).toEqual(['prepare', 'commit'])
    expect(s.deletedActive?.deletion?.votes).toEqual({ A: 'ready', B: 'ready' })
    s = run([joined('r3'), { type: 'room.select', roomId: 'r3' }], s)
    expect(s.deletedActive).toBeUndefined()
  })

  it('an aborted deletion unfreezes the room and says why', () => {
    const s = run([
      joined('r1'),
      { type: 'deletion', roomId: 'r1', phase: 'prepare', votes: {} },
      { type: 'deletion', roomId: 'r1', phase: 'abort', votes: { B: 'abort' }, reason: 'in flight' },
    ])
    expect(s.rooms.r1.info.frozen).toBe(false)
    expect(s.notices.at(-1)?.text).toMatch(/aborted: in flight/)
  })

  it('a joined room missing from a new directory listing is reported gone', () => {
    const s = run([joined('r1'), { type: 'room.select', roomId: 'r1' }, { type: 'rooms.listed', rooms: [] }])
    expect(s.rooms).toEqual({})
    expect(s.activeRoomId).toBeNull()
    expect(s.deletedActive).toEqual({ roomId: 'r1', name: 'r1', deletion: undefined })
    expect(s.notices.at(-1)?.text).toMatch(/no longer exists/)
  })
})

describe('derived views', () => {
  it('groups rooms by administrator node', () => {
    const s = run([
      {
        type: 'rooms.listed',
        rooms: [room('b', { adminNodeId: 'B', adminNodeName: 'beta' }), room('a2'), room('a1')],
      },
    ])
    expect(roomsByAdmin(s).map((g) => [g.adminNodeName, g.rooms.map((r) => r.info.roomId)])).toEqual([
      ['alpha', ['a1', 'a2']],
      ['beta', ['b']],
    ])
  })

  it('notifies only for others’ messages in rooms not in view', () => {
    const s = run([
      { type: 'hello', user: 'me', nodeId: 'A', nodeName: 'alpha' },
      joined('r1'),
      joined('r2'),
      { type: 'room.select', roomId: 'r1' },
    ])
    expect(shouldNotify(s, msg('r2', 1))).toBe(true)
    expect(shouldNotify(s, msg('r1', 1))).toBe(false)
    expect(shouldNotify(s, msg('r2', 1, { user: 'me', nodeId: 'A' }))).toBe(false)
    expect(shouldNotify(chatReducer(s, { type: 'visibility', visible: false }), msg('r1', 1))).toBe(true)
  })
})

describe('notices', () => {
  it('keeps one notice per subject: vote updates and phases of a deletion replace each other', () => {
    let s = run([
      joined('r1'),
      joined('r2'),
      { type: 'deletion', roomId: 'r1', phase: 'prepare', votes: { A: 'ready', B: 'pending' } },
      { type: 'deletion', roomId: 'r1', phase: 'prepare', votes: { A: 'ready', B: 'ready' } },
    ])
    expect(s.notices.map((n) => n.text)).toEqual(['Deleting “r1”: prepare (room frozen); votes A: ready, B: ready.'])
    s = run([{ type: 'deletion', roomId: 'r2', phase: 'prepare', votes: {} }, { type: 'deletion', roomId: 'r1', phase: 'commit', votes: { A: 'ready', B: 'ready' } }], s)
    expect(s.notices.map((n) => n.text)).toEqual(['Deleting “r2”: prepare (room frozen).', 'Deleting “r1”: commit; votes A: ready, B: ready.'])
  })

  it('replaces "unavailable" by "available again", and drops it when the room goes', () => {
    let s = run([joined('r1'), { type: 'room.unavailable', roomId: 'r1', reason: 'x' }, { type: 'room.unavailable', roomId: 'r1', reason: 'y' }])
    expect(s.notices.filter((n) => /unavailable/.test(n.text))).toHaveLength(1)
    s = chatReducer(s, { type: 'room.available', roomId: 'r1', reason: '' })
    expect(s.notices.map((n) => [n.kind, n.text])).toEqual([['info', 'Room “r1” is available again.']])
    s = run([{ type: 'room.unavailable', roomId: 'r1', reason: 'x' }, { type: 'room.deleted', roomId: 'r1' }], s)
    expect(s.notices.map((n) => n.text)).toEqual(['Room “r1” was deleted.'])
  })

  it('drops a "could not join" notice once the join works', () => {
    let s = run([{ type: 'rooms.listed', rooms: [room('r1')] }, { type: 'notice', kind: 'error', text: 'Could not join', key: 'join:r1' }])
    expect(s.notices).toHaveLength(1)
    s = run([joined('r1')], s)
    expect(s.notices).toHaveLength(0)
  })
})

describe('a send with an unknown outcome (waiting for the administrator)', () => {
  const base = run([{ type: 'rooms.listed', rooms: [room('r1')] }, joined('r1')])
  const pend: ChatAction = { type: 'send.pending', roomId: 'r1', clientMsgId: 'x1', text: 'hi', user: 'me', at: 5 }
  const uncertain: ChatAction = { type: 'send.uncertain', roomId: 'r1', clientMsgId: 'x1', error: 'unreachable' }

  it('stays in the list as waiting, goes back to pending when resent, then sent with its seq', () => {
    let s = run([pend, uncertain], base)
    expect(s.rooms.r1.pending[0]).toMatchObject({ status: 'waiting', text: 'hi', error: 'unreachable' })
    expect(timeline(s.rooms.r1)).toEqual([{ kind: 'pending', pending: expect.objectContaining({ status: 'waiting' }) }])
    s = chatReducer(s, { type: 'send.resending', roomId: 'r1', clientMsgId: 'x1' })
    expect(s.rooms.r1.pending[0]).toMatchObject({ status: 'pending', error: undefined })
    s = chatReducer(s, { type: 'send.acked', roomId: 'r1', clientMsgId: 'x1', seq: 4 })
    expect(s.rooms.r1.pending[0]).toMatchObject({ status: 'sent', seq: 4 })
  })

  it('the message event with its clientMsgId ends the wait, whatever happens to a resend afterwards', () => {
    let s = run([pend, uncertain], base)
    s = chatReducer(s, { type: 'message', message: msg('r1', 1, { clientMsgId: 'x1', user: 'me', nodeId: 'A', text: 'hi' }) })
    expect(s.rooms.r1.pending).toEqual([])
    expect(s.rooms.r1.messages.map((m) => m.text)).toEqual(['hi'])
    expect(run([{ type: 'send.resending', roomId: 'r1', clientMsgId: 'x1' }, uncertain], s)).toBe(s)
  })

  it('a late failure does not undo a seq that already came back', () => {
    const s = run([pend, { type: 'send.acked', roomId: 'r1', clientMsgId: 'x1', seq: 2 }], base)
    expect(chatReducer(s, uncertain)).toBe(s)
    expect(chatReducer(s, { type: 'send.failed', roomId: 'r1', clientMsgId: 'x1', error: 'x' })).toBe(s)
  })
})

describe('mentions', () => {
  it('a message from someone else that names you (@you) is a mention; your own never is', () => {
    const s = run([{ type: 'hello', user: 'ana', nodeId: 'A', nodeName: 'alpha' }])
    const m = (user: string, nodeId: string, text: string) => ({ roomId: 'r1', seq: 1, user, nodeId, text, sentAt: 1, clientMsgId: 'c' })
    expect(mentionsSelf(s, m('bob', 'B', 'hi @ana'))).toBe(true)
    expect(mentionsSelf(s, m('bob', 'B', 'hi @Ana!'))).toBe(true)
    expect(mentionsSelf(s, m('bob', 'B', 'hi @anna'))).toBe(false)
    expect(mentionsSelf(s, m('ana', 'A', 'note to self @ana'))).toBe(false)
    // The same name on another node is someone else.
    expect(mentionsSelf(s, m('ana', 'B', 'hello @ana'))).toBe(true)
  })
})
