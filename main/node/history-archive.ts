/**
 * The node's side of the shared history archive (docs/archive.md): the database connection, the
 * writer that copies committed messages into it, and the reads that answer `history.fetch` (and
 * complete a join's history) when the node holding a room's log cannot.
 *
 * Reads fail as client-protocol errors (`room_unavailable` while the database is unreachable,
 * `not_found` for a room it does not hold or that was deleted), never as a raw driver error.
 */
import type { ArchiveInfo, ArchivedRoomInfo, ChatMessage } from '../../proto/client-protocol'
import { ChatError } from '../core/errors'
import { ArchiveDb, redactUrl } from '../store/archive-db'
import { ArchiveWriter, type ArchiveStatus } from '../store/archive-writer'
import type { NodeStore } from '../store/node-store'

export interface HistoryArchiveComponents {
  readonly url: string
  readonly nodeId: string
  nodeName(): string
  readonly store: Pick<NodeStore, 'load' | 'save'>
  /** Seqs from..to of a room whose log this node holds (undefined: not held any more). */
  source(roomId: string, from: number, to: number): ChatMessage[] | undefined
  log(line: string): void
  statusChanged(s: ArchiveInfo): void
}

const STATE_FILE = 'archive.json'

export class HistoryArchive {
  readonly db: ArchiveDb
  readonly writer: ArchiveWriter
  private readonly shownUrl: string

  constructor(private readonly c: HistoryArchiveComponents) {
    this.shownUrl = redactUrl(c.url)
    this.db = new ArchiveDb(c.url, { applicationName: `ds-g1-sms ${c.nodeId.slice(0, 8)}`, log: c.log })
    this.writer = new ArchiveWriter({
      db: this.db,
      source: c.source,
      load: () => c.store.load(STATE_FILE, undefined),
      save: (s) => c.store.save(STATE_FILE, s),
      log: c.log,
      statusChanged: (s) => c.statusChanged(this.info(s)),
    })
  }

  start(): void {
    this.writer.start()
  }

  async stop(): Promise<void> {
    await this.writer.stop()
    await this.db.close()
  }

  info(s: ArchiveStatus = this.writer.status()): ArchiveInfo {
    return { url: this.shownUrl, ...s }
  }

  /** The newest `limit` messages before `beforeSeq`, from the database. */
  async history(roomId: string, beforeSeq: number | undefined, limit: number): Promise<ChatMessage[]> {
    const room = await this.read(() => this.db.room(roomId))
    if (!room || room.deletedAt !== undefined) throw new ChatError('not_found', `no room with id ${roomId} in the archive`)
    return this.read(() => this.db.latest(roomId, limit, beforeSeq))
  }

  /** Seqs from..to as far as the database has them. */
  range(roomId: string, from: number, to: number): Promise<ChatMessage[]> {
    return this.read(() => this.db.range(roomId, from, to))
  }

  async rooms(): Promise<ArchivedRoomInfo[]> {
    const rooms = await this.read(() => this.db.rooms())
    return rooms.map((r) => ({
      roomId: r.roomId,
      name: r.name,
      createdBy: r.createdBy,
      adminNodeId: r.adminNodeId,
      adminNodeName: r.adminNodeName,
      createdAt: r.createdAt,
      lastSeq: r.archivedSeq,
    }))
  }

  private async read<T>(q: () => Promise<T>): Promise<T> {
    try {
      return await q()
    } catch (e) {
      if (e instanceof ChatError) throw e
      throw new ChatError('room_unavailable', `the history archive (${this.shownUrl}) is unreachable: ${(e as Error).message}`)
    }
  }
}
