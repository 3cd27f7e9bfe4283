/**
 * The renderer's only window onto the rest of the app (docs/architecture.md §2): the URL of its
 * node's WebSocket and the per-launch token, plus its own settings. Runs sandboxed with context
 * isolation, so it may use only contextBridge and ipcRenderer, and it hands the page plain values and
 * narrow functions, never ipcRenderer itself.
 */
import { contextBridge, ipcRenderer } from 'electron'
import { IPC_CONNECTION, IPC_SETTINGS_GET, IPC_SETTINGS_SET, type ChatNodeConnection } from '../main/desktop/ipc-channels'

// Synchronous once, at load: the page's first script can then read window.chatNode directly.
// Main answers null to any frame that is not our own page, and then nothing is exposed.
const connection = ipcRenderer.sendSync(IPC_CONNECTION) as ChatNodeConnection | null

if (connection && typeof connection.wsUrl === 'string' && typeof connection.token === 'string') {
  contextBridge.exposeInMainWorld('chatNode', {
    wsUrl: connection.wsUrl,
    token: connection.token,
    settings: {
      get: () => ipcRenderer.invoke(IPC_SETTINGS_GET),
      // Only the two fields main accepts are forwarded; main validates them again.
      set: (patch: { displayName?: string; nodeName?: string }) =>
        ipcRenderer.invoke(IPC_SETTINGS_SET, {
          ...(patch?.displayName !== undefined ? { displayName: String(patch.displayName) } : {}),
          ...(patch?.nodeName !== undefined ? { nodeName: String(patch.nodeName) } : {}),
        }),
    },
  })
}
