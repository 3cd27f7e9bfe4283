/**
 * How a member node tells a room's administrator that a user left (main/node/room-member.ts;
 * docs/replication.md, "Membership and deletion"; docs/peer-protocol.md §2-§3), against stand-in
 * administrators on the other side of the link: one that announces `leave_replies` in its Hello and
 * answers, and one of an older version that never answers a LeaveRequest. The acknowledgement waits
 * for the answer only where one will come.
 */
import { describe, expect, it } from 'vitest'
import type { Bodies, PeerMessage } from '../../main/cluster/peer-messages'
import { systemClock } from '../../main/cluster/clock'
import type { ClientSession } from '../../main/gateway/ws-gateway'
import { RoomMember } from '../../main/node/room-member'

const ROOM = 'r1'
const ADMIN = 'n1'

/** The administrator's side of the link: what it was sent, and how it answers requests. */
class StandInAdministrator {
  readonly sent: PeerMessage[] = []
  readonly requested: PeerMessage[] = []
  constructor(
    readonly answersLeaves: boolean,
    private readonly answer: (body: Bodies['leaveRequest']) => Bodies['leaveReply'] | undefined,
  ) {}

  request = <T,>(_nodeId: string, build: (reqId: number) => PeerMessage): Promise<T> => {
    const m = build(41)
    this.requested.push(m)
    const reply = this.answer((m as { leaveRequest: Bodies['leaveRequest'] }).leaveRequest)
    return reply ? Promise.resolve(reply as T) : new Promise<T>(() => {})
  }
}

function memberNode(admin: StandInAdministrator): RoomMember {
  return new RoomMember({
    nodeId: 'n2',
    clock: systemClock,
    send: (_id, m) => {
      admin.sent.push(m)
      return true
    },
    request: admin.request as never,
    peerName: (id) => id,
    log: () => {},
    trace: () => {},
    localRange: () => undefined,
    localLeave: () => undefined,
    answersLeaves: () => admin.answersLeaves,
    memberCount: () => undefined,
    largeRoomMembers: 500,
  })
}

function session(user: string): ClientSession {
  return { user, batch: false, sendEncoded: () => {} } as unknown as ClientSession
}

const ok = (b: Bodies['leaveRequest']): Bodies['leaveReply'] => ({ reqId: b.reqId, error: null })
const unavailable = (b: Bodies['leaveRequest']): Bodies['leaveReply'] => ({ reqId: b.reqId, error: { code: 'room_unavailable', message: 'no majority' } })

describe('a member node tells the administrator of a leave', () => {
  const rows: { name: string; answersLeaves: boolean; answer: (b: Bodies['leaveRequest']) => Bodies['leaveReply'] | undefined; outcome: string; requests: number; sends: number }[] = [
    { name: 'an administrator that answers: acknowledged with its LeaveReply', answersLeaves: true, answer: ok, outcome: 'ok', requests: 1, sends: 0 },
    { name: 'an administrator that could not commit it: its error, for the client to see', answersLeaves: true, answer: unavailable, outcome: 'room_unavailable', requests: 1, sends: 0 },
    { name: 'an older administrator (no leave_replies): told with reqId 0, acknowledged at once', answersLeaves: false, answer: () => undefined, outcome: 'ok', requests: 0, sends: 1 },
  ]
  for (const row of rows) {
    it(row.name, async () => {
      const admin = new StandInAdministrator(row.answersLeaves, row.answer)
      const member = memberNode(admin)
      const s = session('bob')
      member.addSession(s, ROOM, ADMIN, 0)
      const told = member.leave(s, ROOM)
      expect(told).toEqual({ user: 'bob', adminNodeId: ADMIN })
      // The session is out of the room at once, whatever the administrator says.
      expect(member.isIn(s, ROOM)).toBe(false)
      const outcome = await member.tellLeave(told!.adminNodeId, ROOM, told!.user).then(
        () => 'ok',
        (e: { code?: string }) => e.code ?? 'error',
      )
      expect(outcome).toBe(row.outcome)
      expect(admin.requested).toHaveLength(row.requests)
      for (const m of admin.requested) expect((m as { leaveRequest: Bodies['leaveRequest'] }).leaveRequest).toMatchObject({ roomId: ROOM, user: 'bob', reqId: 41 })
      expect(admin.sent).toHaveLength(row.sends)
      for (const m of admin.sent) expect((m as { leaveRequest: Bodies['leaveRequest'] }).leaveRequest).toEqual({ reqId: 0, roomId: ROOM, user: 'bob' })
    })
  }

  it('a user with another session in the room has not left: nothing to tell', () => {
    const admin = new StandInAdministrator(true, ok)
    const member = memberNode(admin)
    const [tab1, tab2] = [session('bob'), session('bob')]
    member.addSession(tab1, ROOM, ADMIN, 0)
    member.addSession(tab2, ROOM, ADMIN, 0)
    expect(member.leave(tab1, ROOM)).toBeUndefined()
    expect(member.usersIn(ROOM)).toEqual(['bob'])
  })

  it('a closed connection leaves with reqId 0, even where an answer would come: nobody waits for it', () => {
    const admin = new StandInAdministrator(true, ok)
    const member = memberNode(admin)
    const s = session('bob')
    member.addSession(s, ROOM, ADMIN, 0)
    member.sessionClosed(s)
    expect(admin.requested).toEqual([])
    expect(admin.sent).toEqual([{ leaveRequest: { reqId: 0, roomId: ROOM, user: 'bob' } }])
  })
})
