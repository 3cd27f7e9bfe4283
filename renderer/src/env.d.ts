/// <reference types="vite/client" />
// window.chatNode (set by the Electron preload) is typed in preload/api.d.ts.
