/**
 * An in-memory network for nodes in one process (docs/simulation.md, "Transport"):
 * the same Transport contract as gRPC (transport.ts), on an injected clock, with the faults a real
 * network has: latency, links that break, partitions (both ways or one way) and paused nodes.
 *
 * How it stays faithful to gRPC streams over TCP:
 *   - a link is FIFO: a frame never overtakes an earlier one on its link, whatever its latency;
 *   - messages travel as data, not shared objects: each frame is copied as it is written (what a
 *     JSON round trip would keep, without the text in between) and decoded the way
 *     @grpc/proto-loader decodes peer.proto (`body` names the field set), so no node can see or
 *     change another node's objects;
 *   - a partition or a paused receiver holds frames back (TCP retransmits; nothing is lost in the
 *     middle of a stream); a link held back longer than `breakAfterMs` breaks, as gRPC keepalive
 *     would break it, and loses what it had not delivered (the node sees `onDown`);
 *   - a link to an address nobody listens on is refused after one latency; a handshake that cannot
 *     complete (partitioned, paused) times out at the dialer's timeout.
 */
import type { Clock, Timer } from './clock'
import type { DecodedMessage, Hello, PeerMessage } from './peer-messages'
import { LinkRefused, type PeerLink, type Transport, type TransportHandlers } from './transport'

export interface MemoryNetworkOptions {
  /** The network's own time (it keeps running while a node is paused). */
  readonly clock: Clock
  /** One-way latency of the next frame from one address to another, in ms (default 1). */
  latencyMs?(from: string, to: string): number
  /** A link whose frames are held back this long breaks (default 20 s, gRPC's keepalive timeout). */
  readonly breakAfterMs?: number
  /** Most messages a link holds for a receiver that does not read, before it breaks (gRPC's MAX_QUEUED). */
  readonly maxQueued?: number
  /**
   * A broken network for testing the tests: when this says so, a frame overtakes the one before it
   * on its link (the FIFO the contract promises is violated). Never set outside such tests.
   */
  reorder?(): boolean
  /**
   * A broken peer for testing the tests: every message written is passed through this and the
   * result goes on the wire instead. Never set outside such tests.
   */
  tamper?(m: PeerMessage): PeerMessage
}

/** What happened on the network, for a simulator's trace. */
export type NetworkEvent =
  | { type: 'link-up'; from: string; to: string }
  | { type: 'link-down'; from: string; to: string; reason: string }
  | { type: 'refused'; from: string; to: string; reason: string }

interface Frame {
  deliverAt: number
  /** The wire form: the messages written, decoded and sealed (sealAsJson). */
  messages: DecodedMessage[]
  count: number
}

/**
 * A copy of plain data as a JSON round trip makes it (undefined fields and functions dropped,
 * non-finite numbers null, toJSON honoured), without writing and parsing text: the simulator
 * copies every frame, so this is on its hot path (docs/simulation.md, "Speed").
 */
export function copyAsJson<T>(v: T): T {
  return copy(v) as T
}

const hasOwn = Object.prototype.hasOwnProperty

function copy(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return typeof v === 'number' && !Number.isFinite(v) ? null : v
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length)
    for (let i = 0; i < v.length; i++) out[i] = copyItem(v[i], null)
    return out
  }
  const toJSON = (v as { toJSON?: () => unknown }).toJSON
  if (typeof toJSON === 'function') return copy(toJSON.call(v))
  const out: Record<string, unknown> = {}
  for (const k in v) {
    if (!hasOwn.call(v, k)) continue
    const x = copyItem((v as Record<string, unknown>)[k], SKIP)
    if (x !== SKIP) out[k] = x
  }
  return out
}

/** Dropped from an object (JSON leaves such a field out; in an array it writes null). */
const SKIP = Symbol('skip')

/** One field or item: strings and finite numbers, most of a frame, without a call of copy. */
function copyItem(x: unknown, dropped: null | typeof SKIP): unknown {
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return x
    case 'number':
      return Number.isFinite(x) ? x : null
    case 'undefined':
    case 'function':
    case 'symbol':
      return dropped
    default:
      return copy(x)
  }
}

