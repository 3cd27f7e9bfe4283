// The client gateway of one real node (docs/client-protocol.md §2–§5):
// the node runs as its own process (main/cli.ts) and this file talks to it only over HTTP and
// WebSocket, as any client would.
import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RoomInfo } from '../../proto/client-protocol'
import { Client, cleanup, startNode, stopNode, type NodeProc, type Ready } from '../helpers/cluster'

let node: NodeProc
let r: Ready
let port: number
let lobby: RoomInfo
/** Two long-lived clients in the lobby: they must keep chatting whatever anyone else sends. */
let watcherA: Client
let watcherB: Client

beforeAll(async () => {
  node = await startNode({ name: 'gw1' })
  r = node.ready
  port = Number(new URL(r.ws).port)
  watcherA = await Client.as(r, 'watcher-a')
  watcherB = await Client.as(r, 'watcher-b')
  const { rooms } = await watcherA.call('rooms.list')
  lobby = rooms.find((x) => x.adminNodeId === r.nodeId)!
  await watcherA.call('room.join', { roomId: lobby.roomId })
  await watcherB.call('room.join', { roomId: lobby.roomId })
})

afterAll(cleanup)

let uniq = 0
const unique = (p: string) => `${p}-${process.pid}-${++uniq}-${randomBytes(3).toString('hex')}`

/** `from` sends one message to `roomId`; `to` (joined too) must receive exactly that message. */
async function chats(from: Client, to: Client, roomId = lobby.roomId): Promise<void> {
  const text = unique('still chatting')
  const { seq } = await from.call('message.send', { roomId, text, clientMsgId: unique('cm') })
  expect(seq).toBeGreaterThan(0)
  const got = await to.event('message', (e) => e.roomId === roomId && e.text === text, 10_000)
  expect(got.seq).toBe(seq)
}

/** The node still serves everyone else: both watchers chat, each way. */
async function othersStillChat(): Promise<void> {
  await chats(watcherA, watcherB)
  await chats(watcherB, watcherA)
}

/** The next error frame with `id: null` this client gets after `since` frames. */
function nullIdError(c: Client, since: number) {
  return c.until(
    () => c.frames.slice(since).find((f) => (f as { id?: unknown }).id === null && (f as { ok?: unknown }).ok === false) as
      | { id: null; ok: false; error: { code: string; message: string } }
      | undefined,
    10_000,
    'an id:null error reply',
  )
}

/** The status of a WebSocket upgrade attempt: 101 when it opens, else the HTTP status of the refusal. */
function upgradeStatus(path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        ...headers,
      },
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve(res.statusCode ?? 0)
    })
    req.on('response', (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('no answer to the upgrade request')))
    req.end()
  })
}

/** Connect with the `ws` client itself; resolves 'open' or the refusal's HTTP status. */
function wsConnect(url: string, headers?: Record<string, string>): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    ws.once('open', () => {
      ws.close()
      resolve('open')
    })
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      ws.terminate()
    })
    ws.once('error', (e) => reject(e))
  })
}

const tokenPath = (t: string) => `/?token=${encodeURIComponent(t)}`

// ---------------------------------------------------------------------------------------------

describe('connecting (section 2): refusals happen before the upgrade', () => {
  it.each([
    { name: 'no token', path: '/', headers: {}, status: 401 },
    { name: 'empty token', path: '/?token=', headers: {}, status: 401 },
    { name: 'wrong token', path: tokenPath('not-the-token'), headers: {}, status: 401 },
    { name: 'token with one character changed', path: 'flip', headers: {}, status: 401 },
    { name: 'token as a prefix', path: 'prefix', headers: {}, status: 401 },
    { name: 'foreign Origin', path: 'good', headers: { Origin: 'http://evil.example' }, status: 403 },
    { name: 'Origin "null" (sandboxed page)', path: 'good', headers: { Origin: 'null' }, status: 403 },
    { name: 'Host of another name (DNS rebinding)', path: 'good', headers: { Host: 'evil.example:PORT' }, status: 403 },
    { name: 'Host of another name, no port', path: 'good', headers: { Host: 'evil.example' }, status: 403 },
    { name: 'Host on another port', path: 'good', headers: { Host: '127.0.0.1:OTHER' }, status: 403 },
    { name: 'rebinding Host plus the matching Origin', path: 'good', headers: { Host: 'evil.example:PORT', Origin: 'http://evil.example:PORT' }, status: 403 },
    { name: 'no Origin (a program), right token', path: 'good', headers: {}, status: 101 },
    { name: 'same-origin Origin, right token', path: 'good', headers: { Origin: 'http://127.0.0.1:PORT' }, status: 101 },
    { name: 'Host localhost:PORT with its own Origin', path: 'good', headers: { Host: 'localhost:PORT', Origin: 'http://localhost:PORT' }, status: 101 },
  ])('$name -> $status', async ({ path, headers, status }) => {
    const p =
      path === 'good' ? tokenPath(r.token)
      : path === 'flip' ? tokenPath(r.token.slice(0, -1) + (r.token.endsWith('a') ? 'b' : 'a'))
      : path === 'prefix' ? tokenPath(r.token.slice(0, -1))
      : path
    const h = Object.fromEntries(
      Object.entries(headers).map(([k, v]) => [k, v.replace('OTHER', String(port === 65535 ? 1 : port + 1)).replace('PORT', String(port))]),
    )
    expect(await upgradeStatus(p, h)).toBe(status)
  })

  it('the ws client library sees the same: 401 for a wrong token, 403 for a rebinding Host or foreign Origin', async () => {
    expect(await wsConnect(`${r.ws}/?token=wrong`)).toBe(401)
    expect(await wsConnect(`${r.ws}/`)).toBe(401)
    expect(await wsConnect(`${r.ws}/?token=${r.token}`, { Host: `evil.example:${port}` })).toBe(403)
    expect(await wsConnect(`${r.ws}/?token=${r.token}`, { Origin: 'https://evil.example' })).toBe(403)
    expect(await wsConnect(`${r.ws}/?token=${r.token}`, { Origin: `http://127.0.0.1:${port}` })).toBe('open')
    expect(await wsConnect(`${r.ws}/?token=${r.token}`)).toBe('open')
  })

  it('plain HTTP with a rebinding Host is refused too (403), and the node keeps serving', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', headers: { Host: `evil.example:${port}` } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(403)
    await othersStillChat()
  })
})

