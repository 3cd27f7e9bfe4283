/**
 * The history checker (history-check.ts) finds each kind of violation it claims to, and none in a
 * clean history: a checker that cannot fail would make the ordering tests worthless.
 */
import { describe, expect, it } from 'vitest'
import { checkHistories, type ClientHistory, type RecordedMessage } from './history-check'

const R = 'room'
const m = (seq: number, user: string, clientMsgId: string): RecordedMessage => ({ roomId: R, seq, user, nodeId: 'n1', clientMsgId })

/** alice sends a1..a3 (seqs 1..3), bob receives them live after joining at lastSeq 0. */
function clean(): { alice: ClientHistory; bob: ClientHistory } {
  const alice: ClientHistory = {
    name: 'alice',
    user: 'alice',
    nodeId: 'n1',
    messages: [m(1, 'alice', 'a1'), m(2, 'alice', 'a2'), m(3, 'alice', 'a3')],
    joins: [{ roomId: R, at: 0, lastSeq: 0, history: [] }],
    sends: [1, 2, 3].map((k) => ({ roomId: R, clientMsgId: `a${k}`, ok: true, seq: k })),
  }
  const bob: ClientHistory = {
    name: 'bob',
    user: 'bob',
    nodeId: 'n1',
    messages: [m(2, 'alice', 'a2'), m(3, 'alice', 'a3')],
    joins: [{ roomId: R, at: 0, lastSeq: 1, history: [m(1, 'alice', 'a1')] }],
    sends: [],
  }
  return { alice, bob }
}

const kinds = (h: ClientHistory[]) => checkHistories(h, { expectDelivered: true }).map((v) => v.kind)

describe('history checker', () => {
  it('a clean history has no violation', () => {
    const { alice, bob } = clean()
    expect(checkHistories([alice, bob], { expectDelivered: true })).toEqual([])
  })

  it('finds a seq shown twice', () => {
    const { alice, bob } = clean()
    bob.messages.push(m(3, 'alice', 'a3'))
    expect(kinds([alice, bob])).toEqual(['duplicate'])
  })

  it('finds a gap, and a join whose history stops short of its lastSeq', () => {
    const { alice, bob } = clean()
    bob.messages.splice(0, 1) // seq 2 missing
    expect(kinds([alice, bob])).toEqual(['gap', 'gap']) // 1 then 3, and first live 3 after lastSeq 1
    const c = clean()
    c.bob.joins[0] = { roomId: R, at: 0, lastSeq: 1, history: [] }
    c.bob.messages = [m(3, 'alice', 'a3')]
    expect(kinds([c.alice, c.bob])).toEqual(['gap'])
  })

  it('finds a sender whose later send got the lower seq', () => {
    const { alice, bob } = clean()
    alice.sends = [
      { roomId: R, clientMsgId: 'a2', ok: true, seq: 2 },
      { roomId: R, clientMsgId: 'a1', ok: true, seq: 1 },
      { roomId: R, clientMsgId: 'a3', ok: true, seq: 3 },
    ]
    // Reported for both receivers (alice herself and bob see a1 after a2) and for the sender's acks.
    expect(kinds([alice, bob])).toEqual(['fifo', 'fifo', 'fifo'])
  })

  it('finds two clients that saw different messages under one seq', () => {
    const { alice, bob } = clean()
    bob.messages[0] = m(2, 'carol', 'c1')
    expect(kinds([alice, bob])).toEqual(['mismatch'])
  })

  it('finds an acknowledged message nobody saw', () => {
    const { alice, bob } = clean()
    alice.sends.push({ roomId: R, clientMsgId: 'a4', ok: true, seq: 4 })
    expect(kinds([alice, bob])).toEqual(['lost'])
  })
})
