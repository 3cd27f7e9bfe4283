/**
 * Where the .proto files are at run time. The node reads proto/chat/peer/v1/peer.proto (and the
 * health service) when it starts; that folder must be found whether the code runs from source
 * (tsx), from the electron-vite build in out/main, or from a packaged app (extraResources).
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

const PEER_PROTO = join('chat', 'peer', 'v1', 'peer.proto')

function candidates(): string[] {
  const list: string[] = []
  if (process.env.DS_PROTO_DIR) list.push(process.env.DS_PROTO_DIR)
  // Packaged Electron app: extraResources copies proto/ next to app.asar.
  const resourcesPath = (process as NodeJS.Process & { resourcesPath?: string }).resourcesPath
  if (resourcesPath) list.push(join(resourcesPath, 'proto'))
  // From source (main/node) or from the build (out/main): walk up to the project root.
  let dir = __dirname
  for (let i = 0; i < 5; i++) {
    list.push(join(dir, 'proto'))
    dir = dirname(dir)
  }
  list.push(resolve(process.cwd(), 'proto'))
  return list
}

/** The folder holding chat/peer/v1/peer.proto; throws if none of the known places has it. */
export function protoDir(): string {
  for (const dir of candidates()) if (existsSync(join(dir, PEER_PROTO))) return dir
  throw new Error(`cannot find ${PEER_PROTO} in ${candidates().join(', ')}`)
}

export function peerProtoFile(): string {
  return join(protoDir(), PEER_PROTO)
}
