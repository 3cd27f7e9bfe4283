/**
 * gRPC between peers (proto/chat/peer/v1/peer.proto): a server that accepts other nodes' Link
 * streams, and one outbound Link per peer that this node writes to.
 *
 * Why one long-lived stream per direction: the cost of a message becomes a few bytes on an open
 * HTTP/2 stream; messages queued while a frame is being written leave together in the next frame
 * (batching grows with load by itself); and each stream is FIFO, which is what keeps one sender's
 * messages in order. When the peer is slow, `write()` returns false and the link stops writing until
 * 'drain' (back-pressure) while the queue holds the rest.
 */
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { join } from 'node:path'
import { peerProtoFile, protoDir } from './proto-path'
import type { ClusterCredentials } from './cluster-credentials'
import { checkPeerMessage } from './peer-schema'
import { linkFrameSerializer } from './frame-encoding'
import { linkFrameDeserializer } from './frame-decoding'
import { hostOfGrpcPeer } from './peer-address'
import type { Bodies, DecodedMessage, Hello, LinkFrame, PeerMessage } from './peer-messages'
import { LinkRefused, type PeerLink, type Transport, type TransportHandlers } from './transport'
import { DEFAULT_BATCHING, FrameScheduler, weightOf, type BatchingOptions } from './link-batching'

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
}

// grpc-js logs a failed bind to console.error ("E No address added ...") before it rejects
// bindAsync; listen() rejects with the same error and the CLI prints it as its one-line error
// (docs/client-protocol.md §1), so that one message is dropped here. Everything else is unchanged.
grpc.setLogger({
  error: (message?: unknown, ...rest: unknown[]) => {
    if (typeof message === 'string' && message.startsWith('No address added')) return
    console.error(`E ${String(message)}`, ...rest)
  },
  info: (message?: unknown, ...rest: unknown[]) => console.error(`I ${String(message)}`, ...rest),
  debug: (message?: unknown, ...rest: unknown[]) => console.error(`D ${String(message)}`, ...rest),
})

/** Most messages per frame: keeps a frame well under gRPC's 4 MiB default even with 4000-char texts. */
const MAX_BATCH = 256
/**
 * Most messages a link holds for a peer that does not read (paused, overloaded). Past it the link is
 * closed rather than letting this node's memory grow without bound: the peer is redialled with
 * backoff, and what it missed is fetched again (rejoin and gap fetch) once it reads again.
 */
export const MAX_QUEUED = 100_000
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
  // Our own heartbeats decide liveness; these only keep NATs and idle timers from closing the stream.
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_permit_without_calls': 1,
  // Reconnection is ours (with our backoff), not the channel's.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2000,
}
/**
 * Peers are dialled by IP address, which TLS must not carry as a server name (RFC 6066 section 3);
 * the server's identity is its certificate's key, checked in checkServerIdentity, not a host name.
 */
const CLIENT_OPTIONS: grpc.ChannelOptions = { ...CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': 'ds-g1-sms-peer' }

/**
 * Feeds the cluster's TLS material to grpc-js's server (its certificate-provider credentials) and
 * pushes new material when the cluster key changes (an adopted invite) without rebinding the port.
 * One object serves as both the CA and the identity provider.
 */
class ClusterCertificateProvider implements grpc.experimental.CertificateProvider {
  private readonly caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>()
  private readonly idListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>()
  constructor(private creds: ClusterCredentials) {}
  update(creds: ClusterCredentials): void {
    this.creds = creds
    for (const l of this.caListeners) l({ caCertificate: creds.tls.ca })
    for (const l of this.idListeners) l({ certificate: creds.tls.cert, privateKey: creds.tls.key })
  }
  // grpc-js registers its watcher only after adding the listener: an update in the same turn is lost.
  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(l)
    setImmediate(() => this.caListeners.has(l) && l({ caCertificate: this.creds.tls.ca }))
  }
  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(l)
  }
  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.idListeners.add(l)
    setImmediate(() => this.idListeners.has(l) && l({ certificate: this.creds.tls.cert, privateKey: this.creds.tls.key }))
  }
  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.idListeners.delete(l)
  }
}

/** A TLS failure on a dial: the other side is not of our cluster (or we are not of its). */
const NOT_OUR_CLUSTER = /certificate|not of this cluster|handshake|secure TLS connection|alert/i

type LinkClient = grpc.Client & { Link(): grpc.ClientDuplexStream<LinkFrame, LinkFrame> }

interface Loaded {
  PeerService: grpc.ServiceClientConstructor
  Health: grpc.ServiceClientConstructor
}

