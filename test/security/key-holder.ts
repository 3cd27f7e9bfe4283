/**
 * A hostile key holder's own peer, written the way anyone holding the cluster key could write it from
 * the public descriptions alone (docs/security.md, "Design"; proto/chat/peer/v1/peer.proto): nothing of
 * the node is imported. Its certificates are made with the `openssl` command line from the cluster
 * key: the CA key is the Ed25519 key whose seed is HMAC-SHA256(cluster key, "ds-g1-sms cluster CA v1"),
 * the CA's name carries the first 16 hex digits of SHA-256 of its public key, and its node
 * certificate (subject = its node id, the first 32 hex digits of SHA-256 of its public key) is signed
 * by that CA. It speaks gRPC with @grpc/grpc-js and @grpc/proto-loader, sends whatever it is given
 * (no schema, no limits, no authority of its own), and listens for the node's Link back to it,
 * where the node's replies arrive.
 */
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { execFileSync } from 'node:child_process'
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../helpers/cluster'

/** A decoded peer message: `body` names the field that is set (proto-loader's `oneofs`). */
export type Wire = { body: string } & Record<string, unknown>

type LinkCall = grpc.ClientDuplexStream<{ messages: unknown[] }, { messages: Wire[] }>
type PeerServiceClient = grpc.Client & { Link(): LinkCall }
interface PeerPackage {
  chat: { peer: { v1: { PeerService: (new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => PeerServiceClient) & { service: grpc.ServiceDefinition } } } }
}

function peerPackage(): PeerPackage {
  const def = protoLoader.loadSync(join(ROOT, 'proto', 'chat', 'peer', 'v1', 'peer.proto'), {
    includeDirs: [join(ROOT, 'proto')],
    keepCase: false,
    longs: Number,
    defaults: true,
    oneofs: true,
  })
  return grpc.loadPackageDefinition(def) as unknown as PeerPackage
}

const spkiHash = (k: KeyObject) => createHash('sha256').update(k.export({ type: 'spki', format: 'der' })).digest('hex')

export interface KeyHolderCerts {
  nodeId: string
  ca: Buffer
  cert: Buffer
  key: Buffer
}

/**
 * TLS material derived from the cluster key with openssl, plus a node key of the attacker's own
 * (or a given one: `nodeKeyPem`, e.g. a node key read from a data dir).
 */
