#!/usr/bin/env node
/**
 * `npm run three`: the demo of docs/desktop.md — three app instances on this machine, already one cluster.
 * Builds once, starts instance 1, reads its ready line (one JSON line on stdout, see
 * main/desktop/desktop-node.ts desktopReadyLine) for its gRPC address, then starts instances 2 and 3
 * with --join that address. Each instance has its own folder, identity and port (50051, 50052,
 * 50053 unless taken). Ctrl-C quits all three gracefully (each leaves the cluster).
 *
 * Needs the Electron binary (scripts/ensure-electron.mjs fetches it once: internet, or ELECTRON_EXEC_PATH).
 * Options: --no-build (reuse out/), --fresh (throw-away user-data folders instead of the real ones).
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const argv = process.argv.slice(2)
const READY_TIMEOUT_MS = 60_000

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' })
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))))
  })
}

const env = { ...process.env }
// The three instances are one cluster: they share one cluster key (docs/security.md), DS_CLUSTER_KEY
// if set, else a new one for this run (each instance saves it in its folder).
env.DS_CLUSTER_KEY = process.env.DS_CLUSTER_KEY || randomBytes(32).toString('base64url')
if (argv.includes('--fresh')) env.DS_USER_DATA_ROOT = mkdtempSync(join(tmpdir(), 'ds-three-'))

if (!argv.includes('--no-build')) {
  // The bin is not in electron-vite's "exports", so resolve it next to its package.json.
  const evBin = join(dirname(require.resolve('electron-vite/package.json')), 'bin', 'electron-vite.js')
  await run(process.execPath, [evBin, 'build'])
}

await run(process.execPath, [join(root, 'scripts', 'ensure-electron.mjs')])
// ELECTRON_EXEC_PATH: a binary of your own (as electron-vite honours it); otherwise the electron
// package's export, the path of the binary ensure-electron.mjs just made sure of.
const electronPath = process.env.ELECTRON_EXEC_PATH || require('electron')
const children = []

function launch(instance, extraArgs) {
  const child = spawn(electronPath, [root, '--instance', String(instance), ...extraArgs], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  const prefix = `[${instance}] `
  createInterface({ input: child.stderr }).on('line', (l) => process.stderr.write(prefix + l + '\n'))
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance ${instance} not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS)
    createInterface({ input: child.stdout }).on('line', (line) => {
      process.stdout.write(prefix + line + '\n')
      try {
        const msg = JSON.parse(line)
        if (msg && msg.event === 'ready') {
          clearTimeout(timer)
          resolve(msg)
        }
      } catch {
        /* an ordinary log line */
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`instance ${instance} exited with ${code} before it was ready`))
    })
  })
  return ready
}

function stopAll(signal = 'SIGINT') {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal)
}
process.on('SIGINT', () => stopAll('SIGINT'))
process.on('SIGTERM', () => stopAll('SIGTERM'))

try {
  const first = await launch(1, [])
  // A node listening on every interface may report 0.0.0.0; on this machine 127.0.0.1 reaches it.
  const address = String(first.grpc).replace(/^0\.0\.0\.0:/, '127.0.0.1:')
  console.log(`instance 1 is ${first.name} at ${address}; starting 2 and 3 joined to it`)
  await Promise.all([launch(2, ['--join', address]), launch(3, ['--join', address])])
  console.log('three instances running; Ctrl-C quits them all (each leaves the cluster)')
} catch (err) {
  console.error(String(err instanceof Error ? err.message : err))
  stopAll()
  process.exitCode = 1
}

await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.on('exit', r)))))
