/**
 * The live messages of the rooms this session joined. The node already hands a connection each
 * room's messages in seq order, without gaps or duplicates, and never before the `room.join` reply
 * that gives the room's `lastSeq` (docs/client-protocol.md §6; docs/ordering.md §4). So there is no
 * reordering here, and no waiting for gaps; what is left to the client:
 *   - a join's reply is handled in a promise continuation (after a history fetch, on a rejoin), so
 *     messages that arrive meanwhile are held until the reply is in the state, then released;
 *   - duplicates (a rejoin's history meeting what was already shown) are dropped by seq in the
 *     reducer (chat-state.ts);
 *   - a jump in seq, which the node promises never to make, is told to the user at once (nothing
 *     would fill it by waiting), with the missing numbers as ranges.
 */
import type { ChatMessage } from '../../../proto/client-protocol'
import { mentionsSelf, noticeKey, shouldNotify } from '../state/chat-state'
import { describeMissing, type SeqRange } from '../state/gaps'
import { knownNodeNames, userLabel } from '../state/identity'
import type { SessionHost } from './session-host'

interface StreamRoom {
  /** Messages that came while the room's join was being answered; null once it is. */
  held: ChatMessage[] | null
  /** Joined by this join (not joined before it): a failed join forgets the room again. */
  fresh: boolean
}

export class RoomStream {
  private readonly rooms = new Map<string, StreamRoom>()
  /** Rooms that became available again and have not had a message since: a jump there is a restart. */
  private readonly cameBack = new Set<string>()
  /** Seqs that never arrived in each room since it was joined, for the notice. */
  private readonly missing = new Map<string, SeqRange[]>()

  constructor(
    private readonly host: SessionHost,
    private readonly notify?: (title: string, body: string, roomId: string) => void,
  ) {}

  /** A `room.join` is on its way: take the room's messages, and hold them until `joined`. */
  joining(roomId: string): void {
    const r = this.rooms.get(roomId)
    if (r) r.held ??= []
    else this.rooms.set(roomId, { held: [], fresh: true })
  }

  /** The join's reply is in the state: what came meanwhile follows it. */
  joined(roomId: string): void {
    const r = this.rooms.get(roomId)
    if (!r) return
    r.fresh = false
    this.missing.delete(roomId)
    this.release(r)
  }

  /** The join failed: a room joined before stays as it was, a new one is forgotten. */
  joinFailed(roomId: string): void {
    const r = this.rooms.get(roomId)
    if (!r) return
    if (r.fresh) this.rooms.delete(roomId)
    else this.release(r)
  }

  /** Left or deleted: its messages are not ours any more. */
  closed(roomId: string): void {
    this.rooms.delete(roomId)
    this.cameBack.delete(roomId)
    this.missing.delete(roomId)
  }

  cameBackAvailable(roomId: string): void {
    this.cameBack.add(roomId)
  }

  onMessage(m: ChatMessage): void {
    const r = this.rooms.get(m.roomId)
    if (!r) return // not (any more) joined here
    if (r.held) r.held.push(m)
    else this.show(m)
  }

  private release(r: StreamRoom): void {
    const held = r.held ?? []
    r.held = null
    for (const m of held) this.show(m)
  }

  private show(m: ChatMessage): void {
    const h = this.host
    const room = h.state().chat.rooms[m.roomId]
    if (!room) return
    if (m.seq > room.latestSeq + 1) this.jumped(m.roomId, [room.latestSeq + 1, m.seq - 1])
    // A message in order after the room came back: nothing was skipped (a pause, not a restart).
    else if (m.seq === room.latestSeq + 1) this.cameBack.delete(m.roomId)
    const notify = shouldNotify(h.state().chat, m)
    h.dispatch({ type: 'message', message: m })
    if (notify && this.notify) {
      const mentioned = mentionsSelf(h.state().chat, m)
      // The sender with its node (client-protocol.md §7): two people may share a name.
      const who = userLabel(m.user, m.nodeId, knownNodeNames(h.state())).text
      this.notify(`${who} ${mentioned ? 'mentioned you' : ''} in ${room.info.name}`.replace('  ', ' '), m.text, m.roomId)
    }
  }

  private jumped(roomId: string, range: SeqRange): void {
    const ranges = [...(this.missing.get(roomId) ?? []), range]
    this.missing.set(roomId, ranges)
    const adminRestarted = this.cameBack.delete(roomId)
    const roomName = this.host.state().chat.rooms[roomId]?.info.name
    this.host.dispatch({ type: 'notice', kind: 'warning', text: describeMissing(ranges, { roomName, adminRestarted }), roomId, key: noticeKey.gap(roomId) })
  }
}
