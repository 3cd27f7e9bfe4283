import { afterEach, describe, expect, it, vi } from 'vitest'
import { ChatClient, type SocketLike } from '../../renderer/src/net/chat-client'
import { REJOIN_FIRST_MS, RESEND_WAITING_MS, Session } from '../../renderer/src/net/session'
import { ReconnectBackoff } from '../../renderer/src/state/backoff'

/** A scripted node behind a fake WebSocket: answers ops from a table and lets the test push events. */
class FakeSocket implements SocketLike {
  readyState = 0
  sent: Record<string, unknown>[] = []
  onopen: ((ev: unknown) => void) | null = null
  onclose: ((ev: unknown) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  constructor(private readonly answer: (req: Record<string, unknown>) => unknown) {}
  open() {
    this.readyState = 1
    this.onopen?.({})
  }
  send(data: string) {
    const req = JSON.parse(data) as Record<string, unknown>
    this.sent.push(req)
    const result = this.answer(req)
    queueMicrotask(() => {
      if (result instanceof Error) this.push({ id: req.id, ok: false, error: { code: result.message, message: 'from node' } })
      else this.push({ id: req.id, ok: true, result })
    })
  }
  push(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }
  close() {
    this.readyState = 3
    this.onclose?.({})
  }
}

const ROOM = { roomId: 'r1', name: 'general', adminNodeId: 'A', adminNodeName: 'alpha', memberCount: 1, available: true, joined: false, createdBy: 'x' }

/** `over` answers first when it returns something (an Error is an error reply). */
function setup(
  lastSeq = { value: 0 },
  over?: (req: Record<string, unknown>) => unknown,
  storage?: Pick<Storage, 'getItem' | 'setItem'>,
  notify?: (title: string, body: string, roomId: string) => void,
) {
  const sockets: FakeSocket[] = []
  const timers: { fn: () => void; ms: number }[] = []
  const answer = (req: Record<string, unknown>) => {
    const o = over?.(req)
    if (o !== undefined) return o
    switch (req.op) {
      case 'hello':
        return { nodeId: 'A', nodeName: 'alpha', user: req.user, protocol: 1 }
      case 'rooms.list':
        return { rooms: [ROOM] }
      case 'room.join':
        return { room: { ...ROOM, joined: true }, members: [{ user: 'me', nodeId: 'A' }], lastSeq: lastSeq.value, history: [] }
      case 'history.fetch':
        return new Error('not_found')
      case 'peers.list':
        return { self: { nodeId: 'A', name: 'alpha', address: '127.0.0.1:1' }, peers: [] }
      case 'room.delete':
        return new Error('room_busy')
      case 'message.send':
        return { seq: ++lastSeq.value }
      default:
        return {}
    }
  }
  const client = new ChatClient({
    url: 'ws://x/',
    createSocket: () => {
      const s = new FakeSocket(answer)
      sockets.push(s)
      return s
    },
    backoff: new ReconnectBackoff({ baseMs: 100, maxMs: 1000, jitter: 0 }),
    setTimer: (fn, ms) => {
      const t = { fn, ms }
      timers.push(t)
      return t
    },
    clearTimer: (t) => {
      const i = timers.indexOf(t as (typeof timers)[number])
      if (i >= 0) timers.splice(i, 1)
    },
  })
  const session = new Session({ client, user: 'me', storage, notify })
  return { sockets, timers, session, lastSeq }
}

const flush = () => new Promise((r) => setTimeout(r, 0))

describe('Session over a fake node', () => {
  it('rejoins the rooms the node remembers (hello.joinedRooms), selects the last room, and previews others', async () => {
    const ROOM2 = { ...ROOM, roomId: 'r2', name: 'second' }
    const ROOM3 = { ...ROOM, roomId: 'r3', name: 'later' }
    const stored = new Map<string, string>([['chat.lastRoom:A:me', 'r2']])
    const storage = { getItem: (k: string) => stored.get(k) ?? null, setItem: (k: string, v: string) => void stored.set(k, v) }
    const { sockets, session } = setup(
      undefined,
      (req) => {
        if (req.op === 'hello') return { nodeId: 'A', nodeName: 'alpha', user: 'me', protocol: 1, joinedRooms: ['r2', 'r3'] }
        if (req.op === 'rooms.list') return { rooms: [ROOM, ROOM2] }
        if (req.op === 'room.join') {
          const r = [ROOM, ROOM2, ROOM3].find((x) => x.roomId === req.roomId)!
          return { room: { ...r, joined: true }, members: [], lastSeq: 0, history: [] }
        }
        if (req.op === 'room.preview') return { room: ROOM, messages: [{ roomId: 'r1', seq: 7, user: 'b', nodeId: 'B', text: 'peek', sentAt: 1, clientMsgId: 'c' }] }
      },
      storage,
    )
    session.start()
    sockets[0].open()
    for (let i = 0; i < 5; i++) await flush()
    const st = session.getState().chat
    expect(sockets[0].sent.filter((f) => f.op === 'room.join').map((f) => f.roomId)).toEqual(['r2'])
    expect(st.rooms.r2.joined).toBe(true)
    expect(st.rooms.r1.joined).toBe(false)
    expect(st.activeRoomId).toBe('r2')
    // r3 was not gossiped yet: it is joined as soon as the directory learns of it.
    sockets[0].push({ event: 'room.created', room: ROOM3 })
    for (let i = 0; i < 3; i++) await flush()
    expect(session.getState().chat.rooms.r3.joined).toBe(true)
    // Selecting a room remembers it for the next page load.
    session.dispatch({ type: 'room.select', roomId: 'r1' })
    expect(stored.get('chat.lastRoom:A:me')).toBe('r1')
    await session.preview('r1')
    expect(session.getState().previews.r1).toMatchObject({ loading: false, messages: [{ text: 'peek' }] })
    expect(session.getState().chat.rooms.r1.joined).toBe(false)
    session.stop()
  })

  it('says hello first, lists rooms, joins, and shows a sent message pending then delivered', async () => {
    const { sockets, session, lastSeq } = setup()
    session.start()
    sockets[0].open()
    await flush()
    expect(sockets[0].sent.map((f) => f.op).slice(0, 2)).toEqual(['hello', 'rooms.list'])
    await session.join('r1')
    const sending = session.send('r1', 'hello')
    expect(session.getState().chat.rooms.r1.pending[0].status).toBe('pending')
    await sending
    expect(session.getState().chat.rooms.r1.pending[0]).toMatchObject({ status: 'sent', seq: 1 })
    const clientMsgId = sockets[0].sent.find((f) => f.op === 'message.send')!.clientMsgId
    sockets[0].push({ event: 'message', roomId: 'r1', seq: lastSeq.value, user: 'me', nodeId: 'A', text: 'hello', sentAt: 1, clientMsgId })
    expect(session.getState().chat.rooms.r1.pending).toEqual([])
    expect(session.getState().chat.rooms.r1.messages.map((m) => m.text)).toEqual(['hello'])
  })

  it('asks for batched deliveries in hello and shows a `messages` event as its messages, in order', async () => {
    const { sockets, session } = setup()
    session.start()
    sockets[0].open()
    await flush()
    expect(sockets[0].sent.find((f) => f.op === 'hello')).toMatchObject({ batch: true })
    await session.join('r1')
    const m = (seq: number) => ({ roomId: 'r1', seq, user: 'bob', nodeId: 'B', text: `t${seq}`, sentAt: seq, clientMsgId: `b${seq}` })
    sockets[0].push({ event: 'messages', roomId: 'r1', messages: [m(1), m(2), m(3)] })
    sockets[0].push({ event: 'message', ...m(4) })
    expect(session.getState().chat.rooms.r1.messages.map((x) => x.text)).toEqual(['t1', 't2', 't3', 't4'])
    session.stop()
  })

  it('notifies a message from a same-named user of another node, with that node next to the name', async () => {
    const notify = vi.fn()
    const { sockets, session } = setup(undefined, (req) => (req.op === 'peers.list' ? { self: { nodeId: 'A', name: 'alpha', address: '127.0.0.1:1' }, peers: [{ nodeId: 'B', name: 'beta', address: '127.0.0.1:2', state: 'alive', lastSeenMs: 0 }] } : undefined), undefined, notify)
    session.start()
    sockets[0].open()
    await flush()
    await session.refreshPeers()
    await session.join('r1')
    session.dispatch({ type: 'visibility', visible: false })
    // "me" on beta is someone else than me on alpha (client-protocol.md §7).
    sockets[0].push({ event: 'message', roomId: 'r1', seq: 1, user: 'me', nodeId: 'B', text: 'hi twin', sentAt: 1, clientMsgId: 'c1' })
    await flush()
    expect(notify).toHaveBeenCalledWith('me · beta in general', 'hi twin', 'r1')
    // My own message (me on alpha) is not notified.
    sockets[0].push({ event: 'message', roomId: 'r1', seq: 2, user: 'me', nodeId: 'A', text: 'mine', sentAt: 1, clientMsgId: 'c2' })
    await flush()
    expect(notify).toHaveBeenCalledTimes(1)
    session.stop()
  })

  it('messages that come while a join is answered follow its reply; a seq shown already is dropped; other rooms are ignored', async () => {
    const { sockets, session } = setup()
    session.start()
    sockets[0].open()
    await flush()
    const ev = (seq: number, roomId = 'r1') => ({ event: 'message', roomId, seq, user: 'b', nodeId: 'B', text: `t${seq}`, sentAt: 1, clientMsgId: `c${seq}` })
    const joining = session.join('r1')
    // The reply is on its way (its continuation has not run): the node's next messages are held.
    sockets[0].push(ev(1))
    sockets[0].push(ev(2))
    expect(session.getState().chat.rooms.r1.messages).toEqual([])
    await joining
    expect(session.getState().chat.rooms.r1.messages.map((m) => m.seq)).toEqual([1, 2])
    sockets[0].push(ev(2))
    sockets[0].push(ev(3))
    sockets[0].push(ev(1, 'not-joined'))
    expect(session.getState().chat.rooms.r1.messages.map((m) => m.seq)).toEqual([1, 2, 3])
    expect(session.getState().chat.notices.filter((n) => n.kind === 'warning')).toEqual([])
    session.stop()
  })

  it('on a dropped socket: fails in-flight requests, backs off, reconnects, re-hellos and rejoins', async () => {
    const { sockets, timers, session, lastSeq } = setup()
    const notify = vi.fn()
    session.subscribe(notify)
    session.start()
    sockets[0].open()
    await flush()
    await session.join('r1')
    sockets[0].push({ event: 'message', roomId: 'r1', seq: 1, user: 'b', nodeId: 'B', text: 'x', sentAt: 1, clientMsgId: 'c1' })
    lastSeq.value = 1

    sockets[0].close()
    expect(session.getState().connection).toMatchObject({ status: 'reconnecting', retryInMs: 100 })
    await expect(session.send('r1', 'lost?')).resolves.toBeUndefined()
    expect(session.getState().chat.rooms.r1.pending[0]).toMatchObject({ status: 'failed' })

    // First retry fails too: the delay doubles.
    timers.find((t) => t.ms === 100)!.fn()
    sockets[1].close()
    expect(session.getState().connection.retryInMs).toBe(200)

    // Meanwhile two messages were sent in the room.
    lastSeq.value = 3
    timers.find((t) => t.ms === 200)!.fn()
    sockets[2].open()
    await flush()
    await flush()
    await flush()
    const ops = sockets[2].sent.map((f) => f.op)
    expect(ops.slice(0, 3)).toEqual(['hello', 'rooms.list', 'room.join'])
    const st = session.getState()
    expect(st.connection).toMatchObject({ status: 'open', reconnectedMayHaveMissed: true })
    expect(st.chat.rooms.r1).toMatchObject({ joined: true, mayHaveMissed: true, latestSeq: 3 })
    // New messages continue after the rejoin's lastSeq.
    sockets[2].push({ event: 'message', roomId: 'r1', seq: 4, user: 'b', nodeId: 'B', text: 'y', sentAt: 1, clientMsgId: 'c4' })
    expect(session.getState().chat.rooms.r1.messages.map((m) => m.seq)).toEqual([1, 4])
    session.stop()
  })

  it('tries a failed rejoin again: at once when the room comes back, else after a delay; not after not_found', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const ROOM2 = { ...ROOM, roomId: 'r2', name: 'second' }
      const ROOM3 = { ...ROOM, roomId: 'r3', name: 'gone' }
      let refuse = true
      const { sockets, session } = setup(undefined, (req) => {
        if (req.op === 'hello') return { nodeId: 'A', nodeName: 'alpha', user: 'me', protocol: 1, joinedRooms: ['r1', 'r2', 'r3'] }
        if (req.op === 'rooms.list') return { rooms: [ROOM, ROOM2, ROOM3] }
        if (req.op === 'room.join' && req.roomId === 'r3') return new Error('not_found')
        if (req.op === 'room.join' && refuse) return new Error('room_unavailable')
        if (req.op === 'room.join') return { room: { ...[ROOM, ROOM2].find((x) => x.roomId === req.roomId)!, joined: true }, members: [], lastSeq: 0, history: [] }
      })
      const joins = (id: string) => sockets[0].sent.filter((f) => f.op === 'room.join' && f.roomId === id).length
      session.start()
      sockets[0].open()
      await vi.advanceTimersByTimeAsync(0)
      expect([joins('r1'), joins('r2'), joins('r3')]).toEqual([1, 1, 1])
      const notices = session.getState().chat.notices.map((n) => n.text)
      expect(notices).toContain('Could not rejoin “general” yet (trying again): The room\'s administrator node is unreachable; try again when it is back. (from node)')
      expect(notices.some((t) => t.startsWith('Could not rejoin “gone”:'))).toBe(true)
      // r1 comes back under a new administrator: rejoined at once.
      refuse = false
      sockets[0].push({ event: 'room.admin_changed', roomId: 'r1', adminNodeId: 'B', adminNodeName: 'beta', term: 2, reason: 'takeover' })
      await vi.advanceTimersByTimeAsync(0)
      expect(session.getState().chat.rooms.r1.joined).toBe(true)
      expect(joins('r2')).toBe(1)
      // r2 heard nothing: rejoined by the timer; r3 (not found) is never asked again.
      await vi.advanceTimersByTimeAsync(REJOIN_FIRST_MS)
      expect(session.getState().chat.rooms.r2.joined).toBe(true)
      expect(session.getState().chat.notices.some((n) => n.text.startsWith('Could not rejoin “general”'))).toBe(false)
      await vi.advanceTimersByTimeAsync(4 * REJOIN_FIRST_MS)
      expect([joins('r1'), joins('r2'), joins('r3')]).toEqual([2, 2, 1])
      expect(session.getState().chat.rooms.r3.joined).toBe(false)
      session.stop()
    } finally {
      vi.useRealTimers()
    }
  })

