/**
 * How the window loads the UI and what it may reach, as plain functions main/index.ts applies.
 * The built renderer is served from app://chat/ (a privileged custom scheme) rather than file://:
 * file:// would let any page read the whole disk and gives the gateway no meaningful Origin to check,
 * while app://chat is one fixed origin the node can allow-list (docs/client-protocol.md §2, "the
 * packaged app's" origin). Electron's security checklist recommends the same.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path'

export const APP_SCHEME = 'app'
export const APP_HOST = 'chat'
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`

export type AppRequest = { file: string } | { status: 400 | 404 }

/**
 * Maps an app://chat/... URL to a file under rootDir. Anything that would escape rootDir
 * (../, encoded %2e%2e, absolute paths, another host) is refused.
 */
export function resolveAppRequest(rootDir: string, requestUrl: string): AppRequest {
  let url: URL
  try {
    url = new URL(requestUrl)
  } catch {
    return { status: 400 }
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return { status: 404 }
  let pathname: string
  try {
    pathname = decodeURIComponent(url.pathname)
  } catch {
    return { status: 400 }
  }
  if (pathname.includes('\0')) return { status: 400 }
  if (pathname === '/' || pathname === '') pathname = '/index.html'
  const root = resolve(rootDir)
  const file = resolve(root, '.' + pathname)
  const rel = relative(root, file)
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) return { status: 404 }
  return { file }
}

/** The window's policy was asked for with a node address that is not a WebSocket URL. */
export class NotWebSocketUrlError extends Error {
  override readonly name = 'NotWebSocketUrlError'
  readonly code = 'not_websocket_url'
}

/** The ws:// origin of the node's gateway, as a CSP source (scheme://host:port). */
export function wsSource(wsUrl: string): string {
  const url = new URL(wsUrl)
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new NotWebSocketUrlError(`not a WebSocket URL: ${wsUrl}`)
  return `${url.protocol}//${url.host}`
}

/**
 * Content-Security-Policy of the window. Built app: scripts and styles only from the app itself,
 * network only to the node's own WebSocket. Dev (electron-vite dev server): Vite injects an inline
 * React-refresh preamble and <style> tags and talks to its own HMR socket, so those are allowed
 * there and only there.
 */
export function contentSecurityPolicy(opts: { wsUrl: string; devServerUrl?: string }): string {
  const ws = wsSource(opts.wsUrl)
  const dev = opts.devServerUrl ? new URL(opts.devServerUrl) : undefined
  const devWs = dev ? `${dev.protocol === 'https:' ? 'wss:' : 'ws:'}//${dev.host}` : undefined
  const directives: [string, string[]][] = [
    ['default-src', ["'none'"]],
    ['script-src', dev ? ["'self'", "'unsafe-inline'"] : ["'self'"]],
    ['style-src', dev ? ["'self'", "'unsafe-inline'"] : ["'self'"]],
    ['img-src', ["'self'", 'data:', 'blob:']],
    ['font-src', ["'self'", 'data:']],
    ['connect-src', dev ? [ws, "'self'", devWs!] : [ws]],
    ['base-uri', ["'none'"]],
    ['form-action', ["'none'"]],
    ['frame-ancestors', ["'none'"]],
    ['object-src', ["'none'"]],
  ]
  return directives.map(([name, sources]) => `${name} ${sources.join(' ')}`).join('; ')
}

/** Pages the window itself may show: our app origin, or the dev server in `npm run dev`. */
export function isAppUrl(url: string, devServerUrl?: string): boolean {
  try {
    const u = new URL(url)
    if (u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST) return true
    return devServerUrl !== undefined && u.origin === new URL(devServerUrl).origin
  } catch {
    return false
  }
}

/** Links the system browser may open; anything else (file:, javascript:, custom handlers) is dropped. */
export function isSafeExternalUrl(url: string): boolean {
  try {
    return ['https:', 'http:', 'mailto:'].includes(new URL(url).protocol)
  } catch {
    return false
  }
}
