/**
 * Where the .proto files are at run time. The node loads proto/chat/peer/v1/peer.proto (and any
 * other .proto beside it, e.g. a health service) with @grpc/proto-loader, which reads from disk, so
 * the files must exist next to whatever code runs:
 *   - from source (tsx main/cli.ts, vitest):  <repo>/main/node/ -> <repo>/proto
 *   - built (node out/main/cli.js, electron-vite preview): <repo>/out/main[/chunks]/ -> <repo>/proto
 *   - packaged app: electron-builder copies proto/ to <resources>/proto (extraResources in
 *     electron-builder.yml), outside app.asar so plain fs reads work.
 * No electron import here: process.resourcesPath is only read when Electron has set it.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/** A file that only a complete proto folder has; used to tell the right folder from a lookalike. */
export const PEER_PROTO_RELATIVE = join('chat', 'peer', 'v1', 'peer.proto')

/** Set to override every other rule (a custom install, or a test). */
export const PROTO_DIR_ENV = 'DS_PROTO_DIR'

export class ProtoDirNotFoundError extends Error {
  readonly code = 'proto_dir_not_found'
  constructor(readonly searched: string[]) {
    super(`proto files not found (looked for ${PEER_PROTO_RELATIVE} in: ${searched.join(', ')})`)
    this.name = 'ProtoDirNotFoundError'
  }
}

export interface ProtoDirInputs {
  env?: NodeJS.ProcessEnv
  /** Electron's resources folder when packaged; undefined under plain Node. */
  resourcesPath?: string
  /** Folder of the running module (source or bundle). */
  moduleDir?: string
}

// The bundle is CommonJS (no "type": "module"), so __dirname exists there and under tsx; the
// guard keeps this module loadable in an ES-module context too, falling back to the cwd walk.
function currentModuleDir(): string | undefined {
  return typeof __dirname === 'string' ? __dirname : undefined
}

/** Candidate folders, most specific first. Exported for tests. */
export function protoDirCandidates(inputs: ProtoDirInputs = {}): string[] {
  const env = inputs.env ?? process.env
  const resourcesPath =
    'resourcesPath' in inputs
      ? inputs.resourcesPath
      : (process as NodeJS.Process & { resourcesPath?: string }).resourcesPath
  const moduleDir = 'moduleDir' in inputs ? inputs.moduleDir : currentModuleDir()
  const out: string[] = []
  if (env[PROTO_DIR_ENV]) out.push(resolve(env[PROTO_DIR_ENV]!))
  if (resourcesPath) out.push(join(resourcesPath, 'proto'))
  // Walk up a few levels: main/node/ and out/main/chunks/ are both within three of the root.
  for (const start of [moduleDir, process.cwd()]) {
    if (!start) continue
    let dir = resolve(start)
    for (let i = 0; i < 5; i++) {
      out.push(join(dir, 'proto'))
      const up = dirname(dir)
      if (up === dir) break
      dir = up
    }
  }
  return [...new Set(out)]
}

/** The folder holding chat/peer/v1/peer.proto; throws ProtoDirNotFoundError if there is none. */
export function protoDir(inputs: ProtoDirInputs = {}): string {
  const candidates = protoDirCandidates(inputs)
  const found = candidates.find((dir) => existsSync(join(dir, PEER_PROTO_RELATIVE)))
  if (!found) throw new ProtoDirNotFoundError(candidates)
  return found
}

/** Absolute path of peer.proto (what proto-loader's load() wants, with includeDirs: [protoDir()]). */
export function peerProtoFile(inputs: ProtoDirInputs = {}): string {
  return join(protoDir(inputs), PEER_PROTO_RELATIVE)
}
