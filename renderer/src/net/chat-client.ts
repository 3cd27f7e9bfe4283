/**
 * One WebSocket to the node, speaking the client protocol's framing (docs/client-protocol.md §3):
 * requests carry an id and get exactly one reply; events have no id. The socket is re-opened with
 * backoff when it drops; what to do after a reconnect (hello again, rejoin rooms) is the session's
 * business, not this class's. The WebSocket constructor is injected so tests can use a fake.
 */
import type { Op, RequestInput, Results, ServerEvent, ServerFrame } from '../../../proto/client-protocol'
import { ReconnectBackoff } from '../state/backoff'
import { DISCONNECTED, ProtocolError, isErrorCode } from '../state/errors'

export type SocketStatus = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** The part of the DOM WebSocket this client uses. */
export interface SocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onclose: ((ev: unknown) => void) | null
  onerror: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
}

export interface ChatClientOptions {
  url: string
  createSocket?: (url: string) => SocketLike
  backoff?: ReconnectBackoff
  /** Default request timeout; slow ops (2PC, peer handshakes) get their own below. */
  timeoutMs?: number
  setTimer?: (fn: () => void, ms: number) => unknown
  clearTimer?: (t: unknown) => void
}

/** Ops that wait on other nodes (two-phase commit, a peer handshake) are given longer. */
const SLOW_OPS: Partial<Record<Op, number>> = { 'room.delete': 60_000, 'peers.add': 30_000 }

interface Waiting {
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  timer: unknown
}

const OPEN = 1

export class ChatClient {
  private socket: SocketLike | null = null
  private nextId = 1
  private readonly waiting = new Map<number, Waiting>()
  private status: SocketStatus = 'closed'
  private stopped = true
  private retryTimer: unknown = null
  private readonly backoff: ReconnectBackoff
  private readonly createSocket: (url: string) => SocketLike
  private readonly setTimer: (fn: () => void, ms: number) => unknown
  private readonly clearTimer: (t: unknown) => void

  onEvent: (e: ServerEvent) => void = () => {}
  /** Called on every status change; `retryInMs` is set while waiting to reconnect. */
  onStatus: (s: SocketStatus, info: { attempt: number; retryInMs?: number }) => void = () => {}
  /** Called each time a socket opens (first time and after every reconnect). */
  onOpen: (reconnected: boolean) => void = () => {}

  constructor(private readonly opts: ChatClientOptions) {
    this.backoff = opts.backoff ?? new ReconnectBackoff()
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike)
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms))
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>))
  }

  get currentStatus(): SocketStatus {
    return this.status
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.open(false)
  }

  stop(): void {
    this.stopped = true
    if (this.retryTimer !== null) this.clearTimer(this.retryTimer)
    this.retryTimer = null
    const s = this.socket
    this.socket = null
    if (s) {
      s.onclose = null
      s.close(1000, 'client stopped')
    }
    this.failAll()
    this.setStatus('closed', {})
  }

  request<O extends Op>(op: O, params: Omit<RequestInput<O>, 'op'> = {} as Omit<RequestInput<O>, 'op'>): Promise<Results[O]> {
    const s = this.socket
    if (!s || s.readyState !== OPEN || this.status !== 'open') {
      return Promise.reject(new ProtocolError(DISCONNECTED, 'not connected'))
    }
    const id = this.nextId++
    return new Promise<Results[O]>((resolve, reject) => {
      const timer = this.setTimer(() => {
        this.waiting.delete(id)
        reject(new ProtocolError('timeout', `no reply to ${op}`))
      }, SLOW_OPS[op] ?? this.opts.timeoutMs ?? 15_000)
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      s.send(JSON.stringify({ ...params, id, op }))
    })
  }

  private open(reconnecting: boolean): void {
    this.setStatus(reconnecting ? 'reconnecting' : 'connecting', { attempt: this.backoff.attempts })
    let s: SocketLike
    try {
      s = this.createSocket(this.opts.url)
    } catch {
      this.scheduleRetry()
      return
    }
    this.socket = s
    const everOpened = reconnecting
    s.onopen = () => {
      if (this.socket !== s) return
      this.backoff.reset()
      this.setStatus('open', { attempt: 0 })
      this.onOpen(everOpened)
    }
    s.onmessage = (ev) => {
      if (this.socket !== s) return
      this.handleFrame(ev.data)
    }
    s.onerror = () => {
      // The close event follows and carries the decision; nothing to do here.
    }
    s.onclose = () => {
      if (this.socket !== s) return
      this.socket = null
      this.failAll()
      if (!this.stopped) this.scheduleRetry()
    }
  }

  private scheduleRetry(): void {
    const delay = this.backoff.nextDelayMs()
    this.setStatus('reconnecting', { attempt: this.backoff.attempts, retryInMs: delay })
    this.retryTimer = this.setTimer(() => {
      this.retryTimer = null
      if (!this.stopped) this.open(true)
    }, delay)
  }

  private handleFrame(data: unknown): void {
    if (typeof data !== 'string') return
    let frame: ServerFrame
    try {
      frame = JSON.parse(data) as ServerFrame
    } catch {
      return // A node never sends invalid JSON; ignore rather than crash the UI.
    }
    if (frame === null || typeof frame !== 'object') return
    if ('ok' in frame) {
      if (typeof frame.id !== 'number') return // id null: a reply to a frame we could not have sent
      const w = this.waiting.get(frame.id)
      if (!w) return
      this.waiting.delete(frame.id)
      this.clearTimer(w.timer)
      if (frame.ok) w.resolve(frame.result)
      else {
        const code = isErrorCode(frame.error?.code) ? frame.error.code : 'internal'
        w.reject(new ProtocolError(code, frame.error?.message ?? ''))
      }
      return
    }
    if (!('event' in frame)) return
    // A batch (hello batch: true, client-protocol.md §5) is that many `message` events, in order.
    if (frame.event === 'messages') for (const m of frame.messages) this.onEvent({ event: 'message', ...m })
    else this.onEvent(frame)
  }

  private failAll(): void {
    for (const [, w] of this.waiting) {
      this.clearTimer(w.timer)
      w.reject(new ProtocolError(DISCONNECTED, 'connection lost'))
    }
    this.waiting.clear()
  }

  private setStatus(s: SocketStatus, info: { attempt?: number; retryInMs?: number }): void {
    this.status = s
    this.onStatus(s, { attempt: info.attempt ?? this.backoff.attempts, retryInMs: info.retryInMs })
  }
}
