#!/usr/bin/env node
/**
 * `npm run cluster`: a whole cluster on this machine without Electron, for a lab server, a laptop
 * without a display, or a first look: N headless nodes (default 3; n2..nN join n1), each serving the
 * chat UI to a browser. Prints one line per node with the URL to open, then keeps running; Ctrl-C
 * stops every node gracefully (each leaves the cluster).
 *
 *   npm run cluster [-- --nodes 5] [-- --no-build]
 *
 * stdout: one JSON line per node ({"event":"node", name, grpc, ws, ui, token, clusterKey}) for programs;
 * stderr: the same for people, plus the nodes' logs when --verbose.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { values } = parseArgs({
  options: { nodes: { type: 'string', default: '3' }, 'no-build': { type: 'boolean' }, verbose: { type: 'boolean' } },
})
const count = Number(values.nodes)
if (!Number.isInteger(count) || count < 1 || count > 20) {
  process.stderr.write('error: --nodes must be a whole number from 1 to 20\n')
  process.exit(2)
}

const uiDir = join(root, 'out', 'renderer')
if (!values['no-build'] && !existsSync(join(uiDir, 'index.html'))) {
  process.stderr.write('building the UI (electron-vite build)...\n')
  const evBin = join(dirname(require.resolve('electron-vite/package.json')), 'bin', 'electron-vite.js')
  const code = await new Promise((r) => spawn(process.execPath, [evBin, 'build'], { cwd: root, stdio: ['ignore', 2, 2] }).on('exit', r))
  if (code !== 0) process.exit(1)
}

const children = []
const dataDirs = []
// One cluster key for every node of this run (docs/security.md): the one in DS_CLUSTER_KEY if set,
// else a new one. It reaches the nodes through their environment, not their command line.
const clusterKey = process.env.DS_CLUSTER_KEY || randomBytes(32).toString('base64url')
const nodeEnv = { ...process.env, DS_CLUSTER_KEY: clusterKey }
let stopping = false

function start(name, joinAddress) {
  const dataDir = mkdtempSync(join(tmpdir(), `ds-cluster-${name}-`))
  dataDirs.push(dataDir)
  const args = ['--import', 'tsx', join(root, 'main', 'cli.ts'), '--name', name, '--grpc', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--data-dir', dataDir]
  if (existsSync(join(uiDir, 'index.html'))) args.push('--ui-dir', uiDir)
  if (joinAddress) args.push("--join", joinAddress)
  const child = spawn(process.execPath, args, { cwd: root, env: nodeEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  createInterface({ input: child.stderr }).on('line', (l) => values.verbose && process.stderr.write(`[${name}] ${l}\n`))
  child.on('exit', (code) => {
    if (!stopping) {
      process.stderr.write(`${name} exited (${code}); stopping the others\n`)
      stop()
    }
  })
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} not ready in 30 s`)), 30_000)
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const ready = JSON.parse(line)
        if (ready.event !== 'ready') return
        clearTimeout(t)
        resolve(ready)
      } catch {
        // not the ready line
      }
    })
  })
}

function stop() {
  if (stopping) return
  stopping = true
  const exit = () => {
    // The nodes' folders were made for this run only.
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true })
    process.exit(0)
  }
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null))).then(exit)
  setTimeout(exit, 5000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

try {
  const first = await start('n1')
  const rest = await Promise.all(Array.from({ length: count - 1 }, (_, i) => start(`n${i + 2}`, first.grpc)))
  for (const r of [first, ...rest]) {
    process.stdout.write(`${JSON.stringify({ event: 'node', name: r.name, grpc: r.grpc, ws: r.ws, ui: r.ui, token: r.token, clusterKey: r.clusterKey })}\n`)
    process.stderr.write(`${r.name}  peers reach it at ${r.grpc}   open ${r.ui ?? `(no UI built) ${r.ws}/?token=${r.token}`}\n`)
  }
  process.stderr.write('Ctrl-C stops the cluster.\n')
} catch (e) {
  process.stderr.write(`error: ${e.message}\n`)
  stop()
}
