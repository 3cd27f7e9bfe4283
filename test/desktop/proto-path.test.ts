import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { peerProtoFile, protoDir, ProtoDirNotFoundError } from '../../main/cluster/proto-path'

const repoProto = resolve('proto')
const dirs: string[] = []
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ds-proto-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('protoDir', () => {
  it('finds the repository proto folder from source (main/node)', () => {
    expect(protoDir({ env: {}, resourcesPath: undefined, moduleDir: resolve('main/node') })).toBe(repoProto)
  })

  it('finds it from the build output (out/main/chunks)', () => {
    expect(protoDir({ env: {}, resourcesPath: undefined, moduleDir: resolve('out/main/chunks') })).toBe(repoProto)
  })

  it('prefers the packaged resources folder (extraResources) when Electron sets one', () => {
    const resources = tempDir()
    cpSync(repoProto, join(resources, 'proto'), { recursive: true })
    const moduleDir = join(resources, 'app.asar', 'out', 'main')
    expect(protoDir({ env: {}, resourcesPath: resources, moduleDir })).toBe(join(resources, 'proto'))
    expect(peerProtoFile({ env: {}, resourcesPath: resources, moduleDir })).toBe(
      join(resources, 'proto', 'chat', 'peer', 'v1', 'peer.proto'),
    )
  })

  it('honours DS_PROTO_DIR and fails with a named error when nothing matches', () => {
    const custom = tempDir()
    cpSync(repoProto, custom, { recursive: true })
    expect(protoDir({ env: { DS_PROTO_DIR: custom }, resourcesPath: undefined, moduleDir: undefined })).toBe(custom)
    const empty = tempDir()
    mkdirSync(join(empty, 'a', 'b'), { recursive: true })
    const cwd = process.cwd()
    process.chdir(empty)
    try {
      expect(() => protoDir({ env: {}, resourcesPath: undefined, moduleDir: join(empty, 'a', 'b') })).toThrow(ProtoDirNotFoundError)
    } finally {
      process.chdir(cwd)
    }
  })
})