describe('hello first (section 4)', () => {
  it('every op before hello is unauthorized; hello then works and trims the user', async () => {
    const c = await Client.connect(r)
    for (const [op, params] of [
      ['rooms.list', {}],
      ['room.create', { name: 'early' }],
      ['room.join', { roomId: lobby.roomId }],
      ['message.send', { roomId: lobby.roomId, text: 'hi', clientMsgId: 'x' }],
      ['peers.list', {}],
      ['history.fetch', { roomId: lobby.roomId }],
    ] as const) {
      const f = await c.reply(op, params)
      expect(f.ok, op).toBe(false)
      expect(f.error?.code, op).toBe('unauthorized')
      expect(f.error?.message.length, op).toBeGreaterThan(0)
    }
    // Nothing of the lobby's traffic reaches a client that has not said hello.
    const hello = await c.call('hello', { user: '  carol  ' })
    expect(hello).toEqual({ nodeId: r.nodeId, nodeName: 'gw1', user: 'carol', protocol: 1, joinedRooms: [], batch: false, largeRooms: false })
    expect((await c.call('rooms.list')).rooms.length).toBeGreaterThanOrEqual(1)
    c.close()
  })

  it('a client that has not said hello gets no events', async () => {
    const silent = await Client.connect(r)
    await chats(watcherA, watcherB)
    await watcherA.call('room.create', { name: unique('unseen') })
    await new Promise((res) => setTimeout(res, 300))
    expect(silent.events).toEqual([])
    silent.close()
  })

  it('hello {largeRooms: true} is acknowledged; room.join gives memberCount and room.members pages (client-protocol.md §5, "Large rooms")', async () => {
    const c = await Client.connect(r)
    expect(await c.call('hello', { user: 'lara', batch: true, largeRooms: true })).toMatchObject({ batch: true, largeRooms: true })
    const { room } = await c.call('room.create', { name: unique('paged') })
    const joined = await c.call('room.join', { roomId: room.roomId })
    expect(joined).toMatchObject({ members: [{ user: 'lara', nodeId: r.nodeId }], memberCount: 1 })
    expect(await c.call('room.members', { roomId: room.roomId, offset: 1, limit: 10 })).toEqual({ members: [], memberCount: 1 })
    expect(await c.fails('room.members', { roomId: room.roomId, limit: 501 })).toBe('bad_request')
    c.close()
  })

  it('the name of default rooms\' creator, "system", is reserved: nobody can pose as it to delete them', async () => {
    const c = await Client.connect(r)
    expect(await c.fails('hello', { user: 'System' })).toBe('bad_request')
    expect(await c.fails('rooms.list')).toBe('unauthorized')
    c.close()
  })

  it('a second hello on one connection: conflict, whatever the name; the user is unchanged', async () => {
    const c = await Client.as(r, 'dave')
    await c.call('room.join', { roomId: lobby.roomId })
    expect(await c.fails('hello', { user: 'not-dave' })).toBe('conflict')
    expect(await c.fails('hello', { user: 'dave' })).toBe('conflict')
    const fresh = await Client.as(r, 'fresh-dave')
    expect(await fresh.fails('hello', { user: 'mallory' })).toBe('conflict')
    await c.call('message.send', { roomId: lobby.roomId, text: 'still dave', clientMsgId: 'dave-still' })
    const m = await c.until(() => c.messages(lobby.roomId).find((x) => x.clientMsgId === 'dave-still'))
    expect(m.user).toBe('dave')
    c.close()
    fresh.close()
  })

  it.each([
    ['invisible only (32 zero-width spaces)', '\u200b'.repeat(32)],
    ['a bidi override, NUL and a newline', 'ad\u202emin\u0000\n'],
    ['a bidi isolate', 'eve\u2066'],
    ['a control character', 'bell\u0007'],
    ['only a Hangul filler', '\u3164'],
  ])('hello with a name that is %s: bad_request', async (_what, user) => {
    const c = await Client.connect(r)
    expect(await c.fails('hello', { user })).toBe('bad_request')
    expect(await c.fails('rooms.list')).toBe('unauthorized')
    c.close()
  })

  it('names are NFC-normalised and trimmed: "  Zoe\u0301 " is "Zoé"', async () => {
    const c = await Client.connect(r)
    expect((await c.call('hello', { user: '  Zoe\u0301 ' })).user).toBe('Zo\u00e9')
    c.close()
  })
})

