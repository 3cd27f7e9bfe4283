// A hostile peer against real node processes (docs/security.md). Without the cluster key it cannot
// link and learns nothing. With the key (and an identity of its own, as any key holder has), every
// forgery below is refused and changes nothing at any node. The forger is "mallory": its own gRPC
// client and server built only from peer.proto, with TLS certificates it derives from the key with
// openssl (test/security/key-holder.ts), so nothing here depends on how our transport behaves.
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLUSTER_KEY, Client, ROOT, cleanup, eventually, startCluster, startNode, type NodeProc } from '../helpers/cluster'
import { LinkFailed, keyHolderCerts, keyHolderLink, type KeyHolder, type Wire } from './key-holder'

afterAll(cleanup)

const mallory = (target: NodeProc, claimId?: string): Promise<KeyHolder> => keyHolderLink(target.ready.grpc, CLUSTER_KEY, { name: 'mallory', claimId })

function errorOf(m: Wire): { code: string; message: string } | null {
  return (m[m.body] as { error: { code: string; message: string } | null }).error
}

describe('a node without the cluster key', () => {
  it('cannot link, over plain text or TLS, and reads nothing (not even the room list)', async () => {
    const n1 = await startNode({ name: 'k1' })
    const def = protoLoader.loadSync(join(ROOT, 'proto', 'chat', 'peer', 'v1', 'peer.proto'), { includeDirs: [join(ROOT, 'proto')], defaults: true, oneofs: true })
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      chat: { peer: { v1: { PeerService: new (a: string, c: grpc.ChannelCredentials, o?: grpc.ChannelOptions) => grpc.Client & { Link(): grpc.ClientDuplexStream<unknown, unknown> } } } }
    }
    const tryLink = (creds: grpc.ChannelCredentials) =>
      new Promise<{ data: unknown[]; code: number }>((resolve) => {
        const client = new pkg.chat.peer.v1.PeerService(n1.ready.grpc, creds, { 'grpc.ssl_target_name_override': 'x' })
        const call = client.Link()
        const data: unknown[] = []
        call.on('data', (d) => data.push(d))
        call.on('error', (e: grpc.ServiceError) => resolve({ data, code: e.code }))
        call.on('end', () => resolve({ data, code: -1 }))
        call.write({ messages: [{ hello: { self: { nodeId: 'outsider', name: 'outsider', address: '127.0.0.1:9' }, incarnation: 'x', known: [], rooms: [], protocol: 1 } }] })
      })
    // Plain text: no TLS, nothing.
    expect(await tryLink(grpc.credentials.createInsecure())).toEqual({ data: [], code: grpc.status.UNAVAILABLE })
    // TLS trusting the node's CA (as if the CA certificate leaked), but with no certificate of its own.
    const ca = keyHolderCerts(CLUSTER_KEY).ca
    const noCert = await tryLink(grpc.credentials.createSsl(ca, null, null, { checkServerIdentity: () => undefined }))
    expect(noCert).toEqual({ data: [], code: grpc.status.UNAUTHENTICATED })
    // Its own key: its own CA, which the node's certificate does not match, and the other way round.
    const other = keyHolderCerts('another-cluster-key-000')
    const wrong = await tryLink(grpc.credentials.createSsl(other.ca, other.key, other.cert, { checkServerIdentity: () => undefined }))
    expect(wrong.data).toEqual([])
    expect(wrong.code).toBe(grpc.status.UNAVAILABLE)
    // Trusting the node's CA (leaked) and presenting a certificate of another CA: the node refuses it.
    const foreignCert = await tryLink(grpc.credentials.createSsl(ca, other.key, other.cert, { checkServerIdentity: () => undefined }))
    expect(foreignCert).toEqual({ data: [], code: grpc.status.UNAUTHENTICATED })
    // Both refusals the node itself decided are lines in its log.
    await eventually(async () => n1.stderr().match(/refused a link from 127\.0\.0\.1: not a node of this cluster/g)?.length === 2, 5000, 'two refusals logged')
    // And a real node with another key is refused by peers.add with forbidden.
    const stranger = await startNode({ name: 'stranger', clusterKey: 'another-cluster-key-000' })
    const c = await Client.as(n1.ready, 'op')
    const r = await c.reply('peers.add', { address: stranger.ready.grpc })
    expect(r.error?.code).toBe('forbidden')
    expect(r.error?.message).not.toMatch(/UNAVAILABLE|No connection established|\b14\b/)
    expect((await c.call('peers.list')).peers).toEqual([])
    // An invite with another key is refused too: n1 is not alone... once it has a peer.
    c.close()
  })
})

