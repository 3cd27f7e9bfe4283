import { useEffect, useRef, useState } from 'react'
import { MAX_MEMBER_PAGE, MAX_TEXT_CHARS } from '../../../proto/client-protocol'
import type { RoomPreview, Session, SessionState } from '../net/session'
import type { RoomState } from '../state/chat-state'
import { canDeleteRoom } from '../state/permissions'
import { nodeNames } from '../use-session'
import { useMediaQuery, WIDE } from '../use-media'
import { MessageList, MessageText, type ListOptions } from './MessageList'
import { UserName } from './UserName'
import { creatorText } from '../state/identity'

export interface ChatViewProps {
  session: Session
  state: SessionState
  /** seq and sender node on messages (the "protocol details" toggle, docs/ui.md). */
  details: boolean
  onDetails: (on: boolean) => void
  /** Narrow window: the room list is its own screen; this goes back to it. */
  onBack?: () => void
}

export function ChatView({ session, state, details, onDetails, onBack }: ChatViewProps) {
  const room = state.chat.activeRoomId ? state.chat.rooms[state.chat.activeRoomId] : undefined
  const names = nodeNames(state)
  const goneRef = useRef<HTMLHeadingElement>(null)
  const gone = !room ? state.chat.deletedActive : undefined
  // The room that had focus (Confirm delete) is gone: focus goes to what replaced it, not to <body>.
  useEffect(() => {
    if (gone && (document.activeElement === document.body || document.activeElement === null)) goneRef.current?.focus()
  }, [gone])
  if (!room) {
    if (gone) {
      const d = gone.deletion
      const votes = d ? Object.entries(d.votes) : []
      return (
        <section aria-label={`Room ${gone.name} deleted`} className="flex flex-1 flex-col">
          {onBack && <BackBar onBack={onBack} />}
          <div className="flex flex-1 items-center justify-center p-4 sm:p-8">
            <div className="max-w-lg rounded-lg border border-violet-200 bg-violet-50 p-5 text-sm text-violet-950 dark:border-violet-800 dark:bg-violet-950/60 dark:text-violet-100">
              <h2 ref={goneRef} tabIndex={-1} className="mb-2 text-base font-semibold focus:outline-none">
                Room “{gone.name}” was deleted
              </h2>
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
                  {votes.length > 0 && <p>Votes: {votes.map(([node, v]) => `${names.get(node) ?? node.slice(0, 8)} ${v}`).join(', ')}.</p>}
                </>
              ) : (
                <p>It was removed on every node.</p>
              )}
              <p className="mt-2 text-violet-800 dark:text-violet-200">Its messages are gone. Pick another room, or create one.</p>
            </div>
          </div>
        </section>
      )
    }
    return (
      <div className="flex flex-1 items-center justify-center p-4 text-center text-slate-600 sm:p-8 dark:text-slate-300">
        <p className="max-w-sm">Pick a room on the left, or create one. Rooms are grouped by the node that administers them.</p>
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
      preview={state.previews[room.info.roomId]}
      options={{ details, self: state.chat.self?.user, selfNodeId: state.chat.self?.nodeId }}
      onDetails={onDetails}
      onBack={onBack}
    />
  )
}

function BackBar({ onBack }: { onBack: () => void }) {
  return (
    <div className="border-b border-slate-200 px-2 py-1 dark:border-slate-700">
      <BackButton onBack={onBack} />
    </div>
  )
}

function BackButton({ onBack }: { onBack: () => void }) {
  return (
    <button
      type="button"
      onClick={onBack}
      aria-label="Back to rooms"
      className="shrink-0 rounded-md px-2 py-1.5 text-sm font-medium text-indigo-700 hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-500 dark:text-indigo-300 dark:hover:bg-slate-800 dark:focus-visible:outline-indigo-300"
    >
      <span aria-hidden>‹ </span>Rooms
    </button>
  )
}