/**
 * Plain data shared instead of copied (docs/simulation.md, "Transport"): what a receiver gets from
 * `sealAsJson(v)` is what `copyAsJson(v)` would give it, field for field, but every object and
 * array in it that JSON would carry unchanged is `v`'s own; only where JSON would change something
 * (an undefined field dropped, a non-finite number made null, a class instance or `toJSON`) is that
 * object a copy. Frames were most of the simulator's copying and garbage: each was copied whole for
 * every link it was written on.
 *
 * Sharing is sound while nobody changes shared data: not the writer after writing it, not a
 * receiver. With `freezeSharedData(true)` (the default: tests, the CI batch, a replayed seed) all of
 * it is frozen, so a node that changes it throws a TypeError (strict mode), which the simulator
 * reports. Frozen arrays are slow in V8 (`filter`, `slice` and `some` lose their fast paths, 3-20
 * times slower, and the node calls them on replica lists it got from the wire), so a batch of
 * `npm run sim` shares without freezing (its runs are the same runs, unless a node changes shared
 * data, which the frozen runs would report; `--check-shared` freezes a batch too).
 */
export function sealAsJson<T>(v: T): T {
  return sealItem(v, null) as T
}

let freezing = true

/** Whether sealAsJson freezes what it shares (above); for the whole process. */
export function freezeSharedData(on: boolean): void {
  freezing = on
}

export function sharedDataFrozen(): boolean {
  return freezing
}

const PLAIN_PROTO = Object.prototype

/**
 * One field or item, sealed: an object or array may be shared (sealObject); anything else goes
 * through copyItem, so that the receiver gets what copyAsJson would give it (docs/simulation.md,
 * "Transport"). `dropped`: what an undefined, a function or a symbol becomes (SKIP in an object).
 */
function sealItem(x: unknown, dropped: null | typeof SKIP): unknown {
  return typeof x === 'object' && x !== null ? sealObject(x) : copyItem(x, dropped)
}

/**
 * `v` sealed (above). `decoded`: `v` is a peer message, which also gets `body` (see decode) before
 * it is frozen.
 */
function sealObject(v: object, decoded = false): unknown {
  if (Array.isArray(v)) {
    let out: unknown[] | undefined
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i]
      const y = sealItem(x, null)
      if (out === undefined) {
        if (y === x) continue
        out = v.slice(0, i)
      }
      out.push(y)
    }
    return freezing ? Object.freeze(out ?? v) : (out ?? v)
  }
  const proto: unknown = Object.getPrototypeOf(v)
  if ((proto !== PLAIN_PROTO && proto !== null) || typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    // Not plain data: JSON would carry something else (its toJSON, its own fields only).
    const c = copy(v)
    return typeof c === 'object' && c !== null ? sealObject(c, decoded) : c
  }
  // A plain object's for-in yields its own fields only (nothing enumerable is inherited from
  // Object.prototype): no hasOwnProperty call per field, a quarter of the walk.
  let out: Record<string, unknown> | undefined
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k]
    const y = sealItem(x, SKIP)
    if (out === undefined) {
      if (y === x) continue
      // The first field JSON would change: a copy from here on, with the fields before it.
      out = {}
      for (const j in v) {
        if (j === k) break
        out[j] = (v as Record<string, unknown>)[j]
      }
    }
    if (y !== SKIP) out[k] = y
  }
  let sealed = out ?? (v as Record<string, unknown>)
  if (decoded) {
    let body: string | undefined
    for (const k in sealed) {
      body = k
      break
    }
    if (sealed.body !== body) {
      // A message sealed before has its `body` (written on several links, or again).
      if (sealed === v && Object.isFrozen(v)) sealed = { ...v }
      sealed.body = body
    }
  }
  return freezing ? Object.freeze(sealed) : sealed
}

/** A misuse of the network by its owner (the simulator or a test), never a peer's doing. */
export class MemoryNetworkError extends Error {
  override readonly name = 'MemoryNetworkError'
  readonly code = 'memory_network'
}

export class MemoryNetwork {
  private anonymous = 0
  private readonly endpoints = new Map<string, MemoryTransport>()
  /** "from>to": frames from `from` to `to` are held back. */
  private readonly blocked = new Set<string>()
  private readonly paused = new Set<string>()
  private readonly links = new Set<MemoryLink>()
  /** Extra latency per address pair ("from>to"), on top of the base latency. */
  private readonly delays = new Map<string, number>()
  readonly clock: Clock
  readonly breakAfterMs: number
  readonly maxQueued: number
  /** Observers of link events (the simulator's trace). */
  onEvent: (e: NetworkEvent) => void = () => {}