let loaded: Loaded | undefined
function load(): Loaded {
  if (loaded) return loaded
  const def = protoLoader.loadSync([peerProtoFile(), join(protoDir(), 'grpc', 'health', 'v1', 'health.proto')], {
    ...LOADER_OPTIONS,
    includeDirs: [protoDir()],
  })
  // Our frames are written and read by hand where it is cheaper, byte for byte and object for
  // object what proto-loader writes and reads (frame-encoding.ts, frame-decoding.ts); grpc-js takes
  // the functions as it makes the client constructor and the service, so before that.
  const service = def['chat.peer.v1.PeerService'] as protoLoader.ServiceDefinition
  const slowSerialize = service.Link.requestSerialize as (f: LinkFrame) => Buffer
  const slowDeserialize = service.Link.requestDeserialize as (b: Buffer) => LinkFrame
  service.Link = {
    ...service.Link,
    requestSerialize: linkFrameSerializer(slowSerialize) as (f: object) => Buffer,
    requestDeserialize: linkFrameDeserializer(slowDeserialize),
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- loadPackageDefinition is untyped
  const pkg = grpc.loadPackageDefinition(def) as any
  loaded = { PeerService: pkg.chat.peer.v1.PeerService, Health: pkg.grpc.health.v1.Health }
  return loaded
}

/** Our side of one peer's Link: a queue, a writer and the handshake. */
export class OutboundLink implements PeerLink {
  private call: grpc.ClientDuplexStream<LinkFrame, LinkFrame> | undefined
  private queue: PeerMessage[] = []
  private writable = true
  /** When the next frame leaves (adaptive batching, docs/peer-protocol.md §1). */
  private readonly scheduler: FrameScheduler
  /** What the queue counts for towards the scheduler's flushAt (weightOf each message). */
  private waiting = 0
  private closed = false
  lastWriteAt = 0
  peer: Hello | undefined
  /** Since this link opened: frames written, and peer messages in them (their ratio is the batching). */
  framesWritten = 0
  messagesWritten = 0

  constructor(
    readonly address: string,
    private readonly client: LinkClient,
    private readonly onDown: (link: PeerLink, reason: string) => void,
    private readonly maxQueued = MAX_QUEUED,
    /** The node id the server's certificate proved in the TLS handshake (undefined before it). */
    private readonly provenNodeId: () => string | undefined = () => undefined,
    batching: BatchingOptions = DEFAULT_BATCHING,
  ) {
    this.scheduler = new FrameScheduler(() => this.flush(), batching)
  }

  get up(): boolean {
    return this.peer !== undefined && !this.closed
  }

  get queued(): number {
    return this.queue.length
  }

  /** Open the stream, send our Hello, and resolve with the peer's Hello. */
  open(ourHello: Hello, timeoutMs: number): Promise<Hello> {
    return new Promise<Hello>((resolve, reject) => {
      const call = this.client.Link()
      this.call = call
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        reject(new LinkRefused('timeout', `no answer from ${this.address} within ${timeoutMs} ms`))
        this.close('handshake timeout')
      }, timeoutMs)
      call.on('data', (frame: LinkFrame) => {
        if (settled) return // the dialed node sends nothing after its Hello
        settled = true
        clearTimeout(timer)
        const checked = checkPeerMessage(Array.isArray(frame?.messages) ? frame.messages[0] : undefined)
        const first = checked.ok ? checked.message : undefined
        if (first?.body !== 'hello') {
          reject(new LinkRefused('bad_hello', `${this.address} did not answer with a Hello${checked.ok ? '' : ` (${checked.reason})`}`))
          this.close('bad hello')
          return
        }
        // docs/security.md, "Design": a node's id is the hash of the key its certificate holds.
        if (first.hello.self.nodeId !== this.provenNodeId()) {
          reject(new LinkRefused('forbidden', `${this.address} claims a node id its certificate does not prove`))
          this.close('node id not proven')
          return
        }
        this.peer = first.hello
        resolve(first.hello)
        this.flush()
      })
      call.on('error', (err: grpc.ServiceError) => {
        const reason = err.details || err.message
        if (!settled) {
          settled = true
          clearTimeout(timer)
          reject(linkError(this.address, err))
        }
        this.close(reason)
      })
      call.on('end', () => this.close('stream ended'))
      call.write({ messages: [{ hello: ourHello }] })
    })
  }

  send(m: PeerMessage): void {
    if (this.closed) return
    if (this.queue.length >= this.maxQueued) {
      this.close(`peer too slow: ${this.queue.length} messages queued`)
      return
    }
    this.queue.push(m)
    this.waiting += weightOf(m)
    if (this.peer) this.scheduler.queued(this.waiting)
  }

  private flush(): void {
    const call = this.call
    if (!call || this.closed || !this.peer) return
    while (this.writable && this.queue.length > 0) {
      let taken: PeerMessage[]
      if (this.queue.length <= MAX_BATCH) {
        taken = this.queue
        this.queue = []
      } else taken = this.queue.splice(0, MAX_BATCH)
      const batch = coalesce(taken)
      this.scheduler.wrote()
      this.lastWriteAt = Date.now()
      this.framesWritten++
      this.messagesWritten += taken.length
      if (!call.write({ messages: batch })) {
        this.writable = false
        call.once('drain', () => {
          this.writable = true
          this.flush()
        })
      }
    }
    // What stays queued behind flow control keeps its count: the next send then asks for a flush at
    // the end of its turn, which writes nothing until 'drain' (and then everything).
    if (this.queue.length === 0) this.waiting = 0
  }

  /** Send what is queued, then end the stream (graceful leave). */
  async drainAndEnd(waitMs: number): Promise<void> {
    this.flush()
    const call = this.call
    if (!call || this.closed) return
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, waitMs)
      call.once('status', () => {
        clearTimeout(t)
        resolve()
      })
      call.end()
    })
    this.close('left')
  }

  close(reason: string): void {
    if (this.closed) return
    this.closed = true
    this.queue = []
    this.waiting = 0
    this.scheduler.cancel()
    try {
      this.call?.cancel()
    } catch {
      // already gone
    }
    this.client.close()
    this.onDown(this, reason)
  }
}