describe('a key holder forging messages', () => {
  let n1: NodeProc, n2: NodeProc
  let alice: Client, bob: Client
  let roomId: string
  let lobbyId: string

  beforeAll(async () => {
    ;[n1, n2] = await startCluster(2)
    alice = await Client.as(n1.ready, 'alice')
    bob = await Client.as(n2.ready, 'bob')
    await eventually(async () => (await bob.call('peers.list')).peers.some((p) => p.state === 'alive'), 15_000, 'linked')
    roomId = (await alice.call('room.create', { name: 'exam' })).room.roomId
    await bob.event('room.created', (e) => e.room.roomId === roomId)
    await alice.call('room.join', { roomId })
    await bob.call('room.join', { roomId })
    await alice.call('message.send', { roomId, text: 'real #1', clientMsgId: 'a1' })
    await bob.until(() => bob.messages(roomId).length === 1)
    lobbyId = (await alice.call('rooms.list')).rooms.find((r) => r.name === 'n1 lobby')!.roomId
  })

  const state = async () => {
    const rooms = (await bob.call('rooms.list')).rooms.map((r) => `${r.name}|${r.adminNodeId}|${r.frozen}`).sort()
    return { rooms, aliceSeen: alice.messages(roomId).map((m) => `${m.seq}:${m.text}`), bobSeen: bob.messages(roomId).map((m) => `${m.seq}:${m.text}`) }
  }

  it('a stolen node id is refused at the handshake; the victim keeps its rooms everywhere', async () => {
    const before = await state()
    const stolen = await mallory(n2, n1.ready.nodeId).catch((e: unknown) => e)
    expect(stolen).toBeInstanceOf(LinkFailed)
    expect(stolen).toMatchObject({ code: grpc.status.PERMISSION_DENIED })
    await new Promise((r) => setTimeout(r, 500))
    // The refusal is a line in the log (and protocol log) of the node it tried, naming both ids.
    const logged = `refused a link from 127.0.0.1: its Hello claims node id ${n1.ready.nodeId.slice(0, 8)}, its certificate proves ${(stolen as LinkFailed).details.split('proves ')[1]}`
    await eventually(async () => n2.stderr().includes(logged), 5000, 'the refusal logged')
    expect(await state()).toEqual(before)
    expect((await bob.call('rooms.list')).rooms.some((r) => r.roomId === lobbyId)).toBe(true)
  })

  it('Deliver, RoomRemoved, gossip (with deletions), DeleteRequest, FetchRange and oversized fields: all refused, nothing changes', async () => {
    const m = await mallory(n2)
    const before = await state()
    // A Deliver as if it administered alice's room: a forged "#2".
    m.send({ deliver: { roomId, messages: [{ roomId, seq: 2, user: 'alice', nodeId: n1.ready.nodeId, text: 'FORGED #2', sentAt: 1, clientMsgId: 'f' }] } })
    // RoomRemoved and gossip of someone else's room: removal, rename at a high version, a fake room.
    m.send({ roomRemoved: { roomId } })
    const entry = { roomId, name: 'RENAMED', adminNodeId: n1.ready.nodeId, adminNodeName: 'n1', memberCount: 99, createdBy: { user: 'alice', nodeId: n1.ready.nodeId }, frozen: false, version: 1_000_000, term: 1_000, replicas: [n1.ready.nodeId] }
    const fake = { ...entry, roomId: 'pizza', name: 'FREE PIZZA' }
    m.send({ gossip: { nodes: [], rooms: [entry, fake], ownerComplete: true } })
    // Claiming alice's room for itself, as if it had taken it over in a higher term: an unreplicated
    // room never changes hands, and only a replica could take a replicated one over.
    const claim = { ...entry, adminNodeId: m.nodeId, adminNodeName: 'mallory', version: 1, term: 5, replicas: [m.nodeId] }
    m.send({ gossip: { nodes: [], rooms: [claim], ownerComplete: true } })
    // A deletion announced by a node that neither administers nor replicates the room.
    m.send({ gossip: { nodes: [], rooms: [], deleted: [roomId, lobbyId] } })
    // A member event in alice's room.
    m.send({ memberEvent: { roomId, user: 'ghost', nodeId: n1.ready.nodeId, joined: true } })
    // The deletion messages of alice's room: a PREPARE (it would freeze the room), a COMMIT, a report.
    m.send({ prepare: { txId: 'forged-tx', roomId, participants: [n2.ready.nodeId] } })
    m.send({ decision: { txId: 'forged-tx', roomId, commit: true } })
    m.send({ deletionProgress: { roomId, phase: 'commit', votes: { n1: 'ready' }, reason: '' } })
    await new Promise((r) => setTimeout(r, 1000))
    const after = await state()
    expect(after).toEqual(before)
    expect(after.rooms.some((r) => r.startsWith('FREE PIZZA') || r.startsWith('RENAMED'))).toBe(false)
    expect(bob.events.some((e) => e.event === 'member.joined' && e.user === 'ghost')).toBe(false)
    expect(n2.stderr()).toMatch(/refused deliver from mallory: messages of a room it does not administer/)
    expect(n2.stderr()).toMatch(/refused roomRemoved from mallory/)
    expect(n2.stderr()).toMatch(/refused prepare from mallory: a deletion of a room it does not administer/)
    expect(n2.stderr()).toMatch(/refused decision from mallory/)
    expect(n2.stderr()).toMatch(/refused deletionProgress from mallory/)
    expect(bob.events.some((e) => e.event === 'deletion' || e.event === 'room.deleted')).toBe(false)
    expect(n2.stderr()).toMatch(/refused the claim of mallory to administer room exam in term 5/)

    // Requests to the administrator n1: history without members, and deleting as "alice".
    const m1 = await mallory(n1)
    m1.send({ fetchRange: { reqId: 1, roomId, fromSeq: 1, toSeq: 100 } })
    const fetched = await m1.reply(1)
    expect(errorOf(fetched)?.code).toBe('forbidden')
    expect(fetched.body).toBe('fetchReply')
    expect((fetched.fetchReply as { messages: unknown[] }).messages).toEqual([])
    m1.send({ deleteRequest: { reqId: 2, roomId, user: 'alice' } })
    expect(errorOf(await m1.reply(2))?.code).toBe('forbidden')
    // "system", the creator of default rooms, is reserved for peers as for clients: malformed.
    m1.send({ deleteRequest: { reqId: 3, roomId: lobbyId, user: 'system' } })
    expect(errorOf(await m1.reply(3))?.code).toBe('bad_request')
    m1.send({ joinRequest: { reqId: 31, roomId, user: 'System' } })
    expect(errorOf(await m1.reply(31))?.code).toBe('bad_request')
    m1.send({ forwardSend: { reqId: 32, roomId, user: 'system', text: 'the exam is cancelled', clientMsgId: 'sys' } })
    expect(errorOf(await m1.reply(32))?.code).toBe('bad_request')
    // Oversized and reserved names, a 100,000-character text: malformed, bad_request.
    m1.send({ joinRequest: { reqId: 4, roomId, user: 'x'.repeat(500) } })
    expect(errorOf(await m1.reply(4))?.code).toBe('bad_request')
    m1.send({ forwardSend: { reqId: 5, roomId, user: 'alice', text: 'y'.repeat(100_000), clientMsgId: 'big' } })
    expect(errorOf(await m1.reply(5))?.code).toBe('bad_request')
    m1.send({ joinRequest: { reqId: 6, roomId, user: 'ad\u202emin\u0000\n' } })
    expect(errorOf(await m1.reply(6))?.code).toBe('bad_request')
    expect(await state()).toEqual(before)
    expect((await alice.call('rooms.list')).rooms.find((r) => r.roomId === roomId)?.name).toBe('exam')

    // A forwarded send "as alice" speaks only for mallory's own user named alice: not a member, refused;
    // once joined, its message carries mallory's node id, so nobody takes it for alice of n1.
    m1.send({ forwardSend: { reqId: 7, roomId, user: 'alice', text: 'the exam is cancelled', clientMsgId: 'm7' } })
    expect(errorOf(await m1.reply(7))?.code).toBe('not_member')
    m1.send({ joinRequest: { reqId: 8, roomId, user: 'alice' } })
    expect(errorOf(await m1.reply(8))).toBeNull()
    m1.send({ forwardSend: { reqId: 9, roomId, user: 'alice', text: 'the exam is cancelled', clientMsgId: 'm9' } })
    expect(errorOf(await m1.reply(9))).toBeNull()
    const seen = await bob.until(() => bob.messages(roomId).find((x) => x.text === 'the exam is cancelled'))
    expect(seen.nodeId).toBe(m1.nodeId)
    expect(seen.nodeId).not.toBe(n1.ready.nodeId)
    // An address it gossips is only a hint: never reached by the node's own link, never remembered.
    m1.send({ gossip: { nodes: [{ nodeId: 'ghost-node', name: 'ghost', address: '127.0.0.1:9' }], rooms: [] } })
    await new Promise((r) => setTimeout(r, 1500))
    expect(readFileSync(join(n1.dataDir, 'peers.json'), 'utf8')).not.toContain('127.0.0.1:9')
    expect(n1.stderr()).toMatch(/refused deleteRequest from mallory: user: "system" is reserved/)
    expect(bob.messages(roomId).some((x) => x.user.toLowerCase() === 'system')).toBe(false)
    await m.close()
    await m1.close()
  })

  it('a member node that votes ABORT and tells another participant COMMIT: not believed, the room stays everywhere', async () => {
    // One identity on two links: mallory joins the room through its administrator n1 (so it is a
    // participant of the deletion), and talks to n2, the other participant, directly.
    const { privateKey } = generateKeyPairSync('ed25519')
    const nodeKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const toAdmin = await keyHolderLink(n1.ready.grpc, CLUSTER_KEY, { name: 'mallory', nodeKeyPem })
    const toBob = await keyHolderLink(n2.ready.grpc, CLUSTER_KEY, { name: 'mallory', nodeKeyPem })
    const { room } = await alice.call('room.create', { name: 'kept' })
    await bob.event('room.created', (e) => e.room.roomId === room.roomId)
    await bob.call('room.join', { roomId: room.roomId })
    toAdmin.send({ joinRequest: { reqId: 40, roomId: room.roomId, user: 'mal' } })
    expect(errorOf(await toAdmin.reply(40))).toBeNull()

    const outcome = alice.call('room.delete', { roomId: room.roomId })
    const prepare = await eventually(async () => toAdmin.received.find((x) => x.body === 'prepare' && (x.prepare as { roomId: string }).roomId === room.roomId), 15_000, 'PREPARE reached mallory')
    const { txId } = prepare!.prepare as { txId: string }
    // n2 voted READY and waits for the coordinator (its room is frozen): the lie, then the ABORT vote.
    await bob.event('deletion', (e) => e.roomId === room.roomId)
    toBob.send({ decisionAnswer: { txId, known: true, commit: true } })
    await new Promise((r) => setTimeout(r, 1000))
    expect(bob.events.some((e) => e.event === 'room.deleted' && e.roomId === room.roomId)).toBe(false)
    toAdmin.send({ vote: { txId, ready: false, reason: 'mallory says no' } })
    expect((await outcome).outcome).toBe('aborted')
    await bob.event('deletion', (e) => e.roomId === room.roomId && e.phase === 'abort')
    expect(bob.events.some((e) => e.event === 'room.deleted' && e.roomId === room.roomId)).toBe(false)
    expect((await bob.call('rooms.list')).rooms.some((r) => r.roomId === room.roomId)).toBe(true)
    await bob.call('message.send', { roomId: room.roomId, text: 'still here', clientMsgId: 'kept-1' })
    await alice.call('room.join', { roomId: room.roomId })
    await toAdmin.close()
    await toBob.close()
  })

  it('peers.json keeps the address the node dialled and reached, not one the answering Hello claims', async () => {
    // The node dials mallory back at its real address; mallory answers there with a Hello that
    // claims another address, one nobody answers at: never reached, so never remembered.
    const liar = await keyHolderLink(n1.ready.grpc, CLUSTER_KEY, { name: 'liar', answerAddress: '127.0.0.1:9' })
    const op = await Client.as(n1.ready, 'op')
    await eventually(async () => (await op.call('peers.list')).peers.some((p) => p.nodeId === liar.nodeId), 15_000, 'liar listed')
    const saved = () => JSON.parse(readFileSync(join(n1.dataDir, 'peers.json'), 'utf8')) as string[]
    await eventually(async () => saved().includes(liar.address) || saved().includes('127.0.0.1:9'), 15_000, 'peers.json saved after the handshake')
    expect(saved()).toContain(liar.address)
    expect(saved()).not.toContain('127.0.0.1:9')
    expect(saved()).toContain(n2.ready.grpc)
    op.close()
    await liar.close()
  })
})

