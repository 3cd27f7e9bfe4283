/**
 * The only IPC between the preload and main (both sides import these names, so they cannot drift).
 * Kept to what the renderer needs: how to reach its node, and its own settings.
 */
export const IPC_CONNECTION = 'chat-node:connection' // sendSync -> { wsUrl, token }
export const IPC_SETTINGS_GET = 'chat-node:settings:get' // invoke -> { displayName?, nodeName?, peers }
export const IPC_SETTINGS_SET = 'chat-node:settings:set' // invoke(patch) -> same as get

export interface ChatNodeConnection {
  wsUrl: string
  token: string
}
