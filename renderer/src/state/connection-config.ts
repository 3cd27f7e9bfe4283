/**
 * Where the renderer finds its node (docs/ui.md). In Electron the preload hands over the
 * WebSocket URL and token. In a browser the page was served by the node itself at
 * http://HOST:PORT/?token=T (Jupyter style): the token is read from the address, kept in
 * sessionStorage so a reload still works, and removed from the address bar so it does not end up in
 * screenshots, history or a copied link.
 */
export interface ConnectionConfig {
  wsUrl: string
  token: string
  /** The address to show instead (token removed), when it has to change. */
  cleanedHref?: string
}

export interface KeyValueStore {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

export const TOKEN_KEY = 'chat.token'

export function resolveConnection(
  chatNode: { wsUrl: string; token: string } | undefined,
  href: string,
  session: KeyValueStore | undefined,
): ConnectionConfig | { error: string } {
  if (chatNode && chatNode.wsUrl && chatNode.token) return { wsUrl: chatNode.wsUrl, token: chatNode.token }
  let url: URL
  try {
    url = new URL(href)
  } catch {
    return { error: 'The page address is not valid.' }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { error: 'No node to connect to: open the ui address the node printed, or start the app.' }
  }
  const fromUrl = url.searchParams.get('token')
  const token = fromUrl ?? session?.getItem(TOKEN_KEY) ?? null
  if (!token) {
    return { error: 'No access token: open the full ui address (with ?token=...) that the node printed.' }
  }
  session?.setItem(TOKEN_KEY, token)
  const wsUrl = `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}/`
  let cleanedHref: string | undefined
  if (fromUrl !== null) {
    url.searchParams.delete('token')
    cleanedHref = url.pathname + (url.search === '?' ? '' : url.search) + url.hash
  }
  return { wsUrl, token, cleanedHref }
}

/** The WebSocket address with the token as the query parameter the gateway expects (section 2). */
export function socketUrl(cfg: { wsUrl: string; token: string }): string {
  const u = new URL(cfg.wsUrl)
  u.searchParams.set('token', cfg.token)
  return u.toString()
}