describe('ops and events on one node (sections 4 and 5)', () => {
  it('rooms.list: the default room exists, administered by this node', async () => {
    const c = await Client.as(r, 'erin')
    const { rooms } = await c.call('rooms.list')
    const mine = rooms.filter((x) => x.adminNodeId === r.nodeId)
    expect(mine.length).toBeGreaterThanOrEqual(1)
    const def = mine.find((x) => x.roomId === lobby.roomId)!
    expect(def).toMatchObject({ adminNodeId: r.nodeId, adminNodeName: 'gw1', available: true, joined: false })
    expect(def.name.length).toBeGreaterThan(0)
    expect(def.memberCount).toBeGreaterThanOrEqual(2) // the two watchers
    // `joined` is per connection.
    const a = (await watcherA.call('rooms.list')).rooms.find((x) => x.roomId === lobby.roomId)!
    expect(a.joined).toBe(true)
    c.close()
  })

  it('room.create: the room, a room.created event to other clients, and it is listed', async () => {
    const c = await Client.as(r, 'frank')
    const name = unique('project')
    const { room } = await c.call('room.create', { name })
    expect(room).toMatchObject({ name, adminNodeId: r.nodeId, adminNodeName: 'gw1', available: true })
    expect(room.roomId.length).toBeGreaterThan(0)
    const ev = await watcherA.event('room.created', (e) => e.room.roomId === room.roomId)
    expect(ev.room.name).toBe(name)
    const listed = (await watcherB.call('rooms.list')).rooms.find((x) => x.roomId === room.roomId)
    expect(listed?.name).toBe(name)
    // A name is trimmed; two rooms may share a name but not an id.
    const twin = await c.call('room.create', { name: `  ${name}  ` })
    expect(twin.room.name).toBe(name)
    expect(twin.room.roomId).not.toBe(room.roomId)
    c.close()
  })

  it('room.join / room.members / member.joined / room.leave / member.left', async () => {
    const owner = await Client.as(r, 'gina')
    const { room } = await owner.call('room.create', { name: unique('team') })
    const j1 = await owner.call('room.join', { roomId: room.roomId })
    expect(j1.room.roomId).toBe(room.roomId)
    expect(j1.room.joined).toBe(true)
    expect(j1.members).toEqual([{ user: 'gina', nodeId: r.nodeId }])
    expect(j1.lastSeq).toBe(0)
    expect(Array.isArray(j1.history)).toBe(true)
    expect(j1.history).toEqual([])

    const { seq } = await owner.call('message.send', { roomId: room.roomId, text: 'before hank', clientMsgId: 'g1' })
    const hank = await Client.as(r, 'hank')
    const j2 = await hank.call('room.join', { roomId: room.roomId })
    expect(j2.members).toEqual([
      { user: 'gina', nodeId: r.nodeId },
      { user: 'hank', nodeId: r.nodeId },
    ])
    expect(j2.lastSeq).toBe(seq)
    // History (when given) ends at lastSeq, ascending, so history + live messages have no gap.
    expect(Array.isArray(j2.history)).toBe(true)
    if (j2.history.length) {
      expect(j2.history.at(-1)!.seq).toBe(j2.lastSeq)
      expect(j2.history.map((m) => m.text)).toContain('before hank')
    }
    const joinedEv = await owner.event('member.joined', (e) => e.roomId === room.roomId && e.user === 'hank')
    expect(joinedEv.nodeId).toBe(r.nodeId)
    expect((await watcherA.call('room.members', { roomId: room.roomId })).members.map((m) => m.user)).toEqual(['gina', 'hank'])

    // Joining twice is harmless and sends no second member.joined.
    await hank.call('room.join', { roomId: room.roomId })
    await chats(owner, hank, room.roomId)
    expect(owner.events.filter((e) => e.event === 'member.joined' && e.roomId === room.roomId && e.user === 'hank')).toHaveLength(1)

    expect(await hank.call('room.leave', { roomId: room.roomId })).toEqual({})
    const leftEv = await owner.event('member.left', (e) => e.roomId === room.roomId && e.user === 'hank')
    expect(leftEv.nodeId).toBe(r.nodeId)
    expect((await owner.call('room.members', { roomId: room.roomId })).members.map((m) => m.user)).toEqual(['gina'])
    // Gone means gone: no more messages for hank, and he may not send.
    await owner.call('message.send', { roomId: room.roomId, text: 'after hank', clientMsgId: 'g2' })
    expect(await hank.fails('message.send', { roomId: room.roomId, text: 'x', clientMsgId: 'h1' })).toBe('not_member')
    expect(await hank.fails('room.leave', { roomId: room.roomId })).toBe('not_member')
    await chats(owner, owner, room.roomId)
    expect(hank.messages(room.roomId).some((m) => m.text === 'after hank')).toBe(false)

    // A client that closes leaves its rooms: the others hear member.left.
    await hank.call('room.join', { roomId: room.roomId })
    await owner.event('member.joined', (e) => e.roomId === room.roomId && e.user === 'hank' && owner.events.filter((x) => x.event === 'member.joined' && x.user === 'hank').length >= 2)
    const before = owner.events.filter((e) => e.event === 'member.left' && e.user === 'hank').length
    hank.close()
    await owner.until(() => owner.events.filter((e) => e.event === 'member.left' && e.user === 'hank').length > before, 10_000, 'member.left on close')
    owner.close()
  })

  it('one user on two connections is one member: it leaves when its last connection goes', async () => {
    const owner = await Client.as(r, 'olga')
    const { room } = await owner.call('room.create', { name: unique('tabs') })
    await owner.call('room.join', { roomId: room.roomId })
    const tab1 = await Client.as(r, 'rita')
    const tab2 = await Client.as(r, 'rita')
    await tab1.call('room.join', { roomId: room.roomId })
    const j = await tab2.call('room.join', { roomId: room.roomId })
    expect(j.members.filter((m) => m.user === 'rita')).toHaveLength(1)
    await owner.event('member.joined', (e) => e.roomId === room.roomId && e.user === 'rita')
    // Both tabs get the room's messages.
    const { seq } = await owner.call('message.send', { roomId: room.roomId, text: 'to both tabs', clientMsgId: 'o1' })
    await tab1.event('message', (e) => e.roomId === room.roomId && e.seq === seq)
    await tab2.event('message', (e) => e.roomId === room.roomId && e.seq === seq)
    // One tab closes: rita is still a member, still chats, and nobody hears member.left.
    tab1.close()
    await chats(tab2, owner, room.roomId)
    await chats(owner, tab2, room.roomId)
    expect((await owner.call('room.members', { roomId: room.roomId })).members.map((m) => m.user)).toEqual(['olga', 'rita'])
    expect(owner.events.some((e) => e.event === 'member.left' && e.roomId === room.roomId)).toBe(false)
    // The last one goes: now she leaves.
    tab2.close()
    await owner.event('member.left', (e) => e.roomId === room.roomId && e.user === 'rita')
    expect((await owner.call('room.members', { roomId: room.roomId })).members.map((m) => m.user)).toEqual(['olga'])
    owner.close()
  })

  it('unknown rooms: not_found for join, leave, members, send, history', async () => {
    const c = await Client.as(r, 'ivan')
    const roomId = 'no-such-room'
    expect(await c.fails('room.join', { roomId })).toBe('not_found')
    expect(await c.fails('room.members', { roomId })).toBe('not_found')
    expect(await c.fails('message.send', { roomId, text: 'hi', clientMsgId: 'i1' })).toBe('not_found')
    expect(await c.fails('history.fetch', { roomId })).toBe('not_found')
    // leave of a room one never joined: not_member or not_found are both fair; it must fail.
    expect(['not_member', 'not_found']).toContain(await c.fails('room.leave', { roomId }))
    c.close()
  })

  // The node writes message.send's reply by hand (docs/benchmarks.md, "Client ingress"): its text
  // must be exactly the JSON of {id, ok, result: {seq}}, whatever the id (escapes, numbers).
  it('message.send replies are the JSON of {id, ok: true, result: {seq}} for any id', async () => {
    const c = await Client.as(r, unique('ids'))
    await c.call('room.join', { roomId: lobby.roomId })
    const texts: string[] = []
    // Before the client's own listener, which runs the until() check below.
    c.ws.prependListener('message', (data) => texts.push(String(data)))
    const ids: (string | number)[] = ['plain', 'quote " and \\ backslash', 'ünïcödé ✓ 😀', '</script>\n\t', '', 0, -7, 1.5, 1e21, 2 ** 53 + 2]
    for (const id of ids) c.raw(JSON.stringify({ id, op: 'message.send', roomId: lobby.roomId, text: `id ${String(id)}`, clientMsgId: unique('cm') }))
    const replies = await c.until(() => {
      const found = ids.map((id) => texts.find((t) => { const f = JSON.parse(t) as { id?: unknown; ok?: boolean }; return f.id === id && f.ok !== undefined }))
      return found.every((t) => t !== undefined) ? (found as string[]) : undefined
    }, 10_000, 'a reply to every id')
    for (const [i, text] of replies.entries()) {
      const { seq } = (JSON.parse(text) as { result: { seq: number } }).result
      expect(seq).toBeGreaterThan(0)
      expect(text).toBe(JSON.stringify({ id: ids[i], ok: true, result: { seq } }))
    }
    c.close()
  })

  it('message.send: seq rises by one; every joined client gets every message, in seq order, once; others get none', async () => {
    const owner = await Client.as(r, 'judy')
    const { room } = await owner.call('room.create', { name: unique('busy') })
    const senders = await Promise.all(['k1', 'k2', 'k3'].map((u) => Client.as(r, u)))
    const outsider = await Client.as(r, 'outsider')
    for (const s of senders) await s.call('room.join', { roomId: room.roomId })
    const PER = 25
    const seqs = await Promise.all(
      senders.map(async (s, i) => {
        // Pipelined: all requests leave before any reply comes back.
        const replies = await Promise.all(
          Array.from({ length: PER }, (_, k) => s.call('message.send', { roomId: room.roomId, text: `s${i}-${k}`, clientMsgId: `s${i}-${k}` })),
        )
        return replies.map((x) => x.seq)
      }),
    )
    const all = seqs.flat().sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: 3 * PER }, (_, k) => k + 1))
    for (const s of senders) {
      await s.until(() => s.messages(room.roomId).length >= 3 * PER, 15_000, 'all messages')
      const got = s.messages(room.roomId)
      expect(got.map((m) => m.seq)).toEqual(all)
      // Each sender's messages in the order it sent them (guarantee 2), with the fields of section 5.
      for (let i = 0; i < 3; i++) {
        const mine = got.filter((m) => m.clientMsgId.startsWith(`s${i}-`)).map((m) => m.text)
        expect(mine).toEqual(Array.from({ length: PER }, (_, k) => `s${i}-${k}`))
      }
      const m0 = got[0]
      expect(m0).toMatchObject({ event: 'message', roomId: room.roomId, nodeId: r.nodeId })
      expect(['k1', 'k2', 'k3']).toContain(m0.user)
      expect(typeof m0.sentAt).toBe('number')
      expect(Math.abs(m0.sentAt - Date.now())).toBeLessThan(60_000)
    }
    // The seq in each reply is the seq of that message in the stream.
    const byId = new Map(senders[0].messages(room.roomId).map((m) => [m.clientMsgId, m.seq]))
    seqs.forEach((list, i) => list.forEach((seq, k) => expect(byId.get(`s${i}-${k}`)).toBe(seq)))
    expect(outsider.messages(room.roomId)).toEqual([])
    expect(owner.messages(room.roomId)).toEqual([]) // created it, never joined
    expect(await outsider.fails('message.send', { roomId: room.roomId, text: 'let me in', clientMsgId: 'o1' })).toBe('not_member')
    for (const c of [...senders, outsider, owner]) c.close()
  })

  it('idempotent resend: the same clientMsgId gives the same seq and no second message event', async () => {
    const c = await Client.as(r, 'kim')
    const { room } = await c.call('room.create', { name: unique('resend') })
    await c.call('room.join', { roomId: room.roomId })
    const listener = await Client.as(r, 'lee')
    await listener.call('room.join', { roomId: room.roomId })
    const first = await c.call('message.send', { roomId: room.roomId, text: 'once', clientMsgId: 'dup-1' })
    const again = await c.call('message.send', { roomId: room.roomId, text: 'once', clientMsgId: 'dup-1' })
    const pipelined = await Promise.all([1, 2, 3].map(() => c.call('message.send', { roomId: room.roomId, text: 'once', clientMsgId: 'dup-1' })))
    expect(again.seq).toBe(first.seq)
    expect(pipelined.map((x) => x.seq)).toEqual([first.seq, first.seq, first.seq])
    // A later, different message comes right after: the resends used no seq.
    const next = await c.call('message.send', { roomId: room.roomId, text: 'twice', clientMsgId: 'dup-2' })
    expect(next.seq).toBe(first.seq + 1)
    for (const who of [c, listener]) {
      await who.event('message', (e) => e.roomId === room.roomId && e.clientMsgId === 'dup-2')
      expect(who.messages(room.roomId).map((m) => [m.seq, m.clientMsgId])).toEqual([
        [first.seq, 'dup-1'],
        [next.seq, 'dup-2'],
      ])
    }
    // The same clientMsgId from another user is another message.
    const other = await listener.call('message.send', { roomId: room.roomId, text: 'mine', clientMsgId: 'dup-1' })
    expect(other.seq).toBe(next.seq + 1)
    c.close()
    listener.close()
  })

  it('history.fetch: ascending seq, beforeSeq and limit; not_member when not joined', async () => {
    const c = await Client.as(r, 'mia')
    const { room } = await c.call('room.create', { name: unique('history') })
    await c.call('room.join', { roomId: room.roomId })
    for (let i = 1; i <= 12; i++) await c.call('message.send', { roomId: room.roomId, text: `h${i}`, clientMsgId: `h${i}` })
    const all = await c.call('history.fetch', { roomId: room.roomId })
    expect(all.messages.map((m) => m.seq)).toEqual(Array.from({ length: 12 }, (_, k) => k + 1))
    expect(all.messages.map((m) => m.text)).toEqual(Array.from({ length: 12 }, (_, k) => `h${k + 1}`))
    const page = await c.call('history.fetch', { roomId: room.roomId, beforeSeq: 10, limit: 3 })
    expect(page.messages.map((m) => m.seq)).toEqual([7, 8, 9])
    const last2 = await c.call('history.fetch', { roomId: room.roomId, limit: 2 })
    expect(last2.messages.map((m) => m.seq)).toEqual([11, 12])
    expect((await c.call('history.fetch', { roomId: room.roomId, beforeSeq: 1 })).messages).toEqual([])
    expect(await c.fails('history.fetch', { roomId: room.roomId, limit: 201 })).toBe('bad_request')
    expect(await c.fails('history.fetch', { roomId: room.roomId, limit: 0 })).toBe('bad_request')
    expect(await c.fails('history.fetch', { roomId: room.roomId, beforeSeq: -1 })).toBe('bad_request')
    const stranger = await Client.as(r, 'nia')
    expect(await stranger.fails('history.fetch', { roomId: room.roomId })).toBe('not_member')
    c.close()
    stranger.close()
  })

  it('peers.list / peers.add / peers.remove on a lone node', async () => {
    const c = await Client.as(r, 'omar')
    const { self, peers } = await c.call('peers.list')
    expect(self).toEqual({ nodeId: r.nodeId, name: 'gw1', address: r.grpc, invite: `dsg1://${r.grpc}/${r.clusterKey}` })
    expect(peers).toEqual([])
    for (const address of ['not-an-address', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', ':5000', 'a b:1']) {
      expect(await c.fails('peers.add', { address }), address).toBe('bad_request')
    }
    expect(await c.fails('peers.add', { address: 42 })).toBe('bad_request')
    const t0 = performance.now()
    // Nobody listens there: unreachable at once, not a timeout after a wait (client-protocol.md section 7).
    const refused = await c.reply('peers.add', { address: '127.0.0.1:1' })
    expect(refused.error).toMatchObject({ code: 'unreachable', message: 'nobody answers at 127.0.0.1:1' })
    expect(performance.now() - t0).toBeLessThan(5_000)
    expect(await c.fails('peers.remove', { address: '127.0.0.1:1' })).toBe('not_found')
    expect(await c.fails('peers.remove', { address: 'nonsense' })).toBe('bad_request')
    expect((await c.call('peers.list')).peers).toEqual([])
    // Our own address: bad_request "that is this node", and no peer appears.
    const self2 = await c.reply('peers.add', { address: r.grpc })
    expect(self2.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/is this node/) })
    expect((await c.call('peers.list')).peers).toEqual([])
    c.close()
    await othersStillChat()
  })

  it('room.delete and forbidden: only the creator deletes; the others hear room.deleted', async () => {
    const creator = await Client.as(r, 'pat')
    const other = await Client.as(r, 'quinn')
    const { room } = await creator.call('room.create', { name: unique('doomed') })
    await other.call('room.join', { roomId: room.roomId })
    expect(await other.fails('room.delete', { roomId: room.roomId })).toBe('forbidden')
    expect(await creator.fails('room.delete', { roomId: 'no-such-room' })).toBe('not_found')
    const res = await creator.call('room.delete', { roomId: room.roomId })
    expect(res.outcome).toBe('committed')
    await watcherA.event('room.deleted', (e) => e.roomId === room.roomId)
    await other.event('room.deleted', (e) => e.roomId === room.roomId)
    expect((await watcherA.call('rooms.list')).rooms.some((x) => x.roomId === room.roomId)).toBe(false)
    expect(await other.fails('message.send', { roomId: room.roomId, text: 'x', clientMsgId: 'q1' })).toBe('not_found')
    expect(await other.fails('room.join', { roomId: room.roomId })).toBe('not_found')
    // Fault injection is off unless the node runs with --allow-faults.
    expect(await other.fails('node.faults', { voteAbort: true })).toBe('forbidden')
    creator.close()
    other.close()
  })
})

