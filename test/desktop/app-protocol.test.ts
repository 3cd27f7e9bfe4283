import { join, resolve, sep } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  APP_ORIGIN,
  contentSecurityPolicy,
  isAppUrl,
  isSafeExternalUrl,
  NotWebSocketUrlError,
  resolveAppRequest,
  wsSource,
} from '../../main/desktop/app-protocol'

const root = resolve('/srv/app/out/renderer')

describe('app:// requests', () => {
  it('serves index.html for the root and files under the renderer folder', () => {
    expect(resolveAppRequest(root, `${APP_ORIGIN}/`)).toEqual({ file: join(root, 'index.html') })
    expect(resolveAppRequest(root, `${APP_ORIGIN}/assets/index-abc.js?v=1`)).toEqual({ file: join(root, 'assets', 'index-abc.js') })
  })

  // The URL parser already folds ../ and %2e%2e away; what matters is that nothing outside the
  // renderer folder is ever named, whichever layer catches it.
  it.each([
    `${APP_ORIGIN}/../main/index.js`,
    `${APP_ORIGIN}/%2e%2e/%2e%2e/etc/passwd`,
    `${APP_ORIGIN}/..%2f..%2fetc/passwd`,
    `${APP_ORIGIN}/assets/..%5c..%5c..%5cwindows`,
  ])('never leaves the renderer folder for %s', (url) => {
    const target = resolveAppRequest(root, url)
    if ('file' in target) expect(target.file.startsWith(root + sep)).toBe(true)
  })

  it('refuses other hosts and schemes', () => {
    expect(resolveAppRequest(root, 'app://other/index.html')).toEqual({ status: 404 })
    expect(resolveAppRequest(root, 'file:///etc/passwd')).toEqual({ status: 404 })
  })
})

describe('Content-Security-Policy', () => {
  it('lets the built app reach only its own node', () => {
    const csp = contentSecurityPolicy({ wsUrl: 'ws://127.0.0.1:41234' })
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self';")
    expect(csp).toMatch(/connect-src ws:\/\/127\.0\.0\.1:41234;/)
    expect(csp).not.toContain('unsafe')
  })

  it('allows the dev server and its HMR socket only in dev', () => {
    const csp = contentSecurityPolicy({ wsUrl: 'ws://127.0.0.1:41234', devServerUrl: 'http://localhost:5173' })
    expect(csp).toContain('ws://localhost:5173')
    expect(csp).toContain("'unsafe-inline'")
  })
})

describe('navigation policy', () => {
  it('keeps the window on the app', () => {
    expect(isAppUrl(`${APP_ORIGIN}/index.html`)).toBe(true)
    expect(isAppUrl('https://example.com/')).toBe(false)
    expect(isAppUrl('http://localhost:5173/x', 'http://localhost:5173')).toBe(true)
    expect(isAppUrl('http://localhost:5174/x', 'http://localhost:5173')).toBe(false)
  })

  it('opens only web and mail links in the system browser', () => {
    expect(isSafeExternalUrl('https://example.com')).toBe(true)
    expect(isSafeExternalUrl('mailto:a@b.c')).toBe(true)
    expect(isSafeExternalUrl('file:///etc/passwd')).toBe(false)
    expect(isSafeExternalUrl('javascript:alert(1)')).toBe(false)
    expect(isSafeExternalUrl('smb://share/x')).toBe(false)
  })
})

describe('the node address in the window policy', () => {
  it('is the WebSocket origin; anything else is a NotWebSocketUrlError', () => {
    expect(wsSource('ws://127.0.0.1:41234/?token=x')).toBe('ws://127.0.0.1:41234')
    expect(() => wsSource('http://127.0.0.1:41234')).toThrow(NotWebSocketUrlError)
    expect(() => wsSource('http://127.0.0.1:41234')).toThrow(expect.objectContaining({ code: 'not_websocket_url' }))
  })
})
