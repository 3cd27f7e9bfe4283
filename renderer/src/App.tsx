import { useEffect, useRef, useState } from 'react'
import type { Session } from './net/session'
import { totalUnread } from './state/chat-state'
import { useSessionState } from './use-session'
import { ConnectionBanner } from './components/ConnectionBanner'
import { Sidebar } from './components/Sidebar'
import { ChatView } from './components/ChatView'
import { SettingsView } from './components/SettingsView'
import { ClusterView } from './components/ClusterView'
import { Notices } from './components/Notices'
import { QuickSwitcher } from './components/QuickSwitcher'
import { TWO_PANE, useMediaQuery } from './use-media'
import { loadDetails, saveDetails } from './user-prefs'

type View = 'chat' | 'settings' | 'cluster'

const VIEWS: { id: View; label: string }[] = [
  { id: 'chat', label: 'Chat' },
  { id: 'settings', label: 'Settings' },
  { id: 'cluster', label: 'Cluster' },
]

export function App({ session }: { session: Session }) {
  const state = useSessionState(session)
  const [view, setView] = useState<View>('chat')
  const unread = totalUnread(state.chat)
  const twoPane = useMediaQuery(TWO_PANE)
  // Narrow window: the room list and the open room are two screens (docs/ui.md, "Layout").
  const [roomScreen, setRoomScreen] = useState(false)
  const [switcher, setSwitcher] = useState(false)
  // "Protocol details": the user's choice once made; until then on once the Cluster view was opened
  // (the teaching setting), off for a plain chat.
  const [detailsChoice, setDetailsChoice] = useState(loadDetails)
  const [sawCluster, setSawCluster] = useState(false)
  const details = detailsChoice ?? sawCluster
  const filterRef = useRef<HTMLInputElement>(null)
  const returnFocus = useRef<HTMLElement | null>(null)

  useEffect(() => {
    const self = state.chat.self
    document.title = `${unread > 0 ? `(${unread}) ` : ''}Group chat${self ? ` · ${self.user} on ${self.nodeName}` : ''}`
  }, [unread, state.chat.self])

  useEffect(() => {
    if (view === 'cluster') setSawCluster(true)
  }, [view])

  // Just signed in (the name form is gone): focus starts in the room list, not on <body>.
  useEffect(() => {
    if (document.activeElement === document.body || document.activeElement === null) filterRef.current?.focus()
  }, [])

  // Ctrl/Cmd+1..3 switch views, Ctrl/Cmd+K opens the quick switcher, from anywhere.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey) return
      const i = ['1', '2', '3'].indexOf(e.key)
      if (i >= 0) {
        e.preventDefault()
        setView(VIEWS[i].id)
      } else if (e.key.toLowerCase() === 'k') {
        e.preventDefault()
        returnFocus.current = document.activeElement as HTMLElement | null
        setSwitcher(true)
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [])

  const openRoom = () => {
    setView('chat')
    setRoomScreen(true)
  }
  const showList = twoPane || (view === 'chat' && !roomScreen)
  const showMain = twoPane || !showList

  return (
    <div className="flex h-full flex-col bg-white text-slate-900 dark:bg-slate-900 dark:text-slate-100">
      <ConnectionBanner session={session} connection={state.connection} />
      <header className="flex min-w-0 items-center gap-2 border-b border-slate-200 px-2 py-2 sm:gap-4 sm:px-4 dark:border-slate-700">
        <h1 className="sr-only shrink-0 text-lg font-semibold md:not-sr-only">Group chat</h1>
        <p className="min-w-0 truncate text-sm text-slate-600 dark:text-slate-300" aria-label="Signed in as">
          {state.chat.self ? (
            <>
              <span className="font-medium text-slate-900 dark:text-slate-100">{state.chat.self.user}</span> on{' '}
              <span className="hidden sm:inline">node </span>
              <span className="font-medium text-slate-900 dark:text-slate-100">{state.chat.self.nodeName}</span>
            </>
          ) : (
            'connecting…'
          )}
        </p>
        <nav aria-label="Views" className="ml-auto flex shrink-0 gap-1">
          {VIEWS.map((v, i) => (
            <button
              key={v.id}
              type="button"
              aria-current={view === v.id ? 'page' : undefined}
              aria-keyshortcuts={`Control+${i + 1}`}
              onClick={() => {
                setView(v.id)
                if (v.id === 'chat' && view === 'chat') setRoomScreen(false)
              }}
              className={`rounded-md px-2 py-1.5 text-sm font-medium focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500 sm:px-3 dark:focus-visible:outline-indigo-300 ${
                view === v.id
                  ? 'bg-indigo-600 text-white'
                  : 'text-slate-700 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800'
              }`}
            >
              {v.label}
              {v.id === 'chat' && unread > 0 ? <span className="sr-only"> ({unread} unread)</span> : null}
            </button>
          ))}
        </nav>
      </header>
      <Notices session={session} notices={state.chat.notices} />
      <main className="flex min-h-0 flex-1">
        {showList && (
          <Sidebar session={session} state={state} onOpenRoom={openRoom} filterRef={filterRef} className={twoPane ? 'w-72' : 'w-full'} />
        )}
        {showMain && (
          <div className="flex min-w-0 flex-1 flex-col">
            {view === 'chat' && (
              <ChatView
                session={session}
                state={state}
                details={details}
                onDetails={(on) => {
                  saveDetails(on)
                  setDetailsChoice(on)
                }}
                onBack={twoPane ? undefined : () => setRoomScreen(false)}
              />
            )}
            {view === 'settings' && <SettingsView session={session} state={state} />}
            {view === 'cluster' && <ClusterView session={session} state={state} />}
          </div>
        )}
      </main>
      {switcher && (
        <QuickSwitcher
          chat={state.chat}
          onClose={() => {
            setSwitcher(false)
            returnFocus.current?.focus()
          }}
          onPick={(roomId) => {
            setSwitcher(false)
            session.dispatch({ type: 'room.select', roomId })
            openRoom()
          }}
        />
      )}
    </div>
  )
}
