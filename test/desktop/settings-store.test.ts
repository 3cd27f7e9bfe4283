import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseSettings, publicSettings, SettingsPatchSchema, SettingsStore, SETTINGS_FILE } from '../../main/desktop/settings-store'

const dirs: string[] = []
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ds-settings-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('SettingsStore', () => {
  it('starts from defaults when there is no file', async () => {
    const store = await SettingsStore.open(tempDir())
    expect(store.get()).toEqual({ peers: [] })
  })

  it('persists display name, node name and peers across reopen', async () => {
    const dir = tempDir()
    const store = await SettingsStore.open(dir)
    await store.update({ displayName: 'ada', nodeName: 'lab-1', peers: ['10.0.0.2:50051', '10.0.0.1:50051', '10.0.0.2:50051'] })
    const reopened = await SettingsStore.open(dir)
    expect(reopened.get()).toEqual({ displayName: 'ada', nodeName: 'lab-1', peers: ['10.0.0.1:50051', '10.0.0.2:50051'] })
  })

  it('leaves no temp files behind and keeps the last of many quick writes', async () => {
    const dir = tempDir()
    const store = await SettingsStore.open(dir)
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.update({ peers: [`127.0.0.1:${1000 + i}`] })))
    expect(readdirSync(dir)).toEqual([SETTINGS_FILE])
    expect(JSON.parse(readFileSync(join(dir, SETTINGS_FILE), 'utf8')).peers).toEqual(['127.0.0.1:1019'])
  })

  it('sets an unreadable file aside instead of overwriting it, and starts from defaults', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, SETTINGS_FILE), '{ not json')
    const lines: string[] = []
    const store = await SettingsStore.open(dir, (l) => lines.push(l))
    expect(store.get()).toEqual({ peers: [] })
    expect(readdirSync(dir).some((f) => f.startsWith(`${SETTINGS_FILE}.corrupt-`))).toBe(true)
    expect(lines.join('\n')).toMatch(/unreadable/)
  })

  it('drops a remembered node name that breaks the name rules (peers would refuse its Hello)', () => {
    expect(parseSettings({ nodeName: 'n\u202e1', peers: [] })).toEqual({ peers: [] })
    expect(parseSettings({ nodeName: '\u200b\u200b', peers: [] })).toEqual({ peers: [] })
    expect(parseSettings({ nodeName: ' lab-1 ', peers: [] })).toEqual({ nodeName: 'lab-1', peers: [] })
  })

  it('keeps the good fields of a partly bad file', () => {
    expect(parseSettings({ displayName: 'x'.repeat(99), nodeName: 'n1', peers: ['ok:1', 'bad', 42, 'h:70000'] })).toEqual({
      nodeName: 'n1',
      peers: ['ok:1'],
    })
  })

  it('keeps the archive URL with its password on disk, never shows the password back, and keeps it when the masked URL is saved again', async () => {
    const dir = tempDir()
    const store = await SettingsStore.open(dir)
    const patch = SettingsPatchSchema.parse({ dbUrl: 'postgresql://chat:s3cret@db.lab:26257/chat?sslmode=require' })
    const shown = publicSettings(await store.update(patch))
    expect(shown.dbUrl).toBe('postgresql://chat:****@db.lab:26257/chat?sslmode=require')
    expect(JSON.stringify(shown)).not.toContain('s3cret')
    // The node gets the real URL from the file, after a restart too.
    expect((await SettingsStore.open(dir)).get().dbUrl).toBe('postgresql://chat:s3cret@db.lab:26257/chat?sslmode=require')
    // Only the host edited in the masked field: the password stays.
    await store.update(SettingsPatchSchema.parse({ dbUrl: 'postgresql://chat:****@db2.lab:26257/chat?sslmode=require' }))
    expect(store.get().dbUrl).toBe('postgresql://chat:s3cret@db2.lab:26257/chat?sslmode=require')
    // A new password replaces it; '' removes the archive.
    await store.update(SettingsPatchSchema.parse({ dbUrl: 'postgresql://chat:n3w@db2.lab:26257/chat' }))
    expect(store.get().dbUrl).toBe('postgresql://chat:n3w@db2.lab:26257/chat')
    await store.update(SettingsPatchSchema.parse({ dbUrl: '' }))
    expect(store.get()).toEqual({ peers: [] })
    expect(SettingsPatchSchema.safeParse({ dbUrl: 'mysql://u:p@h/db' }).success).toBe(false)
    expect(SettingsPatchSchema.safeParse({ dbUrl: 'not a url' }).success).toBe(false)
  })

  it('accepts only displayName, nodeName and dbUrl from the renderer', () => {
    expect(SettingsPatchSchema.safeParse({ displayName: 'bob' }).success).toBe(true)
    expect(SettingsPatchSchema.safeParse({ peers: ['x:1'] }).success).toBe(false)
    expect(SettingsPatchSchema.safeParse({ displayName: '' }).success).toBe(false)
  })
})
