/**
 * The client gateway (docs/client-protocol.md §2–§3): one HTTP server that upgrades
 * authenticated clients to WebSocket and, in browser mode, serves the built UI.
 *
 * Every refusal happens before the upgrade, so an unauthenticated client never gets a socket:
 * a Host that is not an IP literal or `localhost` is refused (DNS rebinding: a hostile page on a
 * name that resolves to 127.0.0.1 would otherwise reach us with the browser's help), a foreign
 * Origin gets 403, a wrong token 401 (compared in constant time). After the upgrade every frame is
 * validated by the one schema in proto/client-protocol.ts; bad frames get an error reply and the
 * node keeps serving everyone else.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import {
  MAX_FRAME_BYTES,
  parseSendFast,
  RequestSchema,
  type ErrorCode,
  type Request,
  type ServerFrame,
} from '../../proto/client-protocol'
import { ChatError } from '../core/errors'
import { handleUiRequest } from './static-ui'

/** A client that a slow reader lets pile up more than this is cut off (protects the node's memory). */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024
/**
 * Token bucket per connection: a burst of pipelined sends is fine; a flood is not. The environment
 * may set other sizes (the gateway test's flood uses a small bucket, so that a node slowed below the
 * refill rate by a loaded machine still runs out of tokens: docs/testing.md).
 */
const RATE_BURST = positiveFromEnv('DS_CLIENT_RATE_BURST', 10_000)
const RATE_PER_SEC = positiveFromEnv('DS_CLIENT_RATE_PER_SEC', 5000)
const PING_EVERY_MS = 20_000
/**
 * Write coalescing (docs/benchmarks.md): a client socket written to less than COALESCE_MS ago is
 * corked, and everything written to it until the gateway's next uncork (at most COALESCE_MS later)
 * leaves in one write. One write per socket per period instead of one per frame, in the order the
 * frames were sent (it is one byte stream), for a delay of at most COALESCE_MS on a busy socket;
 * a socket that was quiet writes at once. The same window as a busy peer link's (docs/peer-protocol.md
 * §1): with links at 8 ms, 8 ms here rather than 2 cut the servers' writes per delivery by about a
 * third at 36k deliveries/s (docs/benchmarks.md, "Adaptive batching on peer links").
 */
const COALESCE_MS = Number(process.env.DS_CLIENT_COALESCE_MS ?? 8)

export interface ClientSession {
  readonly id: number
  user: string | undefined
  /** Opted in to `trace` events (the cluster view). */
  trace: boolean
  /** Said `batch: true` in hello: may receive `messages` events (client-protocol.md §5). */
  batch: boolean
  /** Said `largeRooms: true` in hello: large rooms come as counts and member pages (client-protocol.md §5). */
  largeRooms: boolean
  send(frame: ServerFrame): void
  /** Send a frame already encoded by encodeFrame(): one event to many clients is encoded once. */
  sendEncoded(frame: EncodedFrame): void
}

/** A server frame encoded once: its whole WebSocket frame, and the JSON text within it. */
export interface EncodedFrame {
  /** The WebSocket frame (RFC 6455 §5.2: FIN, text, unmasked, as a server sends), header included. */
  readonly wire: Buffer
  /** The UTF-8 JSON text, the frame's payload (a view into `wire`). */
  readonly json: Buffer
  /**
   * The same JSON text as a string, as encoded: the simulator's clients parse it without decoding
   * the bytes again (docs/simulation.md, "Speed").
   */
  readonly text: string
}

/**
 * Encode once, send to many (the fan-out of one delivery to every local member): the JSON text, its
 * UTF-8 bytes and even the WebSocket frame around them are made once, and every recipient socket is
 * written the same bytes, as a broadcast server does (docs/benchmarks.md).
 */
export function encodeFrame(frame: ServerFrame): EncodedFrame {
  const text = JSON.stringify(frame)
  const wire = wireFrame(text)
  // The header is 2, 4 or 10 bytes, as its second byte says (RFC 6455 §5.2).
  return { wire, json: wire.subarray(wire[1] < 126 ? 2 : wire[1] === 126 ? 4 : 10), text }
}

/** The WebSocket frame of a JSON text (RFC 6455 §5.2: FIN, text, unmasked, as a server sends), in one buffer. */
function wireFrame(text: string): Buffer {
  const n = Buffer.byteLength(text)
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10
  const wire = Buffer.allocUnsafe(head + n)
  wire[0] = 0x81 // FIN + text
  if (n < 126) wire[1] = n
  else if (n < 65536) {
    wire[1] = 126
    wire.writeUInt16BE(n, 2)
  } else {
    wire[1] = 127
    wire.writeUInt32BE(Math.floor(n / 2 ** 32), 2)
    wire.writeUInt32BE(n >>> 0, 6)
  }
  wire.write(text, head)
  return wire
}

