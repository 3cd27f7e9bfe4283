/**
 * `npm run sim`: the deterministic cluster simulation (docs/simulation.md).
 *
 *   npm run sim                          100 seeds from 1, 5 nodes, 3 replicas, 60 simulated seconds each
 *   npm run sim -- --seed 42 -v          replay seed 42, printing every trace line
 *   npm run sim -- --seeds 100000        the soak
 *   npm run sim -- --seeds 1000 --jobs 4 four seeds at a time, in four processes (default: one per core)
 *   npm run sim -- --nodes 7 --duration 120 --clients 3 --no-faults --bug reorder-links
 *   npm run sim -- --seeds 500 --check-shared   a batch with shared data frozen, as one seed replays
 */
import { availableParallelism } from 'node:os'
import { SIM_BUGS, simulate, type SimBug, type SimOptions, type SimResult } from './simulator'
import { SCENARIOS, type ScenarioName } from './ordering-scenarios'
import { runInWorkers, serveAsWorker, WORKER_ENV } from './seed-workers'

function usage(msg: string): never {
  console.error(`sim: ${msg}\nusage: npm run sim -- [--seed S | --seeds N [--from S]] [--nodes 3-7] [--duration SECONDS] [--clients N] [--replicas N] [--repair-ms MS] [--scenario ${SCENARIOS.join('|')}] [--no-faults] [--no-fsync] [--bug ${SIM_BUGS.join('|')}] [--jobs N|auto (default: auto)] [--check-shared] [-v]`)
  process.exit(2)
}

function parse(argv: string[]): { base: Omit<SimOptions, 'seed'>; seeds: number[]; verbose: boolean; jobs: number } {
  let seed: number | undefined
  let jobs: number | undefined
  let count = 100
  let from = 1
  // Replicated rooms by default (docs/replication.md; the contract's --replicas 3); --replicas 1 for rooms as before.
  const base: Omit<SimOptions, 'seed'> = { nodes: 5, durationMs: 60_000, clientsPerNode: 2, faults: true, fsync: true, replicas: 3 }
  let replicasGiven = false
  let verbose = false
  let checkShared = false
  const num = (i: number, name: string) => {
    const v = Number(argv[i])
    if (!Number.isInteger(v) || v < 0) usage(`${name} needs a whole number, got ${argv[i] ?? 'nothing'}`)
    return v
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--seed') seed = num(++i, a)
    else if (a === '--seeds') count = num(++i, a)
    else if (a === '--from') from = num(++i, a)
    else if (a === '--nodes') {
      base.nodes = num(++i, a)
      if (base.nodes < 3 || base.nodes > 7) usage('--nodes is 3 to 7')
    } else if (a === '--duration') base.durationMs = num(++i, a) * 1000
    else if (a === '--clients') base.clientsPerNode = num(++i, a)
    else if (a === '--scenario') {
      const name = argv[++i] as ScenarioName
      if (!SCENARIOS.includes(name)) usage(`unknown --scenario ${name}`)
      base.scenario = name
    } else if (a === '--replicas') {
      replicasGiven = true
      base.replicas = num(++i, a)
      if (base.replicas < 1) usage('--replicas is at least 1')
    } else if (a === '--repair-ms') {
      base.repairMs = num(++i, a)
      if (base.repairMs < 1) usage('--repair-ms is at least 1')
    } else if (a === '--no-faults') base.faults = false
    else if (a === '--no-fsync') base.fsync = false
    else if (a === '--bug') {
      const b = argv[++i] as SimBug
      if (!SIM_BUGS.includes(b)) usage(`unknown --bug ${b}`)
      base.bug = b
    } else if (a === '--jobs') {
      jobs = argv[i + 1] === 'auto' ? (i++, availableParallelism()) : num(++i, a)
      if (jobs < 1) usage('--jobs is at least 1')
    } else if (a === '--check-shared') checkShared = true
    else if (a === '-v' || a === '--verbose') verbose = true
    else usage(`unknown argument ${a}`)
  }
  // The ordering scenarios replay the real-process ordering tests, whose rooms are unreplicated
  // (docs/simulation.md, "Ordering scenarios"): --replicas 1 unless asked otherwise.
  if (base.scenario && !replicasGiven) base.replicas = 1
  const seeds = seed !== undefined ? [seed] : Array.from({ length: count }, (_, k) => from + k)
  // Shared data frozen (a node that changes what it sent or got throws) when one seed is replayed;
  // a batch shares it unfrozen, the same runs at less cost (docs/simulation.md, "Transport").
  base.checkShared = checkShared || seeds.length === 1
  // A batch runs one worker process per core unless told otherwise (docs/simulation.md, "Speed"):
  // its seeds are independent runs. One seed runs in this process.
  jobs ??= seeds.length > 1 ? availableParallelism() : 1
  return { base, seeds, verbose, jobs: Math.min(jobs, seeds.length) }
}

