/**
 * How the UI words the history archive's state (docs/archive.md, "In the UI"), as pure functions so
 * the wording is tested without a browser.
 */
import type { ArchiveInfo, HistorySource } from '../../../proto/client-protocol'

export type ArchiveTone = 'ok' | 'warn' | 'down' | 'off'

export interface ArchiveView {
  /** One line for a person: where history lives and whether the archive keeps up. */
  text: string
  tone: ArchiveTone
}

const plural = (n: number) => `${n} message${n === 1 ? '' : 's'}`

export function describeArchive(a: ArchiveInfo | undefined): ArchiveView {
  if (!a) return { text: 'History: each administrator’s embedded log (no database archive)', tone: 'off' }
  if (a.state === 'down') {
    return { text: `Database archive unreachable${a.behind > 0 ? `: archive behind by ${plural(a.behind)}` : ''}`, tone: 'down' }
  }
  if (a.state === 'connecting') return { text: `Database archive connecting${a.behind > 0 ? `, behind by ${plural(a.behind)}` : ''}`, tone: 'warn' }
  if (a.behind > 0) return { text: `Database archive behind by ${plural(a.behind)}`, tone: 'warn' }
  return { text: 'Database archive up to date', tone: 'ok' }
}

/** The host part of the archive URL (the password is never in it: the node masks it). */
export function archiveHost(a: ArchiveInfo): string {
  try {
    const u = new URL(a.url)
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname.length > 1 ? u.pathname : ''}`
  } catch {
    return 'database'
  }
}

export function sourceText(s: HistorySource): string {
  return s === 'database' ? 'from the database archive' : 'from the embedded log'
}
