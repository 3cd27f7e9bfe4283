// Back-pressure on a peer Link (main/cluster/peer-transport.ts): when the peer stops reading (here a
// real node paused with SIGSTOP), writes stop at gRPC's flow control, the link queues, and past its
// cap it closes instead of letting this node's memory grow without bound.
import { afterAll, describe, expect, it } from 'vitest'
import { PeerTransport } from '../../main/cluster/peer-transport'
import { ClusterCredentials, newNodeKeyPem } from '../../main/cluster/cluster-credentials'
import { msg, type Hello } from '../../main/cluster/peer-messages'
import { cleanup, CLUSTER_KEY, startNode } from '../helpers/cluster'

afterAll(cleanup)

describe('a link to a peer that does not read', () => {
  it('queues behind flow control, then closes at its cap; the node process is untouched', async () => {
    const peer = await startNode({ name: 'slow' })
    const holder: { hello?: Hello } = {}
    // A transport of the same cluster (the test's key) with an identity of its own.
    const creds = new ClusterCredentials(CLUSTER_KEY, newNodeKeyPem())
    const transport = new PeerTransport(
      {
        hello: () => holder.hello!,
        inboundHello: () => {},
        inbound: () => {},
      },
      () => creds,
      { maxQueued: 2000 },
    )
    const port = await transport.listen('127.0.0.1', 0)
    const hello: Hello = {
      self: { nodeId: creds.nodeId, name: 'bp-test', address: `127.0.0.1:${port}` },
      incarnation: 'bp-1',
      known: [],
      rooms: [],
      protocol: 1,
    }
    holder.hello = hello
    let downReason = ''
    const link = transport.newLink(peer.ready.grpc, (_l, reason) => (downReason = reason))
    const theirs = await link.open(hello, 5000)
    expect(theirs.self.nodeId).toBe(peer.ready.nodeId)

    peer.proc.kill('SIGSTOP')
    const text = 'x'.repeat(4000)
    const started = Date.now()
    // 4 KB messages, well past the socket and HTTP/2 windows: the writer must stop and queue.
    for (let i = 0; i < 20_000 && !downReason; i++) {
      link.send(msg('deliver', { roomId: 'r', messages: [{ roomId: 'r', seq: i + 1, user: 'u', nodeId: 'bp-test', text, sentAt: 0, clientMsgId: `c${i}` }] }))
      if (i % 200 === 0) await new Promise((r) => setImmediate(r)) // let the writer run
    }
    expect(downReason).toMatch(/peer too slow: 2000 messages queued/)
    expect(link.up).toBe(false)
    expect(Date.now() - started).toBeLessThan(20_000)
    peer.proc.kill('SIGCONT')
    await transport.close()
  })
})