  it('after a reconnect, a room it was in whose rejoin failed is rejoined by the timer, and a message written meanwhile waits and then goes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      // The node refuses the rejoin once (it has just restarted and does not know the room's
      // administrator yet) and, like the real node, refuses a send from a connection not in the room.
      let refuse = false
      const inRoom = new Set<SocketLike>()
      let current: FakeSocket | undefined
      const { sockets, timers, session, lastSeq } = setup(undefined, (req) => {
        if (req.op === 'room.join' && refuse) {
          refuse = false
          return new Error('room_unavailable')
        }
        if (req.op === 'room.join') inRoom.add(current!)
        if (req.op === 'message.send' && !inRoom.has(current!)) return new Error('not_member')
      })
      session.start()
      current = sockets[0]
      sockets[0].open()
      await vi.advanceTimersByTimeAsync(0)
      await session.join('r1')
      expect(session.getState().chat.rooms.r1.joined).toBe(true)
      // The node restarts: the socket drops, the reconnect's rejoin is refused.
      refuse = true
      sockets[0].close()
      timers.find((t) => t.ms === 100)!.fn()
      current = sockets[1]
      sockets[1].open()
      await vi.advanceTimersByTimeAsync(0)
      const joins = () => sockets[1].sent.filter((f) => f.op === 'room.join').length
      expect(joins()).toBe(1)
      expect(session.getState().chat.notices.map((n) => n.text)).toContain(
        'Could not rejoin “general” yet (trying again): The room\'s administrator node is unreachable; try again when it is back. (from node)',
      )
      // The room is still the user's, and he writes in it before the rejoin went through: the
      // node says not_member; the message waits instead of failing.
      await session.send('r1', 'back again')
      expect(session.getState().chat.rooms.r1.pending).toMatchObject([{ text: 'back again', status: 'waiting' }])
      // The timer rejoins it, and the waiting message goes with the same clientMsgId.
      await vi.advanceTimersByTimeAsync(REJOIN_FIRST_MS)
      expect(joins()).toBe(2)
      const sends = sockets[1].sent.filter((f) => f.op === 'message.send')
      expect(sends).toHaveLength(2)
      expect(sends[1].clientMsgId).toBe(sends[0].clientMsgId)
      expect(session.getState().chat.rooms.r1.pending).toMatchObject([{ text: 'back again', status: 'sent', seq: lastSeq.value }])
      session.stop()
    } finally {
      vi.useRealTimers()
    }
  })

  it('after its node restarts, keeps a joined room the node does not list yet and rejoins it when the node learns of it', async () => {
    const ROOM2 = { ...ROOM, roomId: 'r2', name: 'second' }
    let listed = [ROOM, ROOM2]
    const { sockets, timers, session } = setup(undefined, (req) => {
      if (req.op === 'rooms.list') return { rooms: listed }
      if (req.op === 'room.join' && !listed.some((r) => r.roomId === req.roomId)) return new Error('not_found')
      if (req.op === 'room.join') return { room: { ...listed.find((r) => r.roomId === req.roomId)!, joined: true }, members: [], lastSeq: 0, history: [] }
    })
    session.start()
    sockets[0].open()
    await flush()
    await session.join('r1')
    await session.join('r2')
    // The node restarts and knows only its own room r1 at first (r2 comes later by gossip).
    listed = [ROOM]
    sockets[0].close()
    timers.find((t) => t.ms === 100)!.fn()
    sockets[1].open()
    for (let i = 0; i < 5; i++) await flush()
    const st = session.getState().chat
    expect(st.notices.map((n) => n.text).filter((t) => t.includes('no longer exists'))).toEqual([])
    expect(st.rooms.r2).toMatchObject({ joined: true, info: { available: false } })
    // Not asked before the node lists it (a not_found would make the node forget the user's room).
    expect(sockets[1].sent.filter((f) => f.op === 'room.join').map((f) => f.roomId)).toEqual(['r1'])
    listed = [ROOM, ROOM2]
    sockets[1].push({ event: 'room.created', room: ROOM2 })
    for (let i = 0; i < 3; i++) await flush()
    expect(sockets[1].sent.filter((f) => f.op === 'room.join').map((f) => f.roomId)).toEqual(['r1', 'r2'])
    expect(session.getState().chat.rooms.r2).toMatchObject({ joined: true, info: { available: true } })
    session.stop()
  })

  it('maps error replies to readable notices and ignores garbage frames', async () => {
    const { sockets, session } = setup()
    session.start()
    sockets[0].open()
    await flush()
    sockets[0].onmessage?.({ data: 'not json' })
    await session.deleteRoom('r1')
    const texts = session.getState().chat.notices.map((n) => n.text)
    expect(texts).toEqual(['Could not delete “general”: The room is frozen while its deletion is being decided. (from node)'])
    session.stop()
  })
})