export function keyHolderCerts(clusterKey: string, nodeKeyPem?: string): KeyHolderCerts {
  const dir = mkdtempSync(join(tmpdir(), 'key-holder-'))
  try {
    const seed = createHmac('sha256', clusterKey).update('ds-g1-sms cluster CA v1').digest()
    // PKCS#8 of an Ed25519 seed (RFC 8410).
    const caKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' })
    const caName = `ds-g1-sms cluster ${spkiHash(createPublicKey(caKey)).slice(0, 16)}`
    const nodeKey = nodeKeyPem ? createPrivateKey(nodeKeyPem) : generateKeyPairSync('ed25519').privateKey
    const nodeId = spkiHash(createPublicKey(nodeKey)).slice(0, 32)
    const f = (name: string) => join(dir, name)
    writeFileSync(f('ca.key'), caKey.export({ type: 'pkcs8', format: 'pem' }))
    writeFileSync(f('node.key'), nodeKey.export({ type: 'pkcs8', format: 'pem' }))
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
    ssl('req', '-new', '-x509', '-key', 'ca.key', '-subj', `/CN=${caName}`, '-days', '30', '-set_serial', '1',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-out', 'ca.crt')
    ssl('req', '-new', '-key', 'node.key', '-subj', `/CN=${nodeId}`, '-out', 'node.csr')
    ssl('x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '2', '-days', '30', '-out', 'node.crt')
    return { nodeId, ca: readFileSync(f('ca.crt')), cert: readFileSync(f('node.crt')), key: readFileSync(f('node.key')) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface KeyHolder {
  nodeId: string
  /** Where its own server (the node's Link back to it) really listens. */
  address: string
  /** Everything the node sent on its Link to us (its replies travel there). */
  received: Wire[]
  /** The node's Hello answering ours. */
  theirHello: Wire
  /** Send peer messages (written as peer.proto has them: `{ deliver: {...} }`) on our Link to the node. */
  send(...messages: Record<string, unknown>[]): void
  /** The node's reply to our request `reqId`. */
  reply(reqId: number, timeoutMs?: number): Promise<Wire>
  close(): Promise<void>
}

/** The error a Link fails with: its gRPC status code and details. */
export class LinkFailed extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`link failed: ${grpc.status[code]} ${details}`)
  }
}

/**
 * Link to `address` as a key holder: its own Hello first (claiming `claimId` if given, else its own
 * id), then whatever the test sends. The node dials back to the address that Hello gives; our
 * answer there claims `answerAddress` if given (an address the node never reached). Resolves once
 * the node answered with its Hello; rejects with LinkFailed when the node ends the Link instead.
 */
export async function keyHolderLink(
  address: string,
  clusterKey: string,
  o: { name?: string; claimId?: string; nodeKeyPem?: string; answerAddress?: string } = {},
): Promise<KeyHolder> {
  const pkg = peerPackage()
  const certs = keyHolderCerts(clusterKey, o.nodeKeyPem)
  const selfId = o.claimId ?? certs.nodeId
  const name = o.name ?? 'mallory'
  const received: Wire[] = []
  const waiters = new Set<() => void>()
  const note = (ms: Wire[]) => {
    received.push(...ms)
    for (const w of waiters) w()
  }

  // Our server: the node dials back to the address our Hello gives, and sends its replies there.
  const server = new grpc.Server()
  const inbound: grpc.ServerDuplexStream<{ messages: Wire[] }, { messages: unknown[] }>[] = []
  let port = 0
  const hello = (claimed = `127.0.0.1:${port}`) => ({ hello: { self: { nodeId: selfId, name, address: claimed }, incarnation: `${name}-1`, known: [], rooms: [], protocol: 1 } })
  server.addService(pkg.chat.peer.v1.PeerService.service, {
    Link: (call: grpc.ServerDuplexStream<{ messages: Wire[] }, { messages: unknown[] }>) => {
      inbound.push(call)
      let first = true
      call.on('data', (frame: { messages: Wire[] }) => {
        const ms = frame.messages ?? []
        if (first) {
          first = false
          call.write({ messages: [hello(o.answerAddress)] })
          note(ms.slice(1))
        } else note(ms)
      })
      call.on('error', () => {})
      call.on('end', () => call.end())
    },
  })
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(certs.ca, [{ private_key: certs.key, cert_chain: certs.cert }], false), (e, p) => (e ? reject(e) : resolve(p))),
  )

  // Our Link to the node: TLS with the certificates made above; the node's name is its key, not a host.
  const client = new pkg.chat.peer.v1.PeerService(address, grpc.credentials.createSsl(certs.ca, certs.key, certs.cert, { checkServerIdentity: () => undefined }))
  const call = client.Link()
  const close = async () => {
    call.end()
    call.cancel()
    client.close()
    for (const c of inbound) c.end()
    // A node may keep its session to our server open for a while: bounded, then forced.
    await Promise.race([new Promise<void>((r) => server.tryShutdown(() => r())), new Promise<void>((r) => setTimeout(r, 2000))])
    server.forceShutdown()
  }
  const theirHello = await new Promise<Wire>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no Hello from the node in 10 s')), 10_000)
    call.once('data', (frame: { messages: Wire[] }) => {
      clearTimeout(t)
      resolve(frame.messages[0])
    })
    call.on('error', (e: grpc.ServiceError) => {
      clearTimeout(t)
      reject(new LinkFailed(e.code, e.details))
    })
    call.write({ messages: [hello()] })
  }).catch(async (e) => {
    await close()
    throw e
  })

  const reqIdOf = (m: Wire) => (m[m.body] as { reqId?: number } | undefined)?.reqId
  return {
    nodeId: certs.nodeId,
    address: `127.0.0.1:${port}`,
    received,
    theirHello,
    send: (...messages) => call.write({ messages }),
    reply: (reqId, timeoutMs = 10_000) =>
      new Promise<Wire>((resolve, reject) => {
        const check = () => {
          const m = received.find((x) => reqIdOf(x) === reqId)
          if (!m) return false
          clearTimeout(t)
          waiters.delete(check)
          resolve(m)
          return true
        }
        const t = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no reply to request ${reqId} in ${timeoutMs} ms`))
        }, timeoutMs)
        if (!check()) waiters.add(check)
      }),
    close,
  }
}
