import { describe, expect, it } from 'vitest'
import type { ArchiveInfo } from '../../proto/client-protocol'
import { archiveHost, describeArchive, sourceText } from '../../renderer/src/state/archive'

const info = (o: Partial<ArchiveInfo>): ArchiveInfo => ({ url: 'postgresql://chat:****@db.lab:26257/chat', state: 'ok', behind: 0, archived: 10, lagMs: 3, ...o })

describe('archive wording', () => {
  it('says where history lives and how far behind the archive is', () => {
    expect(describeArchive(undefined)).toEqual({ text: 'History: each administrator’s embedded log (no database archive)', tone: 'off' })
    expect(describeArchive(info({}))).toEqual({ text: 'Database archive up to date', tone: 'ok' })
    expect(describeArchive(info({ behind: 1 }))).toEqual({ text: 'Database archive behind by 1 message', tone: 'warn' })
    expect(describeArchive(info({ state: 'down', behind: 42 }))).toEqual({ text: 'Database archive unreachable: archive behind by 42 messages', tone: 'down' })
    expect(describeArchive(info({ state: 'connecting', behind: 0 })).tone).toBe('warn')
  })

  it('shows the database host, never the password', () => {
    expect(archiveHost(info({}))).toBe('db.lab:26257/chat')
    expect(archiveHost(info({ url: 'garbage' }))).toBe('database')
    expect(sourceText('database')).toBe('from the database archive')
    expect(sourceText('embedded')).toBe('from the embedded log')
  })
})