describe('a send whose outcome is unknown (the administrator paused or died while it was in flight)', () => {
  const sends = (s: FakeSocket) => s.sent.filter((f) => f.op === 'message.send')
  const ev = (seq: number, clientMsgId: string, text = 'hi') => ({ event: 'message', roomId: 'r1', seq, user: 'me', nodeId: 'A', text, sentAt: 1, clientMsgId })

  /** The first message.send fails with `code`; later ones are ordered. */
  async function started(code: string) {
    let failed = false
    const env = setup({ value: 0 }, (req) => {
      if (req.op === 'message.send' && !failed) {
        failed = true
        return new Error(code)
      }
      return undefined
    })
    env.session.start()
    env.sockets[0].open()
    await flush()
    await env.session.join('r1')
    return env
  }

  it('room_unavailable for a room that looked available: waits, then resends the same clientMsgId on room.available', async () => {
    const { sockets, session } = await started('room_unavailable')
    await session.send('r1', 'hi')
    const p = session.getState().chat.rooms.r1.pending[0]
    expect(p).toMatchObject({ status: 'waiting', text: 'hi' })
    expect(p.error).toContain("administrator node is unreachable")
    // The node then says the room is unavailable: nothing is resent while it is.
    sockets[0].push({ event: 'room.unavailable', roomId: 'r1', reason: 'administrator alpha is unreachable' })
    await flush()
    expect(sends(sockets[0])).toHaveLength(1)
    expect(session.getState().chat.rooms.r1.pending[0].status).toBe('waiting')

    sockets[0].push({ event: 'room.available', roomId: 'r1', reason: 'administrator alpha is back' })
    expect(session.getState().chat.rooms.r1.pending[0].status).toBe('pending')
    await flush()
    const [first, second] = sends(sockets[0])
    expect(second).toMatchObject({ roomId: 'r1', text: 'hi', clientMsgId: first.clientMsgId })
    expect(session.getState().chat.rooms.r1.pending[0]).toMatchObject({ status: 'sent', seq: 1 })
    sockets[0].push(ev(1, first.clientMsgId as string))
    expect(session.getState().chat.rooms.r1.pending).toEqual([])
    expect(session.getState().chat.rooms.r1.messages.map((m) => m.seq)).toEqual([1])
    session.stop()
  })

  it('becomes sent when the administrator orders it anyway, and is not resent afterwards', async () => {
    const { sockets, session } = await started('timeout')
    await session.send('r1', 'hi')
    expect(session.getState().chat.rooms.r1.pending[0].status).toBe('waiting')
    const id = sends(sockets[0])[0].clientMsgId as string
    // The administrator resumed and ordered it: the message event carries our clientMsgId.
    sockets[0].push(ev(1, id))
    expect(session.getState().chat.rooms.r1.pending).toEqual([])
    expect(session.getState().chat.rooms.r1.messages).toMatchObject([{ seq: 1, clientMsgId: id }])
    sockets[0].push({ event: 'room.available', roomId: 'r1', reason: 'back' })
    await flush()
    expect(sends(sockets[0])).toHaveLength(1)
    session.stop()
  })

  it('is resent with the same clientMsgId after a reconnect', async () => {
    const { sockets, timers, session } = await started('room_unavailable')
    await session.send('r1', 'hi')
    const id = sends(sockets[0])[0].clientMsgId
    sockets[0].close()
    timers.find((t) => t.ms === 100)!.fn()
    sockets[1].open()
    for (let i = 0; i < 5; i++) await flush()
    expect(sockets[1].sent.map((f) => f.op).slice(0, 3)).toEqual(['hello', 'rooms.list', 'room.join'])
    expect(sends(sockets[1])).toMatchObject([{ clientMsgId: id, text: 'hi' }])
    expect(session.getState().chat.rooms.r1.pending[0]).toMatchObject({ status: 'sent', seq: 1 })
    session.stop()
  })

  it('keeps Retry / Discard when the room was already shown unavailable (refused up front) and for other errors', async () => {
    const a = await started('room_unavailable')
    a.sockets[0].push({ event: 'room.unavailable', roomId: 'r1', reason: 'administrator alpha is unreachable' })
    await a.session.send('r1', 'hi')
    expect(a.session.getState().chat.rooms.r1.pending[0]).toMatchObject({ status: 'failed' })
    a.sockets[0].push({ event: 'room.available', roomId: 'r1', reason: 'back' })
    await flush()
    expect(sends(a.sockets[0])).toHaveLength(1) // not resent by itself
    a.session.stop()

    const b = await started('not_member')
    await b.session.send('r1', 'hi')
    expect(b.session.getState().chat.rooms.r1.pending[0]).toMatchObject({ status: 'failed' })
    b.session.stop()
  })

  it('a failed resend goes back to waiting; a resend refused for another reason becomes failed', async () => {
    let n = 0
    const env = setup({ value: 0 }, (req) => {
      if (req.op !== 'message.send') return undefined
      n++
      return n === 1 ? new Error('timeout') : n === 2 ? new Error('room_unavailable') : new Error('not_found')
    })
    env.session.start()
    env.sockets[0].open()
    await flush()
    await env.session.join('r1')
    await env.session.send('r1', 'hi')
    env.sockets[0].push({ event: 'room.available', roomId: 'r1', reason: 'back' })
    await flush()
    expect(env.session.getState().chat.rooms.r1.pending[0].status).toBe('waiting')
    env.sockets[0].push({ event: 'room.available', roomId: 'r1', reason: 'back' })
    await flush()
    expect(env.session.getState().chat.rooms.r1.pending[0]).toMatchObject({ status: 'failed' })
    expect(new Set(sends(env.sockets[0]).map((f) => f.clientMsgId)).size).toBe(1)
    env.session.stop()
  })
})

