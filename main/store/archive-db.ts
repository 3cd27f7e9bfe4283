/**
 * The shared history archive in a database that speaks the PostgreSQL wire protocol: CockroachDB
 * (the lab's cluster) or PostgreSQL (docs/archive.md). node-postgres with a small pool.
 *
 * Only SQL that both servers accept: TEXT/BIGINT/TIMESTAMPTZ columns, no SERIAL, no advisory locks,
 * no PostgreSQL-only functions; `INSERT ... ON CONFLICT DO NOTHING` and GREATEST() are in both.
 * Every transaction is retried when it fails with SQLSTATE 40001 (serialization failure), which
 * CockroachDB raises routinely under contention (docs/archive.md, "Retries").
 */
import pg from 'pg'
import type { ChatMessage } from '../../proto/client-protocol'

export class ArchiveError extends Error {
  override readonly name = 'ArchiveError'
  constructor(
    readonly code: 'archive_url' | 'archive_retries',
    message: string,
  ) {
    super(message)
  }
}

/** One room as the archive records it. */
export interface ArchivedRoom {
  roomId: string
  name: string
  createdBy: string
  adminNodeId: string
  adminNodeName: string
  createdAt: number
  deletedAt?: number
  /** Highest seq written (the writer's watermark). */
  archivedSeq: number
}

/**
 * The schema, one entry per version, applied in order and never edited once released: a change is a
 * new version. Each version's DDL runs in one transaction with the insert of its row in
 * schema_migrations, so a version is either wholly applied and recorded or neither.
 */
export const MIGRATIONS: { version: number; name: string; sql: string[] }[] = [
  {
    version: 1,
    name: 'rooms and messages',
    sql: [
      `CREATE TABLE IF NOT EXISTS archive_rooms (
         room_id TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         created_by TEXT NOT NULL,
         admin_node_id TEXT NOT NULL,
         admin_node_name TEXT NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         deleted_at TIMESTAMPTZ,
         archived_seq BIGINT NOT NULL DEFAULT 0
       )`,
      `CREATE TABLE IF NOT EXISTS archive_messages (
         room_id TEXT NOT NULL,
         seq BIGINT NOT NULL,
         user_name TEXT NOT NULL,
         node_id TEXT NOT NULL,
         body TEXT NOT NULL,
         sent_at TIMESTAMPTZ NOT NULL,
         client_msg_id TEXT NOT NULL,
         PRIMARY KEY (room_id, seq)
       )`,
    ],
  },
]

/** SQLSTATEs worth another try: serialization failure, and the races of concurrent DDL. */
const RETRYABLE = new Set(['40001', '40P01', '23505', '42P07', '42710'])
const MAX_ATTEMPTS = 10

/** Accepts postgresql:// and postgres:// URLs; anything else is a clear error. */
export function parseArchiveUrl(url: string): URL {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new ArchiveError('archive_url', `the archive URL must be a postgresql:// URL, got "${redactUrl(url)}"`)
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
    throw new ArchiveError('archive_url', `the archive URL must be a postgresql:// URL (CockroachDB or PostgreSQL), got a ${u.protocol}// URL`)
  }
  if (!u.hostname) throw new ArchiveError('archive_url', 'the archive URL names no host')
  return u
}

