// A first run without surprises (docs/headless-node.md): the node serves only a built UI, never the
// renderer's sources; the token can come from the environment instead of the command line; and the
// built CLI (node out/main/cli.js, no tsx) prints only its ready line and stops on SIGTERM to its PID.
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { builtUiDir } from '../../main/cli-options'
import { handleUiRequest, isBuiltUi } from '../../main/gateway/static-ui'
import { Client, ROOT, cleanup, eventually, runCli, spawnReady, tempDir } from '../helpers/cluster'
import { ensureBuilt } from '../e2e/browser'

afterAll(cleanup)

function status(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('the browser UI a node serves', () => {
  it('is the built one: the source folder is not taken for a UI, and source files are never served', async () => {
    expect(isBuiltUi(join(ROOT, 'renderer'))).toBe(false)
    const built = tempDir()
    mkdirSync(join(built, 'assets'))
    writeFileSync(join(built, 'index.html'), '<!doctype html><script type="module" src="./assets/index-abc.js"></script>')
    writeFileSync(join(built, 'assets', 'index-abc.js'), 'console.log(1)')
    writeFileSync(join(built, 'assets', 'left-over.tsx'), 'export {}')
    expect(isBuiltUi(built)).toBe(true)
    expect(builtUiDir('/x/main')).toBe('/x/out/renderer')
    expect(builtUiDir('/x/out/main')).toBe('/x/out/renderer')

    const server = createServer((req, res) => {
      if (!handleUiRequest(req, res, built)) res.writeHead(418).end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    try {
      expect(await status(port, '/assets/index-abc.js')).toBe(200)
      expect(await status(port, '/assets/left-over.tsx')).toBe(404)
    } finally {
      await new Promise((r) => server.close(r))
    }
  })

  it('--ui-dir pointing at the sources is refused with a hint to build', async () => {
    const { code, stdout, stderr } = await runCli(['--ui-dir', join(ROOT, 'renderer'), '--data-dir', tempDir()])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toMatch(/^error: --ui-dir: no built UI in .*renderer \(build it with npm run build/)
  })
})

describe('the built CLI under a supervisor', () => {
  it('takes its token from DS_TOKEN, prints only the ready line, and SIGTERM to its PID stops the node', async () => {
    ensureBuilt()
    const token = 'from-the-environment-0123456789'
    const { proc, ready, stdout, exited } = await spawnReady<{ ws: string; token: string; pid: number }>(
      process.execPath,
      [join(ROOT, 'out', 'main', 'cli.js'), '--name', 'svc', '--grpc', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--data-dir', tempDir()],
      { env: { ...process.env, DS_TOKEN: token }, what: 'the built CLI' },
    )
    try {
      expect(ready.token).toBe(token)
      expect(ready.pid).toBe(proc.pid)
      const c = await Client.connect(`${ready.ws}/?token=${token}`)
      expect((await c.call('hello', { user: 'ops' })).user).toBe('ops')
      c.close()
      proc.kill('SIGTERM')
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 8000))])
      expect(code).toBe(0)
      expect(stdout().trim().split('\n')).toHaveLength(1)
      // Its port is closed: nothing is left running.
      await expect(Client.connect(`${ready.ws}/?token=${token}`)).rejects.toThrow()
    } finally {
      proc.kill('SIGKILL')
    }
  }, 200_000)

  it('`npm run -s peer`: the ready line alone on stdout, and SIGTERM to npm\'s PID stops the node too', async () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const { proc, ready, stdout, exited } = await spawnReady<{ ws: string; token: string; pid: number }>(
      npm,
      ['run', '-s', 'peer', '--', '--name', 'npmsvc', '--grpc', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--no-ui', '--data-dir', tempDir()],
      { what: 'npm run -s peer' },
    )
    try {
      expect(ready.pid).not.toBe(proc.pid) // npm's child runs the node
      proc.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))])
      // The node itself leaves (gracefully, within its 3 s bound): signal 0 only checks it exists.
      const alive = () => {
        try {
          process.kill(ready.pid, 0)
          return true
        } catch {
          return false
        }
      }
      await eventually(async () => !alive(), 8000, 'the node process to exit')
      expect(stdout().trim().split('\n')).toHaveLength(1)
    } finally {
      proc.kill('SIGKILL')
    }
  }, 60_000)
})
