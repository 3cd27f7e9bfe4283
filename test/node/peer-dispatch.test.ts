// The dispatch table of peer messages (docs/architecture.md, "Dispatch of peer messages"): every
// kind has one owner, and a table that leaves a kind out does not compile. The type checks below run
// with `tsc -p tsconfig.node.json`, which includes test/.
import { describe, expect, it } from 'vitest'
import type { BodyName, DecodedMessage } from '../../main/cluster/peer-messages'
import { dispatchPeerMessage, peerDispatchTable, type PeerDispatchTable, type PeerMessageOwners } from '../../main/node/peer-dispatch'

// @ts-expect-error a table with no owner for `deliver` is not a PeerDispatchTable
const missingOwner: PeerDispatchTable = {} as Omit<PeerDispatchTable, 'deliver'>
void missingOwner

describe('peer message dispatch', () => {
  it('hands each kind to exactly one owner, narrowed to that kind', () => {
    const calls: string[] = []
    const record = (owner: string) => (from: string, m: DecodedMessage | { txId?: string; roomId?: string }) =>
      calls.push(`${owner}:${from}:${'body' in m ? m.body : 'body only'}`)
    const deletionCall = (name: string) => (from: string) => calls.push(`deletions.${name}:${from}`)
    const owners: PeerMessageOwners = {
      links: { onPeerMessage: record('links') },
      directory: { dropRoom: (roomId) => calls.push(`directory:${roomId}`) },
      replication: { onPeerMessage: record('replication') },
      admin: { onPeerMessage: record('admin') },
      member: { onPeerMessage: record('member') },
      deletions: {
        onDeleteRequest: deletionCall('onDeleteRequest'),
        onPrepare: deletionCall('onPrepare'),
        onVote: deletionCall('onVote'),
        onDecision: deletionCall('onDecision'),
        onDecisionAck: deletionCall('onDecisionAck'),
        onQuery: deletionCall('onQuery'),
        onDecisionAnswer: deletionCall('onDecisionAnswer'),
        onDeletionProgress: deletionCall('onDeletionProgress'),
      },
    }
    const table = peerDispatchTable(owners)
    const send = (body: BodyName, fields: object = {}) => dispatchPeerMessage(table, 'n2', { body, [body]: fields } as unknown as DecodedMessage)

    send('deliver')
    send('forwardSend')
    send('roomAppend')
    send('sendAck')
    send('roomRemoved', { roomId: 'r1' })
    send('prepare')
    send('decisionQuery')
    expect(calls).toEqual([
      'member:n2:deliver',
      'admin:n2:forwardSend',
      'replication:n2:roomAppend',
      'links:n2:sendAck',
      'directory:r1',
      'deletions.onPrepare:n2',
      'deletions.onQuery:n2',
    ])

    // Every kind in the table reaches exactly one owner.
    for (const body of Object.keys(table) as BodyName[]) {
      const before = calls.length
      send(body, { roomId: 'r1' })
      expect(calls.length - before, body).toBe(1)
    }
  })
})
