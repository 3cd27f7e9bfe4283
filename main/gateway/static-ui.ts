/**
 * Browser mode (docs/ui.md): the node serves the built renderer over HTTP on its WebSocket
 * address, so a lab mate can open http://HOST:PORT/?token=T in any browser. Only files inside the
 * built folder are served (no path traversal, no directory listings, no dotfiles); anything else is
 * left to the caller (returns false) so the gateway can answer it or upgrade it to a WebSocket.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, resolve, sep } from 'node:path'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
}

/**
 * Whether `dir` holds a built renderer (electron-vite's output), not the renderer's sources: the
 * source index.html loads ./src/main.tsx, which no browser can run and which would hand out the raw
 * sources (docs/headless-node.md, "A whole cluster in one command, in the browser").
 */
export function isBuiltUi(dir: string): boolean {
  const index = join(dir, 'index.html')
  if (!existsSync(index)) return false
  try {
    return !/src=["'][^"']*\.tsx?["']/.test(readFileSync(index, 'utf8'))
  } catch {
    return false
  }
}

/**
 * Serve `req` from `uiDir` if it names a file there. Returns true when a response was sent (including
 * 400/404/405 for requests that are clearly for the UI), false when the request is not ours.
 */
export function handleUiRequest(req: IncomingMessage, res: ServerResponse, uiDir: string): boolean {
  // WebSocket upgrades and anything with a body belong to the gateway.
  if (req.headers.upgrade) return false
  const method = req.method ?? 'GET'
  if (method !== 'GET' && method !== 'HEAD') return false

  let pathname: string
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://ui.invalid').pathname)
  } catch {
    send(res, 400, 'bad request')
    return true
  }
  if (pathname.includes('\0')) {
    send(res, 400, 'bad request')
    return true
  }
  if (pathname === '/' || pathname === '') pathname = '/index.html'

  const root = resolve(uiDir)
  const file = resolve(root, '.' + pathname)
  // Refuse anything that resolves outside the UI folder, and hidden files (.env, .git, ...).
  if (file !== root && !file.startsWith(root + sep)) {
    send(res, 404, 'not found')
    return true
  }
  if (file.slice(root.length).split(sep).some((part) => part.startsWith('.'))) {
    send(res, 404, 'not found')
    return true
  }

  // Not a UI file (missing, or a folder): let the caller decide (it may answer 404 or 426 itself).
  let st
  try {
    st = statSync(file)
  } catch {
    return false
  }
  if (!st.isFile()) return false
  const size = st.size

  const type = CONTENT_TYPES[extname(file).toLowerCase()]
  // Only the kinds of file a built UI consists of: a source file (.tsx, .ts) or anything unexpected
  // in the folder is not served.
  if (type === undefined) {
    send(res, 404, 'not found')
    return true
  }
  const isHtml = type.startsWith('text/html')
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': String(size),
    'X-Content-Type-Options': 'nosniff',
    // index.html carries the token in its URL only; never let a shared cache keep the page, and keep
    // hashed assets cacheable by the browser itself.
    'Cache-Control': isHtml ? 'no-store' : 'private, max-age=3600',
    // The page talks only to its own node; forbid framing and foreign script sources.
    ...(isHtml
      ? {
          'Content-Security-Policy':
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
          'Referrer-Policy': 'no-referrer',
        }
      : {}),
  })
  if (method === 'HEAD') {
    res.end()
    return true
  }
  const stream = createReadStream(file)
  stream.on('error', () => res.destroy())
  stream.pipe(res)
  return true
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) })
  res.end(text)
}
