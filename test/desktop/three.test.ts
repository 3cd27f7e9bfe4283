/**
 * `npm run three` (scripts/three.mjs) without Electron: ELECTRON_EXEC_PATH points at a stand-in
 * that behaves like an app instance on the outside (prints the desktop ready line, leaves on
 * SIGINT). Checks the orchestration: instance 1 first, 2 and 3 joined to instance 1's address,
 * Ctrl-C reaching all three and the script ending.
 */
import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const repo = resolve(__dirname, '..', '..')
const work = mkdtempSync(join(tmpdir(), 'ds-three-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const standIn = `#!${process.execPath}
const fs = require('node:fs')
const args = process.argv.slice(2)
const instance = Number(args[args.indexOf('--instance') + 1])
const join = args.includes('--join') ? args[args.indexOf('--join') + 1] : null
fs.appendFileSync(${JSON.stringify(join(work, 'calls.jsonl'))}, JSON.stringify({ instance, join, app: args[0], key: process.env.DS_CLUSTER_KEY, keyInArgs: args.some((a) => a.includes(process.env.DS_CLUSTER_KEY)) }) + '\\n')
process.on('SIGINT', () => {
  fs.appendFileSync(${JSON.stringify(join(work, 'calls.jsonl'))}, JSON.stringify({ instance, left: true }) + '\\n')
  process.exit(0)
})
console.log('a log line that is not JSON')
console.log(JSON.stringify({ event: 'ready', instance, name: 'n' + instance, grpc: '0.0.0.0:' + (50050 + instance) }))
setInterval(() => {}, 1000)
`

describe('npm run three', () => {
  // The stand-in Electron binary is a shell script (#!), which Windows cannot execute: POSIX only.
  it.skipIf(process.platform === 'win32')('starts instance 1, then 2 and 3 joined to it, and stops all three on Ctrl-C', async () => {
    const exe = join(work, 'electron')
    writeFileSync(exe, standIn)
    chmodSync(exe, 0o755)
    const env: NodeJS.ProcessEnv = { ...process.env, ELECTRON_EXEC_PATH: exe }
    delete env.DS_CLUSTER_KEY
    const child = spawn(process.execPath, [join(repo, 'scripts', 'three.mjs'), '--no-build'], {
      cwd: repo,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += String(d)))
    child.stderr.on('data', (d) => (out += String(d)))
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    try {
      const deadline = Date.now() + 20_000
      while (!out.includes('three instances running') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(out, out).toContain('three instances running')
      child.kill('SIGINT')
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))])
      expect(code).toBe(0)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    const calls = readFileSync(join(work, 'calls.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    const starts = calls.filter((c) => !c.left)
    // One cluster key for the three, made for the run, in the environment rather than on the
    // command line, where other local users could read it (docs/security.md).
    const key = starts[0].key as string
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(starts[0]).toEqual({ instance: 1, join: null, app: repo, key, keyInArgs: false })
    // A node listening on 0.0.0.0 is joined through 127.0.0.1 on the same machine.
    expect(starts.slice(1).sort((a, b) => a.instance - b.instance)).toEqual([
      { instance: 2, join: '127.0.0.1:50051', app: repo, key, keyInArgs: false },
      { instance: 3, join: '127.0.0.1:50051', app: repo, key, keyInArgs: false },
    ])
    expect(calls.filter((c) => c.left).map((c) => c.instance).sort()).toEqual([1, 2, 3])
  }, 40_000)
})
