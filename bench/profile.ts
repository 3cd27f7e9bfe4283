/**
 * `npm run bench -- --profile`: ds-g1-sms at one fixed load with `node --cpu-prof` on every node, then
 * the functions with the most self time and, for our own code, the most inclusive time, per node.
 * The .cpuprofile files stay in the printed folder (Chrome DevTools opens them).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { Tracker, runStep } from './load'
import { startSystem } from './systems'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  startTime: number
  samples?: number[]
  timeDeltas?: number[]
}

/** Now, on the clock of V8's profiles (CLOCK_MONOTONIC in µs, the same in every process on Linux). */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n)

/**
 * Self and inclusive time per function over the samples taken within `window` (µs, the profile's
 * clock): only the measured window, not the node's start (the TypeScript loader compiling, about a
 * tenth of a short run) nor its drain and stop.
 */
function summarize(file: string, window: { from: number; to: number }): void {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
  const self = new Map<string, number>()
  const incl = new Map<string, number>()
  let total = 0
  let at = prof.startTime
  const samples = prof.samples ?? []
  for (let i = 0; i < samples.length; i++) {
    at += prof.timeDeltas?.[i] ?? 0
    if (at < window.from || at > window.to) continue
    const leaf = byId.get(samples[i])
    if (!leaf || leaf.callFrame.functionName === '(idle)') continue
    total++
    const k = key(leaf)
    self.set(k, (self.get(k) ?? 0) + 1)
    // Each function once per sample, however often it recurs on the stack.
    const seen = new Set<string>()
    for (let id: number | undefined = samples[i]; id !== undefined; id = parent.get(id)) {
      const kk = key(byId.get(id)!)
      if (seen.has(kk)) continue
      seen.add(kk)
      incl.set(kk, (incl.get(kk) ?? 0) + 1)
    }
  }
  const top = (m: Map<string, number>, filter: (k: string) => boolean, n: number) =>
    [...m].filter(([kk]) => filter(kk)).sort((a, b) => b[1] - a[1]).slice(0, n).map(([kk, v]) => `    ${((100 * v) / Math.max(1, total)).toFixed(1).padStart(5)} %  ${kk}`).join('\n')
  console.log(`\n${basename(file)}  (${total} busy samples in the measured window)\n  self time:\n${top(self, (kk) => !kk.startsWith('(root)') && !kk.startsWith('(idle)'), 25)}`)
  console.log(`  inclusive, our code (main/, proto/):\n${top(incl, (kk) => /\.ts:\d+$/.test(kk) && !kk.includes('cli.ts'), 20)}`)
}

export async function profileDs(o: { load: number; seconds: number; batch: boolean }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ds-bench-prof-'))
  const t = new Tracker(30)
  const sys = await startSystem('ds-g1-sms', { clientsPerServer: 10, batch: o.batch, onDeliver: t.deliver, onRefused: t.refuse }, [], ['--cpu-prof', `--cpu-prof-dir=${dir}`])
  const warmMs = 1500
  const window = { from: 0, to: 0 }
  try {
    // The JIT warm-up of every bench run (bench.ts runSystem), so the window profiles optimised code.
    await runStep(sys, t, 3000, 500, 500)
    await runStep(sys, t, 24_000, 500, 2500)
    window.from = monotonicUs() + warmMs * 1000
    const r = await runStep(sys, t, o.load, warmMs, o.seconds * 1000)
    window.to = window.from + o.seconds * 1_000_000
    console.log(`profiled at ${o.load} deliveries/s: ${r.cpuPerDeliveryUs.toFixed(2)} µs server CPU per delivery, p99 ${r.p99.toFixed(1)} ms (profiling slows the nodes)`)
  } finally {
    await sys.stop()
  }
  // The node processes write their profiles when they exit; nodes listed in order of pid.
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the node's main thread (the
  // others are the TypeScript loader's worker).
  const files = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f)).sort()
  for (const f of files) summarize(join(dir, f), window)
  console.log(`\nprofiles in ${dir}`)
}
