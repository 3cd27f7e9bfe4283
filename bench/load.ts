/**
 * The open-loop load generator and its bookkeeping (docs/benchmarks.md): every client sends at a fixed
 * rate whatever the server does (a slow server is not given a break, as it is by a closed loop), and
 * every delivery is checked: latency from the sender's send to this receiver, lost, duplicated,
 * reordered (per sender), and for ds-g1-sms the room's seq (total order: contiguous at every client).
 */
import { execSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { RunningSystem } from './systems'

export const MESSAGE_BYTES = 200

let clkTck = 0
/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  if (!clkTck) clkTck = Number(execSync('getconf CLK_TCK').toString().trim()) || 100
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may contain spaces) in parentheses: utime is the 14th field.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / clkTck
}

/**
 * Write-family system calls (write, writev, ...) a process has made so far, from /proc/<pid>/io:
 * per delivery, the count of socket writes that coalescing saves, whatever the machine's load.
 */
export function writeSyscalls(pid: number): number {
  try {
    const m = /syscw:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
    return m ? Number(m[1]) : NaN
  } catch {
    return NaN
  }
}

/** Resident memory of a process in MiB, from /proc/<pid>/status. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : 0
}

/** A growable bit set: which message numbers of one sender one receiver has seen. */
class Seen {
  private bits = new Uint8Array(1024)
  has(i: number): boolean {
    return i >> 3 < this.bits.length && (this.bits[i >> 3] & (1 << (i & 7))) !== 0
  }
  add(i: number): void {
    if (i >> 3 >= this.bits.length) {
      const b = new Uint8Array(Math.max(this.bits.length * 2, (i >> 3) + 1))
      b.set(this.bits)
      this.bits = b
    }
    this.bits[i >> 3] |= 1 << (i & 7)
  }
}

export class Tracker {
  readonly sent: number[]
  private readonly seen: Seen[][]
  private readonly maxSeen: number[][]
  private readonly lastSeq: (number | undefined)[]
  received = 0
  /** Sends the server refused with an error reply: not expected anywhere. */
  refused = 0
  duplicated = 0
  reordered = 0
  /** ds-g1-sms: a client's seq was not the previous one plus one. */
  seqBreaks = 0
  private recording = false
  windowDeliveries = 0
  latencies: number[] = []

  constructor(readonly n: number) {
    this.sent = new Array(n).fill(0)
    this.seen = Array.from({ length: n }, () => Array.from({ length: n }, () => new Seen()))
    this.maxSeen = Array.from({ length: n }, () => new Array(n).fill(-1))
    this.lastSeq = new Array(n).fill(undefined)
  }

  /** The text a client sends: sender, its message number, send time; padded to MESSAGE_BYTES. */
  text(sender: number): string {
    const i = this.sent[sender]++
    const head = `${sender}|${i}|${performance.now().toFixed(3)}|`
    return head + 'x'.repeat(MESSAGE_BYTES - head.length)
  }

  readonly deliver = (r: number, text: string, seq: number | undefined): void => {
    const now = performance.now()
    const a = text.indexOf('|')
    const b = text.indexOf('|', a + 1)
    const c = text.indexOf('|', b + 1)
    const k = Number(text.slice(0, a))
    const i = Number(text.slice(a + 1, b))
    const seen = this.seen[r][k]
    if (seen.has(i)) {
      this.duplicated++
      return
    }
    seen.add(i)
    if (i < this.maxSeen[r][k]) this.reordered++
    else this.maxSeen[r][k] = i
    if (seq !== undefined) {
      const last = this.lastSeq[r]
      if (last !== undefined && seq !== last + 1) this.seqBreaks++
      this.lastSeq[r] = seq
    }
    this.received++
    if (this.recording) {
      this.windowDeliveries++
      this.latencies.push(now - Number(text.slice(b + 1, c)))
    }
  }

  readonly refuse = (_text: string): void => {
    this.refused++
  }

  get expected(): number {
    let s = -this.refused
    for (const x of this.sent) s += x
    return s * this.n
  }

  /** A send that timed out may still have been ordered: it is then received although refused. */
  get lost(): number {
    return Math.max(0, this.expected - this.received)
  }

  startWindow(): void {
    this.recording = true
    this.windowDeliveries = 0
    this.latencies = []
  }

  stopWindow(): void {
    this.recording = false
  }
}

export interface StepResult {
  offered: number
  /** Deliveries per second received in the measured window. */
  delivered: number
  /** Server CPU per delivery, microseconds. */
  cpuPerDeliveryUs: number
  /** Server CPU, in cores (1 = one core busy all the time). */
  serverCores: number
  generatorCores: number
  p50: number
  p99: number
  /** Everything sent in the step arrived after the drain. */
  drained: boolean
  batching?: string
  /** Server write system calls per delivery (socket writes to clients and peers, log writes). */
  writesPerDelivery: number
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * One step at `offered` deliveries per second: warm up, measure a window (server CPU from /proc, the
 * generator's own CPU, latencies of deliveries received in it), stop sending, and wait until every
 * message sent has arrived (or the drain times out) so the next step starts from an empty system.
 */
export async function runStep(sys: RunningSystem, t: Tracker, offered: number, warmMs: number, measureMs: number): Promise<StepResult> {
  const n = sys.clients.length
  const perClient = offered / n / n // deliveries = sends x receivers
  const start = performance.now()
  const base = t.sent.slice()
  const tick = () => {
    const el = (performance.now() - start) / 1000
    for (let k = 0; k < n; k++) {
      // Client k's j-th message is due at (j + k/n) / rate: the clients are spread over the period.
      const due = Math.floor(el * perClient + k / n)
      while (t.sent[k] - base[k] < due) sys.clients[k].send(t.text(k))
    }
  }
  const timer = setInterval(tick, 2)
  await sleep(warmMs)
  if (sys.linkBatching) await sys.linkBatching()
  const cpu0 = sys.pids.map(cpuSeconds)
  const w0s = sys.pids.map(writeSyscalls)
  const gen0 = process.cpuUsage()
  const w0 = performance.now()
  t.startWindow()
  await sleep(measureMs)
  t.stopWindow()
  const secs = (performance.now() - w0) / 1000
  const cpu1 = sys.pids.map(cpuSeconds)
  const writes = sys.pids.reduce((x, p, i) => x + writeSyscalls(p) - w0s[i], 0)
  const gen = process.cpuUsage(gen0)
  clearInterval(timer)
  const batching = sys.linkBatching ? await sys.linkBatching() : undefined
  const deadline = performance.now() + 20_000
  while (t.received < t.expected && performance.now() < deadline) await sleep(50)
  const serverCpu = cpu1.reduce((s, c, i) => s + c - cpu0[i], 0)
  const lat = Float64Array.from(t.latencies).sort()
  return {
    offered,
    delivered: t.windowDeliveries / secs,
    cpuPerDeliveryUs: (serverCpu * 1e6) / Math.max(1, t.windowDeliveries),
    serverCores: serverCpu / secs,
    generatorCores: (gen.user + gen.system) / 1e6 / secs,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    drained: t.received >= t.expected,
    batching,
    writesPerDelivery: writes / Math.max(1, t.windowDeliveries),
  }
}
