import { describe, expect, it, vi } from 'vitest'
import { ChatClient, type SocketLike } from '../../renderer/src/net/chat-client'
import { Session } from '../../renderer/src/net/session'
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

function setup(lastSeq = { value: 0 }) {
  const sockets: FakeSocket[] = []
  const timers: { fn: () => void; ms: number }[] = []
  const answer = (req: Record<string, unknown>) => {
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
  const session = new Session({ client, user: 'me' })
  return { sockets, timers, session, lastSeq }
}

const flush = () => new Promise((r) => setTimeout(r, 0))

describe('Session over a fake node', () => {
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

  it('reorders out-of-order message events before they reach the list', async () => {
    const { sockets, session } = setup()
    session.start()
    sockets[0].open()
    await flush()
    await session.join('r1')
    const ev = (seq: number) => ({ event: 'message', roomId: 'r1', seq, user: 'b', nodeId: 'B', text: `t${seq}`, sentAt: 1, clientMsgId: `c${seq}` })
    sockets[0].push(ev(2))
    sockets[0].push(ev(3))
    expect(session.getState().chat.rooms.r1.messages).toEqual([])
    sockets[0].push(ev(1))
    expect(session.getState().chat.rooms.r1.messages.map((m) => m.seq)).toEqual([1, 2, 3])
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