/** ws's sender, when it holds nothing back (no compression, nothing queued): a frame may go to the socket as is. */
function senderIdle(ws: WebSocket): boolean {
  const sender = (ws as unknown as { _sender?: { _state?: unknown; _queue?: unknown[] } })._sender
  return sender?._state === 0 && sender._queue?.length === 0
}

export interface ClientApi {
  /**
   * Carry out one validated request from a session that said hello (or is saying it): its result,
   * or a promise of it (the commonest op may answer without one); a refusal is thrown or rejected.
   */
  handle(session: ClientSession, req: Request): unknown
  /** The connection closed: leave its rooms. */
  closed(session: ClientSession): void
}

/** Where the node's clients connect (the WebSocket gateway, or the simulator's in-process one). */
export interface ClientGateway {
  /** Start accepting clients; resolves with the port (0 when there is none). */
  listen(): Promise<number>
  /** Push a frame to every session that passes `filter` (default: signed in). */
  broadcast(frame: ServerFrame, filter?: (s: ClientSession) => boolean): void
  /** A trace event to the sessions that subscribed, built only if there is one (optional: broadcast does it otherwise). */
  broadcastTrace?(make: () => ServerFrame): void
  /**
   * A frame for many sessions' sendEncoded, made once (default: encodeFrame). The simulator's
   * gateway, whose clients never read bytes, copies the frame instead (docs/simulation.md, "Speed").
   */
  encode?(frame: ServerFrame): EncodedFrame
  close(): Promise<void>
}

export interface GatewayOptions {
  host: string
  port: number
  token: string
  api: ClientApi
  uiDir?: string
  allowedOrigins?: string[]
  log: (line: string) => void
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokenMatches(given: string | null, expected: string): boolean {
  if (given === null) return false
  return timingSafeEqual(digest(given), digest(expected))
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/

/** Host header check against DNS rebinding: only IP literals and localhost, on our port. */
export function hostAllowed(hostHeader: string | undefined, port: number): boolean {
  if (!hostHeader) return false
  let name: string
  let portPart: string | undefined
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(hostHeader)
  if (v6) {
    name = v6[1]
    portPart = v6[2]
  } else {
    const i = hostHeader.lastIndexOf(':')
    name = i >= 0 ? hostHeader.slice(0, i) : hostHeader
    portPart = i >= 0 ? hostHeader.slice(i + 1) : undefined
    if (!(IPV4.test(name) || name.toLowerCase() === 'localhost')) return false
  }
  return portPart === undefined ? port === 80 : Number(portPart) === port
}

/** A session of this gateway: its socket, its liveness, and a way to write a JSON text. */
interface WsSession extends ClientSession {
  readonly ws: WebSocket
  alive(): boolean
  setAlive(v: boolean): void
  /** Write one frame of this JSON text (what send() does after JSON.stringify). */
  sendText(text: string): void
}

export class WsGateway implements ClientGateway {
  private server: Server | undefined
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: true })
  private readonly sessions = new Set<WsSession>()
  /** Sessions opted in to `trace` events. */
  private readonly tracers = new Set<ClientSession>()
  private nextId = 1
  private pingTimer: NodeJS.Timeout | undefined
  /** Client sockets corked by write coalescing, and the timer that uncorks them all. */
  private readonly corked = new Set<Socket>()
  private uncorkTimer: NodeJS.Timeout | undefined
  port = 0

  constructor(private readonly o: GatewayOptions) {}

