/**
 * A member node joins its users again to a room's administrator (a peer restarted, a link came back:
 * main/node/room-member.ts, `resyncRoomsOf`), and the answer says the room is at a seq below what
 * this node already delivered (docs/ordering.md, "Rejoining an administrator"). Against a stand-in
 * administrator on the other side of the link. An unreplicated room's administrator can be behind
 * only by losing its log's tail: the member starts over from its count. A replicated room loses no
 * committed seq (docs/replication.md): a new administrator behind is one that has not learned the
 * commit point yet, and starting over would deliver seqs again (a duplicate seen by the simulator).
 */
import { describe, expect, it } from 'vitest'
import type { Bodies, PeerMessage } from '../../main/cluster/peer-messages'
import { systemClock } from '../../main/cluster/clock'
import type { ClientSession } from '../../main/gateway/ws-gateway'
import { RoomMember } from '../../main/node/room-member'
import type { ChatMessage } from '../../proto/client-protocol'

const ROOM = 'r1'
const ADMIN = 'n1'

const message = (seq: number): ChatMessage => ({ roomId: ROOM, seq, user: 'ann', nodeId: ADMIN, text: `m${seq}`, sentAt: seq, clientMsgId: `a-${seq}` })

/** A member node whose administrator answers every join with `lastSeq`; the seqs its client was shown. */
function memberNode(replicated: boolean, lastSeq: number) {
  const shown: number[] = []
  const member = new RoomMember({
    nodeId: 'n2',
    clock: systemClock,
    send: () => true,
    request: (<T>(_id: string, build: (reqId: number) => PeerMessage, _ms?: number, onReply?: (b: T) => void): Promise<T> => {
      const m = build(7) as { joinRequest: Bodies['joinRequest'] }
      const reply = { reqId: m.joinRequest.reqId, error: null, room: null, members: [], lastSeq, history: [] } as unknown as T
      onReply?.(reply)
      return Promise.resolve(reply)
    }) as never,
    peerName: (id) => id,
    log: () => {},
    trace: () => {},
    localRange: () => undefined,
    localLeave: () => undefined,
    answersLeaves: () => true,
    memberCount: () => undefined,
    largeRoomMembers: 500,
    replicated: () => replicated,
  })
  const s = {
    user: 'bob',
    batch: false,
    sendEncoded: (f: { json: Buffer }) => {
      const frame = JSON.parse(f.json.toString()) as { event?: string; seq?: number }
      if (frame.event === 'message') shown.push(frame.seq!)
    },
  } as unknown as ClientSession
  member.addSession(s, ROOM, ADMIN, 0)
  member.releaseHeld(s, ROOM)
  const deliver = (...seqs: number[]) => member.onPeerMessage(ADMIN, { body: 'deliver', deliver: { roomId: ROOM, messages: seqs.map(message) } } as never)
  return { member, shown, deliver }
}

describe('a rejoin answered behind what this node delivered', () => {
  it.each([
    { replicated: true, expected: [1, 2, 3, 4, 5, 6], what: 'a replicated room: waited for, nothing shown twice' },
    { replicated: false, expected: [1, 2, 3, 4, 5, 4, 5, 6], what: 'an unreplicated room: the sequence starts over from the administrator count (its log lost the tail)' },
  ])('$what', async ({ replicated, expected }) => {
    const { member, shown, deliver } = memberNode(replicated, 3)
    await new Promise((r) => setTimeout(r, 5))
    deliver(1, 2, 3, 4, 5)
    member.resyncRoomsOf(ADMIN, 'peer restarted')
    await new Promise((r) => setTimeout(r, 5))
    // The administrator commits its predecessor's tail and goes on.
    deliver(4, 5, 6)
    expect(shown).toEqual(expected)
  })
})
