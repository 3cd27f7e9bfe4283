/**
 * docs/replication.md, "One append per frame": a follower steps the appends of one room that arrive
 * back to back in a frame, each continuing the one before, as one: one log write, one answer with
 * the later matchSeq, one commit. Real nodes on the virtual clock and the in-memory network
 * (test/node/node-harness.ts); the follower's message log behind a counter.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MessageOf } from '../../main/cluster/peer-messages'
import { mergedAppend } from '../../main/node/append-merge'
import { TestCluster, beforeEntryWrites } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

type Append = MessageOf<'roomAppend'>
const entry = (seq: number, term = 2) => ({
  term,
  message: { roomId: 'r', seq, user: 'u', nodeId: 'n', text: `t${seq}`, sentAt: 0, clientMsgId: `c${seq}` },
})
const append = (o: Partial<Append['roomAppend']>): Append => ({
  body: 'roomAppend',
  roomAppend: { roomId: 'r', term: 2, leader: 'L', prevSeq: 4, prevTerm: 1, entries: [], commitSeq: 3, meta: null, noReply: false, ...o },
})

describe('mergedAppend', () => {
  it('joins an append and the one that continues it: both entry lists, the later commit point', () => {
    const a = append({ entries: [entry(5), entry(6)] })
    const b = append({ prevSeq: 6, prevTerm: 2, entries: [entry(7)], commitSeq: 5 })
    expect(mergedAppend(a, b)?.roomAppend).toEqual({ ...a.roomAppend, entries: [entry(5), entry(6), entry(7)], commitSeq: 5, noReply: false })
  })

  it('folds a commit notice into the append before or after it; two notices stay a notice', () => {
    const a = append({ entries: [entry(5)] })
    const notice = append({ prevSeq: 5, prevTerm: 2, commitSeq: 5, noReply: true })
    expect(mergedAppend(a, notice)?.roomAppend).toMatchObject({ prevSeq: 4, entries: [entry(5)], commitSeq: 5, noReply: false })
    const n1 = append({ noReply: true, commitSeq: 3 })
    const b = append({ entries: [entry(5)], commitSeq: 4 })
    expect(mergedAppend(n1, b)?.roomAppend).toMatchObject({ prevSeq: 4, entries: [entry(5)], commitSeq: 4, noReply: false })
    expect(mergedAppend(n1, append({ noReply: true, commitSeq: 4 }))?.roomAppend).toMatchObject({ entries: [], commitSeq: 4, noReply: true })
  })

  it('leaves apart what does not continue exactly: another room, term or administrator, room state, a gap, another prevTerm', () => {
    const a = append({ entries: [entry(5)] })
    const next = { prevSeq: 5, prevTerm: 2, entries: [entry(6)] }
    expect(mergedAppend(a, append(next))).toBeDefined()
    expect(mergedAppend(a, append({ ...next, roomId: 'other' }))).toBeUndefined()
    expect(mergedAppend(a, append({ ...next, term: 3 }))).toBeUndefined()
    expect(mergedAppend(a, append({ ...next, leader: 'M' }))).toBeUndefined()
    expect(mergedAppend(a, append({ ...next, prevSeq: 6 }))).toBeUndefined()
    expect(mergedAppend(a, append({ ...next, prevSeq: 4 }))).toBeUndefined()
    expect(mergedAppend(a, append({ ...next, prevTerm: 1 }))).toBeUndefined()
    const meta = { name: 'x', term: 1, version: 1, replicas: ['L'], members: [] } as unknown as NonNullable<Append['roomAppend']['meta']>
    expect(mergedAppend(a, append({ ...next, meta }))).toBeUndefined()
    expect(mergedAppend(append({ entries: [entry(5)], meta }), append(next))).toBeUndefined()
  })
})

describe('a follower given two appends of one room in one frame', () => {
  it('writes their entries once, answers once with the later matchSeq, and its members get both in order', async () => {
    const writes: number[] = []
    let counting = false
    const answers: number[] = []
    let appendsWithEntries = 0
    cluster = new TestCluster({
      tamper: (m) => {
        if (counting && 'roomAppend' in m && m.roomAppend.entries.length > 0) appendsWithEntries++
        if (counting && 'roomAppendReply' in m && m.roomAppendReply.ok) answers.push(m.roomAppendReply.matchSeq)
        return m
      },
    })
    // n3's log: every write of entries, by their count.
    cluster.wrapMessages = (name, log) =>
      name !== 'n3' ? log : beforeEntryWrites(log, (entries) => {
        if (counting) writes.push(entries.length)
      })
    await cluster.start(3)
    const [n1, , n3] = cluster.nodes
    const alice = await cluster.client(n1, 'alice')
    const carol = await cluster.client(n3, 'carol')
    const lobby = (await alice.call({ id: 2, op: 'rooms.list' })).rooms.find((r) => r.name === 'n1 lobby')!
    expect(lobby.replicas).toHaveLength(3)
    await alice.call({ id: 3, op: 'room.join', roomId: lobby.roomId })
    await carol.call({ id: 4, op: 'room.join', roomId: lobby.roomId })
    await cluster.run(100)
    counting = true
    // Two sends ordered in two turns of the administrator (each turn's entries are one append per
    // follower), before its link's frame leaves: the frame to n3 carries two appends back to back.
    const first = n1.gateway.request(alice.session, { id: 10, op: 'message.send', roomId: lobby.roomId, text: 'one', clientMsgId: 'a-1' })
    await new Promise((r) => setImmediate(r))
    const second = n1.gateway.request(alice.session, { id: 11, op: 'message.send', roomId: lobby.roomId, text: 'two', clientMsgId: 'a-2' })
    const replies = await cluster.settle(Promise.all([first, second]))
    await cluster.run(100)
    counting = false
    expect(replies.map((r) => (r.ok ? (r.result as { seq: number }).seq : r.error.code))).toEqual([1, 2])
    // Two appends with entries to each follower: the administrator did order them in two turns.
    expect(appendsWithEntries).toBe(4)
    // n3 got both in one frame: it wrote both entries at once and answered once, with the later
    // matchSeq. (n2's link happened to write them in two frames: two answers.)
    expect(writes).toEqual([2])
    expect(answers.sort()).toEqual([1, 2, 2])
    expect(TestCluster.seqs(carol, lobby.roomId)).toEqual([1, 2])
    expect(n3.disk.logs.get(lobby.roomId)?.messages.map((m) => m.text)).toEqual(['one', 'two'])
  })
})
