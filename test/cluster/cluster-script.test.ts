// `npm run cluster`: three headless nodes already joined, each serving the UI, stopped by Ctrl-C.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { Client, ROOT, cleanup, eventually } from '../helpers/cluster'

afterAll(cleanup)

interface NodeLine {
  event: 'node'
  name: string
  grpc: string
  ws: string
  ui?: string
  token: string
  clusterKey: string
}

describe('npm run cluster', () => {
  it('starts three joined nodes, prints where to open each, and stops them all on Ctrl-C', async () => {
    // No key given: the script makes one for the run and passes it to every node (docs/security.md).
    const env = { ...process.env }
    delete env.DS_CLUSTER_KEY
    const proc = spawn(process.execPath, [join(ROOT, 'scripts', 'cluster.mjs'), '--no-build'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>((r) => proc.on('exit', r))
    try {
      const lines: NodeLine[] = []
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no node lines in 40 s')), 40_000)
        createInterface({ input: proc.stdout! }).on('line', (l) => {
          lines.push(JSON.parse(l) as NodeLine)
          if (lines.length === 3) {
            clearTimeout(t)
            resolve()
          }
        })
      })
      expect(lines.map((l) => l.name)).toEqual(['n1', 'n2', 'n3'])
      expect(lines[0].clusterKey).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(lines.map((l) => l.clusterKey)).toEqual([lines[0].clusterKey, lines[0].clusterKey, lines[0].clusterKey])
      const clients = await Promise.all(lines.map((l) => Client.connect(`${l.ws}/?token=${l.token}`)))
      for (const [i, c] of clients.entries()) {
        await c.call('hello', { user: `u${i}` })
        await eventually(async () => (await c.call('peers.list')).peers.filter((p) => p.state === 'alive').length === 2, 15_000, 'two alive peers')
      }
      if (lines[0].ui) {
        const page = await fetch(lines[0].ui)
        expect(page.status).toBe(200)
        expect(await page.text()).toContain('<div id="root">')
      }
      proc.kill('SIGINT')
      expect(await exited).toBe(0)
      // Every node left: their sockets are closed.
      await Promise.all(clients.map((c) => c.closed))
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL')
    }
  })
})