describe('with a clock', () => {
  afterEach(() => {
    vi.useRealTimers()
  })
  const microFlush = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve()
  }
  const ev = (seq: number) => ({ event: 'message', roomId: 'r1', seq, user: 'b', nodeId: 'B', text: `t${seq}`, sentAt: 1, clientMsgId: `c${seq}` })

  async function started(over?: (req: Record<string, unknown>) => unknown) {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const env = setup({ value: 0 }, over)
    env.session.start()
    env.sockets[0].open()
    await microFlush()
    await env.session.join('r1')
    return env
  }

  it('summarises a jump after the administrator restarted as one range, and says why', async () => {
    const { sockets, session } = await started()
    sockets[0].push(ev(1))
    sockets[0].push(ev(2))
    sockets[0].push(ev(3))
    sockets[0].push({ event: 'room.unavailable', roomId: 'r1', reason: 'administrator alpha is unreachable' })
    sockets[0].push({ event: 'room.available', roomId: 'r1', reason: 'administrator alpha is back' })
    sockets[0].push(ev(66))
    // The node hands messages out in order: nothing to wait for, the jump is shown and said at once.
    expect(session.getState().chat.rooms.r1.messages.map((m) => m.seq)).toEqual([1, 2, 3, 66])
    const warning = session.getState().chat.notices.find((n) => n.kind === 'warning' && n.text.startsWith('Some messages'))
    expect(warning?.text).toBe(
      'Some messages did not arrive in “general”: seq 4–65 (up to 62 messages). The administrator restarted; messages it had not saved are gone.',
    )
    session.stop()
  })

  it('a gap with no restart before it lists every hole as ranges, without blaming a restart', async () => {
    const { sockets, session } = await started()
    sockets[0].push({ event: 'room.available', roomId: 'r1', reason: 'back' })
    sockets[0].push(ev(1)) // in order after the room came back: it was a pause, nothing lost
    sockets[0].push(ev(4))
    sockets[0].push(ev(6))
    expect(session.getState().chat.rooms.r1.messages.map((m) => m.seq)).toEqual([1, 4, 6])
    expect(session.getState().chat.notices.map((n) => n.text)).toContain('Some messages did not arrive in “general”: seq 2–3, 5 (3 messages).')
    session.stop()
  })

  it('tries a waiting message again on its own when no room.available comes (a timeout while the room looked fine)', async () => {
    let n = 0
    const { sockets, session } = await started((req) => (req.op === 'message.send' && n++ === 0 ? new Error('timeout') : undefined))
    await session.send('r1', 'hi')
    expect(session.getState().chat.rooms.r1.pending[0].status).toBe('waiting')
    await vi.advanceTimersByTimeAsync(RESEND_WAITING_MS)
    const sent = sockets[0].sent.filter((f) => f.op === 'message.send')
    expect(sent).toHaveLength(2)
    expect(sent[1].clientMsgId).toBe(sent[0].clientMsgId)
    expect(session.getState().chat.rooms.r1.pending[0]).toMatchObject({ status: 'sent', seq: 1 })
    session.stop()
  })

  it('does not retry on its own while the room is unavailable', async () => {
    const { sockets, session } = await started((req) => (req.op === 'message.send' ? new Error('room_unavailable') : undefined))
    await session.send('r1', 'hi')
    sockets[0].push({ event: 'room.unavailable', roomId: 'r1', reason: 'administrator alpha is unreachable' })
    await vi.advanceTimersByTimeAsync(RESEND_WAITING_MS * 3)
    expect(sockets[0].sent.filter((f) => f.op === 'message.send')).toHaveLength(1)
    expect(session.getState().chat.rooms.r1.pending[0].status).toBe('waiting')
    session.stop()
  })
})

