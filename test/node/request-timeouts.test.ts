// A forwarded send the administrator never answers fails with `timeout` exactly REQUEST_TIMEOUT_MS
// after it left (docs/client-protocol.md §3), each at its own deadline, while answered sends around
// it succeed: the request timeouts share one timer (main/node/request-deadlines.ts).
import { afterEach, describe, expect, it } from 'vitest'
import { REQUEST_TIMEOUT_MS } from '../../main/node/peer-links'
import { TestCluster } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => cluster?.stopAll())

describe('request timeouts', () => {
  it('unanswered forwards time out at their own deadlines; answered ones do not', async () => {
    let lose = false
    cluster = new TestCluster({
      // The administrator's answers are lost on the way while `lose` is set (an id no request has).
      tamper: (m) => ('sendAck' in m && lose ? { ...m, sendAck: { ...m.sendAck, reqId: m.sendAck.reqId + 1e12 } } : m),
    })
    cluster.replicas = 1
    await cluster.start(2)
    const [, n2] = cluster.nodes
    const bob = await cluster.client(n2, 'bob')
    const lobby = (await bob.call({ id: 2, op: 'rooms.list' })).rooms.find((r) => r.name === 'n1 lobby')!
    await bob.call({ id: 3, op: 'room.join', roomId: lobby.roomId })

    const settledAt = new Map<string, { at: number; outcome: string }>()
    const send = (text: string) => {
      const sentAt = cluster!.clock.now()
      void n2.gateway.request(bob.session, { id: text, op: 'message.send', roomId: lobby.roomId, text, clientMsgId: text }).then((r) => {
        settledAt.set(text, { at: cluster!.clock.now() - sentAt, outcome: r.ok ? 'ok' : r.error.code })
      })
    }
    lose = true
    send('a')
    await cluster.run(3000)
    send('b')
    await cluster.run(10)
    lose = false
    send('c')
    await cluster.run(REQUEST_TIMEOUT_MS - 3000 - 10 - 1)
    // Just before a's deadline: c was answered, a and b still wait.
    expect(settledAt.get('c')?.outcome).toBe('ok')
    expect(settledAt.has('a')).toBe(false)
    await cluster.run(1)
    expect(settledAt.get('a')).toEqual({ at: REQUEST_TIMEOUT_MS, outcome: 'timeout' })
    expect(settledAt.has('b')).toBe(false)
    await cluster.run(3000)
    expect(settledAt.get('b')).toEqual({ at: REQUEST_TIMEOUT_MS, outcome: 'timeout' })
  })
})
