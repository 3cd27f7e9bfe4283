import { useEffect, useRef, useState } from 'react'
import { MAX_TEXT_CHARS } from '../../../proto/client-protocol'
import type { Session, SessionState } from '../net/session'
import type { RoomState } from '../state/chat-state'
import { canDeleteRoom } from '../state/permissions'
import { nodeNames } from '../use-session'
import { MessageList } from './MessageList'

export function ChatView({ session, state }: { session: Session; state: SessionState }) {
  const room = state.chat.activeRoomId ? state.chat.rooms[state.chat.activeRoomId] : undefined
  const names = nodeNames(state)
  if (!room) {
    const gone = state.chat.deletedActive
    if (gone) {
      const d = gone.deletion
      const votes = d ? Object.entries(d.votes) : []
      return (
        <section aria-label={`Room ${gone.name} deleted`} className="flex flex-1 items-center justify-center p-8">
          <div className="max-w-lg rounded-lg border border-violet-200 bg-violet-50 p-5 text-sm text-violet-950 dark:border-violet-800 dark:bg-violet-950/60 dark:text-violet-100">
            <h2 className="mb-2 text-base font-semibold">Room “{gone.name}” was deleted</h2>
            {d && d.phases.length > 0 ? (
              <>
                <p>Its administrator decided it with a two-phase commit:</p>
                <ol aria-label="Deletion phases" className="my-2 flex flex-wrap items-center gap-2">
                  {d.phases.map((p, i) => (
                    <li key={p} className="flex items-center gap-2">
                      {i > 0 && <span aria-hidden>→</span>}
                      <span className="rounded bg-violet-200 px-2 py-0.5 font-mono text-xs font-semibold text-violet-950 dark:bg-violet-800 dark:text-violet-50">
                        {p}
                      </span>
                    </li>
                  ))}
                </ol>
                {votes.length > 0 && (
                  <p>
                    Votes: {votes.map(([node, v]) => `${names.get(node) ?? node.slice(0, 8)} ${v}`).join(', ')}.
                  </p>
                )}
              </>
            ) : (
              <p>It was removed on every node.</p>
            )}
            <p className="mt-2 text-violet-800 dark:text-violet-200">Its messages are gone. Pick another room on the left, or create one.</p>
          </div>
        </section>
      )
    }
    return (
      <div className="flex flex-1 items-center justify-center p-8 text-center text-slate-500 dark:text-slate-400">
        <p>Pick a room on the left, or create one. Rooms are grouped by the node that administers them.</p>
      </div>
    )
  }
  return (
    <RoomPane
      key={room.info.roomId}
      session={session}
      room={room}
      names={names}
      canDelete={canDeleteRoom(room.info, state.chat.self)}
      offline={state.connection.status !== 'open'}
    />
  )
}

function RoomPane({
  session,
  room,
  names,
  canDelete,
  offline,
}: {
  session: Session
  room: RoomState
  names: Map<string, string>
  canDelete: boolean
  offline: boolean
}) {
  const [confirmDelete, setConfirmDelete] = useState(false)
  const [showMembers, setShowMembers] = useState(true)
  const info = room.info
  return (
    <section aria-label={`Room ${info.name}`} className="flex min-h-0 flex-1">
      <div className="flex min-w-0 flex-1 flex-col">
        <header className="flex flex-wrap items-center gap-2 border-b border-slate-200 px-4 py-2 dark:border-slate-700">
          <h2 className="text-base font-semibold">#{info.name}</h2>
          <span className="text-xs text-slate-500 dark:text-slate-400">
            administered by {info.adminNodeName} · {info.memberCount} member{info.memberCount === 1 ? '' : 's'}
          </span>
          <div className="ml-auto flex gap-2">
            {room.joined ? (
              <>
                <Btn onClick={() => setShowMembers((v) => !v)} pressed={showMembers}>
                  Members
                </Btn>
                <Btn onClick={() => void session.leave(info.roomId)}>Leave room</Btn>
              </>
            ) : (
              <Btn primary onClick={() => void session.join(info.roomId)}>
                Join room
              </Btn>
            )}
            {canDelete &&
              (confirmDelete ? (
                <>
                  <Btn
                    danger
                    onClick={() => {
                      setConfirmDelete(false)
                      void session.deleteRoom(info.roomId)
                    }}
                  >
                    Confirm delete
                  </Btn>
                  <Btn onClick={() => setConfirmDelete(false)}>Cancel</Btn>
                </>
              ) : (
                <Btn danger onClick={() => setConfirmDelete(true)} disabled={info.frozen}>
                  Delete room
                </Btn>
              ))}
          </div>
        </header>
        <RoomBanners room={room} names={names} />
        {room.joined ? (
          <>
            <MessageList session={session} room={room} names={names} />
            <Composer session={session} room={room} offline={offline} />
          </>
        ) : (
          <div className="flex flex-1 items-center justify-center p-8 text-slate-500">
            <p>Join this room to read and send its messages.</p>
          </div>
        )}
      </div>
      {room.joined && showMembers && (
        <aside aria-label="Members" className="w-56 shrink-0 overflow-y-auto border-l border-slate-200 p-3 text-sm dark:border-slate-700">
          <h3 className="mb-2 text-xs font-semibold tracking-wide text-slate-500 uppercase">Members</h3>
          <ul className="space-y-1">
            {room.members.map((m) => (
              <li key={`${m.user}@${m.nodeId}`}>
                <span className="font-medium">{m.user}</span>{' '}
                <span className="text-slate-500 dark:text-slate-400">on {names.get(m.nodeId) ?? m.nodeId.slice(0, 8)}</span>
              </li>
            ))}
          </ul>
        </aside>
      )}
    </section>
  )
}

