/**
 * `npm run bench -- --failover`: what replicated rooms cost in time when an administrator goes
 * (docs/replication.md, docs/benchmarks.md). Three real node processes with `--replicas 3` and the
 * default timings (the CLI's heartbeat / suspect / dead ms), then, `--trials` times each:
 *
 * - kill -9 of a room's administrator while two clients on the other nodes keep sending: the time to
 *   `room.admin_changed` and the longest a send waited for its acknowledgement (the takeover). The killed
 *   node is started again from its data dir (it comes back as a replica) before the next trial.
 * - SIGTERM of the administrator (graceful quit, leadership transfer): the time to
 *   `room.admin_changed`, the longest a send waited for its acknowledgement around the quit (the
 *   handover pause) and the errors the senders saw.
 *
 * Every trial uses a new room created on the node about to go, so the administrator is known; the
 * senders resend a refused send with the same clientMsgId, as client-protocol.md §8 asks, and the
 * acknowledged seqs are checked: no seq given twice, none lost from the survivors' histories.
 */
import { DEFAULT_TIMING } from '../main/node/node-options'
import { cleanup, Client, eventually, killNode, startCluster, startNode, stopNode, type NodeProc } from '../test/helpers/cluster'

const EXTRA = ['--replicas', '3']
const SEND_GAP_MS = 10

interface Ack {
  clientMsgId: string
  firstSentAt: number
  ackedAt: number
  seq: number
}

/** Sends numbered messages back to back (one in flight), resending the same clientMsgId after an error. */
class Sender {
  readonly acks: Ack[] = []
  readonly errors: string[] = []
  private stopped = false
  private done: Promise<void> = Promise.resolve()

  constructor(
    readonly c: Client,
    readonly roomId: string,
    readonly tag: string,
  ) {}