function RoomPane({
  session,
  room,
  names,
  canDelete,
  offline,
  preview,
  options,
  onDetails,
  onBack,
}: {
  session: Session
  room: RoomState
  names: Map<string, string>
  canDelete: boolean
  offline: boolean
  preview?: RoomPreview
  options: ListOptions
  onDetails: (on: boolean) => void
  onBack?: () => void
}) {
  const wide = useMediaQuery(WIDE)
  const [confirmDelete, setConfirmDelete] = useState(false)
  // Open beside the chat on a wide window; a drawer, closed until asked for, on a narrow one.
  const [showMembers, setShowMembers] = useState(wide)
  const [menuOpen, setMenuOpen] = useState(false)
  const info = room.info
  const confirmRef = useRef<HTMLButtonElement>(null)
  const deleteRef = useRef<HTMLButtonElement>(null)
  const joinRef = useRef<HTMLButtonElement>(null)
  const membersBtn = useRef<HTMLButtonElement>(null)
  const refocus = useRef<'confirm' | 'delete' | 'join' | null>(null)

  // Keep focus on the control that replaced the one just used (never lost to <body>).
  useEffect(() => {
    const target = refocus.current === 'confirm' ? confirmRef : refocus.current === 'delete' ? deleteRef : refocus.current === 'join' ? joinRef : null
    if (target?.current) {
      target.current.focus()
      refocus.current = null
    }
  })

  // A room not joined: show its last messages (room.preview), read-only.
  const joined = room.joined
  useEffect(() => {
    if (!joined && info.available) void session.preview(info.roomId)
  }, [joined, info.available, info.roomId, session])

  const drawer = !wide
  const closeDrawer = () => {
    setShowMembers(false)
    membersBtn.current?.focus()
  }

  return (
    <section aria-label={`Room ${info.name}`} className="relative flex min-h-0 min-w-0 flex-1">
      <div className="flex min-w-0 flex-1 flex-col">
        <header className="relative flex min-w-0 flex-nowrap items-center gap-2 border-b border-slate-200 px-2 py-2 sm:px-4 dark:border-slate-700">
          {onBack && <BackButton onBack={onBack} />}
          <div className="min-w-0 flex-1">
            <h2 className="truncate text-base font-semibold">#{info.name}</h2>
            <p className="truncate text-xs text-slate-600 dark:text-slate-300">
              administered by {info.adminNodeName} · {info.memberCount} member{info.memberCount === 1 ? '' : 's'} · created by{' '}
              <span title={`node id ${info.createdBy.nodeId}`}>{creatorText(info.createdBy, names)}</span>
            </p>
          </div>
          {room.joined ? (
            <Btn
              onClick={() => setShowMembers((v) => !v)}
              pressed={showMembers}
              btnRef={membersBtn}
              controls={showMembers ? 'room-members' : undefined}
            >
              Members
            </Btn>
          ) : null}
          <button
            type="button"
            aria-label="Room actions"
            aria-expanded={menuOpen}
            onClick={() => setMenuOpen((v) => !v)}
            className="shrink-0 rounded-md border border-slate-300 px-2 py-1.5 text-sm font-medium text-slate-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500 sm:hidden dark:border-slate-600 dark:text-slate-200 dark:focus-visible:outline-indigo-300"
          >
            <span aria-hidden>⋯</span>
          </button>
          {/* Inline from 640 px; below, a menu under the ⋯ button (one set of controls either way). */}
          <div
            className={`${menuOpen ? 'flex' : 'hidden'} absolute top-full right-2 z-30 mt-1 flex-col gap-2 rounded-lg border border-slate-200 bg-white p-2 shadow-lg sm:static sm:z-auto sm:mt-0 sm:flex sm:flex-row sm:items-center sm:border-0 sm:bg-transparent sm:p-0 sm:shadow-none dark:border-slate-700 dark:bg-slate-900 sm:dark:bg-transparent`}
          >
            <Btn pressed={options.details} onClick={() => onDetails(!options.details)} title="Show each message's seq and sender node">
              Protocol details
            </Btn>
            {room.joined && (
              <Btn
                onClick={() => {
                  refocus.current = 'join'
                  setMenuOpen(false)
                  void session.leave(info.roomId)
                }}
              >
                Leave room
              </Btn>
            )}
            {canDelete &&
              (confirmDelete ? (
                <>
                  <Btn
                    danger
                    btnRef={confirmRef}
                    onClick={() => {
                      setConfirmDelete(false)
                      setMenuOpen(false)
                      void session.deleteRoom(info.roomId)
                    }}
                  >
                    Confirm delete
                  </Btn>
                  <Btn
                    onClick={() => {
                      refocus.current = 'delete'
                      setConfirmDelete(false)
                    }}
                  >
                    Cancel
                  </Btn>
                </>
              ) : (
                <Btn
                  danger
                  btnRef={deleteRef}
                  onClick={() => {
                    refocus.current = 'confirm'
                    setConfirmDelete(true)
                  }}
                  disabled={info.frozen}
                >
                  Delete room
                </Btn>
              ))}
          </div>
        </header>
        <RoomBanners room={room} names={names} />
        {room.joined ? (
          <>
            <MessageList session={session} room={room} names={names} options={options} />
            <Composer session={session} room={room} offline={offline} />
          </>
        ) : (
          <Preview session={session} room={room} names={names} preview={preview} options={options} joinRef={joinRef} />
        )}
      </div>
      {room.joined && showMembers && (
        <>
          {drawer && <div aria-hidden className="fixed inset-0 z-30 bg-slate-900/40" onClick={closeDrawer} />}
          <aside
            id="room-members"
            aria-label="Members"
            onKeyDown={(e) => {
              if (drawer && e.key === 'Escape') closeDrawer()
            }}
            className={
              drawer
                ? 'fixed inset-y-0 right-0 z-40 w-72 max-w-[85vw] overflow-y-auto border-l border-slate-200 bg-white p-3 text-sm shadow-xl dark:border-slate-700 dark:bg-slate-900'
                : 'w-56 shrink-0 overflow-y-auto border-l border-slate-200 p-3 text-sm dark:border-slate-700'
            }
          >
            <div className="mb-2 flex items-center">
              <h3 className="flex-1 text-xs font-semibold tracking-wide text-slate-600 uppercase dark:text-slate-300">Members</h3>
              {drawer && (
                <button
                  type="button"
                  autoFocus
                  onClick={closeDrawer}
                  className="rounded px-2 py-1 text-sm focus-visible:outline-2 focus-visible:outline-indigo-500 dark:focus-visible:outline-indigo-300"
                >
                  Close
                </button>
              )}
            </div>
            <ul className="space-y-1">
              {room.members.map((m) => (
                <li key={`${m.user}@${m.nodeId}`} className="flex min-w-0">
                  <UserName user={m.user} nodeId={m.nodeId} names={names} />
                </li>
              ))}
            </ul>
            {/* A large room lists its first members only (client-protocol.md §5, "Large rooms"): a
                list of a page or more; a smaller one is the whole room, whatever a lagging count says. */}
            {room.members.length >= MAX_MEMBER_PAGE && info.memberCount > room.members.length && (
              <p className="mt-2 flex items-center gap-2 text-xs text-slate-600 dark:text-slate-300">
                <span className="flex-1">and {info.memberCount - room.members.length} more</span>
                <button
                  type="button"
                  onClick={() => void session.moreMembers(info.roomId)}
                  className="rounded px-2 py-1 underline focus-visible:outline-2 focus-visible:outline-indigo-500 dark:focus-visible:outline-indigo-300"
                >
                  Show more
                </button>
              </p>
            )}
          </aside>
        </>
      )}
    </section>
  )
}