// ---------------------------------------------------------------------------------------------

describe('bad input (section 3): the contract error, and the node keeps serving', () => {
  const big = (n: number) => 'x'.repeat(n)
  const cases: Array<{ name: string; frame: () => string | Buffer; id: string | number | null; code: string }> = [
    { name: 'invalid JSON', frame: () => '{"id": 1, "op": "rooms.list"', id: null, code: 'bad_request' },
    { name: 'not JSON at all', frame: () => 'hello there', id: null, code: 'bad_request' },
    { name: 'binary frame (even of valid JSON)', frame: () => Buffer.from(JSON.stringify({ id: 5, op: 'rooms.list' })), id: null, code: 'bad_request' },
    { name: 'array', frame: () => '[{"id": 1, "op": "rooms.list"}]', id: null, code: 'bad_request' },
    { name: 'number', frame: () => '42', id: null, code: 'bad_request' },
    { name: 'string', frame: () => '"rooms.list"', id: null, code: 'bad_request' },
    { name: 'null', frame: () => 'null', id: null, code: 'bad_request' },
    { name: 'empty object', frame: () => '{}', id: null, code: 'bad_request' },
    { name: 'unknown op', frame: () => JSON.stringify({ id: 'u1', op: 'rooms.explode' }), id: 'u1', code: 'bad_request' },
    { name: 'op of the wrong type', frame: () => JSON.stringify({ id: 'u2', op: 7 }), id: 'u2', code: 'bad_request' },
    { name: 'missing op', frame: () => JSON.stringify({ id: 'u3' }), id: 'u3', code: 'bad_request' },
    { name: 'missing id', frame: () => JSON.stringify({ op: 'rooms.list' }), id: null, code: 'bad_request' },
    { name: 'id of the wrong type (object)', frame: () => JSON.stringify({ id: { a: 1 }, op: 'rooms.list' }), id: null, code: 'bad_request' },
    { name: 'roomId a number', frame: () => JSON.stringify({ id: 'w1', op: 'message.send', roomId: 5, text: 'x', clientMsgId: 'c' }), id: 'w1', code: 'bad_request' },
    { name: 'text an array', frame: () => JSON.stringify({ id: 'w2', op: 'message.send', roomId: 'LOBBY', text: ['x'], clientMsgId: 'c' }), id: 'w2', code: 'bad_request' },
    { name: 'clientMsgId missing', frame: () => JSON.stringify({ id: 'w3', op: 'message.send', roomId: 'LOBBY', text: 'x' }), id: 'w3', code: 'bad_request' },
    { name: 'user a number', frame: () => JSON.stringify({ id: 'w4', op: 'hello', user: 42 }), id: 'w4', code: 'bad_request' },
    { name: 'empty text', frame: () => JSON.stringify({ id: 'w5', op: 'message.send', roomId: 'LOBBY', text: '', clientMsgId: 'c' }), id: 'w5', code: 'bad_request' },
    { name: 'limit a string', frame: () => JSON.stringify({ id: 'w6', op: 'history.fetch', roomId: 'LOBBY', limit: 'ten' }), id: 'w6', code: 'bad_request' },
    { name: 'text of 4001 characters', frame: () => JSON.stringify({ id: 'l1', op: 'message.send', roomId: 'LOBBY', text: big(4001), clientMsgId: 'long' }), id: 'l1', code: 'too_large' },
    { name: 'text of 4001 multi-byte characters', frame: () => JSON.stringify({ id: 'l2', op: 'message.send', roomId: 'LOBBY', text: 'é'.repeat(4001), clientMsgId: 'long2' }), id: 'l2', code: 'too_large' },
    { name: 'room name of 65 characters', frame: () => JSON.stringify({ id: 'l3', op: 'room.create', name: big(65) }), id: 'l3', code: 'bad_request' },
    { name: 'room name of spaces only', frame: () => JSON.stringify({ id: 'l4', op: 'room.create', name: '    ' }), id: 'l4', code: 'bad_request' },
    { name: 'user of 33 characters', frame: () => JSON.stringify({ id: 'l5', op: 'hello', user: big(33) }), id: 'l5', code: 'bad_request' },
    { name: 'user of spaces only', frame: () => JSON.stringify({ id: 'l6', op: 'hello', user: '   ' }), id: 'l6', code: 'bad_request' },
    { name: 'clientMsgId of 129 characters', frame: () => JSON.stringify({ id: 'l7', op: 'message.send', roomId: 'LOBBY', text: 'x', clientMsgId: big(129) }), id: 'l7', code: 'bad_request' },
    { name: 'roomId of 129 characters', frame: () => JSON.stringify({ id: 'l8', op: 'room.join', roomId: big(129) }), id: 'l8', code: 'bad_request' },
    { name: 'a 60 KiB frame (under the limit) that is not valid', frame: () => JSON.stringify({ id: 'l9', op: 'room.create', name: big(60_000) }), id: 'l9', code: 'bad_request' },
  ]

  it.each(cases)('$name -> $code (id $id); the same client and the others still chat', async ({ frame, id, code }) => {
    const c = await Client.as(r, 'prober')
    await c.call('room.join', { roomId: lobby.roomId })
    const since = c.frames.length
    let f = frame()
    if (typeof f === 'string') f = f.replaceAll('LOBBY', lobby.roomId)
    c.raw(f)
    const reply = await c.until(
      () =>
        c.frames.slice(since).find((x) => {
          const y = x as { id?: unknown; ok?: unknown }
          return y.ok === false && y.id === id
        }) as { id: unknown; ok: false; error: { code: string; message: string } } | undefined,
      10_000,
      `an error reply with id ${JSON.stringify(id)}`,
    )
    expect(reply.error.code).toBe(code)
    expect(typeof reply.error.message).toBe('string')
    expect(reply.error.message.length).toBeGreaterThan(0)
    // Exactly one reply: the bad frame did nothing else (no message delivered, no room made).
    await chats(c, watcherA)
    expect(c.frames.slice(since).filter((x) => (x as { ok?: unknown }).ok === false)).toHaveLength(1)
    expect(c.messages(lobby.roomId).some((m) => m.text.length > 4000 || m.clientMsgId === 'c')).toBe(false)
    await othersStillChat()
    c.close()
  })

  it('exactly 4000 characters is fine (4000 é too), and 32-character users and 64-character names', async () => {
    const c = await Client.as(r, 'u'.repeat(32))
    await c.call('room.join', { roomId: lobby.roomId })
    for (const text of ['y'.repeat(4000), 'é'.repeat(4000)]) {
      const { seq } = await c.call('message.send', { roomId: lobby.roomId, text, clientMsgId: unique('max') })
      const got = await watcherA.event('message', (e) => e.roomId === lobby.roomId && e.seq === seq)
      expect(got.text).toBe(text)
      expect(got.user).toBe('u'.repeat(32))
    }
    const { room } = await c.call('room.create', { name: 'n'.repeat(64) })
    expect(room.name).toBe('n'.repeat(64))
    c.close()
  })

  it('bad frames before hello are answered the same way, and the client can still say hello', async () => {
    const c = await Client.connect(r)
    const since = c.frames.length
    c.raw('{oops')
    expect((await nullIdError(c, since)).error.code).toBe('bad_request')
    expect(await c.fails('rooms.explode')).toBe('bad_request')
    expect(await c.fails('rooms.list')).toBe('unauthorized')
    await c.call('hello', { user: 'late' })
    await c.call('room.join', { roomId: lobby.roomId })
    await chats(c, watcherB)
    c.close()
  })

  it('a frame over 64 KiB closes that connection with 1009; everyone else keeps chatting', async () => {
    const c = await Client.as(r, 'flooder')
    await c.call('room.join', { roomId: lobby.roomId })
    c.raw(JSON.stringify({ id: 'big', op: 'message.send', roomId: lobby.roomId, text: 'z'.repeat(70 * 1024), clientMsgId: 'big' }))
    const closed = await Promise.race([c.closed, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('not closed in 10 s')), 10_000))])
    expect(closed.code).toBe(1009)
    // The flooder has left the lobby (its connection closed), and the node serves everyone else.
    await watcherA.event('member.left', (e) => e.roomId === lobby.roomId && e.user === 'flooder')
    await othersStillChat()
    expect(watcherA.messages(lobby.roomId).some((m) => m.clientMsgId === 'big')).toBe(false)
    // And a new connection works.
    const again = await Client.as(r, 'flooder')
    await again.call('room.join', { roomId: lobby.roomId })
    await chats(again, watcherB)
    again.close()
  })

  it('a binary frame over 64 KiB closes with 1009 too', async () => {
    const c = await Client.as(r, 'binflood')
    c.raw(randomBytes(65 * 1024 + 1))
    const closed = await Promise.race([c.closed, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('not closed in 10 s')), 10_000))])
    expect(closed.code).toBe(1009)
    await othersStillChat()
  })

  it('a flood of requests gets rate_limited replies, others are not affected, and the flooder recovers', async () => {
    // A node with a small bucket (the default is 10000 and 5000/s, ws-gateway.ts): the bucket refills
    // with time as the node reads, so a node slowed below the refill rate (a loaded machine) would
    // never run dry, and a flood of the default's size would prove nothing there.
    const BURST = 1000
    const limitedNode = await startNode({ name: 'gw-rate', env: { DS_CLIENT_RATE_BURST: String(BURST), DS_CLIENT_RATE_PER_SEC: String(BURST / 2) } })
    const [a, b] = await Promise.all([Client.as(limitedNode.ready, 'watcher-a'), Client.as(limitedNode.ready, 'watcher-b')])
    const room = (await a.call('rooms.list')).rooms.find((x) => x.adminNodeId === limitedNode.ready.nodeId)!
    for (const w of [a, b]) await w.call('room.join', { roomId: room.roomId })
    const c = await Client.as(limitedNode.ready, 'spammer')
    await c.call('room.join', { roomId: room.roomId })
    // Ten bursts at once: far more than the burst plus what refills while the node reads them.
    const replies = await Promise.all(Array.from({ length: 10 * BURST }, () => c.reply('peers.list')))
    const limited = replies.filter((x) => !x.ok && x.error?.code === 'rate_limited')
    const served = replies.filter((x) => x.ok)
    console.log(`[gateway] flood of ${replies.length}: ${served.length} served, ${limited.length} rate_limited`)
    expect(limited.length).toBeGreaterThan(0)
    expect(served.length + limited.length).toBe(replies.length)
    // A burst is fine: the whole bucket (less hello and room.join) is served before anything is refused.
    expect(replies.slice(0, BURST - 2).every((x) => x.ok)).toBe(true)
    expect(limited[0].error!.message.length).toBeGreaterThan(0)
    // Others on that node are not affected; nor is anyone on the other node.
    await chats(a, b, room.roomId)
    await chats(b, a, room.roomId)
    await othersStillChat()
    await new Promise((res) => setTimeout(res, 1500)) // the bucket refills
    await chats(c, a, room.roomId)
    c.close()
    await stopNode(limitedNode)
  })
})