  async listen(): Promise<number> {
    const server = createServer((req, res) => this.http(req, res))
    server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head))
    server.on('clientError', (_err, socket) => socket.destroy())
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.o.port, this.o.host, () => resolve())
    })
    this.server = server
    const addr = server.address()
    this.port = typeof addr === 'object' && addr ? addr.port : this.o.port
    this.pingTimer = setInterval(() => this.ping(), PING_EVERY_MS)
    this.pingTimer.unref()
    return this.port
  }

  /** Push a frame to every session that passes `filter` (events). */
  broadcast(frame: ServerFrame, filter: (s: ClientSession) => boolean = (s) => s.user !== undefined): void {
    for (const s of this.sessions) if (filter(s)) s.send(frame)
  }

  /** A trace event to the sessions that subscribed (none: nothing is built or sent). */
  broadcastTrace(make: () => ServerFrame): void {
    if (this.tracers.size === 0) return
    const frame = encodeFrame(make())
    for (const s of this.tracers) s.sendEncoded(frame)
  }

  private http(req: IncomingMessage, res: ServerResponse): void {
    if (!hostAllowed(req.headers.host, this.port)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('Host not allowed\n')
      return
    }
    if (this.o.uiDir && handleUiRequest(req, res, this.o.uiDir)) return
    res.writeHead(404, { 'content-type': 'text/plain' }).end('This is a ds-g1-sms node: connect with a WebSocket.\n')
  }

  private refuse(socket: Duplex, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\n\r\n${text}\n`)
  }

  private originAllowed(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true // programs (CLI, tests, bots) send no Origin
    if (host && (origin === `http://${host}` || origin === `https://${host}`)) return true
    return (this.o.allowedOrigins ?? []).includes(origin)
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy())
    const url = new URL(req.url ?? '/', 'http://gateway.invalid')
    if (!hostAllowed(req.headers.host, this.port)) return this.refuse(socket, 403, 'Forbidden: Host not allowed')
    if (!this.originAllowed(req.headers.origin, req.headers.host)) return this.refuse(socket, 403, 'Forbidden: Origin not allowed')
    if (!tokenMatches(url.searchParams.get('token'), this.o.token)) return this.refuse(socket, 401, 'Unauthorized')
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, socket as Socket))
  }

  private readonly uncorkAll = (): void => {
    this.uncorkTimer = undefined
    for (const s of this.corked) s.uncork()
    this.corked.clear()
  }

  private connected(ws: WebSocket, socket: Socket): void {
    let alive = true
    // Not with permessage-deflate (the gateway does not offer it): its frames are compressed.
    const direct = !ws.extensions
    let lastWriteAt = -Infinity
    /** Before a frame is written: a socket that wrote just now is corked until the next uncork. */
    const coalesce = (): void => {
      const now = performance.now()
      if (now - lastWriteAt < COALESCE_MS && !this.corked.has(socket)) {
        socket.cork()
        this.corked.add(socket)
        this.uncorkTimer ??= setTimeout(this.uncorkAll, COALESCE_MS)
      }
      lastWriteAt = now
    }
    const writable = (): boolean => {
      if (ws.readyState !== ws.OPEN) return false
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.o.log(`client ${session.id} reads too slowly (${ws.bufferedAmount} bytes queued): closing it`)
        ws.close(1013, 'too slow')
        return false
      }
      return true
    }
    const tracers = this.tracers
    const session: WsSession = {
      id: this.nextId++,
      user: undefined,
      // Subscribers are kept in a set of their own, so the protocol log (a line per send on an
      // administrator) costs nothing per connected client when nobody watches it.
      get trace() {
        return tracers.has(session)
      },
      set trace(on: boolean) {
        if (on) tracers.add(session)
        else tracers.delete(session)
      },
      ws,
      alive: () => alive,
      setAlive: (v) => (alive = v),
      batch: false,
      largeRooms: false,
      send: (frame) => session.sendText(JSON.stringify(frame)),
      // A frame for one socket is built as a shared one is (encodeFrame): one buffer, header
      // included, written as is; ws's sender made a second buffer and a second write per frame.
      sendText: (text) => {
        if (!writable()) return
        coalesce()
        if (direct && senderIdle(ws)) socket.write(wireFrame(text))
        else ws.send(text)
      },
      sendEncoded: (frame) => {
        if (!writable()) return
        coalesce()
        // The prebuilt frame, straight to the socket; through ws (a text frame around the same JSON)
        // if its sender holds anything back, so frames never overtake one another.
        if (direct && senderIdle(ws)) socket.write(frame.wire)
        else ws.send(frame.json, { binary: false })
      },
    }
    this.sessions.add(session)
    let tokens = RATE_BURST
    let refilledAt = Date.now()
    ws.on('pong', () => (alive = true))
    ws.on('message', (data, isBinary) => {
      const now = Date.now()
      tokens = Math.min(RATE_BURST, tokens + ((now - refilledAt) / 1000) * RATE_PER_SEC)
      refilledAt = now
      if (tokens < 1) {
        session.send(errorReply(idOf(data, isBinary), 'rate_limited', 'too many requests: slow down'))
        return
      }
      tokens--
      this.frame(session, data, isBinary)
    })
    ws.on('error', (err) => this.o.log(`client ${session.id}: ${err.message}`))
    ws.on('close', () => {
      if (this.corked.delete(socket)) socket.uncork()
      this.sessions.delete(session)
      this.tracers.delete(session)
      try {
        this.o.api.closed(session)
      } catch (e) {
        this.o.log(`closing client ${session.id}: ${(e as Error).message}`)
      }
    })
  }

  /**
   * One client frame, synchronously up to the op (docs/benchmarks.md, "Client ingress"): an answer
   * known at once is written at once; otherwise when the op's promise settles.
   */
  private frame(session: WsSession, data: unknown, isBinary: boolean): void {
    if (isBinary) return session.send(errorReply(null, 'bad_request', 'binary frames are not accepted: send JSON text'))
    let raw: unknown
    try {
      // A text frame comes as a Buffer (ws's default binaryType): its toString() is the text String()
      // gives, without String()'s generic property lookups for the conversion (docs/benchmarks.md, "Inline caches").
      raw = JSON.parse(data instanceof Buffer ? data.toString() : String(data))
    } catch {
      return session.send(errorReply(null, 'bad_request', 'frame is not valid JSON'))
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return session.send(errorReply(null, 'bad_request', 'frame must be a JSON object'))
    }
    const rawId = (raw as { id?: unknown }).id
    const id = typeof rawId === 'string' || (typeof rawId === 'number' && Number.isFinite(rawId)) ? rawId : null
    // message.send is most of the traffic: checked without the schema when it is well formed; any
    // other frame, and any bad one, goes through the schema (one source of errors).
    let req: Request | undefined = parseSendFast(raw as Record<string, unknown>)
    if (!req) {
      const parsed = RequestSchema.safeParse(raw)
      if (!parsed.success) {
        const [code, message] = describeInvalid(raw as Record<string, unknown>, parsed.error.issues)
        return session.send(errorReply(id, code, message))
      }
      req = parsed.data
    }
    if (req.op !== 'hello' && session.user === undefined) {
      return session.send(errorReply(req.id, 'unauthorized', 'say hello first: {"op":"hello","user":"..."}'))
    }
    let result: unknown
    try {
      result = this.o.api.handle(session, req)
    } catch (e) {
      return this.failed(session, req, e)
    }
    const r = req
    if (result instanceof Promise) result.then((v) => this.answer(session, r, v), (e) => this.failed(session, r, e))
    else this.answer(session, req, result)
  }

  private answer(session: WsSession, req: Request, result: unknown): void {
    // message.send's answer, written by hand: the same text JSON.stringify gives for
    // {id, ok: true, result: {seq}}, without building the object (a number id is its own JSON).
    if (req.op === 'message.send') {
      const id = typeof req.id === 'number' ? String(req.id) : JSON.stringify(req.id)
      session.sendText(`{"id":${id},"ok":true,"result":{"seq":${(result as { seq: number }).seq}}}`)
    } else session.send({ id: req.id, ok: true, result: result as never })
  }

  private failed(session: WsSession, req: Request, e: unknown): void {
    if (e instanceof ChatError) session.send(errorReply(req.id, e.code, e.message))
    else {
      this.o.log(`internal error on ${req.op}: ${(e as Error).stack ?? String(e)}`)
      session.send(errorReply(req.id, 'internal', 'internal error'))
    }
  }

  private ping(): void {
    for (const s of this.sessions) {
      if (!s.alive()) {
        s.ws.terminate()
        continue
      }
      s.setAlive(false)
      s.ws.ping()
    }
  }

  async close(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer)
    clearTimeout(this.uncorkTimer)
    this.uncorkAll()
    for (const s of this.sessions) s.ws.close(1001, 'node stopping')
    this.wss.close()
    const server = this.server
    if (!server) return
    server.closeAllConnections?.()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

