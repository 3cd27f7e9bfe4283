/**
 * Renderer entry: find the node (Electron preload or the page's own address), ask for a display name
 * on first run, then start one session and hand it to the UI.
 */
import { StrictMode, useEffect, useState } from 'react'
import { createRoot } from 'react-dom/client'
import './styles.css'
import { App } from './App'
import { NamePrompt } from './components/NamePrompt'
import { ChatClient } from './net/chat-client'
import { Session } from './net/session'
import { resolveConnection, socketUrl } from './state/connection-config'
import { loadUser, saveUser } from './user-prefs'

function localStore(): Storage | undefined {
  try {
    return window.localStorage
  } catch {
    return undefined // storage disabled: the last room is then not remembered
  }
}

function sessionStore(): Storage | undefined {
  try {
    return window.sessionStorage
  } catch {
    return undefined // storage disabled (some privacy modes): the token in the address still works
  }
}

const cfg = resolveConnection(window.chatNode, window.location.href, sessionStore())
if (!('error' in cfg) && cfg.cleanedHref !== undefined) {
  // Take the token out of the address bar (and history) as soon as we have it.
  window.history.replaceState(null, '', cfg.cleanedHref)
}

// One session per page, created outside React: StrictMode calls state initializers twice in
// development, which would otherwise open two sockets.
let current: Session | null = null

function startSession(user: string): Session {
  if (current) return current
  if ('error' in cfg) throw new Error(cfg.error)
  const client = new ChatClient({ url: socketUrl(cfg) })
  const session: Session = new Session({
    client,
    user,
    storage: localStore(),
    notify: (title, body, roomId) => {
      if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return
      const n = new Notification(title, { body: body.slice(0, 200), tag: roomId })
      n.onclick = () => {
        window.focus()
        session.dispatch({ type: 'room.select', roomId })
      }
    },
  })
  const visibility = () => session.dispatch({ type: 'visibility', visible: !document.hidden })
  document.addEventListener('visibilitychange', visibility)
  visibility()
  session.start()
  current = session
  return session
}

function Root() {
  const [session, setSession] = useState<Session | null>(() => {
    const user = loadUser()
    return user && !('error' in cfg) ? startSession(user) : null
  })
  // In the desktop app the display name also lives in the instance's settings (preload), so it
  // survives a cleared browser storage; use it when localStorage has none.
  const [checkedSettings, setCheckedSettings] = useState(!window.chatNode?.settings || session !== null)
  useEffect(() => {
    if (checkedSettings) return
    let cancelled = false
    window.chatNode!.settings!.get()
      .then((st) => {
        const name = st.displayName?.trim()
        if (!cancelled && name) {
          saveUser(name)
          setSession(startSession(name))
        }
      })
      .catch(() => {})
      .finally(() => !cancelled && setCheckedSettings(true))
    return () => {
      cancelled = true
    }
  }, [checkedSettings])
  if ('error' in cfg) {
    return (
      <main className="flex h-full items-center justify-center bg-white p-8 text-slate-900 dark:bg-slate-900 dark:text-slate-100">
        <p role="alert" className="max-w-md text-center">
          {cfg.error}
        </p>
      </main>
    )
  }
  if (!session) {
    if (!checkedSettings) return null
    return (
      <NamePrompt
        onSubmit={(name) => {
          saveUser(name)
          void window.chatNode?.settings?.set({ displayName: name }).catch(() => {})
          setSession(startSession(name))
        }}
      />
    )
  }
  return <App session={session} />
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
)
