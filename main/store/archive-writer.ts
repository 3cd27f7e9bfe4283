/**
 * Copies the committed messages of the rooms whose log this node holds into the database archive
 * (docs/archive.md, "Design"), off the ordering path: a commit only raises a number here, and one
 * background loop reads the messages back from the log and writes them in batches. A slow or dead
 * database therefore never slows a send; the node just falls behind and says so.
 *
 * Per room it keeps two seqs: `committed` (highest seq in the node's log) and `archived` (the
 * watermark: highest seq the database holds, read from it on (re)connection and raised in the same
 * transaction as each batch). What is between them is "behind". When the database comes back the
 * loop carries on from the watermark; the (room_id, seq) primary key with ON CONFLICT DO NOTHING
 * makes a batch written twice (a commit whose answer was lost) harmless, so nothing is lost and
 * nothing is stored twice.
 *
 * Fed by "a room whose log this node holds" (holdRoom / committed / roomDeleted), not by the
 * administrator role as such, so a replicated log can feed it the same way.
 */
import type { ChatMessage } from '../../proto/client-protocol'
import type { ArchiveDb, ArchivedRoom } from './archive-db'

export type ArchiveState = 'connecting' | 'ok' | 'down'

export interface ArchiveStatus {
  state: ArchiveState
  /** Committed messages not yet in the database. */
  behind: number
  /** Messages written since this node started. */
  archived: number
  /** Commit-to-database time of the last message written, ms. */
  lagMs: number
  lastError?: string
}

export type RoomMeta = Omit<ArchivedRoom, 'archivedSeq' | 'deletedAt'>

/** What survives a restart in the data dir: deletions not yet written, and the last watermarks. */
interface SavedState {
  pendingDeletes: { roomId: string; at: number }[]
  watermarks: Record<string, number>
}

export interface ArchiveWriterComponents {
  readonly db: Pick<ArchiveDb, 'migrate' | 'recordRoom' | 'room' | 'appendMessages' | 'markDeleted'>
  /** Seqs from..to of a room whose log this node holds (undefined: it no longer holds it). */
  source(roomId: string, from: number, to: number): ChatMessage[] | undefined
  load(): SavedState | undefined
  save(s: SavedState): void
  log(line: string): void
  /** The status changed (state at once; `behind` at most every STATUS_EVERY_MS). */
  statusChanged(s: ArchiveStatus): void
}

interface Track {
  meta: RoomMeta
  committed: number
  /** undefined until the database told us its watermark. */
  archived: number | undefined
  /** The watermark last saved locally: an estimate of `behind` while the database cannot be asked. */
  savedArchived: number
  /** (seq, commit time) of recent commits, to measure the lag. */
  commitTimes: [number, number][]
}

const BATCH = 500
/**
 * Commits within this window go into one batch: at 100 messages/s that is 5 rows per statement
 * instead of one, for at most this much more archive lag.
 */
const FLUSH_DELAY_MS = 50
const STATUS_EVERY_MS = 500
const RETRY_MIN_MS = 250
const RETRY_MAX_MS = 5000
const MAX_COMMIT_TIMES = 100_000

export class ArchiveWriter {
  private readonly rooms = new Map<string, Track>()
  private pendingDeletes: { roomId: string; at: number }[]
  /** Watermarks saved by an earlier run, for rooms not yet confirmed by the database. */
  private readonly savedWatermarks: Record<string, number>
  private state: ArchiveState = 'connecting'
  private lastError: string | undefined
  private archivedCount = 0
  private lagMs = 0
  private migrated = false
  private pumping: Promise<void> | undefined
  private again = false
  private flushTimer: NodeJS.Timeout | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private retryMs = RETRY_MIN_MS
  private statusTimer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(private readonly c: ArchiveWriterComponents) {
    const saved = c.load()
    this.pendingDeletes = saved?.pendingDeletes ?? []
    this.savedWatermarks = saved?.watermarks ?? {}
  }

  start(): void {
    this.kick()
  }

  /** This node holds the room's log, up to `committedSeq`. */
  holdRoom(meta: RoomMeta, committedSeq: number): void {
    const had = this.rooms.get(meta.roomId)
    if (had) {
      had.committed = Math.max(had.committed, committedSeq)
    } else {
      const saved = this.savedWatermarks[meta.roomId] ?? 0
      this.rooms.set(meta.roomId, { meta, committed: committedSeq, archived: undefined, savedArchived: saved, commitTimes: [] })
    }
    this.schedule()
  }

  /** A message is committed in the room's log (called after the log append, before anything else). */
  committed(roomId: string, seq: number, now: number): void {
    const t = this.rooms.get(roomId)
    if (!t || seq <= t.committed) return
    t.committed = seq
    if (t.commitTimes.length < MAX_COMMIT_TIMES) t.commitTimes.push([seq, now])
    this.schedule()
  }

  /** A committed deletion: the room is marked deleted and its messages removed, in order. */
  roomDeleted(roomId: string, at: number): void {
    if (!this.rooms.delete(roomId) && this.pendingDeletes.some((d) => d.roomId === roomId)) return
    this.pendingDeletes.push({ roomId, at })
    delete this.savedWatermarks[roomId]
    this.saveState()
    this.schedule()
  }

