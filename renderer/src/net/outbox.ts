/**
 * The outbox: this user's messages until the node gives each its seq (docs/client-protocol.md §6).
 * An error reply is not always a "no": `timeout`, or `room_unavailable` for a room we believed
 * available, may come while the send already reached the administrator, which may still order it.
 * Such a message is *waiting*, not failed, and goes again with the same clientMsgId when the room is
 * available again (or every RESEND_WAITING_MS while it looks available): always safe, since the
 * administrator answers a resend with the seq it already gave and delivers nothing twice.
 */
import { ProtocolError, describeError } from '../state/errors'
import type { SessionHost } from './session-host'

/**
 * A message waiting for its administrator is resent when the room is available again (room.available,
 * reconnect). In case no such event comes (a timeout while the room never looked unavailable, or an
 * administrator restarted faster than dead-ms), it is also tried again this often while the room
 * looks available.
 */
export const RESEND_WAITING_MS = 5000

export class Outbox {
  private readonly resendTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private counter = 0

  constructor(
    private readonly host: SessionHost,
    private readonly user: () => string,
    /** Whether the room is being rejoined after a reconnect (the node does not count us in it yet). */
    private readonly rejoining: (roomId: string) => boolean = () => false,
  ) {}

  async send(roomId: string, text: string): Promise<void> {
    const h = this.host
    const clientMsgId = `${h.state().chat.self?.nodeId ?? 'n'}-${h.now().toString(36)}-${(this.counter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`
    h.dispatch({ type: 'send.pending', roomId, clientMsgId, text, user: this.user(), at: h.now() })
    await this.sendOnce(roomId, clientMsgId, text)
  }

  /** Resend a failed message with the same clientMsgId: the administrator deduplicates (section 4). */
  async retry(roomId: string, clientMsgId: string): Promise<void> {
    const h = this.host
    const p = h.state().chat.rooms[roomId]?.pending.find((x) => x.clientMsgId === clientMsgId)
    if (!p) return
    h.dispatch({ type: 'pending.dismiss', roomId, clientMsgId })
    h.dispatch({ type: 'send.pending', roomId, clientMsgId, text: p.text, user: p.user, at: h.now() })
    await this.sendOnce(roomId, clientMsgId, p.text)
  }

  /** Send again, as they are, the messages of a room waiting for their administrator. */
  resendWaiting(roomId: string): void {
    const h = this.host
    const room = h.state().chat.rooms[roomId]
    if (!room || !room.joined || !room.info.available || h.client.currentStatus !== 'open') return
    for (const p of room.pending) {
      if (p.status !== 'waiting') continue
      h.dispatch({ type: 'send.resending', roomId, clientMsgId: p.clientMsgId })
      void this.sendOnce(roomId, p.clientMsgId, p.text)
    }
  }

  stop(): void {
    for (const t of this.resendTimers.values()) clearTimeout(t)
    this.resendTimers.clear()
  }

  /**
   * One `message.send`. A room_unavailable for a room already shown unavailable was refused up
   * front: nothing is in flight, and the user keeps Retry / Discard, as for every other error.
   */
  private async sendOnce(roomId: string, clientMsgId: string, text: string): Promise<void> {
    const h = this.host
    const availableAtSend = h.state().chat.rooms[roomId]?.info.available ?? false
    try {
      const { seq } = await h.client.request('message.send', { roomId, text, clientMsgId })
      h.dispatch({ type: 'send.acked', roomId, clientMsgId, seq })
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : undefined
      const unknownOutcome = code === 'timeout' || (code === 'room_unavailable' && availableAtSend)
      // Sent before the rejoin after a reconnect went through: refused, so not ordered; it waits and
      // goes once the room is joined again (the session resends it).
      const beforeRejoin = code === 'not_member' && this.rejoining(roomId)
      if (beforeRejoin) {
        h.dispatch({ type: 'send.uncertain', roomId, clientMsgId, error: describeError(err) })
      } else if (unknownOutcome) {
        h.dispatch({ type: 'send.uncertain', roomId, clientMsgId, error: describeError(err) })
        this.scheduleResend(roomId)
      } else {
        h.dispatch({ type: 'send.failed', roomId, clientMsgId, error: describeError(err) })
      }
    }
  }

  private scheduleResend(roomId: string): void {
    if (this.resendTimers.has(roomId)) return
    this.resendTimers.set(
      roomId,
      setTimeout(() => {
        this.resendTimers.delete(roomId)
        const room = this.host.state().chat.rooms[roomId]
        if (!room?.pending.some((p) => p.status === 'waiting')) return
        // Still unavailable: room.available will resend; meanwhile keep checking.
        if (room.info.available) this.resendWaiting(roomId)
        else this.scheduleResend(roomId)
      }, RESEND_WAITING_MS),
    )
  }
}
