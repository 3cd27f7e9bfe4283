import { useEffect, useState } from 'react'
import type { Session } from './net/session'
import { totalUnread } from './state/chat-state'
import { useSessionState } from './use-session'
import { ConnectionBanner } from './components/ConnectionBanner'
import { Sidebar } from './components/Sidebar'
import { ChatView } from './components/ChatView'
import { SettingsView } from './components/SettingsView'
import { ClusterView } from './components/ClusterView'
import { Notices } from './components/Notices'

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

  useEffect(() => {
    const self = state.chat.self
    document.title = `${unread > 0 ? `(${unread}) ` : ''}Group chat${self ? ` · ${self.user} on ${self.nodeName}` : ''}`
  }, [unread, state.chat.self])

  // Ctrl/Cmd+1..3 switch views from anywhere (keyboard navigation, docs/ui.md).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey) return
      const i = ['1', '2', '3'].indexOf(e.key)
      if (i >= 0) {
        e.preventDefault()
        setView(VIEWS[i].id)
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [])

  return (
    <div className="flex h-full flex-col bg-white text-slate-900 dark:bg-slate-900 dark:text-slate-100">
      <ConnectionBanner session={session} connection={state.connection} />
      <header className="flex items-center gap-4 border-b border-slate-200 px-4 py-2 dark:border-slate-700">
        <h1 className="text-lg font-semibold">Group chat</h1>
        <p className="text-sm text-slate-600 dark:text-slate-400" aria-label="Signed in as">
          {state.chat.self ? (
            <>
              <span className="font-medium text-slate-900 dark:text-slate-100">{state.chat.self.user}</span> on node{' '}
              <span className="font-medium text-slate-900 dark:text-slate-100">{state.chat.self.nodeName}</span>
            </>
          ) : (
            'connecting…'
          )}
        </p>
        <nav aria-label="Views" className="ml-auto flex gap-1">
          {VIEWS.map((v, i) => (
            <button
              key={v.id}
              type="button"
              aria-current={view === v.id ? 'page' : undefined}
              aria-keyshortcuts={`Control+${i + 1}`}
              onClick={() => setView(v.id)}
              className={`rounded-md px-3 py-1.5 text-sm font-medium focus-visible:outline-2 focus-visible:outline-indigo-500 ${
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
      <div className="flex min-h-0 flex-1">
        <Sidebar
          session={session}
          state={state}
          onOpenRoom={() => setView('chat')}
        />
        <main className="flex min-w-0 flex-1 flex-col">
          {view === 'chat' && <ChatView session={session} state={state} />}
          {view === 'settings' && <SettingsView session={session} state={state} />}
          {view === 'cluster' && <ClusterView session={session} state={state} />}
        </main>
      </div>
      <Notices session={session} notices={state.chat.notices} />
    </div>
  )
}
