/**
 * One interface over the two places a room's history can live (docs/archive.md): the embedded
 * message log on the node's own disk (main/store/message-log.ts, the default) and the shared
 * database archive (main/store/archive-db.ts). Both keep the same promises, and one contract test
 * suite (test/store/history-store.test.ts) runs against each: ascending reads by seq, and writing a
 * seq that is already stored changes nothing.
 */
import type { ChatMessage } from '../../proto/client-protocol'
import type { ArchiveDb } from './archive-db'
import type { MessageLog } from './message-log'

export type HistorySource = 'embedded' | 'database'

export interface HistoryStore {
  readonly kind: HistorySource
  /** Store messages of one room, ascending seqs; a seq already stored is kept as it was. */
  append(roomId: string, messages: ChatMessage[]): Promise<void>
  /** Messages with from <= seq <= to, ascending. */
  range(roomId: string, from: number, to: number): Promise<ChatMessage[]>
  /** The newest `limit` messages with seq < beforeSeq (or of all), ascending. */
  latest(roomId: string, limit: number, beforeSeq?: number): Promise<ChatMessage[]>
  /** Highest seq stored (0 when none). */
  lastSeq(roomId: string): Promise<number>
  /** The room was deleted: its messages go. */
  drop(roomId: string): Promise<void>
}

export class EmbeddedHistory implements HistoryStore {
  readonly kind = 'embedded'

  constructor(private readonly log: MessageLog) {}

  private ensureOpen(roomId: string): void {
    if (!this.log.isOpen(roomId)) this.log.open(roomId, 0)
  }

  async append(roomId: string, messages: ChatMessage[]): Promise<void> {
    this.ensureOpen(roomId)
    for (const m of messages) if (m.seq > this.log.lastSeq(roomId)) this.log.append({ ...m, roomId })
  }

  async range(roomId: string, from: number, to: number): Promise<ChatMessage[]> {
    this.ensureOpen(roomId)
    return this.log.range(roomId, from, to)
  }

  async latest(roomId: string, limit: number, beforeSeq?: number): Promise<ChatMessage[]> {
    this.ensureOpen(roomId)
    const to = Math.min(this.log.lastSeq(roomId), (beforeSeq ?? Number.MAX_SAFE_INTEGER) - 1)
    return this.log.range(roomId, Math.max(1, to - limit + 1), to)
  }

  async lastSeq(roomId: string): Promise<number> {
    this.ensureOpen(roomId)
    return this.log.lastSeq(roomId)
  }

  async drop(roomId: string): Promise<void> {
    this.log.drop(roomId)
  }
}

export class DatabaseHistory implements HistoryStore {
  readonly kind = 'database'

  constructor(private readonly db: ArchiveDb) {}

  async append(roomId: string, messages: ChatMessage[]): Promise<void> {
    await this.db.appendMessages(roomId, messages)
  }

  range(roomId: string, from: number, to: number): Promise<ChatMessage[]> {
    return this.db.range(roomId, from, to)
  }

  latest(roomId: string, limit: number, beforeSeq?: number): Promise<ChatMessage[]> {
    return this.db.latest(roomId, limit, beforeSeq)
  }

  async lastSeq(roomId: string): Promise<number> {
    const last = await this.db.latest(roomId, 1)
    return last[0]?.seq ?? 0
  }

  async drop(roomId: string): Promise<void> {
    await this.db.markDeleted(roomId, Date.now())
  }
}