  start(): void {
    this.done = (async () => {
      for (let i = 1; !this.stopped; i++) {
        const clientMsgId = `${this.tag}-${i}`
        const firstSentAt = performance.now()
        for (;;) {
          const f = await this.c.reply('message.send', { roomId: this.roomId, text: `${this.tag} #${i}`, clientMsgId })
          if (f.ok) {
            this.acks.push({ clientMsgId, firstSentAt, ackedAt: performance.now(), seq: (f.result as { seq: number }).seq })
            break
          }
          this.errors.push(f.error?.code ?? '?')
          if (this.stopped) return
          await new Promise((r) => setTimeout(r, 20))
        }
        await new Promise((r) => setTimeout(r, SEND_GAP_MS))
      }
    })()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.done
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

async function alivePeers(c: Client): Promise<number> {
  return (await c.call('peers.list')).peers.filter((p) => p.state === 'alive').length
}

interface Trial {
  adminChangedMs: number
  maxWaitMs: number
  errors: string[]
  acked: number
  seqsOk: boolean
  problems: string[]
}

/**
 * One trial: a room on `target`, a sender on each other node, then `stop` the target; measures from
 * the signal. Starts the target again (same data dir) and returns it.
 */
async function trial(nodes: NodeProc[], target: number, how: 'kill' | 'term', n: number, trace = false): Promise<{ t: Trial; restarted: NodeProc }> {
  const others = nodes.filter((_, i) => i !== target)
  // Every node sees both others alive (a restarted one included), so the room gets 3 replicas.
  for (const node of nodes) {
    const probe = await Client.as(node.ready, `probe${n}`)
    await eventually(async () => (await alivePeers(probe)) >= 2, 30_000, `${node.ready.name} sees both peers alive`)
    probe.close()
  }
  const owner = await Client.as(nodes[target].ready, `owner${n}`)
  const { room } = await owner.call('room.create', { name: `failover-${how}-${n}` })
  const clients = await Promise.all(others.map((o, i) => Client.as(o.ready, `s${n}x${i}`)))
  for (const c of clients) {
    await eventually(async () => (await c.call('rooms.list')).rooms.some((r) => r.roomId === room.roomId), 10_000, 'room listed')
    await c.call('room.join', { roomId: room.roomId })
  }
  // Replicated on all three before the trial starts (the replica set is chosen from live nodes).
  await eventually(async () => ((await clients[0].call('rooms.list')).rooms.find((r) => r.roomId === room.roomId)?.replicas?.length ?? 0) >= 3, 10_000, 'room on 3 replicas')
  const senders = clients.map((c, i) => new Sender(c, room.roomId, `s${i}`))
  for (const s of senders) s.start()
  await eventually(async () => senders.every((s) => s.acks.length >= 20), 15_000, 'sends before the stop')
  owner.close()
  // --failover-trace: the survivors' protocol trace of the room (elections, roles, forwards),
  // printed for a trial slower than its goal, to see where the time went.
  const tracers = trace ? await Promise.all(others.map((o) => Client.as(o.ready, `t${n}`))) : []
  for (const t of tracers) await t.call('trace.subscribe', { on: true })
  const at = performance.now()
  const wallAt = Date.now()
  if (how === 'kill') await killNode(nodes[target])
  else void stopNode(nodes[target], 'SIGTERM')
  const changed = await Promise.race(
    clients.map((c) => c.event('room.admin_changed', (e) => e.roomId === room.roomId, 30_000).then(() => performance.now())),
  )
  const beforeAcks = senders.map((s) => s.acks.length)
  await eventually(async () => senders.every((s, i) => s.acks.length >= beforeAcks[i] + 10), 30_000, 'sends flowing again')
  await Promise.all(senders.map((s) => s.stop()))
  if (how === 'term') await nodes[target].exited
  const after = senders.flatMap((s) => s.acks).filter((a) => a.ackedAt > at)
  // Around the stop: every send acknowledged after it, and those in flight when it came.
  const maxWait = Math.max(0, ...after.map((a) => a.ackedAt - Math.max(a.firstSentAt, at)))
  const acks = senders.flatMap((s) => s.acks)
  const seqs = acks.map((a) => a.seq)
  const problems: string[] = []
  if (new Set(seqs).size !== seqs.length) problems.push('a seq acknowledged twice')
  // Every acknowledged message at its seq in a survivor's history (the trial's sends are its last
  // 200 or fewer), once that history has caught up with the last acknowledged seq.
  const top = Math.max(...seqs)
  let history: { seq: number; clientMsgId: string }[] = []
  for (let tries = 0; tries < 50; tries++) {
    history = (await clients[0].call('history.fetch', { roomId: room.roomId, limit: 200 })).messages
    if (history.length && history[history.length - 1].seq >= top) break
    await new Promise((r) => setTimeout(r, 100))
  }
  const bySeq = new Map(history.map((m) => [m.seq, m.clientMsgId]))
  const idSeqs = new Map<string, number[]>()
  for (const m of history) idSeqs.set(m.clientMsgId, [...(idSeqs.get(m.clientMsgId) ?? []), m.seq])
  for (const a of acks) {
    const holder = bySeq.get(a.seq)
    if (holder === undefined) problems.push(`${a.clientMsgId} acked as seq ${a.seq}, not in the history`)
    else if (holder !== a.clientMsgId) problems.push(`${a.clientMsgId} acked as seq ${a.seq}, which holds ${holder}`)
  }
  for (const [id, where] of idSeqs) if (where.length > 1) problems.push(`${id} at seqs ${where.join(', ')}`)
  const t: Trial = { adminChangedMs: changed - at, maxWaitMs: maxWait, errors: senders.flatMap((s) => s.errors), acked: seqs.length, seqsOk: problems.length === 0, problems }
  for (const c of clients) c.close()
  const slow = how === 'kill' ? t.adminChangedMs > DEFAULT_TIMING.deadMs + 1000 : t.maxWaitMs > 300
  if (slow && tracers.length) {
    const lines = tracers.flatMap((c, i) =>
      c.events.flatMap((e) => (e.event === 'trace' && e.roomId === room.roomId && e.kind !== 'seq' && e.at >= wallAt - 200 ? [{ at: e.at, line: `${others[i].ready.name} ${e.kind}: ${e.text}` }] : [])),
    )
    lines.sort((a, b) => a.at - b.at)
    for (const l of lines.slice(0, 80)) console.log(`      +${l.at - wallAt} ms ${l.line}`)
  }
  for (const c of tracers) c.close()
  const restarted = await startNode({
    name: nodes[target].ready.name,
    dataDir: nodes[target].dataDir,
    join: others.map((o) => o.ready.grpc),
    timing: DEFAULT_TIMING,
    extra: EXTRA,
  })
  return { t, restarted }
}

export async function runFailover(o: { trials: number; modes: ('kill' | 'term')[]; trace?: boolean }): Promise<void> {
  const { heartbeatMs, suspectMs, deadMs } = DEFAULT_TIMING
  console.log(`failover: 3 nodes, --replicas 3, heartbeat ${heartbeatMs} / suspect ${suspectMs} / dead ${deadMs} ms, ${o.trials} trials each`)
  const nodes = await startCluster(3, DEFAULT_TIMING, EXTRA)
  try {
    const report = (what: string, ts: Trial[]) => {
      const row = (name: string, xs: number[]) =>
        `  ${name.padEnd(34)} p50 ${pct(xs, 50).toFixed(0).padStart(5)} ms  p90 ${pct(xs, 90).toFixed(0).padStart(5)} ms  max ${Math.max(...xs).toFixed(0).padStart(5)} ms`
      console.log(`${what} (${ts.length} trials):`)
      console.log(row('room.admin_changed after the signal', ts.map((t) => t.adminChangedMs)))
      console.log(row('longest a send waited for its ack', ts.map((t) => t.maxWaitMs)))
      const errors = ts.flatMap((t) => t.errors)
      const bad = ts.filter((t) => !t.seqsOk).length
      console.log(`  sends acknowledged ${ts.reduce((s, t) => s + t.acked, 0)}, errors seen by senders ${errors.length}${errors.length ? ` (${[...new Set(errors)].join(', ')})` : ''}, trials with a seq given twice or lost ${bad}`)
    }
    for (const how of o.modes) {
      const ts: Trial[] = []
      for (let i = 0; i < o.trials; i++) {
        const target = i % 3
        const { t, restarted } = await trial(nodes, target, how, ts.length + (how === 'term' ? 1000 : 0), o.trace)
        nodes[target] = restarted
        ts.push(t)
        console.log(
          `  ${how === 'kill' ? 'kill -9' : 'SIGTERM'} #${i + 1}: admin_changed ${t.adminChangedMs.toFixed(0)} ms, ` +
            `longest wait ${t.maxWaitMs.toFixed(0)} ms, errors [${t.errors.join(', ')}]${t.seqsOk ? '' : `  SEQ CHECK FAILED: ${t.problems.slice(0, 5).join('; ')}`}`,
        )
      }
      report(how === 'kill' ? `takeover after kill -9 (goal: ≤ dead-ms + 1 s = ${deadMs + 1000} ms)` : 'graceful handover on SIGTERM (goal: pause ≤ 300 ms)', ts)
    }
  } finally {
    await Promise.all(nodes.map((n) => stopNode(n).catch(() => null)))
    await cleanup()
  }
}
