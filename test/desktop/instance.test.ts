import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  acquireInstanceLock,
  DesktopArgsError,
  InstanceBusyError,
  instanceUserDataDir,
  parseDesktopArgs,
} from '../../main/desktop/instance'

const dirs: string[] = []
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ds-instance-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('parseDesktopArgs', () => {
  it('defaults to instance 1 with nothing given', () => {
    expect(parseDesktopArgs([], {})).toEqual({ instance: 1, join: [] })
  })

  it('reads --instance N and --instance=N, ignoring Electron and Chromium arguments', () => {
    expect(parseDesktopArgs(['.', '--no-sandbox', '--instance', '3'], {}).instance).toBe(3)
    expect(parseDesktopArgs(['--instance=2', '--enable-logging'], {}).instance).toBe(2)
  })

  it('falls back to DS_INSTANCE, and the flag wins over it', () => {
    expect(parseDesktopArgs([], { DS_INSTANCE: '4' }).instance).toBe(4)
    expect(parseDesktopArgs(['--instance', '2'], { DS_INSTANCE: '4' }).instance).toBe(2)
  })

  it.each(['0', '-1', '1.5', 'two', '1001', ''])('rejects instance %j', (bad) => {
    expect(() => parseDesktopArgs(['--instance', bad], {})).toThrow(DesktopArgsError)
  })

  it('collects --join (repeated or comma-separated), --name and --grpc', () => {
    const args = parseDesktopArgs(
      ['--join', '10.0.0.1:50051,10.0.0.2:50051', '--join', 'lab-3:50052', '--name', ' n1 ', '--grpc', '127.0.0.1:0'],
      {},
    )
    expect(args).toEqual({
      instance: 1,
      join: ['10.0.0.1:50051', '10.0.0.2:50051', 'lab-3:50052'],
      name: 'n1',
      grpcHost: '127.0.0.1',
      grpcPort: 0,
    })
    expect(() => parseDesktopArgs(['--grpc', 'nohost'], {})).toThrow(DesktopArgsError)
  })

  it('--name follows the name rules peers apply (client-protocol.md §7): normalised, no controls or bidi overrides', () => {
    expect(parseDesktopArgs(['--name', ' Zoe\u0301 '], {}).name).toBe('Zo\u00e9')
    expect(() => parseDesktopArgs(['--name', 'n\u202e1'], {})).toThrow(/--name must not contain bidirectional/)
    expect(() => parseDesktopArgs(['--name', 'lab\n1'], {})).toThrow(/--name must not contain control characters/)
  })
})

describe('instance folders', () => {
  it('gives every instance its own folder under the root', () => {
    const root = tempDir()
    const folders = [1, 2, 3].map((n) => instanceUserDataDir(root, n, {}))
    expect(new Set(folders).size).toBe(3)
    expect(folders[1]).toBe(join(root, 'instance-2'))
  })

  it('honours DS_USER_DATA_ROOT', () => {
    const other = tempDir()
    expect(instanceUserDataDir('/ignored', 5, { DS_USER_DATA_ROOT: other })).toBe(join(other, 'instance-5'))
  })

  it('refuses a second holder of the same folder while the first lives, and frees it on release', () => {
    const folder = join(tempDir(), 'instance-1')
    const first = acquireInstanceLock(folder)
    expect(() => acquireInstanceLock(folder)).toThrow(InstanceBusyError)
    // A different instance is a different folder, so it is not blocked.
    const second = acquireInstanceLock(join(folder, '..', 'instance-2'))
    first.release()
    const again = acquireInstanceLock(folder)
    again.release()
    second.release()
    expect(existsSync(join(folder, 'instance.lock'))).toBe(false)
  })

  it('takes over a lock left by a process that no longer exists', () => {
    const folder = tempDir()
    // pid 2^22 + 1 is above Linux's pid_max default ceiling, so no live process has it.
    writeFileSync(join(folder, 'instance.lock'), String(2 ** 22 + 1))
    const lock = acquireInstanceLock(folder)
    lock.release()
  })
})
