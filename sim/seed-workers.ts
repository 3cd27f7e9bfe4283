/**
 * `npm run sim -- --jobs N` (docs/simulation.md, "Speed"): seeds are independent runs, so a batch
 * runs in N child processes, each taking the next seed when it is done with one. A run stays a
 * function of its seed and options alone: a seed run in a worker is the run `--seed S` replays in
 * one process. Each worker is this same script (sim/run.ts) started with WORKER_ENV set.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { simulate, type SimOptions, type SimResult } from './simulator'

export const WORKER_ENV = 'SIM_SEED_WORKER'

type ToWorker = { seed: number; base: Omit<SimOptions, 'seed'> }
type FromWorker = { ready: true } | { seed: number; result: SimResult; cpuMs: number }

/** In a worker: run each seed the parent sends, one at a time, and send back its result. */
export function serveAsWorker(): void {
  let queue = Promise.resolve()
  process.on('message', (m: ToWorker) => {
    queue = queue.then(async () => {
      const cpuStart = process.cpuUsage()
      const result = await simulate({ ...m.base, seed: m.seed, traceLines: 80 })
      const cpu = process.cpuUsage(cpuStart)
      toParent({ seed: m.seed, result, cpuMs: (cpu.user + cpu.system) / 1000 })
    })
  })
  // The parent's channel closing ends the worker (nothing else keeps it alive).
  process.on('disconnect', () => process.exit(0))
  toParent({ ready: true })
}

/** A parent that is gone (Ctrl-C, killed) ends the worker quietly, not with an EPIPE error. */
function toParent(m: FromWorker): void {
  if (!process.connected) process.exit(0)
  process.send!(m, undefined, {}, (e) => {
    if (e) process.exit(0)
  })
}

/**
 * Run `seeds` in `jobs` worker processes; `report` is called for each result in seed order (as a
 * single process would), whatever order they finish in. Wall time counts from the moment every
 * worker had loaded the code (module loading is not simulation), CPU time is the workers' runs.
 */
export async function runInWorkers(
  seeds: number[],
  base: Omit<SimOptions, 'seed'>,
  jobs: number,
  report: (seed: number, r: SimResult) => void,
): Promise<{ wallMs: number; cpuMs: number }> {
  const results: (SimResult | undefined)[] = new Array(seeds.length)
  let nextToRun = 0
  let nextToReport = 0
  let cpuMs = 0
  let start = 0
  /** Workers that loaded the code, until the batch starts (it starts when all `jobs` have). */
  const waiting: ChildProcess[] = []
  let started = false
  const running = new Map<ChildProcess, number>()

  return new Promise((resolve, reject) => {
    const finish = () => {
      while (nextToReport < seeds.length && results[nextToReport]) report(seeds[nextToReport], results[nextToReport++]!)
      if (nextToReport === seeds.length) resolve({ wallMs: performance.now() - start, cpuMs })
    }
    const give = (w: ChildProcess) => {
      if (nextToRun >= seeds.length) {
        w.disconnect()
        return
      }
      const i = nextToRun++
      running.set(w, i)
      w.send({ seed: seeds[i], base } satisfies ToWorker)
    }
    const spawn = (): void => {
      const w = fork(process.argv[1], [], { env: { ...process.env, [WORKER_ENV]: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      let ready = false
      w.on('message', (m: FromWorker) => {
        if ('ready' in m) {
          ready = true
          if (started) return give(w) // a replacement
          waiting.push(w)
          if (waiting.length < jobs) return
          started = true
          start = performance.now()
          for (const x of waiting) give(x)
          return
        }
        const i = running.get(w)!
        running.delete(w)
        results[i] = m.result
        cpuMs += m.cpuMs
        give(w)
        finish()
      })
      w.on('exit', (code, signal) => {
        const how = signal ?? `code ${code}`
        if (!ready) return reject(new Error(`a simulator worker exited before it could run seeds (${how})`))
        const i = running.get(w)
        if (i === undefined) return
        // The seed's process died under it (out of memory, killed): a failure of that seed; a new
        // worker takes over the rest.
        running.delete(w)
        results[i] = died(seeds[i], `the simulator process running seed ${seeds[i]} exited (${how})`)
        if (nextToRun < seeds.length) spawn()
        finish()
      })
    }
    for (let k = 0; k < jobs; k++) spawn()
  })
}

function died(seed: number, detail: string): SimResult {
  return {
    seed,
    ok: false,
    failure: { invariant: 'no-crash', detail, atMs: 0 },
    trace: [],
    simulatedMs: 0,
    wallMs: 0,
    stats: { sent: 0, acked: 0, delivered: 0, faults: {}, timers: 0, crashes: 0 },
  }
}
