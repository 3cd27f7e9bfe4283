/**
 * What a desktop instance remembers between runs (docs/desktop.md): the display name the user
 * chats as, the node name, and the peers typed in (or learned), so that the next start rejoins them
 * by itself. Stored as <instance folder>/settings.json and written atomically (temp file, fsync,
 * rename) so that a crash or power cut mid-write leaves the old file, never half a file.
 */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { MAX_NODE_NAME_CHARS, nameSchema } from '../../proto/client-protocol'

export const SETTINGS_FILE = 'settings.json'

// host:port or [v6]:port, port 1..65535: the shape peers.add accepts (docs/client-protocol.md §4).
const ADDRESS_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/
export function isPeerAddress(value: string): boolean {
  const m = ADDRESS_RE.exec(value)
  if (!m) return false
  const port = Number(m[2])
  return port >= 1 && port <= 65535
}

const DisplayNameSchema = z.string().trim().min(1).max(32) // hello's `user` limits
/** The name rules of client-protocol.md section 7 (peers refuse a Hello that breaks them). */
const NodeNameSchema = nameSchema(MAX_NODE_NAME_CHARS)

export interface Settings {
  displayName?: string
  nodeName?: string
  peers: string[]
  /** postgresql:// URL of the shared history archive (docs/archive.md); may carry a password. */
  dbUrl?: string
}

/** What the renderer is shown: the archive URL's password is never sent back (docs/archive.md). */
export interface PublicSettings extends Omit<Settings, 'dbUrl'> {
  /** The URL with its password replaced by PASSWORD_MASK. */
  dbUrl?: string
}

export const PASSWORD_MASK = '****'

function maskPassword(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = PASSWORD_MASK
    return u.toString()
  } catch {
    return ''
  }
}

export function publicSettings(s: Settings): PublicSettings {
  const out: PublicSettings = { ...s, peers: [...s.peers] }
  if (s.dbUrl) out.dbUrl = maskPassword(s.dbUrl)
  return out
}

/**
 * The URL the user saved: when it still carries the mask as its password (the field was shown
 * masked and only the rest was edited), the stored password is kept.
 */
export function mergeDbUrl(stored: string | undefined, submitted: string): string {
  if (!stored) return submitted
  try {
    const next = new URL(submitted)
    if (decodeURIComponent(next.password) !== PASSWORD_MASK) return submitted
    next.password = new URL(stored).password
    return next.toString()
  } catch {
    return submitted
  }
}

function isArchiveUrl(value: string): boolean {
  try {
    const u = new URL(value)
    return (u.protocol === 'postgresql:' || u.protocol === 'postgres:') && u.hostname !== ''
  } catch {
    return false
  }
}

// '' clears it (back to the embedded log only).
const DbUrlSchema = z.string().trim().max(2000).refine((v) => v === '' || isArchiveUrl(v), 'expected a postgresql:// URL')

/** What the renderer may change through the preload (peers change through the node instead). */
export const SettingsPatchSchema = z
  .object({
    displayName: DisplayNameSchema.optional(),
    nodeName: NodeNameSchema.optional(),
    dbUrl: DbUrlSchema.optional(),
  })
  .strict()

function normalizePeers(peers: Iterable<string>): string[] {
  return [...new Set([...peers].map((p) => p.trim()).filter(isPeerAddress))].sort()
}

/**
 * Field by field, so one bad value (a hand-edited file, an older version) costs only that field and
 * not the whole file: losing remembered peers would silently split the cluster on the next start.
 */
export function parseSettings(raw: unknown): Settings {
  const obj = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {}
  const out: Settings = { peers: [] }
  const displayName = DisplayNameSchema.safeParse(obj.displayName)
  if (displayName.success) out.displayName = displayName.data
  const nodeName = NodeNameSchema.safeParse(obj.nodeName)
  if (nodeName.success) out.nodeName = nodeName.data
  const dbUrl = DbUrlSchema.safeParse(obj.dbUrl)
  if (dbUrl.success && dbUrl.data !== '') out.dbUrl = dbUrl.data
  if (Array.isArray(obj.peers)) out.peers = normalizePeers(obj.peers.filter((p): p is string => typeof p === 'string'))
  return out
}

export function samePeers(a: readonly string[], b: readonly string[]): boolean {
  const x = normalizePeers(a)
  const y = normalizePeers(b)
  return x.length === y.length && x.every((v, i) => v === y[i])
}

export class SettingsStore {
  private current: Settings
  // Writes are chained so two quick updates never race their renames out of order.
  private writing: Promise<void> = Promise.resolve()

  private constructor(
    readonly folder: string,
    initial: Settings,
    private readonly log: (line: string) => void,
  ) {
    this.current = initial
  }

  get file(): string {
    return join(this.folder, SETTINGS_FILE)
  }

  /** Loads the folder's settings; a missing file means defaults, an unreadable one is set aside. */
  static async open(folder: string, log: (line: string) => void = () => {}): Promise<SettingsStore> {
    await mkdir(folder, { recursive: true })
    const file = join(folder, SETTINGS_FILE)
    let initial: Settings = { peers: [] }
    try {
      initial = parseSettings(JSON.parse(await readFile(file, 'utf8')))
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT') {
        // Keep the broken file for a human to look at instead of overwriting it on the next save.
        const aside = `${file}.corrupt-${Date.now()}`
        await rename(file, aside).catch(() => {})
        log(`settings: ${file} unreadable (${(err as Error).message}); moved to ${aside}, using defaults`)
      }
    }
    return new SettingsStore(folder, initial, log)
  }

  get(): Settings {
    return { ...this.current, peers: [...this.current.peers] }
  }

  /** Applies a change and persists it; resolves once the new file is on disk. */
  async update(change: Partial<Settings>): Promise<Settings> {
    const next: Settings = { ...this.current, ...change }
    next.peers = normalizePeers(change.peers ?? this.current.peers)
    if (change.dbUrl !== undefined) next.dbUrl = change.dbUrl === '' ? undefined : mergeDbUrl(this.current.dbUrl, change.dbUrl)
    for (const key of ['displayName', 'nodeName', 'dbUrl'] as const) if (next[key] === undefined) delete next[key]
    this.current = next
    const snapshot = this.get()
    const write = this.writing.then(() => this.writeAtomically(snapshot))
    // A failed write must not wedge every later write behind it.
    this.writing = write.catch((err) => this.log(`settings: write failed: ${(err as Error).message}`))
    await write
    return snapshot
  }

  /** Resolves when every update issued so far has reached the disk. */
  flush(): Promise<void> {
    return this.writing
  }

  private async writeAtomically(settings: Settings): Promise<void> {
    const tmp = `${this.file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    const handle = await open(tmp, 'w', 0o600)
    try {
      await handle.writeFile(JSON.stringify({ version: 1, ...settings }, null, 2) + '\n', 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      await rename(tmp, this.file)
    } catch (err) {
      await unlink(tmp).catch(() => {})
      throw err
    }
  }
}
