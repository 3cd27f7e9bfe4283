import { useMemo, useState } from 'react'
import type { ChatState } from '../state/chat-state'
import { naturalCompare } from '../state/message-format'

/**
 * Ctrl/Cmd+K: type part of a room's name, arrows to choose, Enter to open (docs/ui.md, "Room list").
 * A modal dialog: Escape or a click outside closes it and focus returns where it was.
 */
export function QuickSwitcher({ chat, onPick, onClose }: { chat: ChatState; onPick: (roomId: string) => void; onClose: () => void }) {
  const [q, setQ] = useState('')
  const [sel, setSel] = useState(0)
  const matches = useMemo(() => {
    const needle = q.trim().toLowerCase()
    return Object.values(chat.rooms)
      .filter((r) => !needle || r.info.name.toLowerCase().includes(needle))
      .sort((a, b) => Number(b.joined) - Number(a.joined) || naturalCompare(a.info.name, b.info.name))
      .slice(0, 50)
  }, [chat.rooms, q])
  const at = Math.min(sel, Math.max(0, matches.length - 1))
  return (
    <div className="fixed inset-0 z-50 flex items-start justify-center bg-slate-900/40 p-4 pt-[12vh]" onClick={onClose}>
      <div
        role="dialog"
        aria-modal="true"
        aria-label="Jump to a room"
        onClick={(e) => e.stopPropagation()}
        className="w-full max-w-md rounded-xl border border-slate-200 bg-white p-3 shadow-2xl dark:border-slate-700 dark:bg-slate-900"
      >
        <input
          autoFocus
          role="combobox"
          aria-label="Room name"
          aria-expanded="true"
          aria-controls="qs-list"
          aria-activedescendant={matches[at] ? `qs-${matches[at].info.roomId}` : undefined}
          placeholder="Jump to a room…"
          value={q}
          onChange={(e) => {
            setQ(e.target.value)
            setSel(0)
          }}
          onKeyDown={(e) => {
            if (e.key === 'Escape') onClose()
            else if (e.key === 'ArrowDown') {
              e.preventDefault()
              setSel((at + 1) % Math.max(1, matches.length))
            } else if (e.key === 'ArrowUp') {
              e.preventDefault()
              setSel((at - 1 + matches.length) % Math.max(1, matches.length))
            } else if (e.key === 'Enter' && matches[at]) {
              e.preventDefault()
              onPick(matches[at].info.roomId)
            }
          }}
          className="w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm placeholder:text-slate-500 dark:border-slate-600 dark:bg-slate-800 dark:placeholder:text-slate-400"
        />
        <ul id="qs-list" role="listbox" aria-label="Rooms" className="mt-2 max-h-80 overflow-y-auto">
          {matches.length === 0 && <li className="p-2 text-sm text-slate-600 dark:text-slate-300">No room matches.</li>}
          {matches.map((r, i) => (
            <li
              key={r.info.roomId}
              id={`qs-${r.info.roomId}`}
              role="option"
              aria-selected={i === at}
              onClick={() => onPick(r.info.roomId)}
              className={`flex cursor-pointer items-center gap-2 rounded-md px-2 py-1.5 text-sm ${i === at ? 'bg-indigo-100 text-indigo-950 dark:bg-indigo-900 dark:text-indigo-50' : ''}`}
            >
              <span className="flex-1 truncate">#{r.info.name}</span>
              <span className="shrink-0 text-xs text-slate-600 dark:text-slate-300">
                {r.info.adminNodeName}
                {r.joined ? '' : ' · not joined'}
                {r.info.available ? '' : ' · unavailable'}
              </span>
            </li>
          ))}
        </ul>
      </div>
    </div>
  )
}
