/**
 * docs/benchmarks.md: `npm run bench -- --logic` drives the node code through the node tests'
 * harness (test/node/node-harness.ts) outside vitest, so the harness must not load vitest (a
 * helper's `expect` once made the whole bench fail at import). Runs the mode once, as a user would,
 * and reads its figure.
 */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cluster'

describe('npm run bench -- --logic', () => {
  it('runs the node code alone and prints its CPU per chat message', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/bench.ts', '--logic', '--repeat', '1'], { cwd: ROOT, encoding: 'utf8', timeout: 50_000 })
    expect(r.stderr).not.toMatch(/Error/)
    expect(r.status).toBe(0)
    const line = r.stdout.split('\n').find((l) => l.includes('node code alone, round 1'))
    expect(line).toMatch(/[\d.]+ µs CPU per chat message over three nodes .*18000 messages, 0 refused/)
  })
})