/** A room not joined: its last messages, read-only, and the way in (or why there is none). */
function Preview({
  session,
  room,
  names,
  preview,
  options,
  joinRef,
}: {
  session: Session
  room: RoomState
  names: Map<string, string>
  preview?: RoomPreview
  options: ListOptions
  joinRef: React.RefObject<HTMLButtonElement | null>
}) {
  const info = room.info
  const why = !info.available
    ? `You cannot join it now: its administrator node ${info.adminNodeName} is unreachable.`
    : info.frozen
      ? 'You cannot join it now: it is frozen while its deletion is decided.'
      : null
  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <section aria-label={`Preview of ${info.name}`} className="min-h-0 flex-1 overflow-y-auto px-4 py-3">
        <p className="mb-2 text-xs font-semibold tracking-wide text-slate-600 uppercase dark:text-slate-300">Preview · read-only</p>
        {preview?.loading && preview.messages.length === 0 ? (
          <p className="text-sm text-slate-600 dark:text-slate-300">Loading the last messages…</p>
        ) : preview?.error ? (
          <p className="text-sm text-slate-600 dark:text-slate-300">The last messages could not be loaded: {preview.error}</p>
        ) : !preview || preview.messages.length === 0 ? (
          <p className="text-sm text-slate-600 dark:text-slate-300">{info.available ? 'No messages yet.' : 'No preview while the room is unavailable.'}</p>
        ) : (
          <ol className="space-y-2" aria-label="Last messages">
            {preview.messages.map((m) => (
              <li key={m.seq}>
                <UserName user={m.user} nodeId={m.nodeId} names={names} className="text-sm" />
                <MessageText text={m.text} self={options.self} />
              </li>
            ))}
          </ol>
        )}
      </section>
      <div className="flex flex-wrap items-center gap-3 border-t border-slate-200 p-3 dark:border-slate-700">
        <p className="min-w-0 flex-1 text-sm text-slate-700 dark:text-slate-200">{why ?? 'Join to send messages and see new ones as they arrive.'}</p>
        <Btn primary btnRef={joinRef} disabled={why !== null} onClick={() => void session.join(info.roomId)}>
          Join room
        </Btn>
      </div>
    </div>
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
      className="flex items-end gap-2 border-t border-slate-200 p-2 sm:p-3 dark:border-slate-700"
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
        placeholder={blocked ?? `Message #${room.info.name}`}
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
  btnRef,
  controls,
  title,
}: {
  children: React.ReactNode
  onClick?: () => void
  primary?: boolean
  danger?: boolean
  disabled?: boolean
  pressed?: boolean
  type?: 'button' | 'submit'
  label?: string
  btnRef?: React.Ref<HTMLButtonElement>
  controls?: string
  title?: string
}) {
  const tone = primary
    ? 'bg-indigo-600 text-white hover:bg-indigo-500'
    : danger
      ? 'border border-red-300 text-red-700 hover:bg-red-50 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950'
      : pressed
        ? 'border border-indigo-400 bg-indigo-50 text-indigo-900 dark:border-indigo-400 dark:bg-indigo-950 dark:text-indigo-100'
        : 'border border-slate-300 text-slate-700 hover:bg-slate-100 dark:border-slate-600 dark:text-slate-200 dark:hover:bg-slate-800'
  return (
    <button
      ref={btnRef}
      type={type}
      onClick={onClick}
      disabled={disabled}
      aria-pressed={pressed}
      aria-label={label}
      aria-controls={controls}
      title={title}
      className={`shrink-0 rounded-md px-3 py-1.5 text-sm font-medium whitespace-nowrap focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500 disabled:opacity-50 dark:focus-visible:outline-indigo-300 ${tone}`}
    >
      {children}
    </button>
  )
}