/** The URL with its password replaced, for logs and the UI: a secret is never shown back. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '****'
    return u.toString()
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:****@')
  }
}

function errCode(e: unknown): string {
  return String((e as { code?: unknown })?.code ?? '')
}

function toMessage(r: Record<string, unknown>): ChatMessage {
  return {
    roomId: String(r.room_id),
    seq: Number(r.seq),
    user: String(r.user_name),
    nodeId: String(r.node_id),
    text: String(r.body),
    sentAt: (r.sent_at as Date).getTime(),
    clientMsgId: String(r.client_msg_id),
  }
}

function toRoom(r: Record<string, unknown>): ArchivedRoom {
  return {
    roomId: String(r.room_id),
    name: String(r.name),
    createdBy: String(r.created_by),
    adminNodeId: String(r.admin_node_id),
    adminNodeName: String(r.admin_node_name),
    createdAt: (r.created_at as Date).getTime(),
    deletedAt: r.deleted_at ? (r.deleted_at as Date).getTime() : undefined,
    archivedSeq: Number(r.archived_seq),
  }
}

const MESSAGE_COLUMNS = 'room_id, seq, user_name, node_id, body, sent_at, client_msg_id'

export interface ArchiveDbOptions {
  /** Shown in the server's session list (pg_stat_activity / CockroachDB's SHOW SESSIONS). */
  applicationName: string
  poolSize?: number
  log?: (line: string) => void
  /** Called once per retried transaction attempt (tests count them). */
  onRetry?: (code: string, attempt: number) => void
}

export class ArchiveDb {
  private readonly pool: pg.Pool
  private closed = false

  constructor(
    readonly url: string,
    private readonly o: ArchiveDbOptions,
  ) {
    parseArchiveUrl(url)
    this.pool = new pg.Pool({
      connectionString: url,
      application_name: o.applicationName.slice(0, 63),
      max: o.poolSize ?? 4,
      connectionTimeoutMillis: 3000,
      idleTimeoutMillis: 10_000,
      // A statement that hangs (a partitioned server) must fail, not hold the writer forever.
      query_timeout: 15_000,
    })
    // An idle connection cut by the server (it restarted) is reported here: without a listener it
    // would be an uncaught 'error' event and take the node down.
    this.pool.on('error', (e) => this.o.log?.(`archive: idle connection lost: ${e.message}`))
  }

