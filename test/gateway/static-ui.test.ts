import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handleUiRequest } from '../../main/gateway/static-ui'

let dir: string
let server: Server
let port: number

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ui-'))
  mkdirSync(join(dir, 'assets'))
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>chat</title>')
  writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)')
  writeFileSync(join(dir, 'assets', 'app.css'), 'body{}')
  writeFileSync(join(dir, '.secret'), 'no')
  writeFileSync(join(dir, '..', 'outside-ui.txt'), 'no')
  server = createServer((req, res) => {
    if (!handleUiRequest(req, res, dir)) {
      res.writeHead(418)
      res.end('not handled')
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise((r) => server.close(r))
  rmSync(dir, { recursive: true, force: true })
  rmSync(join(dir, '..', 'outside-ui.txt'), { force: true })
})

/** Raw request so that paths like /../x are sent as written, not normalised by a client. */
function get(path: string, method = 'GET'): Promise<{ status: number; type?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('handleUiRequest', () => {
  it('serves index.html for / (with the token query) and assets with their content types', async () => {
    const root = await get('/?token=abc')
    expect(root).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' })
    expect(root.body).toContain('<title>chat</title>')
    expect(await get('/assets/app.js')).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8' })
    expect(await get('/assets/app.css')).toMatchObject({ status: 200, type: 'text/css; charset=utf-8' })
    expect(await get('/index.html', 'HEAD')).toMatchObject({ status: 200, body: '' })
  })

  it('never serves files outside the folder or hidden files', async () => {
    for (const p of ['/../outside-ui.txt', '/%2e%2e/outside-ui.txt', '/assets/..%2f..%2foutside-ui.txt', '/.secret', '/a%00b']) {
      const r = await get(p)
      expect(r.status, p).not.toBe(200)
      expect(r.body).not.toBe('no')
    }
  })

  it('leaves unknown paths and other methods to the caller', async () => {
    expect((await get('/nope.js')).status).toBe(418)
    expect((await get('/assets')).status).toBe(418)
    expect((await get('/', 'POST')).status).toBe(418)
  })
})
