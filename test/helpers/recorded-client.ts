/**
 * A client of the real cluster harness (cluster.ts) that records what the history checker
 * (history-check.ts) needs: its sends with their acks, its join replies with where they fell in the
 * stream of message events, and every message event in arrival order.
 */
import type { ChatMessage, Results } from '../../proto/client-protocol'
import { Client, type Ready } from './cluster'
import type { ClientHistory, RecordedJoin, RecordedMessage, RecordedSend } from './history-check'

type Reply = Awaited<ReturnType<Client['reply']>>

export class RecordedClient {
  private readonly joins: RecordedJoin[] = []
  private readonly sends: RecordedSend[] = []
  private readonly unanswered = new Set<Promise<Reply>>()

  private constructor(
    readonly client: Client,
    readonly name: string,
    readonly user: string,
    readonly nodeId: string,
  ) {}

  static async as(node: Ready, user: string, name = `${user}@${node.name}`): Promise<RecordedClient> {
    return new RecordedClient(await Client.as(node, user), name, user, node.nodeId)
  }

  /** Every message shown live, in arrival order (a batched `messages` event counts as its messages). */
  private live(): ChatMessage[] {
    return this.client.events.flatMap((e) => (e.event === 'message' ? [e] : e.event === 'messages' ? e.messages : []))
  }

  private messageCount(): number {
    return this.live().length
  }

  async join(roomId: string): Promise<Results['room.join']> {
    const at = this.messageCount()
    const r = await this.client.call('room.join', { roomId })
    this.joins.push({ roomId, at, lastSeq: r.lastSeq, history: r.history.map(recorded) })
    return r
  }

  /** Send without waiting (as a user typing fast does); the ack is recorded when it comes. */
  send(roomId: string, clientMsgId: string, text = clientMsgId): Promise<Reply> {
    const rec: RecordedSend = { roomId, clientMsgId }
    this.sends.push(rec)
    const p = this.client.reply('message.send', { roomId, text, clientMsgId }).then((f) => {
      rec.ok = f.ok
      if (f.ok) rec.seq = (f.result as Results['message.send']).seq
      else rec.code = f.error?.code
      this.unanswered.delete(p)
      return f
    })
    this.unanswered.add(p)
    return p
  }

  /**
   * Send, and after an error send again with the same clientMsgId, as a client must across a
   * failover (client-protocol.md §8: a resend is committed at most once); resolves with the seq.
   */
  async sendUntilAcked(roomId: string, clientMsgId: string, timeoutMs = 30_000, text = clientMsgId): Promise<number> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const f = await this.send(roomId, clientMsgId, text)
      if (f.ok) return (f.result as Results['message.send']).seq
      if (Date.now() > until) throw new Error(`${this.name}: ${clientMsgId} not acknowledged in ${timeoutMs} ms (last: ${f.error?.code})`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** Sends not answered yet. */
  pending(): number {
    return this.unanswered.size
  }

  /** Wait for every send made so far to be answered. */
  async settled(timeoutMs: number): Promise<void> {
    const all = Promise.all([...this.unanswered])
    await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error(`${this.name}: ${this.unanswered.size} sends unanswered after ${timeoutMs} ms`)), timeoutMs))])
  }

  acked(): RecordedSend[] {
    return this.sends.filter((s) => s.ok)
  }

  failed(): RecordedSend[] {
    return this.sends.filter((s) => s.ok === false)
  }

  /** The highest seq shown to this client in `roomId` (history or live), 0 if none. */
  lastShown(roomId: string): number {
    let last = 0
    for (const j of this.joins) if (j.roomId === roomId) for (const m of j.history) last = Math.max(last, m.seq)
    for (const m of this.live()) if (m.roomId === roomId) last = Math.max(last, m.seq)
    return last
  }

  history(): ClientHistory {
    return {
      name: this.name,
      user: this.user,
      nodeId: this.nodeId,
      messages: this.live().map(recorded),
      joins: [...this.joins],
      sends: this.sends.map((s) => ({ ...s })),
    }
  }

  close(): void {
    this.client.close()
  }
}

function recorded(m: ChatMessage): RecordedMessage {
  return { roomId: m.roomId, seq: m.seq, user: m.user, nodeId: m.nodeId, clientMsgId: m.clientMsgId, text: m.text }
}