  /** Run `fn` in a transaction, retried with backoff on 40001 and the other retryable SQLSTATEs. */
  tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.retrying(fn, true)
  }

  /** One statement (its own implicit transaction: one round trip), retried like tx(). */
  statement(sql: string, params: unknown[]): Promise<pg.QueryResult> {
    return this.retrying((c) => c.query(sql, params), false)
  }

  private async retrying<T>(fn: (c: pg.PoolClient) => Promise<T>, explicit: boolean): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const c = await this.pool.connect()
      let broken = false
      try {
        if (explicit) await c.query('BEGIN')
        const out = await fn(c)
        if (explicit) await c.query('COMMIT')
        return out
      } catch (e) {
        if (explicit) await c.query('ROLLBACK').catch(() => (broken = true))
        const code = errCode(e)
        if (!RETRYABLE.has(code)) throw e
        if (attempt >= MAX_ATTEMPTS) throw new ArchiveError('archive_retries', `transaction failed ${attempt} times (last SQLSTATE ${code}): ${(e as Error).message}`)
        this.o.onRetry?.(code, attempt)
        // Exponential backoff with jitter: 10, 20, 40 ... ms, capped at 1 s.
        const wait = Math.min(1000, 10 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2)
        await new Promise((r) => setTimeout(r, wait))
      } finally {
        c.release(broken)
      }
    }
  }

  /**
   * Bring the schema to the newest version. Safe from several nodes at once: each version checks
   * schema_migrations inside its transaction, the DDL is IF NOT EXISTS, and a node that loses the
   * race (duplicate key on the version, or on the catalog) rolls back and looks again.
   */
  async migrate(): Promise<number[]> {
    const applied: number[] = []
    await this.tx(async (c) => {
      await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version BIGINT PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`)
    })
    for (const m of MIGRATIONS) {
      const did = await this.tx(async (c) => {
        const have = await c.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version])
        if (have.rowCount) return false
        for (const sql of m.sql) await c.query(sql)
        await c.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name])
        return true
      })
      if (did) applied.push(m.version)
    }
    return applied
  }

  /** Record a room (first writer wins: a room's identity never changes). */
  async recordRoom(r: Omit<ArchivedRoom, 'archivedSeq' | 'deletedAt'>): Promise<void> {
    await this.tx((c) =>
      c.query(
        `INSERT INTO archive_rooms (room_id, name, created_by, admin_node_id, admin_node_name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room_id) DO NOTHING`,
        [r.roomId, r.name, r.createdBy, r.adminNodeId, r.adminNodeName, new Date(r.createdAt)],
      ),
    )
  }

  /**
   * Write messages of one room (ascending seqs) with one multi-row insert, and raise the room's
   * watermark in the same transaction. A seq already stored is left as it is (primary key
   * (room_id, seq), ON CONFLICT DO NOTHING), so writing a batch twice changes nothing.
   *
   * One statement, so one round trip: the insert is a data-modifying WITH clause of the update
   * (PostgreSQL and CockroachDB both run it, and both make a single statement atomic). The update
   * reads from it so that no planner may skip it. Four round trips (BEGIN, INSERT, UPDATE, COMMIT)
   * per batch cost the node measurably more CPU at low rates, where batches are small.
   */
  async appendMessages(roomId: string, messages: ChatMessage[]): Promise<void> {
    if (messages.length === 0) return
    const params: unknown[] = []
    const rows: string[] = []
    for (const m of messages) {
      const b = params.length
      rows.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7})`)
      params.push(roomId, m.seq, m.user, m.nodeId, m.text, new Date(m.sentAt), m.clientMsgId)
    }
    const top = messages[messages.length - 1].seq
    params.push(top)
    await this.statement(
      `WITH ins AS (INSERT INTO archive_messages (${MESSAGE_COLUMNS}) VALUES ${rows.join(', ')} ON CONFLICT DO NOTHING RETURNING seq)
       UPDATE archive_rooms SET archived_seq = GREATEST(archived_seq, $${params.length})
        WHERE room_id = $1 AND (SELECT count(*) FROM ins) >= 0`,
      params,
    )
  }

  /** A committed deletion: the room is marked deleted and its messages are removed. */
  async markDeleted(roomId: string, at: number): Promise<void> {
    await this.tx(async (c) => {
      await c.query('UPDATE archive_rooms SET deleted_at = $2 WHERE room_id = $1 AND deleted_at IS NULL', [roomId, new Date(at)])
      await c.query('DELETE FROM archive_messages WHERE room_id = $1', [roomId])
    })
  }

  async room(roomId: string): Promise<ArchivedRoom | undefined> {
    const r = await this.pool.query('SELECT * FROM archive_rooms WHERE room_id = $1', [roomId])
    return r.rows[0] ? toRoom(r.rows[0]) : undefined
  }

  /** Rooms not deleted, newest first. */
  async rooms(limit = 500): Promise<ArchivedRoom[]> {
    const r = await this.pool.query('SELECT * FROM archive_rooms WHERE deleted_at IS NULL ORDER BY created_at DESC LIMIT $1', [limit])
    return r.rows.map(toRoom)
  }

  /** Messages with from <= seq <= to, ascending. */
  async range(roomId: string, from: number, to: number): Promise<ChatMessage[]> {
    if (to < from) return []
    const r = await this.pool.query(
      `SELECT ${MESSAGE_COLUMNS} FROM archive_messages WHERE room_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq`,
      [roomId, from, to],
    )
    return r.rows.map(toMessage)
  }

  /** The newest `limit` messages before `beforeSeq` (or the newest of all), ascending. */
  async latest(roomId: string, limit: number, beforeSeq?: number): Promise<ChatMessage[]> {
    const r = await this.pool.query(
      `SELECT ${MESSAGE_COLUMNS} FROM archive_messages WHERE room_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
      [roomId, beforeSeq ?? Number.MAX_SAFE_INTEGER, limit],
    )
    return r.rows.map(toMessage).reverse()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.end().catch(() => {})
  }
}