describe('a relay between two nodes', () => {
  it('forwards only ciphertext: no message text in the bytes it sees, and the message arrives', async () => {
    const n1 = await startNode({ name: 'r1' })
    const [host, port] = [n1.ready.grpc.split(':')[0], Number(n1.ready.grpc.split(':')[1])]
    const seen: Buffer[] = []
    const sockets: Socket[] = []
    const relay = createServer((inbound) => {
      const outbound = connect(port, host)
      sockets.push(inbound, outbound)
      inbound.on('data', (d) => (seen.push(Buffer.from(d)), outbound.write(d)))
      outbound.on('data', (d) => (seen.push(Buffer.from(d)), inbound.write(d)))
      inbound.on('error', () => outbound.destroy())
      outbound.on('error', () => inbound.destroy())
      inbound.on('close', () => outbound.destroy())
      outbound.on('close', () => inbound.destroy())
    })
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r))
    const relayAddress = `127.0.0.1:${(relay.address() as { port: number }).port}`
    // n2 knows n1 only through the relay.
    const n2 = await startNode({ name: 'r2', join: [relayAddress] })
    const a = await Client.as(n1.ready, 'ann')
    const b = await Client.as(n2.ready, 'ben')
    await eventually(async () => (await b.call('peers.list')).peers.some((p) => p.state === 'alive'), 15_000, 'linked through the relay')
    await eventually(async () => (await a.call('node.stats')).links.some((l) => l.up), 15_000, 'n1 linked back to n2')
    const { room } = await b.call('room.create', { name: 'secret-plans' })
    await a.event('room.created', (e) => e.room.roomId === room.roomId)
    await a.call('room.join', { roomId: room.roomId })
    await b.call('room.join', { roomId: room.roomId })
    const marker = 'MEET-AT-THE-LIBRARY-1234'
    await a.call('message.send', { roomId: room.roomId, text: marker, clientMsgId: 'p1' })
    await b.until(() => b.messages(room.roomId).some((m) => m.text === marker))
    const bytes = Buffer.concat(seen)
    expect(bytes.length).toBeGreaterThan(1000)
    expect(bytes.includes(Buffer.from(marker))).toBe(false)
    expect(bytes.includes(Buffer.from('secret-plans'))).toBe(false)
    for (const s of sockets) s.destroy()
    relay.close()
  })
})

