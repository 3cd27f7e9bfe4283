/**
 * `npm run sim` as a user runs it (docs/simulation.md, "Speed"): scripts/sim.mjs bundles the
 * simulator and runs it with plain Node, a batch in worker processes. What is checked is what the
 * command prints and its exit code: a passing batch from its workers, and a failure (a deliberately
 * broken network) with its seed and the command that replays it.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const repo = join(__dirname, '..', '..')

function runSim(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(repo, 'scripts', 'sim.mjs'), ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (out += d.toString()))
    // Bounded: a loaded machine is slow, a hung simulator is a failure.
    const timer = setTimeout(() => p.kill('SIGKILL'), 150_000)
    p.on('error', reject)
    p.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })
}

describe('npm run sim (scripts/sim.mjs)', () => {
  it('runs a batch in two worker processes and reports every seed passed', async () => {
    const r = await runSim(['--seeds', '2', '--duration', '5', '--jobs', '2'])
    expect(r.out).toMatch(/2\/2 seeds passed; \d+ simulated s in [\d.]+ s of wall time \(\d+ simulated s per s, 5 nodes, 2 jobs; \d+ per CPU s\)/)
    expect(r.code).toBe(0)
  }, 160_000)

  it('exits 1 on a broken network, naming the seed, the invariant and the replay command', async () => {
    const r = await runSim(['--seed', '1', '--bug', 'reorder-links'])
    expect(r.out).toContain('seed 1 FAILED')
    expect(r.out).toContain('sender-fifo')
    expect(r.out).toContain('replay: npm run sim -- --seed 1 --bug reorder-links -v')
    expect(r.code).toBe(1)
  }, 160_000)
})
