/**
 * What preload/index.ts exposes to the renderer, for the renderer's type checker (tsconfig.web.json
 * includes preload/*.d.ts). Absent when the UI runs in a plain browser tab served by a headless node;
 * then the renderer takes the WebSocket URL and token from its own address instead.
 */
export {}

declare global {
  interface ChatNodeSettings {
    displayName?: string
    /** Used as the node's name from the next start on. */
    nodeName?: string
    /** Remembered peer addresses (host:port), rejoined at start; kept up to date by main. */
    peers: string[]
    /** History archive URL (docs/archive.md), its password shown as ****; used from the next start. */
    dbUrl?: string
  }

  interface Window {
    chatNode?: {
      /** ws://127.0.0.1:PORT of this app's own node. */
      wsUrl: string
      /** Per-launch secret: connect to `${wsUrl}/?token=${encodeURIComponent(token)}`. */
      token: string
      /** Settings kept in this instance's folder. Rejects when the values are out of range. */
      settings?: {
        get(): Promise<ChatNodeSettings>
        /** dbUrl: '' clears it; a URL whose password is still **** keeps the saved password. */
        set(patch: { displayName?: string; nodeName?: string; dbUrl?: string }): Promise<ChatNodeSettings>
      }
    }
  }
}