describe('identities and limits on the WebSocket side', () => {
  it('a same-named user on another node cannot delete the room, nor hello again; invisible or reversed names and "system" are refused; a room flood is rate limited', async () => {
    const [n1, n2] = await startCluster(2)
    const alice = await Client.as(n1.ready, 'alice')
    const twin = await Client.as(n2.ready, 'alice')
    for (const c of [alice, twin]) await eventually(async () => (await c.call('peers.list')).peers.some((p) => p.state === 'alive'), 15_000, 'linked')
    const { room } = await alice.call('room.create', { name: 'mine' })
    expect(room.createdBy).toEqual({ user: 'alice', nodeId: n1.ready.nodeId })
    await twin.event('room.created', (e) => e.room.roomId === room.roomId)
    expect(await twin.fails('room.delete', { roomId: room.roomId })).toBe('forbidden')
    expect((await twin.call('rooms.list')).rooms.some((r) => r.roomId === room.roomId)).toBe(true)
    // Nor can the twin become alice of n1 by saying hello again, or anyone pick a name that shows
    // as another (invisible, reversed, with NUL and newline); test/gateway has the whole list.
    expect(await twin.fails('hello', { user: 'bob' })).toBe('conflict')
    for (const user of ['\u200b'.repeat(32), 'ad\u202emin\u0000\n', 'system']) {
      const c = await Client.connect(n1.ready)
      expect(await c.fails('hello', { user })).toBe('bad_request')
      expect(await c.fails('rooms.list')).toBe('unauthorized')
      c.close()
    }
    // The flood: alice has made one room; four more pass, the next is refused, for her only.
    for (let i = 0; i < 4; i++) await alice.call('room.create', { name: `flood ${i}` })
    const refused = await alice.reply('room.create', { name: 'flood 5' })
    expect(refused.error?.code).toBe('rate_limited')
    expect(refused.error?.message).toMatch(/new rooms per 10 s/)
    const carol = await Client.as(n1.ready, 'carol')
    await carol.call('room.create', { name: 'carol’s' })
    expect((await alice.call('rooms.list')).rooms.filter((r) => r.name.startsWith('flood')).length).toBe(4)
  }, 120_000)

  it('a node administers at most --max-rooms rooms: past it, room.create is forbidden with a clear error, for every user', async () => {
    // The cap counts the default room: with --max-rooms 3, two more rooms, made by two users (each
    // well within the per-user rate), and then nobody may create one until a room is deleted.
    const n = await startNode({ name: 'capped', extra: ['--max-rooms', '3'] })
    const ann = await Client.as(n.ready, 'ann')
    const ben = await Client.as(n.ready, 'ben')
    await ann.call('room.create', { name: 'one' })
    const { room: two } = await ben.call('room.create', { name: 'two' })
    for (const c of [ann, ben]) {
      const refused = await c.reply('room.create', { name: 'three' })
      expect(refused.error).toEqual({ code: 'forbidden', message: 'this node already administers 3 rooms: delete some first' })
    }
    expect((await ann.call('rooms.list')).rooms.map((r) => r.name).sort()).toEqual(['capped lobby', 'one', 'two'])
    expect((await ben.call('room.delete', { roomId: two.roomId })).outcome).toBe('committed')
    expect((await ann.call('room.create', { name: 'three' })).room.name).toBe('three')
    ann.close()
    ben.close()
  }, 60_000)
})
