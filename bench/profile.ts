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

function summarize(file: string): void {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] }
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  // Percentages of the samples where the node was busy (not idle).
  const total = prof.nodes.reduce((s, n) => s + (n.callFrame.functionName === '(idle)' ? 0 : (n.hitCount ?? 0)), 0)
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
  const self = new Map<string, number>()
  const incl = new Map<string, number>()
  const walk = (n: ProfileNode, onStack: Set<string>): number => {
    let sum = n.hitCount ?? 0
    const kk = key(n)
    self.set(kk, (self.get(kk) ?? 0) + (n.hitCount ?? 0))
    const inner = onStack.has(kk) ? onStack : new Set(onStack).add(kk)
    for (const c of n.children ?? []) sum += walk(byId.get(c)!, inner)
    // Recursion: count a function once per stack.
    if (!onStack.has(kk)) incl.set(kk, (incl.get(kk) ?? 0) + sum)
    return sum
  }
  walk(prof.nodes[0], new Set())
  const top = (m: Map<string, number>, filter: (k: string) => boolean, n: number) =>
    [...m].filter(([kk]) => filter(kk)).sort((a, b) => b[1] - a[1]).slice(0, n).map(([kk, v]) => `    ${((100 * v) / total).toFixed(1).padStart(5)} %  ${kk}`).join('\n')
  console.log(`\n${basename(file)}  (${total} busy samples)\n  self time:\n${top(self, (kk) => !kk.startsWith('(root)') && !kk.startsWith('(idle)'), 25)}`)
  console.log(`  inclusive, our code (main/, proto/):\n${top(incl, (kk) => /\.ts:\d+$/.test(kk) && !kk.includes('cli.ts'), 20)}`)
}

export async function profileDs(o: { load: number; seconds: number; batch: boolean }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ds-bench-prof-'))
  const t = new Tracker(30)
  const sys = await startSystem('ds-g1-sms', { clientsPerServer: 10, batch: o.batch, onDeliver: t.deliver, onRefused: t.refuse }, [], ['--cpu-prof', `--cpu-prof-dir=${dir}`])
  try {
    const r = await runStep(sys, t, o.load, 1500, o.seconds * 1000)
    console.log(`profiled at ${o.load} deliveries/s: ${r.cpuPerDeliveryUs.toFixed(2)} µs server CPU per delivery, p99 ${r.p99.toFixed(1)} ms (profiling slows the nodes)`)
  } finally {
    await sys.stop()
  }
  // The node processes write their profiles when they exit; nodes listed in order of pid.
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the node's main thread (the
  // others are the TypeScript loader's worker).
  const files = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f)).sort()
  for (const f of files) summarize(join(dir, f))
  console.log(`\nprofiles in ${dir}`)
}
