/**
 * A disk that refuses a write (full, read-only, failing) on the administrator: the sender hears an
 * error, the message never gets a seq, and nobody is ever served it: not the members, not a gap
 * fetch, not a join's history, not history.fetch (docs/persistence.md). Real nodes on the virtual
 * clock and the in-memory network (test/node/node-harness.ts), with the administrator's message log
 * behind a switch.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ChatMessage } from '../../proto/client-protocol'
import type { MessageStore } from '../../main/store/message-log'
import { TestCluster, type TestClient } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

class DiskFull extends Error {
  readonly code = 'ENOSPC'
}

/** `log`, whose appends throw while `failing` says so. */
function failingLog(log: MessageStore, failing: () => boolean): MessageStore {
  return new Proxy(log, {
    get(target, prop, receiver) {
      if (prop === 'append') {
        return (m: ChatMessage) => {
          if (failing()) throw new DiskFull('ENOSPC: no space left on device, write')
          target.append(m)
        }
      }
      if (prop === 'appendEntries') {
        // A replicated room's log (docs/replication.md): the same disk.
        return (roomId: string, entries: Parameters<MessageStore['appendEntries']>[1]) => {
          if (failing()) throw new DiskFull('ENOSPC: no space left on device, write')
          target.appendEntries(roomId, entries)
        }
      }
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

const texts = (c: TestClient, roomId: string) =>
  c.events.flatMap((e) =>
    e.event === 'message' && e.roomId === roomId ? [e.text] : e.event === 'messages' && e.roomId === roomId ? e.messages.map((m) => m.text) : [],
  )

describe('a failed append on the administrator', () => {
  it('the sender gets internal, the message has no seq, and no member, fetch, join or history ever serves it', async () => {
    let failing = false
    cluster = new TestCluster()
    cluster.wrapMessages = (name, log) => (name === 'n1' ? failingLog(log, () => failing) : log)
    await cluster.start(3)
    const [n1, n2, n3] = cluster.nodes
    const ann = await cluster.client(n1, 'ann')
    const bob = await cluster.client(n2, 'bob')
    const carol = await cluster.client(n3, 'carol')
    const lobby = (await bob.call({ id: 2, op: 'rooms.list' })).rooms.find((r) => r.name === 'n1 lobby')!
    for (const c of [ann, bob, carol]) await c.call({ id: 3, op: 'room.join', roomId: lobby.roomId })
    await bob.call({ id: 4, op: 'message.send', roomId: lobby.roomId, text: 'saved 1', clientMsgId: 'b-1' })

    failing = true
    // Forwarded from another node, and sent on the administrator itself: both refused.
    await expect(bob.call({ id: 5, op: 'message.send', roomId: lobby.roomId, text: 'lost (forwarded)', clientMsgId: 'b-2' })).rejects.toMatchObject({ code: 'internal' })
    await expect(ann.call({ id: 6, op: 'message.send', roomId: lobby.roomId, text: 'lost (local)', clientMsgId: 'a-1' })).rejects.toMatchObject({ code: 'internal' })
    await cluster.run(500)
    failing = false

    // The retry of the same clientMsgId is a new message, and takes the seq the failed one never had.
    const retry = await bob.call({ id: 7, op: 'message.send', roomId: lobby.roomId, text: 'saved 2', clientMsgId: 'b-2' })
    expect(retry.seq).toBe(2)
    await cluster.run(500)

    for (const c of [ann, bob, carol]) {
      expect(texts(c, lobby.roomId)).toEqual(['saved 1', 'saved 2'])
      const { messages } = await c.call({ id: 8, op: 'history.fetch', roomId: lobby.roomId })
      expect(messages.map((m) => `${m.seq} ${m.text}`)).toEqual(['1 saved 1', '2 saved 2'])
    }
    // A newcomer's join history, from another node.
    const dan = await cluster.client(n3, 'dan')
    const joined = await dan.call({ id: 9, op: 'room.join', roomId: lobby.roomId })
    expect(joined.history.map((m) => m.text)).toEqual(['saved 1', 'saved 2'])
    expect(n1.disk.logs.get(lobby.roomId)?.messages.map((m) => m.text)).toEqual(['saved 1', 'saved 2'])
  })
})