async function main(): Promise<void> {
  const { base, seeds, verbose, jobs } = parse(process.argv.slice(2))
  let simulated = 0
  let wall = 0
  let cpuMs = 0
  const failed: number[] = []
  const report = (seed: number, r: SimResult) => {
    simulated += r.simulatedMs
    if (!r.ok) {
      failed.push(seed)
      console.log(`\nseed ${seed} FAILED at ${(r.failure!.atMs / 1000).toFixed(3)} s: ${r.failure!.invariant}: ${r.failure!.detail}`)
      console.log(`replay: npm run sim -- --seed ${seed}${base.nodes !== 5 ? ` --nodes ${base.nodes}` : ''}${base.durationMs !== 60_000 ? ` --duration ${base.durationMs / 1000}` : ''}${base.clientsPerNode !== 2 ? ` --clients ${base.clientsPerNode}` : ''}${base.replicas !== 3 ? ` --replicas ${base.replicas}` : ''}${base.repairMs !== undefined ? ` --repair-ms ${base.repairMs}` : ''}${base.faults ? '' : ' --no-faults'}${base.fsync ? '' : ' --no-fsync'}${base.bug ? ` --bug ${base.bug}` : ''}${base.scenario ? ` --scenario ${base.scenario}` : ''} -v`)
      console.log('last events:')
      for (const line of r.trace) console.log(`  ${line}`)
    } else if (seeds.length === 1 || seed % 10 === 0) {
      const f = Object.entries(r.stats.faults).map(([k, v]) => `${k} ${v}`).join(', ')
      console.log(`seed ${seed} ok: ${r.stats.acked}/${r.stats.sent} sends acknowledged, ${r.stats.delivered} deliveries, faults: ${f || 'none'} (${(r.simulatedMs / r.wallMs).toFixed(0)} simulated s per s)`)
    }
  }
  if (jobs > 1) {
    // Seeds are independent runs: N processes each take the next seed (sim/seed-workers.ts); the
    // results are reported in seed order, as one process would. Wall time is the batch's, from
    // when every worker had loaded the code; CPU is the workers' own.
    const r = await runInWorkers(seeds, base, jobs, report)
    wall = r.wallMs
    cpuMs = r.cpuMs
  } else {
    // CPU time too: on a shared machine the wall clock also counts other processes' turns.
    const cpuStart = process.cpuUsage()
    for (const seed of seeds) {
      const r = await simulate({ ...base, seed, verbose: verbose && seeds.length === 1, traceLines: 80 })
      wall += r.wallMs
      report(seed, r)
    }
    const cpu = process.cpuUsage(cpuStart)
    cpuMs = (cpu.user + cpu.system) / 1000
  }
  const ratio = simulated / Math.max(1, wall)
  console.log(
    `\n${seeds.length - failed.length}/${seeds.length} seeds passed; ${(simulated / 1000).toFixed(0)} simulated s in ${(wall / 1000).toFixed(1)} s of wall time (${ratio.toFixed(0)} simulated s per s, ${base.scenario ? `scenario ${base.scenario}` : `${base.nodes} nodes`}${jobs > 1 ? `, ${jobs} jobs` : ''}; ${(simulated / Math.max(1, cpuMs)).toFixed(0)} per CPU s)`,
  )
  if (failed.length > 0) {
    console.log(`failed seeds: ${failed.join(' ')}`)
    process.exit(1)
  }
}

if (process.env[WORKER_ENV]) serveAsWorker()
else void main()
