/**
 * The data dir's small files (main/store/node-store.ts): a missing file is a fresh start, a corrupt
 * one is an error that names the file, never a silent reset (docs/persistence.md).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ClusterKeyError, CorruptFileError, NodeStore } from '../../main/store/node-store'
import { runCli } from '../helpers/cluster'

const dirs: string[] = []
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ds-store-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('node store files', () => {
  it('missing files are a fresh start; what is saved reads back', () => {
    const s = new NodeStore(dir())
    expect(s.rooms()).toEqual([])
    expect(s.peers()).toEqual([])
    expect(s.load('deletions.json', { records: {} })).toEqual({ records: {} })
    const first = s.identity('node-a')
    expect(new NodeStore(s.dir).identity('node-a')).toEqual(first)
    const room = { roomId: 'r1', name: 'lobby', createdBy: 'system', createdAt: 1, lastSeq: 4, version: 2 }
    s.saveRooms([room])
    s.savePeers(['10.0.0.2:7000', '10.0.0.1:7000', '10.0.0.2:7000'])
    expect(new NodeStore(s.dir).rooms()).toEqual([room])
    expect(new NodeStore(s.dir).peers()).toEqual(['10.0.0.1:7000', '10.0.0.2:7000'])
  })

  it('a cluster key that cannot be one is a ClusterKeyError, and nothing is saved', () => {
    const s = new NodeStore(dir())
    expect(() => s.clusterKey('short')).toThrow(ClusterKeyError)
    try {
      s.clusterKey('has spaces in it, sixteen+')
    } catch (e) {
      expect((e as ClusterKeyError).code).toBe('bad_cluster_key')
    }
    expect(s.clusterKey(undefined).created).toBe(true)
  })

  it.each([
    ['rooms.json', '[{"roomId": "r1", "name": "lob', (s: NodeStore) => s.rooms()],
    ['rooms.json', '{"roomId": "r1"}', (s: NodeStore) => s.rooms()],
    ['node.json', 'not json', (s: NodeStore) => s.identity('node-a')],
    ['peers.json', '["10.0.0.1:70', (s: NodeStore) => s.peers()],
    ['deletions.json', '{"records": ', (s: NodeStore) => s.load('deletions.json', {})],
  ])('a corrupt %s is a CorruptFileError naming the file (%s)', (name, text, read) => {
    const s = new NodeStore(dir())
    writeFileSync(join(s.dir, name), text)
    let err: unknown
    try {
      read(s)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(CorruptFileError)
    expect((err as CorruptFileError).code).toBe('corrupt_file')
    expect((err as CorruptFileError).file).toBe(join(s.dir, name))
    expect((err as Error).message).toContain(name)
  })

  it('a node whose rooms.json is corrupt refuses to start and says which file, instead of starting with no rooms', async () => {
    const d = dir()
    const corrupt = '[{"roomId": "r1", "na'
    writeFileSync(join(d, 'rooms.json'), corrupt)
    const r = await runCli(['--name', 'x', '--grpc', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--data-dir', d])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(join(d, 'rooms.json'))
    expect(r.stderr).toContain('corrupt')
    expect(r.stdout).not.toContain('"ready"')
    // Left as it was for the user to repair, not replaced by an empty list on the way out.
    expect(readFileSync(join(d, 'rooms.json'), 'utf8')).toBe(corrupt)
  })
})