describe("the teacher's faults (node.faults)", () => {
  it('shows what the reply says, and leaves the state as it was when the node refuses', async () => {
    let allow = true
    const { sockets, session } = setup(undefined, (req) => {
      if (req.op !== 'node.faults') return undefined
      if (!allow) return new Error('forbidden')
      return { voteAbort: req.voteAbort ?? false, pauseBeforeDecisionMs: 0, partitionedFrom: ((req.partition as string[]) ?? []).map((p) => `name-of-${p}`) }
    })
    session.start()
    sockets[0].open()
    await flush()
    await session.loadFaults()
    expect(session.getState().faults).toEqual({ voteAbort: false, pauseBeforeDecisionMs: 0, partitionedFrom: [] })
    await session.setFaults({ partition: ['B'] })
    expect(sockets[0].sent.at(-1)).toMatchObject({ op: 'node.faults', partition: ['B'] })
    // The node's answer (names), not what was asked for (ids).
    expect(session.getState().faults?.partitionedFrom).toEqual(['name-of-B'])
    allow = false
    await expect(session.setFaults({ voteAbort: true })).rejects.toMatchObject({ code: 'forbidden' })
    expect(session.getState().faults?.partitionedFrom).toEqual(['name-of-B'])
    session.stop()
  })
})

describe('Add peer in Settings (docs/security.md, "Joining a cluster: invites")', () => {
  it('sends an invite as `invite` (the node may adopt its key) and a plain address as `address`', async () => {
    const peer = (address: string) => ({ nodeId: `id-${address}`, name: `n-${address}`, address, state: 'alive', lastSeenMs: 0 })
    const { sockets, session } = setup(undefined, (req) => {
      if (req.op !== 'peers.add') return undefined
      if (req.address === '10.0.0.9:50051') return new Error('unreachable')
      return { peer: peer(((req.invite as string | undefined)?.slice('dsg1://'.length).split('/')[0] ?? req.address) as string) }
    })
    session.start()
    sockets[0].open()
    await flush()
    const lastAdd = () => sockets[0].sent.filter((f) => f.op === 'peers.add').at(-1)
    const invite = 'dsg1://192.168.1.20:50051/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde'
    await session.addPeer(`  ${invite} `)
    expect(lastAdd()).toEqual({ id: expect.anything(), op: 'peers.add', invite })
    await session.addPeer('127.0.0.1:50052')
    expect(lastAdd()).toEqual({ id: expect.anything(), op: 'peers.add', address: '127.0.0.1:50052' })
    expect(session.getState().peers.peers.map((p) => p.address)).toEqual(['192.168.1.20:50051', '127.0.0.1:50052'])
    // A refusal reaches the form with its code; nothing is added.
    await expect(session.addPeer('10.0.0.9:50051')).rejects.toMatchObject({ code: 'unreachable' })
    expect(session.getState().peers.peers).toHaveLength(2)
    session.stop()
  })
})

describe('link counters (node.stats)', () => {
  it('keeps the last reply, sends no second poll while one is waiting, and stays quiet when one fails', async () => {
    let fail = false
    let frames = 0
    const { sockets, session } = setup(undefined, (req) => {
      if (req.op !== 'node.stats') return undefined
      if (fail) return new Error('internal')
      frames += 2
      return { uptimeMs: 5, links: [{ nodeId: 'B', name: 'beta', up: true, framesSent: frames, messagesSent: 10 * frames, queued: 0 }] }
    })
    session.start()
    sockets[0].open()
    await flush()
    await Promise.all([session.loadStats(), session.loadStats()])
    expect(sockets[0].sent.filter((f) => f.op === 'node.stats')).toHaveLength(1)
    expect(session.getState().stats?.links[0]).toMatchObject({ framesSent: 2, messagesSent: 20 })
    fail = true
    await session.loadStats()
    expect(session.getState().stats?.links[0].framesSent).toBe(2)
    expect(session.getState().chat.notices).toEqual([])
    fail = false
    await session.loadStats()
    expect(session.getState().stats?.links[0].framesSent).toBe(4)
    session.stop()
  })
})