function errorReply(id: string | number | null, code: ErrorCode, message: string): ServerFrame {
  return { id, ok: false, error: { code, message } }
}

function idOf(data: unknown, isBinary: boolean): string | number | null {
  if (isBinary) return null
  try {
    const raw = JSON.parse(String(data)) as { id?: unknown }
    return typeof raw?.id === 'string' || typeof raw?.id === 'number' ? raw.id : null
  } catch {
    return null
  }
}

const KNOWN_OPS = new Set(
  RequestSchema.options.map((o) => (o.shape.op as unknown as { value: string }).value),
)

/** Turn schema issues into the contract's error: unknown op, over-long text, or a plain bad_request. */
function describeInvalid(
  raw: Record<string, unknown>,
  issues: ReadonlyArray<{ code: string; path: PropertyKey[]; message: string }>,
): [ErrorCode, string] {
  if (typeof raw.op !== 'string') return ['bad_request', 'frame needs an "op" string']
  if (!KNOWN_OPS.has(raw.op)) return ['bad_request', `unknown op "${raw.op.slice(0, 64)}"`]
  const first = issues[0]
  const field = first?.path.map(String).join('.') || 'frame'
  if (first?.code === 'too_big' && field === 'text') return ['too_large', `text is longer than the limit: ${first.message}`]
  return ['bad_request', `${raw.op}: ${field}: ${first?.message ?? 'invalid'}`]
}

/** A positive number from the environment variable `name`, else `fallback` (unset, empty or not a positive number). */
function positiveFromEnv(name: string, fallback: number): number {
  const v = Number(process.env[name])
  return Number.isFinite(v) && v > 0 ? v : fallback
}