/**
 * Why a dial failed, in words for people and without gRPC's internals (client-protocol.md section 7):
 * not of our cluster (TLS refused either way, or the peer refused our certificate), nobody
 * listening, or something else.
 */
function linkError(address: string, err: grpc.ServiceError): LinkRefused {
  const details = err.details || err.message || ''
  if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED || NOT_OUR_CLUSTER.test(details)) {
    return new LinkRefused('forbidden', `${address} is not a node of this cluster (another cluster key?)`)
  }
  if (err.code === grpc.status.UNAVAILABLE) return new LinkRefused('unreachable', `nobody answers at ${address}`)
  // Anything else is the other node's own refusal of our Hello: its words, not gRPC's.
  return new LinkRefused('bad_hello', `${address} refused the link: ${details}`)
}

/**
 * Adjacent deliveries of one room in a batch travel as one Deliver (less framing under load). The
 * merged Deliver is a new object with its own array, appended to in place: linear in the batch (the
 * queued messages may be shared with other links' queues, so they are not modified).
 */
function coalesce(batch: PeerMessage[]): PeerMessage[] {
  const out: PeerMessage[] = []
  let open: { roomId: string; messages: Bodies['deliver']['messages'] } | undefined
  for (const m of batch) {
    if ('deliver' in m) {
      if (open && open.roomId === m.deliver.roomId) {
        for (const x of m.deliver.messages) open.messages.push(x)
        continue
      }
      open = { roomId: m.deliver.roomId, messages: m.deliver.messages.slice() }
      out.push({ deliver: open })
    } else {
      open = undefined
      out.push(m)
    }
  }
  return out
}

export class PeerTransport implements Transport {
  private server: grpc.Server | undefined
  private readonly inboundCalls = new Map<string, grpc.ServerDuplexStream<LinkFrame, LinkFrame>>()
  private healthServing = true

  private provider: ClusterCertificateProvider | undefined

  constructor(
    private readonly h: TransportHandlers,
    /** The cluster's TLS material, as of now (it changes when the node adopts an invite's key). */
    private readonly credentials: () => ClusterCredentials,
    private readonly opts: { maxQueued?: number; batching?: BatchingOptions } = {},
  ) {}

  /** The cluster key changed: new links and new handshakes use the new certificates. */
  rekey(): void {
    this.provider?.update(this.credentials())
  }

