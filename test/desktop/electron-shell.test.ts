/**
 * main/index.ts under plain Node, with a stand-in for the electron module: the one file we cannot
 * run here for real (no Electron binary) still gets its wiring checked end to end with a REAL node:
 * folder and scheme set before ready, the window's security options, the app:// handler and its
 * CSP, the IPC that hands out the token (only to our own page), the navigation rules, the gateway
 * accepting the app's Origin, and quit as a graceful leave. What the stand-in cannot show (Chromium
 * honouring the CSP, the sandbox itself) is for electron-app.test.ts where Electron exists.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

type Listener = (...args: unknown[]) => unknown

const fake = vi.hoisted(() => {
  const listeners = new Map<string, ((...args: unknown[]) => unknown)[]>()
  const on = (event: string, fn: (...args: unknown[]) => unknown) => {
    listeners.set(event, [...(listeners.get(event) ?? []), fn])
  }
  const emit = (event: string, ...args: unknown[]) => (listeners.get(event) ?? []).forEach((fn) => fn(...args))
  let resolveReady: () => void = () => {}
  const ready = new Promise<void>((r) => (resolveReady = r))
  const state = {
    paths: {} as Record<string, string>,
    appData: '',
    privileged: [] as unknown[],
    protocolHandlers: new Map<string, (req: Request) => Promise<Response> | Response>(),
    headersHandler: undefined as undefined | ((details: unknown, cb: (r: unknown) => void) => void),
    permissionHandler: undefined as undefined | ((...a: unknown[]) => void),
    ipcOn: new Map<string, (...a: unknown[]) => void>(),
    ipcHandle: new Map<string, (...a: unknown[]) => unknown>(),
    windows: [] as { options: Record<string, unknown>; url?: string; webContents: Record<string, unknown>; events: Map<string, (...a: unknown[]) => void> }[],
    opened: [] as string[],
    quitCalls: 0,
    exitCode: undefined as number | undefined,
    errorBoxes: [] as string[],
  }
  class BrowserWindow {
    webContents: Record<string, unknown>
    record: (typeof state.windows)[number]
    constructor(options: Record<string, unknown>) {
      const mainFrame = { url: '' }
      this.webContents = { mainFrame }
      this.record = { options, webContents: this.webContents, events: new Map() }
      state.windows.push(this.record)
    }
    on(event: string, fn: (...a: unknown[]) => void) {
      this.record.events.set(event, fn)
      return this
    }
    once(event: string, fn: (...a: unknown[]) => void) {
      return this.on(event, fn)
    }
    async loadURL(url: string) {
      this.record.url = url
      ;(this.webContents.mainFrame as { url: string }).url = url
    }
    show() {}
    isMinimized() {
      return false
    }
    restore() {}
    focus() {}
  }
  const electron = {
    app: {
      isPackaged: false,
      getPath: (name: string) => (name === 'appData' ? state.appData : `/nonexistent/${name}`),
      setPath: (name: string, value: string) => {
        state.paths[name] = value
      },
      requestSingleInstanceLock: () => true,
      whenReady: () => ready,
      on,
      quit: () => {
        state.quitCalls++
        let prevented = false
        emit('before-quit', { preventDefault: () => (prevented = true) })
        return prevented
      },
      exit: (code: number) => {
        state.exitCode = code
      },
    },
    BrowserWindow,
    protocol: {
      registerSchemesAsPrivileged: (s: unknown[]) => state.privileged.push(...s),
      handle: (scheme: string, fn: (req: Request) => Promise<Response>) => state.protocolHandlers.set(scheme, fn),
    },
    session: {
      defaultSession: {
        webRequest: { onHeadersReceived: (fn: typeof state.headersHandler) => (state.headersHandler = fn) },
        setPermissionRequestHandler: (fn: typeof state.permissionHandler) => (state.permissionHandler = fn),
      },
    },
    ipcMain: {
      on: (ch: string, fn: (...a: unknown[]) => void) => state.ipcOn.set(ch, fn),
      handle: (ch: string, fn: (...a: unknown[]) => unknown) => state.ipcHandle.set(ch, fn),
    },
    shell: { openExternal: async (url: string) => void state.opened.push(url) },
    dialog: { showErrorBox: (_t: string, m: string) => void state.errorBoxes.push(m) },
    net: { fetch: async (_url: string) => new Response('') }, // replaced below (needs node:fs)
  }
  return { electron, state, emit, resolveReady }
})

vi.mock('electron', () => fake.electron)

const { state } = fake
const root = mkdtempSync(join(tmpdir(), 'ds-shell-'))
let stdout = ''

function trustedEvent(extra: Record<string, unknown> = {}) {
  const wc = state.windows[0]!.webContents
  return { sender: wc, senderFrame: wc.mainFrame, returnValue: undefined as unknown, ...extra }
}

async function connect(wsUrl: string, token: string, origin?: string): Promise<{ status: number; hello?: unknown }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${wsUrl}/?token=${encodeURIComponent(token)}`, origin ? { origin } : {})
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 })
      ws.terminate()
    })
    ws.once('error', () => resolve({ status: -1 }))
    ws.once('open', () => {
      ws.send(JSON.stringify({ id: 1, op: 'hello', user: 'shell-test' }))
      ws.once('message', (data) => {
        resolve({ status: 101, hello: JSON.parse(String(data)) })
        ws.close()
      })
    })
  })
}

beforeAll(async () => {
  state.appData = root
  fake.electron.net.fetch = async (url: string) => {
    const body = readFileSync(fileURLToPath(url))
    return new Response(body, { status: 200, headers: { 'content-type': 'text/html' } })
  }
  delete process.env.ELECTRON_RENDERER_URL
  delete process.env.DS_USER_DATA_ROOT
  delete process.env.DS_INSTANCE
  process.argv = [process.execPath, '.', '--instance', '3', '--grpc', '127.0.0.1:0', '--name', 'shell']
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk)
    return true
  })
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  await import('../../main/index')
  fake.resolveReady()
  const deadline = Date.now() + 15_000
  while (state.windows.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  if (state.windows.length === 0) throw new Error(`no window opened; error boxes: ${state.errorBoxes.join('; ')}`)
}, 30_000)

afterAll(async () => {
  // If a test failed before the quit test, still leave: the node must not outlive the file.
  fake.electron.app.quit()
  await new Promise((r) => setTimeout(r, 200))
  vi.restoreAllMocks()
  rmSync(root, { recursive: true, force: true })
})

describe('main/index.ts wiring (electron stand-in, real node)', () => {
  it('uses the instance folder and a privileged app:// scheme, set before ready', () => {
    expect(state.paths.userData).toBe(join(root, 'ds-g1-sms', 'instance-3'))
    expect(state.privileged).toEqual([
      expect.objectContaining({ scheme: 'app', privileges: expect.objectContaining({ standard: true, secure: true }) }),
    ])
  })

  it('opens one hardened window on app://chat with the node name and address in its title', () => {
    const w = state.windows[0]!
    expect(w.options.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false })
    expect(String((w.options.webPreferences as { preload: string }).preload)).toMatch(/preload[\\/]index\.js$/)
    expect(w.options.title).toMatch(/^ds-g1-sms — shell — 127\.0\.0\.1:\d+ \(instance 3\)$/)
    expect(w.url).toBe('app://chat/index.html')
    // the page's <title> must not replace ours
    let prevented = false
    w.events.get('page-title-updated')!({ preventDefault: () => (prevented = true) })
    expect(prevented).toBe(true)
  })

  it('prints a ready line without the token', () => {
    const line = stdout.split('\n').find((l) => l.includes('"event":"ready"'))
    expect(line).toBeDefined()
    const ready = JSON.parse(line!)
    expect(ready).toMatchObject({ event: 'ready', instance: 3, name: 'shell' })
    expect(ready.token).toBeUndefined()
  })

  it('hands the WebSocket URL and token only to its own page', () => {
    const handler = state.ipcOn.get('chat-node:connection')!
    const ok = trustedEvent()
    handler(ok)
    expect(ok.returnValue).toMatchObject({ wsUrl: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+$/), token: expect.any(String) })
    const otherSender = trustedEvent({ sender: { mainFrame: { url: 'app://chat/index.html' } } })
    handler(otherSender)
    expect(otherSender.returnValue).toBeNull()
    const wc = state.windows[0]!.webContents
    const foreignPage = trustedEvent({ senderFrame: { url: 'https://evil.example/' } })
    ;(wc as { mainFrame: unknown }).mainFrame = foreignPage.senderFrame
    handler(foreignPage)
    expect(foreignPage.returnValue).toBeNull()
    ;(wc as { mainFrame: unknown }).mainFrame = { url: 'app://chat/index.html' }
  })

  it('serves the UI from app://chat with the CSP, and nothing outside it', async () => {
    const handle = state.protocolHandlers.get('app')!
    const ev = trustedEvent()
    state.ipcOn.get('chat-node:connection')!(ev)
    const { wsUrl } = ev.returnValue as { wsUrl: string }
    const res = await handle(new Request('app://chat/index.html'))
    expect(res.status).toBe(200)
    const csp = res.headers.get('content-security-policy')!
    expect(csp).toContain(`connect-src ${wsUrl}`)
    expect(csp).toContain("default-src 'none'")
    expect((await handle(new Request('app://elsewhere/index.html'))).status).toBe(404)
    // dev-server responses get the policy as a header too
    let headers: unknown
    state.headersHandler!({ responseHeaders: { a: ['b'] } }, (r) => (headers = r))
    expect(headers).toEqual({ responseHeaders: { a: ['b'], 'Content-Security-Policy': [csp] } })
  })

  it('lets the page talk to its node from the app:// origin, and refuses other origins', async () => {
    const ev = trustedEvent()
    state.ipcOn.get('chat-node:connection')!(ev)
    const { wsUrl, token } = ev.returnValue as { wsUrl: string; token: string }
    const ok = await connect(wsUrl, token, 'app://chat')
    expect(ok.status).toBe(101)
    expect(ok.hello).toMatchObject({ id: 1, ok: true })
    expect((await connect(wsUrl, token, 'https://evil.example')).status).toBe(403)
  })

  it('keeps every web contents on the app and sends web links to the system browser', () => {
    const events = new Map<string, Listener>()
    let openHandler: Listener = () => undefined
    const contents = { on: (e: string, fn: Listener) => events.set(e, fn), setWindowOpenHandler: (fn: Listener) => (openHandler = fn) }
    fake.emit('web-contents-created', {}, contents)
    const navigate = (url: string) => {
      let prevented = false
      events.get('will-navigate')!({ url, preventDefault: () => (prevented = true) })
      return prevented
    }
    expect(navigate('app://chat/index.html#room')).toBe(false)
    expect(navigate('https://example.com/x')).toBe(true)
    expect(navigate('file:///etc/passwd')).toBe(true)
    expect(openHandler({ url: 'https://example.com/y' })).toEqual({ action: 'deny' })
    expect(openHandler({ url: 'javascript:alert(1)' })).toEqual({ action: 'deny' })
    expect(state.opened).toEqual(['https://example.com/x', 'https://example.com/y'])
    let webviewPrevented = false
    events.get('will-attach-webview')!({ preventDefault: () => (webviewPrevented = true) })
    expect(webviewPrevented).toBe(true)
    let granted: unknown
    state.permissionHandler!({}, 'notifications', (g: unknown) => (granted = g))
    expect(granted).toBe(false)
  })

  it('saves settings from its own page, validated', async () => {
    const set = state.ipcHandle.get('chat-node:settings:set')!
    await expect(Promise.resolve(set(trustedEvent(), { displayName: 'ann' }))).resolves.toMatchObject({ displayName: 'ann' })
    await expect(Promise.resolve().then(() => set(trustedEvent(), { peers: ['x:1'] }))).rejects.toMatchObject({ name: 'IpcError', code: 'bad_settings' })
    await expect(Promise.resolve().then(() => set(trustedEvent({ senderFrame: null }), { displayName: 'x' }))).rejects.toMatchObject({ name: 'IpcError', code: 'forbidden' })
    const saved = JSON.parse(readFileSync(join(root, 'ds-g1-sms', 'instance-3', 'settings.json'), 'utf8'))
    expect(saved.displayName).toBe('ann')
  })

  it('quits as a graceful leave: holds the quit, stops the node, frees the folder, then quits', async () => {
    const ev = trustedEvent()
    state.ipcOn.get('chat-node:connection')!(ev)
    const { wsUrl, token } = ev.returnValue as { wsUrl: string; token: string }
    const before = state.quitCalls
    const prevented = fake.electron.app.quit()
    expect(prevented).toBe(true)
    const deadline = Date.now() + 10_000
    while (state.quitCalls === before + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(state.quitCalls).toBe(before + 2) // the second quit, after the node stopped
    expect((await connect(wsUrl, token)).status).toBe(-1) // gateway closed
    expect(existsSync(join(root, 'ds-g1-sms', 'instance-3', 'instance.lock'))).toBe(false)
  })
})
