import { useRef, useState, type KeyboardEvent } from 'react'
import type React from 'react'
import { MAX_ROOM_NAME_CHARS } from '../../../proto/client-protocol'
import type { Session, SessionState } from '../net/session'
import { roomsByAdmin, unreadCount } from '../state/chat-state'
import { nodeLabel } from '../state/identity'
import { nodeNames } from '../use-session'

/** Rooms grouped by administrator node, with availability and unread counts (docs/ui.md). */
export function Sidebar({
  session,
  state,
  onOpenRoom,
  className = '',
  filterRef,
}: {
  session: Session
  state: SessionState
  onOpenRoom: () => void
  className?: string
  filterRef?: React.Ref<HTMLInputElement>
}) {
  const [name, setName] = useState('')
  const [filter, setFilter] = useState('')
  const [busy, setBusy] = useState(false)
  const listRef = useRef<HTMLDivElement>(null)
  const needle = filter.trim().toLowerCase()
  const groups = roomsByAdmin(state.chat)
    .map((g) => ({ ...g, rooms: needle ? g.rooms.filter((r) => r.info.name.toLowerCase().includes(needle)) : g.rooms }))
    .filter((g) => g.rooms.length > 0)
  const peerState = new Map(state.peers.peers.map((p) => [p.nodeId, p.state]))
  const selfId = state.chat.self?.nodeId
  // Two nodes may share a name: a shared one shows the start of each node's id (state/identity.ts).
  const names = nodeNames(state)

  // Arrow keys move between rooms, like a list (Tab still leaves the list).
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return
    const buttons = [...(listRef.current?.querySelectorAll<HTMLButtonElement>('button[data-room]') ?? [])]
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement)
    if (i < 0) return
    e.preventDefault()
    buttons[(i + (e.key === 'ArrowDown' ? 1 : buttons.length - 1)) % buttons.length]?.focus()
  }

  return (
    <nav
      aria-label="Rooms"
      className={`flex min-h-0 shrink-0 flex-col border-slate-200 bg-slate-50 sm:border-r dark:border-slate-700 dark:bg-slate-950 ${className}`}
    >
      <form
        className="flex gap-2 border-b border-slate-200 p-3 dark:border-slate-700"
        onSubmit={async (e) => {
          e.preventDefault()
          const n = name.trim()
          if (!n || busy) return
          setBusy(true)
          const id = await session.createRoom(n)
          setBusy(false)
          if (id) {
            setName('')
            session.dispatch({ type: 'room.select', roomId: id })
            onOpenRoom()
          }
        }}
      >
        <input
          aria-label="New room name"
          placeholder="New room"
          maxLength={MAX_ROOM_NAME_CHARS}
          value={name}
          onChange={(e) => setName(e.target.value)}
          className="min-w-0 flex-1 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-800"
        />
        <button
          type="submit"
          disabled={!name.trim() || busy}
          className="rounded-md bg-indigo-600 px-2 py-1 text-sm font-medium text-white hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:opacity-50 dark:focus-visible:outline-indigo-300"
        >
          Create room
        </button>
      </form>
      <div className="border-b border-slate-200 px-3 py-2 dark:border-slate-700">
        <input
          ref={filterRef}
          type="search"
          aria-label="Filter rooms"
          aria-keyshortcuts="Control+K"
          placeholder="Filter rooms (Ctrl+K: jump to a room)"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          className="w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm placeholder:text-slate-500 dark:border-slate-600 dark:bg-slate-800 dark:placeholder:text-slate-400"
        />
      </div>
      <div ref={listRef} onKeyDown={onKeyDown} className="min-h-0 flex-1 overflow-y-auto p-2">
        {groups.length === 0 && (
          <p className="p-2 text-sm text-slate-600 dark:text-slate-300">{needle ? `No room matches “${filter.trim()}”.` : 'No rooms yet.'}</p>
        )}
        {groups.map((g) => {
          const st = g.adminNodeId === selfId ? (state.connection.status === 'open' ? 'alive' : 'suspect') : (peerState.get(g.adminNodeId) ?? (g.rooms.every((r) => !r.info.available) ? 'dead' : 'alive'))
          return (
            <section key={g.adminNodeId} aria-label={`Rooms administered by ${nodeLabel(g.adminNodeId, names).text}`} className="mb-3">
              <h2 className="flex items-center gap-2 px-2 py-1 text-xs font-semibold text-slate-600 dark:text-slate-300">
                <StateDot state={st} />
                <span title={`node id ${g.adminNodeId}`}>{nodeLabel(g.adminNodeId, names).text}</span>
                {g.adminNodeId === selfId && <span className="font-normal">(this node)</span>}
              </h2>
              <ul>
                {g.rooms.map((r) => {
                  const unread = unreadCount(r)
                  const active = state.chat.activeRoomId === r.info.roomId
                  // The accessible name contains the visible words in their order ("lab unavailable 3"),
                  // so voice control users can say what they see (WCAG 2.5.3).
                  const tags = [r.info.available ? null : 'unavailable', r.info.frozen ? 'frozen' : null].filter(Boolean)
                  const label = [`Room ${r.info.name}`, ...tags, unread > 0 ? `${unread} unread` : null].filter(Boolean).join(' ')
                  const status = [
                    r.joined ? 'joined' : 'not joined',
                    !r.info.available ? `its administrator ${r.info.adminNodeName} is unreachable` : null,
                  ]
                    .filter(Boolean)
                    .join(', ')
                  return (
                    <li key={r.info.roomId}>
                      <button
                        type="button"
                        data-room={r.info.roomId}
                        aria-label={label}
                        aria-description={status}
                        aria-current={active ? 'true' : undefined}
                        onClick={() => {
                          session.dispatch({ type: 'room.select', roomId: r.info.roomId })
                          onOpenRoom()
                        }}
                        className={`flex w-full items-center gap-2 rounded-md px-2 py-1.5 text-left text-sm focus-visible:outline-2 focus-visible:outline-indigo-500 dark:focus-visible:outline-indigo-300 ${
                          active ? 'bg-indigo-100 dark:bg-indigo-900/60' : 'hover:bg-slate-200/70 dark:hover:bg-slate-800'
                        }`}
                      >
                        <span aria-hidden className={r.joined ? 'text-slate-600 dark:text-slate-300' : 'text-slate-500 dark:text-slate-400'}>
                          #
                        </span>
                        <span
                          className={`flex-1 truncate ${r.joined ? 'font-semibold text-slate-900 dark:text-slate-50' : 'text-slate-600 italic dark:text-slate-300'} ${
                            r.info.available ? '' : 'line-through decoration-slate-400/70'
                          }`}
                        >
                          {r.info.name}
                        </span>
                        {!r.info.available && <span className="text-xs text-red-700 dark:text-red-300">unavailable</span>}
                        {r.info.frozen && <span className="text-xs text-amber-800 dark:text-amber-300">frozen</span>}
                        {unread > 0 && (
                          <span className="min-w-5 rounded-full bg-indigo-600 px-1.5 text-center text-xs font-semibold text-white">{unread}</span>
                        )}
                      </button>
                    </li>
                  )
                })}
              </ul>
            </section>
          )
        })}
      </div>
    </nav>
  )
}

export function StateDot({ state }: { state: 'alive' | 'suspect' | 'dead' }) {
  const color = state === 'alive' ? 'bg-emerald-500' : state === 'suspect' ? 'bg-amber-500' : 'bg-red-500'
  return <span aria-label={state} role="img" className={`inline-block h-2 w-2 rounded-full ${color}`} />
}
