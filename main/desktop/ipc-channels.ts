/**
 * The only IPC between the preload and main (both sides import these names, so they cannot drift).
 * Kept to what the renderer needs: how to reach its node, and its own settings.
 */
export const IPC_CONNECTION = 'chat-node:connection' // sendSync -> { wsUrl, token }
export const IPC_SETTINGS_GET = 'chat-node:settings:get' // invoke -> { displayName?, nodeName?, peers }
export const IPC_SETTINGS_SET = 'chat-node:settings:set' // invoke(patch) -> same as get

/**
 * A settings call the main process refuses: from a frame that is not the app's own page
 * (`forbidden`), or a patch that fails validation (`bad_settings`). Electron hands the renderer
 * only the message, so the code leads it.
 */
export class IpcError extends Error {
  override readonly name = 'IpcError'
  constructor(
    readonly code: 'forbidden' | 'bad_settings',
    detail?: string,
  ) {
    super(detail === undefined ? code : `${code}: ${detail}`)
  }
}

export interface ChatNodeConnection {
  wsUrl: string
  token: string
}