function RoomBanners({ room, names }: { room: RoomState; names: Map<string, string> }) {
  const d = room.deletion
  return (
    <>
      {!room.info.available && (
        <div role="alert" className="bg-red-100 px-4 py-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
          This room is unavailable: {room.unavailableReason ?? `its administrator node ${room.info.adminNodeName} is unreachable`}.
          Messages cannot be sent until it is back.
        </div>
      )}
      {d && (
        <div
          role="status"
          aria-label="Deletion progress"
          className={`px-4 py-2 text-sm ${
            d.phase === 'abort'
              ? 'bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-100'
              : 'bg-violet-100 text-violet-900 dark:bg-violet-950 dark:text-violet-100'
          }`}
        >
          <p>
            {d.phase === 'prepare'
              ? 'Room frozen: its deletion is being decided (two-phase commit).'
              : d.phase === 'commit'
                ? 'Deletion committed: the room is being removed.'
                : `Deletion aborted${d.reason ? `: ${d.reason}` : ''}. The room stays.`}
          </p>
          <p className="mt-1">
            Phases: {d.phases.join(' → ')}
            {Object.keys(d.votes).length > 0 && (
              <>
                {' · '}votes:{' '}
                {Object.entries(d.votes)
                  .map(([node, v]) => `${names.get(node) ?? node.slice(0, 8)} ${v}`)
                  .join(', ')}
              </>
            )}
          </p>
        </div>
      )}
      {room.mayHaveMissed && (
        <div role="status" className="bg-amber-50 px-4 py-2 text-sm text-amber-900 dark:bg-amber-950/60 dark:text-amber-100">
          Some messages sent while you were disconnected may be missing from this room.
        </div>
      )}
    </>
  )
}

function Composer({ session, room, offline }: { session: Session; room: RoomState; offline: boolean }) {
  const [text, setText] = useState('')
  const ref = useRef<HTMLTextAreaElement>(null)
  useEffect(() => ref.current?.focus(), [room.info.roomId])
  const send = () => {
    const t = text.trim()
    if (!t) return
    setText('')
    void session.send(room.info.roomId, t)
  }
  const blocked = offline
    ? 'Not connected to your node: reconnecting…'
    : !room.info.available
      ? 'The room is unavailable.' : room.info.frozen ? 'The room is frozen during its deletion.' : null
  return (
    <form
      aria-label="Send a message"
      className="flex items-end gap-2 border-t border-slate-200 p-3 dark:border-slate-700"
      onSubmit={(e) => {
        e.preventDefault()
        send()
      }}
    >
      <textarea
        ref={ref}
        aria-label="Message"
        aria-description="Enter sends, Shift+Enter starts a new line"
        rows={Math.min(6, Math.max(1, text.split('\n').length))}
        maxLength={MAX_TEXT_CHARS}
        placeholder={blocked ?? `Message #${room.info.name} (Enter sends, Shift+Enter new line)`}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault()
            send()
          }
        }}
        className="min-h-9 flex-1 resize-none rounded-md border border-slate-300 bg-white px-3 py-2 text-sm outline-none focus:border-indigo-500 focus:ring-2 focus:ring-indigo-500/30 dark:border-slate-600 dark:bg-slate-800 dark:focus:border-indigo-400"
      />
      <Btn primary type="submit" disabled={!text.trim()}>
        Send
      </Btn>
    </form>
  )
}

export function Btn({
  children,
  onClick,
  primary,
  danger,
  disabled,
  pressed,
  type = 'button',
  label,
}: {
  children: React.ReactNode
  onClick?: () => void
  primary?: boolean
  danger?: boolean
  disabled?: boolean
  pressed?: boolean
  type?: 'button' | 'submit'
  label?: string
}) {
  const tone = primary
    ? 'bg-indigo-600 text-white hover:bg-indigo-500'
    : danger
      ? 'border border-red-300 text-red-700 hover:bg-red-50 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950'
      : 'border border-slate-300 text-slate-700 hover:bg-slate-100 dark:border-slate-600 dark:text-slate-200 dark:hover:bg-slate-800'
  return (
    <button
      type={type}
      onClick={onClick}
      disabled={disabled}
      aria-pressed={pressed}
      aria-label={label}
      className={`rounded-md px-3 py-1.5 text-sm font-medium focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500 disabled:opacity-50 ${tone}`}
    >
      {children}
    </button>
  )
}
