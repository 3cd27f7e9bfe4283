#!/usr/bin/env node
/**
 * `npm run sim`: builds the simulator (sim/run.ts and the node code it runs) into one JavaScript
 * module with esbuild, then runs it with plain Node; every argument goes to sim/run.ts.
 *
 * Why not `tsx sim/run.ts` (docs/simulation.md, "Speed"): tsx compiles each file on load through
 * its loader hooks, in every worker of `--jobs`, and with esbuild's keepNames, which wraps every
 * named function and class in a `__name()` call, closures made on the hot paths included; the same
 * code bundled once runs with less CPU per simulated second. The bundle is named by its content
 * (.tmp/sim/run-<hash>.mjs, ignored by git), so runs at once from one checkout never overwrite the
 * code another one's workers are loading; bundles unused for a day are removed.
 *
 * V8's young generation is raised to 64 MB a semi-space (`--max-semi-space-size`, inherited by the
 * `--jobs` workers, which fork with this process's flags): a run allocates fast and most of it dies
 * young, so fewer scavenges cost less (docs/simulation.md, "Speed", session 8). It changes when
 * garbage is collected, never what a run does.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, stop } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outDir = join(root, '.tmp', 'sim')

const result = await build({
  entryPoints: [join(root, 'sim', 'run.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: `node${process.versions.node.split('.')[0]}`,
  // Dependencies are imported from node_modules as they are (the bundle lives inside the checkout).
  packages: 'external',
  // A failure's stack trace (a node that threw) names the TypeScript files and lines.
  sourcemap: 'inline',
  write: false,
  logLevel: 'warning',
})
// esbuild's service process is not needed while the simulator runs.
await stop()
const code = result.outputFiles[0].contents
const name = `run-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`
const file = join(outDir, name)
mkdirSync(outDir, { recursive: true })
if (!existsSync(file)) {
  // Written whole under a temporary name, then renamed: a reader never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, code)
  renameSync(tmp, file)
} else {
  const now = new Date()
  utimesSync(file, now, now)
}
// Bundles of older code: removed once unused for a day (a soak started from one may still run).
for (const f of readdirSync(outDir)) {
  if (f === name || !f.startsWith('run-')) continue
  try {
    const p = join(outDir, f)
    if (Date.now() - statSync(p).mtimeMs > 86_400_000) rmSync(p, { force: true })
  } catch {
    // gone already: another run cleaned it
  }
}

const flags = ['--enable-source-maps', '--max-semi-space-size=64']
const child = spawn(process.execPath, [...flags, file, ...process.argv.slice(2)], { stdio: 'inherit' })
// A signal for this process is the simulator's (Ctrl-C reaches both: the child's own handling decides).
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP']
for (const sig of signals) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => {
  if (!signal) process.exit(code ?? 1)
  for (const sig of signals) process.removeAllListeners(sig)
  process.kill(process.pid, signal)
})