  async listen(host: string, port: number): Promise<number> {
    const { PeerService, Health } = load()
    const server = new grpc.Server(CHANNEL_OPTIONS)
    server.addService(PeerService.service, { Link: (call: grpc.ServerDuplexStream<LinkFrame, LinkFrame>) => this.accept(call) })
    const status = () => ({ status: this.healthServing ? 'SERVING' : 'NOT_SERVING' })
    const knownService = (s: string) => s === '' || s === 'chat.peer.v1.PeerService'
    server.addService(Health.service, {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        if (!knownService(call.request.service)) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' })
        else cb(null, status())
      },
      Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
        call.write(knownService(call.request.service) ? status() : { status: 'SERVICE_UNKNOWN' })
      },
    })
    const hostPart = host.includes(':') ? `[${host}]` : host
    // TLS on every link, loopback too. Client certificates are asked for but checked by us, in
    // accept(), not by TLS: so the health service stays open to any TLS client, while a Link
    // without a certificate of this cluster gets nothing but UNAUTHENTICATED (docs/security.md).
    const provider = new ClusterCertificateProvider(this.credentials())
    this.provider = provider
    const creds = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false)
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${hostPart}:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
    )
    this.server = server
    return bound
  }

  /** A peer's Link to us: Hello first, then batches of messages until it ends. */
  private accept(call: grpc.ServerDuplexStream<LinkFrame, LinkFrame>): void {
    let peerId: string | undefined
    // A refusal before the handshake: an error status for the caller, a line in our logs.
    const refuse = (code: grpc.status, details: string) => {
      this.h.refusedLink?.(hostOfGrpcPeer(call.getPeer()) ?? 'an unknown host', details)
      call.emit('error', { code, details })
    }
    // Who is calling is what its certificate proves, before it says anything (docs/security.md).
    const proven = this.credentials().peerNodeId(call.getAuthContext()?.sslPeerCertificate?.raw)
    if (!proven) {
      refuse(grpc.status.UNAUTHENTICATED, 'not a node of this cluster')
      return
    }
    call.on('data', (frame: LinkFrame) => {
      // Every message is checked once, here, as it enters (docs/security.md): what fails is refused
      // by the node and never handed on.
      const raw: unknown[] = Array.isArray(frame?.messages) ? frame.messages : []
      const messages: DecodedMessage[] = []
      for (const r of raw) {
        const checked = checkPeerMessage(r)
        if (checked.ok) messages.push(checked.message)
        else if (peerId !== undefined) this.h.malformed?.(peerId, checked.body, checked.reqId, checked.reason)
        else {
          refuse(grpc.status.INVALID_ARGUMENT, `bad Hello: ${checked.reason}`)
          return
        }
      }
      if (peerId === undefined) {
        const first = messages[0]
        const hello = first && first.body === 'hello' ? first.hello : undefined
        if (!hello?.self?.nodeId || !hello.self.address) {
          refuse(grpc.status.INVALID_ARGUMENT, 'first frame must be a Hello with node id and address')
          return
        }
        if (hello.self.nodeId !== proven) {
          refuse(grpc.status.PERMISSION_DENIED, `its Hello claims node id ${hello.self.nodeId.slice(0, 8)}, its certificate proves ${proven.slice(0, 8)}`)
          return
        }
        try {
          this.h.inboundHello(hello, hostOfGrpcPeer(call.getPeer()))
        } catch (e) {
          refuse(grpc.status.FAILED_PRECONDITION, (e as Error).message)
          return
        }
        peerId = hello.self.nodeId
        const older = this.inboundCalls.get(peerId)
        this.inboundCalls.set(peerId, call)
        if (older && older !== call) older.end()
        call.write({ messages: [{ hello: this.h.hello() }] })
        if (messages.length > 1) this.h.inbound(peerId, messages.slice(1))
        return
      }
      if (messages.length > 0) this.h.inbound(peerId, messages)
    })
    const done = () => {
      if (peerId && this.inboundCalls.get(peerId) === call) this.inboundCalls.delete(peerId)
    }
    call.on('end', () => {
      done()
      call.end()
    })
    call.on('error', done)
    call.on('cancelled', done)
  }

  /** A client for one address; the caller owns the link it opens. */
  newLink(address: string, onDown: (link: PeerLink, reason: string) => void): OutboundLink {
    const { PeerService } = load()
    const creds = this.credentials()
    let proven: string | undefined
    const tls = grpc.credentials.createSsl(creds.tls.ca, creds.tls.key, creds.tls.cert, {
      // The chain is checked against the cluster CA by TLS; the name that matters is the node id its
      // key proves. A reconnect of this channel to another node is refused.
      checkServerIdentity: (_host, cert) => {
        const id = creds.peerNodeId(cert.raw)
        if (!id || (proven !== undefined && id !== proven)) return new LinkRefused('forbidden', 'not of this cluster')
        proven = id
        return undefined
      },
    })
    const client = new PeerService(address, tls, CLIENT_OPTIONS) as unknown as LinkClient
    return new OutboundLink(address, client, onDown, this.opts.maxQueued, () => proven, this.opts.batching)
  }

  async close(): Promise<void> {
    this.healthServing = false
    for (const call of this.inboundCalls.values()) {
      try {
        call.end()
      } catch {
        // ignore
      }
    }
    this.inboundCalls.clear()
    const server = this.server
    if (!server) return
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        server.forceShutdown()
        resolve()
      }, 1000)
      server.tryShutdown(() => {
        clearTimeout(t)
        resolve()
      })
    })
  }
}