  status(): ArchiveStatus {
    let behind = 0
    for (const t of this.rooms.values()) behind += Math.max(0, t.committed - (t.archived ?? t.savedArchived))
    return { state: this.state, behind, archived: this.archivedCount, lagMs: this.lagMs, lastError: this.lastError }
  }

  /** Stop, after writing what can be written within `graceMs` (the rest is caught up next start). */
  async stop(graceMs = 2000): Promise<void> {
    if (this.stopped) return
    const deadline = Date.now() + graceMs
    clearTimeout(this.flushTimer)
    clearTimeout(this.retryTimer)
    while (this.state === 'ok' && this.status().behind > 0 && Date.now() < deadline) {
      if (!this.pumping) this.kick()
      await Promise.race([this.pumping, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))])
    }
    this.stopped = true
    clearTimeout(this.flushTimer)
    clearTimeout(this.retryTimer)
    clearTimeout(this.statusTimer)
    if (this.pumping) await Promise.race([this.pumping, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))])
    this.saveState()
  }

  // -------------------------------------------------------------------------------------------

  private schedule(): void {
    if (this.stopped || this.flushTimer || this.retryTimer) return
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      this.kick()
    }, FLUSH_DELAY_MS)
  }

  private kick(): void {
    if (this.stopped) return
    if (this.pumping) {
      this.again = true
      return
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined
      if (this.again && !this.retryTimer) {
        this.again = false
        this.kick()
      }
    })
  }

  private async pump(): Promise<void> {
    try {
      if (!this.migrated) {
        const applied = await this.c.db.migrate()
        if (applied.length) this.c.log(`archive: schema migrated to version ${applied[applied.length - 1]}`)
        this.migrated = true
      }
      let progressed = true
      while (progressed && !this.stopped) {
        progressed = false
        await this.writeDeletions()
        for (const t of [...this.rooms.values()]) {
          if (this.stopped) break
          if (this.rooms.get(t.meta.roomId) !== t) continue // deleted meanwhile: its deletion comes next
          if (t.archived === undefined) {
            await this.c.db.recordRoom(t.meta)
            const r = await this.c.db.room(t.meta.roomId)
            if (!this.rooms.has(t.meta.roomId)) continue // deleted meanwhile
            t.archived = r?.archivedSeq ?? 0
            if (t.archived > t.committed) {
              this.c.log(`archive: room ${t.meta.name} holds seq ${t.archived} in the database but only ${t.committed} here`)
            }
          }
          if (await this.writeBatch(t)) progressed = true
        }
        if (this.pendingDeletes.length) progressed = true
      }
      this.retryMs = RETRY_MIN_MS
      this.setState('ok', undefined)
    } catch (e) {
      this.setState('down', (e as Error).message)
      // Watermarks are read again on reconnection: what the last lost commit did is unknown.
      for (const t of this.rooms.values()) if (t.archived !== undefined) t.savedArchived = t.archived
      this.saveState()
      if (!this.stopped) {
        const wait = this.retryMs
        this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2)
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined
          this.kick()
        }, wait)
      }
    }
  }

  private async writeDeletions(): Promise<void> {
    while (this.pendingDeletes.length && !this.stopped) {
      const d = this.pendingDeletes[0]
      await this.c.db.markDeleted(d.roomId, d.at)
      this.pendingDeletes.shift()
      this.saveState()
    }
  }

  /** One batch of one room; false when it has nothing (more) to write. */
  private async writeBatch(t: Track): Promise<boolean> {
    const from = (t.archived ?? 0) + 1
    if (t.archived === undefined || from > t.committed) return false
    const batch = this.c.source(t.meta.roomId, from, Math.min(t.committed, from + BATCH - 1))?.filter((m) => m.seq >= from)
    if (!batch || batch.length === 0) return false
    await this.c.db.appendMessages(t.meta.roomId, batch)
    const top = batch[batch.length - 1].seq
    t.archived = Math.max(t.archived, top)
    t.savedArchived = t.archived
    this.archivedCount += batch.length
    let at: number | undefined
    while (t.commitTimes.length && t.commitTimes[0][0] <= top) at = t.commitTimes.shift()![1]
    if (at !== undefined) this.lagMs = Date.now() - at
    this.statusSoon()
    return true
  }

  private setState(state: ArchiveState, error: string | undefined): void {
    const changed = state !== this.state
    this.state = state
    if (error !== undefined) this.lastError = error
    if (changed) {
      this.c.log(`archive: ${state}${error ? ` (${error})` : ''}`)
      clearTimeout(this.statusTimer)
      this.statusTimer = undefined
      this.c.statusChanged(this.status())
    } else {
      this.statusSoon()
    }
  }

  private statusSoon(): void {
    if (this.statusTimer || this.stopped) return
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined
      this.c.statusChanged(this.status())
    }, STATUS_EVERY_MS)
  }

  private saveState(): void {
    const watermarks: Record<string, number> = { ...this.savedWatermarks }
    for (const [id, t] of this.rooms) watermarks[id] = t.archived ?? t.savedArchived
    try {
      this.c.save({ pendingDeletes: this.pendingDeletes, watermarks })
    } catch (e) {
      this.c.log(`archive: cannot save its state: ${(e as Error).message}`)
    }
  }
}