  constructor(private readonly o: MemoryNetworkOptions) {
    this.clock = o.clock
    this.breakAfterMs = o.breakAfterMs ?? 20_000
    this.maxQueued = o.maxQueued ?? 100_000
  }

  /** A transport for one node: what peer-node.ts is given instead of gRPC. */
  transport(handlers: TransportHandlers): MemoryTransport {
    return new MemoryTransport(this, handlers)
  }

  // -------------------------------------------------------------------------------------------
  // Faults (addresses are the host:port nodes listen on)

  /** Hold back every frame between `a` and `b`, both ways. */
  partition(a: string, b: string): void {
    this.blockOneWay(a, b)
    this.blockOneWay(b, a)
  }

  /** Hold back frames from `from` to `to` only: `to` stops hearing `from`, `from` still hears `to`. */
  blockOneWay(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`)
    this.watchHeld()
  }

  /** Lift the partition between `a` and `b` (both ways); every other one stays. */
  unpartition(a: string, b: string): void {
    this.blocked.delete(`${a}>${b}`)
    this.blocked.delete(`${b}>${a}`)
    this.kick()
  }

  /** Lift every partition. */
  heal(): void {
    this.blocked.clear()
    this.kick()
  }

  isBlocked(from: string, to: string): boolean {
    return this.blocked.has(`${from}>${to}`)
  }

  /** The node at `address` stops reading (SIGSTOP): frames to it wait, and break after breakAfterMs. */
  pause(address: string): void {
    this.paused.add(address)
    this.watchHeld()
  }

  resume(address: string): void {
    this.paused.delete(address)
    this.kick()
  }

  /** Extra one-way latency from `from` to `to` (0 removes it). */
  setDelay(from: string, to: string, ms: number): void {
    if (ms > 0) this.delays.set(`${from}>${to}`, ms)
    else this.delays.delete(`${from}>${to}`)
  }

  /** Break every link between `a` and `b` (both directions), as a reset connection does. */
  breakLinks(a: string, b: string, reason = 'connection reset'): number {
    let n = 0
    for (const l of [...this.links]) {
      if ((l.from === a && l.to === b) || (l.from === b && l.to === a)) {
        l.close(reason)
        n++
      }
    }
    return n
  }

  /**
   * The process at `address` dies: every link to or from it breaks at once (the OS resets the
   * sockets) and nothing listens there any more. Its node object must not be used again.
   */
  crash(address: string): void {
    const t = this.endpoints.get(address)
    if (t) {
      this.endpoints.delete(address)
      t.crashed = true
    }
    for (const l of [...this.links]) {
      // The dead node's own links vanish with it (nothing of it runs any more); the others hear
      // the reset one latency later.
      if (l.owner === t) l.vanish()
      else if (l.to === address) l.remoteClose('connection reset (peer crashed)')
    }
    this.paused.delete(address)
  }

  // -------------------------------------------------------------------------------------------
  // Used by MemoryTransport and MemoryLink

  register(address: string, t: MemoryTransport): void {
    const old = this.endpoints.get(address)
    if (old && old !== t) throw new MemoryNetworkError(`address in use: ${address}`)
    this.endpoints.set(address, t)
  }

  unregister(address: string, t: MemoryTransport): void {
    if (this.endpoints.get(address) === t) this.endpoints.delete(address)
  }

  endpoint(address: string): MemoryTransport | undefined {
    return this.endpoints.get(address)
  }

  isPaused(address: string): boolean {
    return this.paused.has(address)
  }

  /** `way` is "from>to", made once per link: this runs for every frame (docs/simulation.md, "Speed"). */
  latency(from: string, to: string, way = `${from}>${to}`): number {
    const base = this.o.latencyMs ? this.o.latencyMs(from, to) : 1
    return Math.max(0, base) + (this.delays.get(way) ?? 0)
  }

  /**
   * What goes on the wire (through the broken-peer switch, MemoryNetworkOptions.tamper): each
   * message decoded as the receiver will have it and sealed (sealAsJson), in a frame's own array.
   */
  wire(messages: PeerMessage[]): DecodedMessage[] {
    const ms = this.o.tamper ? messages.map(this.o.tamper) : messages
    const out = new Array<DecodedMessage>(ms.length)
    for (let i = 0; i < ms.length; i++) out[i] = decode(ms[i])
    return out
  }

  /** The broken-network switch (MemoryNetworkOptions.reorder). */
  overtakes(): boolean {
    return this.o.reorder ? this.o.reorder() : false
  }

  canDeliver(from: string, to: string, way = `${from}>${to}`): boolean {
    return !this.blocked.has(way) && !this.paused.has(to)
  }

  addLink(l: MemoryLink): void {
    this.links.add(l)
  }

  removeLink(l: MemoryLink): void {
    this.links.delete(l)
  }

  nextAnonymous(): string {
    return `unlistened-${++this.anonymous}`
  }

  /** Something was lifted: every link tries its held frames again. */
  private kick(): void {
    for (const l of [...this.links]) l.pump()
  }

  /** Something now holds frames back: links with frames in flight start their break timers. */
  private watchHeld(): void {
    for (const l of [...this.links]) l.pump()
  }
}

/** One node's end of the network: accepts links at its address and makes links to others. */
export class MemoryTransport implements Transport {
  address: string | undefined
  /** Its process died (MemoryNetwork.crash): nothing reaches it any more. */
  crashed = false
  /** Inbound links by the dialer's node id: a newer link from the same node ends the older one. */
  private readonly inbound = new Map<string, MemoryLink>()
  private closed = false

  constructor(
    readonly net: MemoryNetwork,
    readonly handlers: TransportHandlers,
  ) {}

  async listen(host: string, port: number): Promise<number> {
    if (port === 0) {
      port = 7000
      while (this.net.endpoint(`${host}:${port}`)) port++
    }
    const address = `${host}:${port}`
    this.net.register(address, this)
    this.address = address
    return port
  }

  /** Our address as others see it (an endpoint that never listened still has a name on the wire). */
  get wireAddress(): string {
    if (!this.address) this.address = this.net.nextAnonymous()
    return this.address
  }

  newLink(address: string, onDown: (link: PeerLink, reason: string) => void): MemoryLink {
    return new MemoryLink(this.net, this, address, onDown)
  }

  /** A dialer's Hello arrived on `link`: accept it (answer our Hello) or refuse it. */
  acceptHello(link: MemoryLink, hello: Hello): { ok: true; answer: Hello } | { ok: false; reason: string } {
    if (this.closed || this.crashed) return { ok: false, reason: 'connection refused' }
    if (!hello?.self?.nodeId || !hello.self.address) return { ok: false, reason: 'first frame must be a Hello with node id and address' }
    const remoteHost = link.owner.address ? link.owner.address.slice(0, link.owner.address.lastIndexOf(':')) : undefined
    try {
      this.handlers.inboundHello(hello, remoteHost)
    } catch (e) {
      return { ok: false, reason: (e as Error).message }
    }
    const older = this.inbound.get(hello.self.nodeId)
    this.inbound.set(hello.self.nodeId, link)
    if (older && older !== link) older.remoteClose('stream ended')
    return { ok: true, answer: this.handlers.hello() }
  }

  /** Closed or crashed: a stopped server reads nothing more, whatever is still in flight to it. */
  get gone(): boolean {
    return this.closed || this.crashed
  }

  inboundClosed(link: MemoryLink, peerId: string | undefined): void {
    if (peerId && this.inbound.get(peerId) === link) this.inbound.delete(peerId)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const l of [...this.inbound.values()]) l.remoteClose('stream ended')
    this.inbound.clear()
    if (this.address) this.net.unregister(this.address, this)
  }
}

/** A link from one node (its owner) to the node listening at `address`. */
export class MemoryLink implements PeerLink {
  peer: Hello | undefined
  lastWriteAt = 0
  framesWritten = 0
  messagesWritten = 0
  private queue: PeerMessage[] = []
  private flushTimer: Timer | undefined
  private readonly inFlight: Frame[] = []
  private pumpTimer: Timer | undefined
  private breakTimer: Timer | undefined
  private lastDeliverAt = 0
  private closed = false
  private target: MemoryTransport | undefined
  /** The dialer's node id, known from its Hello (what the receiver's `inbound` is called with). */
  private fromNodeId: string | undefined
  private endWaiters: (() => void)[] = []
  readonly from: string
  /** "from>to" and "to>from": the keys of this link's two directions in the network's fault tables. */
  private readonly ahead: string
  private readonly back: string

  constructor(
    private readonly net: MemoryNetwork,
    readonly owner: MemoryTransport,
    readonly address: string,
    private readonly onDown: (link: PeerLink, reason: string) => void,
  ) {
    this.from = owner.wireAddress
    this.ahead = `${this.from}>${address}`
    this.back = `${address}>${this.from}`
    net.addLink(this)
  }

  get to(): string {
    return this.address
  }

  get up(): boolean {
    return this.peer !== undefined && !this.closed
  }

  get queued(): number {
    let n = this.queue.length
    for (const f of this.inFlight) n += f.count
    return n
  }

  open(ourHello: Hello, timeoutMs: number): Promise<Hello> {
    return new Promise<Hello>((resolve, reject) => {
      const clock = this.net.clock
      let settled = false
      const fail = (e: LinkRefused, reason: string) => {
        if (settled) return
        settled = true
        clock.clear(timer)
        reject(e)
        this.close(reason)
      }
      const timer = clock.setTimeout(
        () => fail(refused('timeout', `no answer from ${this.address} within ${timeoutMs} ms`), 'handshake timeout'),
        timeoutMs,
      )
      // The Hello goes out as the link's first frame; the answer comes back the other way.
      const helloCopy = sealAsJson(ourHello)
      this.sendRaw(() => {
        const target = this.net.endpoint(this.address)
        if (!target) {
          this.net.onEvent({ type: 'refused', from: this.from, to: this.address, reason: 'nobody listens' })
          fail(refused('unreachable', `connection refused at ${this.address}`), 'connection refused')
          return
        }
        this.target = target
        const hello = helloCopy
        const r = target.acceptHello(this, hello)
        const back = r.ok ? sealAsJson(r.answer) : undefined
        this.fromNodeId = hello?.self?.nodeId
        // The answer travels back after one latency, held back like any frame by a partition.
        this.sendBack(() => {
          if (settled || this.closed) return
          if (!r.ok) {
            this.net.onEvent({ type: 'refused', from: this.from, to: this.address, reason: r.reason })
            fail(refused('bad_hello', r.reason), 'refused')
            return
          }
          settled = true
          clock.clear(timer)
          this.peer = back!
          this.net.onEvent({ type: 'link-up', from: this.from, to: this.address })
          resolve(this.peer)
          this.scheduleFlush()
        })
      })
    })
  }

  send(m: PeerMessage): void {
    if (this.closed) return
    if (this.queued >= this.net.maxQueued) {
      this.close(`peer too slow: ${this.queued} messages queued`)
      return
    }
    this.queue.push(m)
    if (this.peer) this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.closed) return
    // Everything queued in this turn leaves in one frame, as peer-transport.ts batches it.
    this.flushTimer = this.net.clock.setTimeout(() => {
      this.flushTimer = undefined
      this.flush()
    }, 0)
  }

  private flush(): void {
    if (this.closed || !this.peer || this.queue.length === 0) return
    const taken = this.queue
    this.queue = []
    const now = this.net.clock.now()
    this.lastWriteAt = now
    this.framesWritten++
    this.messagesWritten += taken.length
    this.enqueue({ deliverAt: 0, messages: this.net.wire(taken), count: taken.length })
  }

  /** A frame on the wire: in order behind every earlier frame of this link. */
  private enqueue(f: Frame): void {
    const now = this.net.clock.now()
    f.deliverAt = Math.max(now + this.net.latency(this.from, this.to, this.ahead), this.lastDeliverAt)
    this.lastDeliverAt = f.deliverAt
    if (f.count > 0 && this.net.overtakes()) {
      // The broken-network switch: this frame lags, and the frames written after it overtake it.
      f.deliverAt += 30
      this.lastDeliverAt = f.deliverAt - 30
      let i = this.inFlight.length
      while (i > 0 && this.inFlight[i - 1].deliverAt > f.deliverAt) i--
      this.inFlight.splice(i, 0, f)
    } else {
      let i = this.inFlight.length
      // Frames behind a lagging one still keep their own order.
      while (i > 0 && this.inFlight[i - 1].deliverAt > f.deliverAt) i--
      // Nearly always the last: a push, not a splice (docs/simulation.md, "Speed").
      if (i === this.inFlight.length) this.inFlight.push(f)
      else this.inFlight.splice(i, 0, f)
    }
    this.pump()
  }

  /** The handshake's first leg, as a frame of this link (so it is ordered and held like data). */
  private readonly control = new Map<Frame, () => void>()

  private sendRaw(run: () => void): void {
    const f: Frame = { deliverAt: 0, messages: [], count: 0 }
    this.control.set(f, run)
    this.enqueue(f)
  }

  /** The handshake's answer, from the dialed node back to us. */
  private sendBack(run: () => void): void {
    const clock = this.net.clock
    const tryBack = () => {
      if (this.closed) return
      if (this.net.canDeliver(this.to, this.from, this.back)) run()
      else clock.setTimeout(tryBack, 50) // held back by a partition or a paused dialer
    }
    clock.setTimeout(tryBack, this.net.latency(this.to, this.from, this.back))
  }

  /** Deliver what is due and deliverable; set a timer for the rest. */
  pump(): void {
    if (this.closed) return
    const clock = this.net.clock
    clock.clear(this.pumpTimer)
    this.pumpTimer = undefined
    const now = clock.now()
    while (this.inFlight.length > 0 && !this.closed) {
      const f = this.inFlight[0]
      if (f.deliverAt > now) {
        this.pumpTimer = clock.setTimeout(() => {
          this.pumpTimer = undefined
          this.pump()
        }, f.deliverAt - now)
        break
      }
      if (!this.net.canDeliver(this.from, this.to, this.ahead)) {
        // Held back: TCP keeps it; keepalive breaks the link if this lasts.
        if (this.breakTimer === undefined) {
          this.breakTimer = clock.setTimeout(() => {
            this.breakTimer = undefined
            if (this.inFlight.length > 0 && !this.net.canDeliver(this.from, this.to, this.ahead)) this.close('keepalive timeout (peer unreachable)')
          }, this.net.breakAfterMs)
        }
        return
      }
      clock.clear(this.breakTimer)
      this.breakTimer = undefined
      this.inFlight.shift()
      this.deliver(f)
    }
    if (this.inFlight.length === 0) {
      clock.clear(this.breakTimer)
      this.breakTimer = undefined
      const waiters = this.endWaiters
      this.endWaiters = []
      for (const w of waiters) w()
    }
  }

  private deliver(f: Frame): void {
    const control = this.control.get(f)
    if (control) {
      this.control.delete(f)
      control()
      return
    }
    const target = this.target
    if (!target || !this.fromNodeId || target.gone) return
    // Decoded and sealed when written (MemoryNetwork.wire); the array is this frame's own.
    target.handlers.inbound(this.fromNodeId, f.messages)
  }

  async drainAndEnd(waitMs: number): Promise<void> {
    this.net.clock.clear(this.flushTimer)
    this.flushTimer = undefined
    this.flush()
    if (this.closed) return
    if (this.inFlight.length > 0) {
      await new Promise<void>((resolve) => {
        const t = this.net.clock.setTimeout(resolve, waitMs)
        this.endWaiters.push(() => {
          this.net.clock.clear(t)
          resolve()
        })
      })
    }
    this.close('left')
  }

  close(reason: string): void {
    if (!this.teardown()) return
    for (const w of this.endWaiters.splice(0)) w()
    if (this.peer) this.net.onEvent({ type: 'link-down', from: this.from, to: this.address, reason })
    this.onDown(this, reason)
  }

  /** Stops timers and traffic and unregisters the link; false when it was already closed. */
  private teardown(): boolean {
    if (this.closed) return false
    this.closed = true
    const clock = this.net.clock
    clock.clear(this.flushTimer)
    clock.clear(this.pumpTimer)
    clock.clear(this.breakTimer)
    this.queue = []
    this.inFlight.length = 0
    this.control.clear()
    this.net.removeLink(this)
    this.target?.inboundClosed(this, this.fromNodeId)
    return true
  }

  /** Closed by the other end (its stream ended, or it was reset): we hear of it one latency later. */
  remoteClose(reason: string): void {
    if (this.closed) return
    this.net.clock.setTimeout(() => this.close(reason), this.net.latency(this.to, this.from, this.back))
  }

  /** The owner's process died: the link is gone without telling anyone on this side. */
  vanish(): void {
    this.teardown()
  }
}

/**
 * A refused link's error, without a stack trace: it would show only the simulator's timers, and a
 * dial to a node that is down is refused many times a run (docs/simulation.md, "Speed").
 */
function refused(code: LinkRefused['code'], message: string): LinkRefused {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new LinkRefused(code, message)
  } finally {
    Error.stackTraceLimit = limit
  }
}

/**
 * As @grpc/proto-loader decodes a PeerMessage with `oneofs: true`: `body` names the field set. The
 * message is sealed (sealAsJson) with `body` as its last field, on the writer's own object when JSON
 * would carry that unchanged.
 */
function decode(m: PeerMessage): DecodedMessage {
  return sealObject(m, true) as DecodedMessage
}
