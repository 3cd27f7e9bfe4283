/**
 * Which rooms each user of this node has joined, kept in the node's --data-dir (joined-rooms.json),
 * so a reload of the page or a restart of the app finds them again: `hello` answers with them and
 * the client rejoins (docs/client-protocol.md §4: hello.joinedRooms).
 *
 * A join adds the room, an explicit `room.leave` removes it; a dropped connection changes nothing
 * (that is the point). Rooms known to be deleted are left out when the list is read, and a rejoin
 * that finds a room gone drops it (client-ops.ts). One small JSON
 * document, replaced atomically like the node's other files (node-store.ts), at most every
 * SAVE_DELAY_MS and when the node stops: a file of all users written and synced on every join made
 * building a room of thousands cost O(users²) bytes and one fsync per join, with the event loop
 * blocked meanwhile (docs/benchmarks.md, "Scale"). A crash loses at most the last moment's joins
 * from this record, not from the rooms.
 */
import type { NodeStore } from '../store/node-store'
import type { Clock, Timer } from '../cluster/clock'

const FILE = 'joined-rooms.json'
/** Bounds a bad or hostile client cannot exceed: the record stays a small file. */
const MAX_USERS = 10_000
const MAX_ROOMS_PER_USER = 1_000
const SAVE_DELAY_MS = 200

export class JoinedRooms {
  private readonly byUser: Map<string, string[]>
  private saveTimer: Timer | undefined

  /** Without a clock every change is saved at once. */
  constructor(
    private readonly store: Pick<NodeStore, 'load' | 'save'>,
    private readonly clock?: Pick<Clock, 'setTimeout' | 'clear'>,
  ) {
    const raw = store.load<unknown>(FILE, {})
    this.byUser = new Map()
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
      for (const [user, rooms] of Object.entries(raw as Record<string, unknown>)) {
        if (Array.isArray(rooms)) this.byUser.set(user, rooms.filter((r): r is string => typeof r === 'string'))
      }
    }
  }

  /** The rooms `user` joined, in the order joined, keeping only those `keep` accepts. */
  list(user: string, keep: (roomId: string) => boolean): string[] {
    return (this.byUser.get(user) ?? []).filter(keep)
  }

  add(user: string, roomId: string): void {
    const rooms = this.byUser.get(user) ?? []
    if (rooms.includes(roomId)) return
    if (!this.byUser.has(user) && this.byUser.size >= MAX_USERS) return
    this.byUser.set(user, [...rooms, roomId].slice(-MAX_ROOMS_PER_USER))
    this.save()
  }

  remove(user: string, roomId: string): void {
    const rooms = this.byUser.get(user)
    if (!rooms?.includes(roomId)) return
    const left = rooms.filter((r) => r !== roomId)
    if (left.length > 0) this.byUser.set(user, left)
    else this.byUser.delete(user)
    this.save()
  }

  private save(): void {
    if (!this.clock) return this.flush()
    this.saveTimer ??= this.clock.setTimeout(() => this.flush(), SAVE_DELAY_MS)
  }

  /** Write the record now (a scheduled save, and the node's stop). */
  flush(): void {
    this.clock?.clear(this.saveTimer)
    this.saveTimer = undefined
    this.store.save(FILE, Object.fromEntries(this.byUser))
  }
}
