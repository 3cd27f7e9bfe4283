/**
 * `npm run bench`: ordered fan-out under an open-loop load (docs/benchmarks.md). Three server
 * processes, one room, 30 clients (10 per server process), 200-byte messages.
 *
 *   npm run bench                    ds-g1-sms alone: fixed loads, then a rate sweep
 *   npm run bench -- --compare       the same, back to back, against a one-process ws broadcast
 *                                    server and Socket.IO 4 with its cluster adapter
 *   npm run bench -- --profile       ds-g1-sms at one load with `node --cpu-prof` on every node;
 *                                    prints the functions with the most self time
 *   npm run bench -- --logic         the node code alone (in-memory network, virtual clock): CPU per
 *                                    chat message, for A/B of node-code changes on a loaded machine
 *   npm run bench -- --ingress       the client gateway alone: CPU per message.send frame, its read,
 *                                    validation and reply (bench/ingress.ts; --rate N frames/s, 8000)
 *   npm run bench -- --scale         node RSS and CPU per delivery with many rooms, many idle clients
 *                                    and one large room (bench/scale.ts)
 *   npm run bench -- --failover      replicated rooms (--replicas 3, default timings): takeover after
 *                                    kill -9 and handover on SIGTERM of an administrator (--trials N
 *                                    each, 20), then replicated vs unreplicated throughput
 *                                    (bench/failover.ts; --failover-modes kill,term,throughput;
 *                                    --failover-trace prints the survivors' trace of a slow trial)
 *   npm run bench -- --db URL        ds-g1-sms without, then with the history archive in the database
 *                                    at URL (docs/archive.md): throughput ratio and archive lag;
 *                                    `--db temp` starts a throw-away PostgreSQL (test/helpers/postgres.ts)
 *
 * Options: --repeat N (rounds of the comparison), --seconds S (measured window per step),
 * --loads a,b (fixed loads in deliveries/s), --no-batch (ds-g1-sms clients without `batch` in hello),
 * --systems a,b (subset of ds-g1-sms, ws-broadcast, socketio-cluster), --replicas N (ds-g1-sms nodes
 * started with --replicas N, docs/replication.md); --scale: --members N (the
 * large room, 10,000), --idle N (idle clients per node, 1,000), --big-only (the large room alone).
 */
import { parseArgs } from 'node:util'
import { Tracker, runStep, rssMiB, type StepResult } from './load'
import { SYSTEMS, startSystem, type SystemName } from './systems'
import { profileDs } from './profile'
import { runScale } from './scale'
import { runFailover } from './failover'
import { runLogic } from './logic'
import { runIngress } from './ingress'
import type { ArchiveInfo } from '../proto/client-protocol'
import { redactUrl } from '../main/store/archive-db'
import { startPostgres } from '../test/helpers/postgres'
import { cleanup } from '../test/helpers/cluster'


const { values } = parseArgs({
  options: {
    compare: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '4' },
    'warm-seconds': { type: 'string', default: '15' },
    'node-args': { type: 'string', default: '' },
    loads: { type: 'string', default: '12000,36000' },
    'no-batch': { type: 'boolean', default: false },
    'no-sweep': { type: 'boolean', default: false },
    systems: { type: 'string' },
    db: { type: 'string' },
    members: { type: 'string', default: '10000' },
    idle: { type: 'string', default: '1000' },
    replicas: { type: 'string' },
    failover: { type: 'boolean', default: false },
    'big-only': { type: 'boolean', default: false },
    trials: { type: 'string', default: '20' },
    'failover-modes': { type: 'string', default: 'kill,term,throughput' },
    'failover-trace': { type: 'boolean', default: false },
    rooms: { type: 'string', default: '1000' },
    logic: { type: 'boolean', default: false },
    ingress: { type: 'boolean', default: false },
    rate: { type: 'string', default: '8000' },
  },
})
const CLIENTS_PER_SERVER = 10
const MEASURE_MS = Number(values.seconds) * 1000
const WARM_MS = 1500
/** Unmeasured load at 36k deliveries/s before the first measured step, the same for every system (docs/benchmarks.md, "Steady state"). */
const STEADY_WARM_MS = Number(values['warm-seconds']) * 1000
/** Options for node itself on the ds-g1-sms nodes, for A/B runs of V8 settings (e.g. --node-args=--single-threaded-gc). */
const DS_NODE_ARGS = values['node-args'].split(' ').filter(Boolean)
const FIXED = values.loads.split(',').map(Number)
const P99_LIMIT_MS = 100

interface SystemRun {
  system: SystemName
  fixed: StepResult[]
  maxRate: number
  half?: StepResult
  lost: number
  duplicated: number
  reordered: number
  sendErrors: number
  rssMiB: number
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-')
const k = (x: number) => `${(x / 1000).toFixed(0)}k`

function printStep(sys: string, what: string, r: StepResult): void {
  console.log(
    `  ${sys.padEnd(17)} ${what.padEnd(6)} offered ${k(r.offered).padStart(5)}/s  delivered ${k(r.delivered).padStart(5)}/s  ` +
      `server ${fmt(r.cpuPerDeliveryUs, 2).padStart(6)} µs/delivery (${fmt(r.serverCores, 2)} cores) ${fmt(r.writesPerDelivery, 2)} writes/delivery  gen ${fmt(r.generatorCores, 2)} cores  ` +
      `p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} ms${r.drained ? '' : '  NOT DRAINED'}${r.batching ? `  msgs/frame ${r.batching}` : ''}`,
  )
}

async function runSystem(name: SystemName, sweep: boolean, dsExtra: string[] = []): Promise<SystemRun> {
  const t = new Tracker(3 * CLIENTS_PER_SERVER)
  const extra = values.replicas ? ['--replicas', values.replicas, ...dsExtra] : dsExtra
  const sys = await startSystem(name, { clientsPerServer: CLIENTS_PER_SERVER, batch: !values['no-batch'], onDeliver: t.deliver, onRefused: t.refuse }, extra, DS_NODE_ARGS)
  const archived = sys.archive ? () => archiveAfterStep(sys.archive!) : async () => {}
  try {
    // Warm the JIT of every process: at low rates code stays in V8's baseline tier for seconds, and
    // a profile of the first steps showed TurboFan still compiling (docs/benchmarks.md).
    await runStep(sys, t, 3000, 500, 500)
    await runStep(sys, t, 24_000, 500, 2500)
    // Then the measured load itself until V8 has compiled what it runs: TurboFan was still compiling
    // tens of functions a second 10-15 s after a node's start, inside the measured window. Every
    // system gets the same; --warm-seconds 0 measures the system half-compiled, as before.
    if (STEADY_WARM_MS > 0) await runStep(sys, t, 36_000, STEADY_WARM_MS, 500)
    const fixed: StepResult[] = []
    for (const load of FIXED) {
      const r = await runStep(sys, t, load, WARM_MS, MEASURE_MS)
      printStep(name, 'fixed', r)
      await archived()
      fixed.push(r)
    }
    let maxRate = 0
    let half: StepResult | undefined
    if (sweep) {
      // Up by 25 % a step until p99 passes the limit or the system cannot keep up with the offer.
      for (let load = 36_000; load <= 600_000; load = Math.round(load * 1.25)) {
        const r = await runStep(sys, t, load, WARM_MS, MEASURE_MS)
        printStep(name, 'sweep', r)
        await archived()
        if (!(r.p99 <= P99_LIMIT_MS) || r.delivered < 0.95 * load || !r.drained) break
        maxRate = r.delivered
      }
      if (maxRate > 0) {
        half = await runStep(sys, t, Math.round(maxRate / 2), WARM_MS, MEASURE_MS)
        printStep(name, 'half', half)
      }
    }
    const rss = sys.pids.reduce((s, p) => s + rssMiB(p), 0)
    // Heap against memory outside it, per node (docs/benchmarks.md, "Memory").
    if (sys.memory) console.log(`  memory (MiB): ${await sys.memory()}`)
    return { system: name, fixed, maxRate, half, lost: t.lost, duplicated: t.duplicated, reordered: t.reordered + t.seqBreaks, sendErrors: sys.sendErrors(), rssMiB: rss }
  } finally {
    await sys.stop()
  }
}

function summary(runs: SystemRun[]): void {
  const ref = (s: SystemName, load: number) => {
    const xs = runs.filter((r) => r.system === s).map((r) => r.fixed.find((f) => f.offered === load)?.cpuPerDeliveryUs ?? NaN)
    return xs.reduce((a, b) => a + b, 0) / xs.length
  }
  const rows: Record<string, Record<string, string>> = {}
  for (const [i, r] of runs.entries()) {
    const row: Record<string, string> = {}
    for (const f of r.fixed) {
      row[`µs/delivery @${k(f.offered)}`] = fmt(f.cpuPerDeliveryUs, 2)
      row[`p50/p99 ms @${k(f.offered)}`] = `${fmt(f.p50)}/${fmt(f.p99)}`
    }
    const at36 = r.fixed.find((f) => f.offered === 36_000)
    if (at36) {
      const sio = ref('socketio-cluster', 36_000)
      const ws = ref('ws-broadcast', 36_000)
      if (Number.isFinite(sio)) row['× socket.io @36k'] = fmt(at36.cpuPerDeliveryUs / sio, 2)
      if (Number.isFinite(ws)) row['× ws @36k'] = fmt(at36.cpuPerDeliveryUs / ws, 2)
    }
    if (r.maxRate) row[`max/s p99≤${P99_LIMIT_MS}ms`] = k(r.maxRate)
    if (r.half) row['p99 @half max'] = fmt(r.half.p99)
    row['lost/dup/reord'] = `${r.lost}/${r.duplicated}/${r.reordered}`
    if (r.sendErrors) row['send errors'] = String(r.sendErrors)
    row['RSS MiB'] = fmt(r.rssMiB, 0)
    rows[`${r.system} #${Math.floor(i / Math.max(1, runs.length / Number(values.repeat))) + 1}`] = row
  }
  console.table(rows)
}

/**
 * After a step has drained: how far behind the archive was, its last commit-to-database lag, and
 * how long it took to write the rest (the archive is off the ordering path, so it may trail).
 */
async function archiveAfterStep(status: () => Promise<ArchiveInfo | undefined>): Promise<void> {
  const first = await status()
  if (!first) return
  const t0 = performance.now()
  let now = first
  while (now.behind > 0 && performance.now() - t0 < 30_000) {
    await new Promise((r) => setTimeout(r, 20))
    now = (await status())!
  }
  console.log(
    `  ${'archive'.padEnd(17)} ${now.state}  behind ${first.behind} after the drain, 0 after ${Math.round(performance.now() - t0)} ms  ` +
      `last lag ${now.lagMs} ms  written ${now.archived}${now.behind > 0 ? `  STILL BEHIND ${now.behind}` : ''}`,
  )
}

/**
 * ds-g1-sms without, then with the archive, `--repeat` rounds back to back (so both see the same
 * machine load on average): the same steps, the ratio of what they deliver and of the server CPU
 * per delivery, medians over the rounds.
 */
async function compareArchive(url: string): Promise<void> {
  let pg: Awaited<ReturnType<typeof startPostgres>> | undefined
  if (url === 'temp') {
    pg = await startPostgres()
    url = pg.url
  }
  try {
    const runs: [SystemRun, SystemRun][] = []
    for (let round = 1; round <= Number(values.repeat); round++) {
      console.log(`ds-g1-sms without the archive (round ${round})`)
      const without = await runSystem('ds-g1-sms', !values['no-sweep'])
      console.log(`ds-g1-sms with the archive (${redactUrl(url)}) (round ${round})`)
      const withDb = await runSystem('ds-g1-sms', !values['no-sweep'], ['--db', url])
      runs.push([without, withDb])
    }
    const rows: Record<string, Record<string, string>> = {}
    runs.forEach(([without, withDb], i) => {
      for (const [label, r] of [['without', without], ['with --db', withDb]] as const) {
        const row: Record<string, string> = {}
        for (const f of r.fixed) {
          row[`delivered/s @${k(f.offered)}`] = k(f.delivered)
          row[`µs/delivery @${k(f.offered)}`] = fmt(f.cpuPerDeliveryUs, 2)
          row[`p99 ms @${k(f.offered)}`] = fmt(f.p99)
        }
        if (r.maxRate) row[`max/s p99≤${P99_LIMIT_MS}ms`] = k(r.maxRate)
        row['lost/dup/reord'] = `${r.lost}/${r.duplicated}/${r.reordered}`
        rows[`${label} #${i + 1}`] = row
      }
    })
    console.table(rows)
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    for (const f of runs[0][1].fixed) {
      const pairs = runs.map(([w, d]) => [w.fixed.find((x) => x.offered === f.offered)!, d.fixed.find((x) => x.offered === f.offered)!])
      console.log(
        `@${k(f.offered)}: with the archive, delivered ${fmt(median(pairs.map(([w, d]) => d.delivered / w.delivered)), 2)}×, ` +
          `server CPU per delivery ${fmt(median(pairs.map(([w, d]) => d.cpuPerDeliveryUs / w.cpuPerDeliveryUs)), 2)}× without (median of ${runs.length})`,
      )
    }
    const maxes = runs.filter(([w, d]) => w.maxRate && d.maxRate).map(([w, d]) => d.maxRate / w.maxRate)
    if (maxes.length) console.log(`max sustained rate with the archive: ${fmt(median(maxes), 2)}× without (goal ≥ 0.9×)`)
  } finally {
    await pg?.destroy()
  }
}

/**
 * A replicated room (--replicas 3: every send stored on a majority before it is acknowledged and
 * delivered) against an unreplicated one (--replicas 1), `--repeat` rounds back to back: the same
 * steps, CPU per delivery and the highest rate with p99 within the limit (docs/replication.md).
 */
async function compareReplicated(): Promise<void> {
  const runs: [SystemRun, SystemRun][] = []
  for (let round = 1; round <= Number(values.repeat); round++) {
    console.log(`ds-g1-sms --replicas 1 (round ${round})`)
    const one = await runSystem('ds-g1-sms', !values['no-sweep'], ['--replicas', '1'])
    console.log(`ds-g1-sms --replicas 3 (round ${round})`)
    const three = await runSystem('ds-g1-sms', !values['no-sweep'], ['--replicas', '3'])
    runs.push([one, three])
  }
  for (const [i, [one, three]] of runs.entries()) {
    const parts = one.fixed.map((f, j) => {
      const g = three.fixed[j]
      return `@${k(f.offered)}: ${fmt(f.cpuPerDeliveryUs, 2)} → ${fmt(g.cpuPerDeliveryUs, 2)} µs/delivery (${fmt(g.cpuPerDeliveryUs / f.cpuPerDeliveryUs, 2)}×), p99 ${fmt(f.p99)} → ${fmt(g.p99)} ms`
    })
    const max = one.maxRate && three.maxRate ? `, max rate p99≤${P99_LIMIT_MS}ms ${k(one.maxRate)} → ${k(three.maxRate)}/s (${fmt(three.maxRate / one.maxRate, 2)}×, goal ≥ 0.7×)` : ''
    console.log(`round ${i + 1}, replicas 1 → 3: ${parts.join('; ')}${max}; lost/dup/reord ${one.lost}/${one.duplicated}/${one.reordered} and ${three.lost}/${three.duplicated}/${three.reordered}`)
  }
}

async function main(): Promise<void> {
  if (values.db) return compareArchive(values.db)
  if (values.failover) {
    const modes = values['failover-modes'].split(',')
    await runFailover({ trials: Number(values.trials), modes: modes.filter((m): m is 'kill' | 'term' => m === 'kill' || m === 'term'), trace: values['failover-trace'] })
    if (modes.includes('throughput')) await compareReplicated()
    return
  }
  if (values.logic) return runLogic({ rounds: 600, repeat: Number(values.repeat) })
  if (values.ingress) return runIngress({ rate: Number(values.rate), seconds: Number(values.seconds), repeat: Number(values.repeat) })
  if (values.profile) return profileDs({ load: FIXED[FIXED.length - 1], seconds: Number(values.seconds) * 2, batch: !values['no-batch'] })
  if (values.scale) {
    return runScale({ bigOnly: values['big-only'], extra: values.replicas ? ['--replicas', values.replicas] : [], members: Number(values.members), rooms: Number(values.rooms), idlePerNode: Number(values.idle), seconds: Number(values.seconds), loads: FIXED })
  }
  const systems = (values.systems?.split(',') as SystemName[] | undefined) ?? (values.compare ? SYSTEMS : ['ds-g1-sms'])
  const runs: SystemRun[] = []
  for (let round = 0; round < Number(values.repeat); round++) {
    for (const s of systems) {
      // Its peer links are always gRPC over mutual TLS (docs/security.md, "What TLS costs").
      console.log(`${s}${s === 'ds-g1-sms' ? ', peer links over mutual TLS' : ''} (round ${round + 1})`)
      runs.push(await runSystem(s, !values['no-sweep']))
    }
  }
  console.log(`\n${new Date().toISOString()}  load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  summary(runs)
}

main().catch(async (e) => {
  console.error(e)
  // A system that failed half way (a node not ready in time) must not leave its nodes running.
  await cleanup().catch(() => {})
  process.exit(1)
})
