import { Fragment, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react'
import { useVirtualizer } from '@tanstack/react-virtual'
import type { Session } from '../net/session'
import type { PendingMessage, PendingStatus, RoomState, TimelineItem } from '../state/chat-state'
import { timeline } from '../state/chat-state'
import { continuesGroup, dayLabel, exactTime, parseMessage, relativeTime, sameDay, type Segment } from '../state/message-format'
import { userLabel } from '../state/identity'
import { UserName } from './UserName'

/** Where the user left each room's list (this page only): reopening a room puts them back there. */
const scrollMemory = new Map<string, { atBottom: boolean; key?: string; offset: number }>()

export interface ListOptions {
  /** seq on every message ("protocol details"); the sender's node is always shown (docs/ui.md, "Who is who"). */
  details: boolean
  /** The signed-in user, whose @mentions are highlighted. */
  self?: string
  /** The node the signed-in user is on (their own messages, still pending, are theirs on it). */
  selfNodeId?: string
}

/** Times are relative ("5 min ago"): re-rendered every half minute. */
function useNow(everyMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs)
    return () => clearInterval(t)
  }, [everyMs])
  return now
}

function authorOf(item: TimelineItem, selfNodeId?: string) {
  return item.kind === 'message'
    ? { user: item.message.user, nodeId: item.message.nodeId, at: item.message.sentAt }
    : { user: item.pending.user, nodeId: selfNodeId ?? 'self', at: item.pending.createdAt }
}

/**
 * The message list (docs/ui.md, "Message list"), virtualized so a room with 10,000 messages renders
 * only what is on screen. Rows have variable height, so each is measured. It sticks to the bottom
 * while the user is there, stays put when they scrolled up, and remembers where they were per room.
 *
 * The scroll container is a log with aria-live off: the virtualizer inserts old messages when the
 * user scrolls up, which a live region would read out as if new. New messages from others are
 * announced by a separate, visually hidden live region instead.
 */
export function MessageList({ session, room, names, options }: { session: Session; room: RoomState; names: Map<string, string>; options: ListOptions }) {
  // Rebuilt only when the messages or pending list change, not on every unrelated state change.
  const items = useMemo(() => timeline(room), [room.messages, room.pending]) // eslint-disable-line react-hooks/exhaustive-deps
  const now = useNow()
  const scrollRef = useRef<HTMLDivElement>(null)
  const roomId = room.info.roomId
  const remembered = scrollMemory.get(roomId)
  const atBottom = useRef(remembered?.atBottom ?? true)
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 44,
    overscan: 12,
    getItemKey: (i) => keyOf(items[i]),
  })

  // Open the room where the user left it, else at the newest message.
  useEffect(() => {
    const r = scrollMemory.get(roomId)
    const i = r && !r.atBottom && r.key ? items.findIndex((it) => keyOf(it) === r.key) : -1
    if (i >= 0) {
      atBottom.current = false
      virtualizer.scrollToIndex(i, { align: 'start' })
      requestAnimationFrame(() => {
        if (scrollRef.current && r) scrollRef.current.scrollTop += r.offset
      })
    } else {
      atBottom.current = true
      if (items.length > 0) virtualizer.scrollToIndex(items.length - 1, { align: 'end' })
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [roomId])

  useLayoutEffect(() => {
    if (atBottom.current && items.length > 0) virtualizer.scrollToIndex(items.length - 1, { align: 'end' })
  }, [items.length, virtualizer])

  // The newest message from someone else, for the screen-reader announcement.
  const last = room.messages[room.messages.length - 1]
  const announce = last && !(last.user === options.self && last.nodeId === options.selfNodeId) ? `${userLabel(last.user, last.nodeId, names).text}: ${last.text.slice(0, 300)}` : ''

  return (
    <>
      <div
        ref={scrollRef}
        role="log"
        aria-live="off"
        aria-label={`Messages in ${room.info.name}`}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40
          const first = virtualizer.getVirtualItems().find((v) => v.end > el.scrollTop)
          scrollMemory.set(roomId, {
            atBottom: atBottom.current,
            key: first ? String(first.key) : undefined,
            offset: first ? el.scrollTop - first.start : 0,
          })
        }}
        className="min-h-0 flex-1 overflow-x-hidden overflow-y-auto py-2 focus-visible:outline-2 focus-visible:-outline-offset-2 focus-visible:outline-indigo-500 dark:focus-visible:outline-indigo-300"
      >
        {items.length === 0 ? (
          <p className="p-6 text-center text-sm text-slate-600 dark:text-slate-300">No messages yet. Say hello!</p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative', width: '100%' }}>
            {virtualizer.getVirtualItems().map((v) => {
              const item = items[v.index]
              const prev = v.index > 0 ? items[v.index - 1] : undefined
              const cur = authorOf(item, options.selfNodeId)
              const newDay = !prev || !sameDay(authorOf(prev, options.selfNodeId).at, cur.at)
              const grouped = !newDay && continuesGroup(prev && authorOf(prev, options.selfNodeId), cur)
              return (
                <div
                  key={v.key}
                  data-index={v.index}
                  ref={virtualizer.measureElement}
                  style={{ position: 'absolute', top: 0, left: 0, width: '100%', transform: `translateY(${v.start}px)` }}
                >
                  {newDay && <DaySeparator at={cur.at} now={now} />}
                  <Row session={session} item={item} names={names} grouped={grouped} now={now} options={options} />
                </div>
              )
            })}
          </div>
        )}
      </div>
      <div aria-live="polite" className="sr-only">
        {announce}
      </div>
    </>
  )
}

function DaySeparator({ at, now }: { at: number; now: number }) {
  return (
    <div role="separator" aria-label={dayLabel(at, now)} className="flex items-center gap-3 px-4 pt-3 pb-1 text-xs font-semibold text-slate-600 dark:text-slate-300">
      <span aria-hidden className="h-px flex-1 bg-slate-200 dark:bg-slate-700" />
      <span aria-hidden>{dayLabel(at, now)}</span>
      <span aria-hidden className="h-px flex-1 bg-slate-200 dark:bg-slate-700" />
    </div>
  )
}

const PENDING_LABEL: Record<PendingStatus, (p: PendingMessage) => string> = {
  pending: () => 'sending',
  sent: (p) => `sent as ${p.seq}`,
  failed: () => 'failed',
  waiting: () => 'waiting for the administrator',
}

function keyOf(item: TimelineItem): string {
  return item.kind === 'message' ? `m${item.message.seq}` : `p${item.pending.clientMsgId}`
}

function When({ at, now }: { at: number; now: number }) {
  return (
    <time dateTime={new Date(at).toISOString()} title={exactTime(at)} className="text-xs text-slate-600 dark:text-slate-300">
      {relativeTime(at, now)}
    </time>
  )
}

/** Message text: links open outside the app (the desktop shell hands them to the system browser). */
export function MessageText({ text, self }: { text: string; self?: string }) {
  const segs = useMemo(() => parseMessage(text, self), [text, self])
  return (
    <div className="text-sm break-words whitespace-pre-wrap">
      {segs.map((s, i) => (
        <Fragment key={i}>{renderSegment(s)}</Fragment>
      ))}
    </div>
  )
}

function renderSegment(s: Segment) {
  switch (s.kind) {
    case 'text':
      return s.text
    case 'link':
      return (
        <a href={s.href} target="_blank" rel="noopener noreferrer" className="break-all text-indigo-700 underline hover:text-indigo-900 dark:text-indigo-300 dark:hover:text-indigo-200">
          {s.text}
        </a>
      )
    case 'code':
      return <code className="rounded bg-slate-100 px-1 py-0.5 font-mono text-[0.85em] text-rose-800 dark:bg-slate-800 dark:text-rose-200">{s.text}</code>
    case 'codeblock':
      return (
        <pre tabIndex={0} className="my-1 overflow-x-auto rounded-md border border-slate-200 bg-slate-50 p-2 font-mono text-xs whitespace-pre text-slate-900 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-100">
          <code>{s.text}</code>
        </pre>
      )
    case 'mention':
      return s.self ? (
        <mark className="rounded bg-amber-200 px-0.5 font-semibold text-amber-950 dark:bg-amber-400/30 dark:text-amber-100">{s.text}</mark>
      ) : (
        <span className="font-semibold text-indigo-700 dark:text-indigo-300">{s.text}</span>
      )
  }
}

function Row({
  session,
  item,
  names,
  grouped,
  now,
  options,
}: {
  session: Session
  item: TimelineItem
  names: Map<string, string>
  grouped: boolean
  now: number
  options: ListOptions
}) {
  if (item.kind === 'message') {
    const m = item.message
    const author = userLabel(m.user, m.nodeId, names)
    const mentioned = options.self !== undefined && parseMessage(m.text, options.self).some((s) => s.kind === 'mention' && s.self) && !(m.user === options.self && m.nodeId === options.selfNodeId)
    return (
      <article
        aria-label={`Message ${m.seq} from ${author.text}`}
        className={`group relative px-4 ${grouped ? 'py-0.5' : 'pt-2 pb-0.5'} ${
          mentioned ? 'border-l-4 border-amber-400 bg-amber-50 dark:bg-amber-950/40' : 'hover:bg-slate-50 dark:hover:bg-slate-800/50'
        }`}
      >
        {grouped ? (
          <span className="sr-only">{author.text}</span>
        ) : (
          <header className="flex min-w-0 items-baseline gap-2">
            <UserName user={m.user} nodeId={m.nodeId} names={names} className="text-sm" />
            <When at={m.sentAt} now={now} />
          </header>
        )}
        <div className="flex items-start gap-2">
          <div className="min-w-0 flex-1">
            <MessageText text={m.text} self={options.self} />
          </div>
          {grouped && (
            <span className="invisible shrink-0 group-hover:visible group-focus-within:visible">
              <When at={m.sentAt} now={now} />
            </span>
          )}
          {options.details && (
            <span className="shrink-0 font-mono text-xs text-slate-600 dark:text-slate-300" title="sequence number given by the room's administrator">
              #{m.seq}
            </span>
          )}
        </div>
      </article>
    )
  }
  const p = item.pending
  return (
    <article
      aria-label={`Your message, ${PENDING_LABEL[p.status](p)}`}
      className={`px-4 ${grouped ? 'py-0.5' : 'pt-2 pb-0.5'} ${
        p.status === 'failed' ? 'bg-red-50 dark:bg-red-950/40' : p.status === 'waiting' ? 'bg-amber-50 dark:bg-amber-950/40' : ''
      }`}
    >
      <header className={`flex min-w-0 items-baseline gap-2 ${grouped ? 'sr-only' : ''}`}>
        {options.selfNodeId ? (
          <UserName user={p.user} nodeId={options.selfNodeId} names={names} className="text-sm" />
        ) : (
          <span className="truncate text-sm font-semibold text-slate-900 dark:text-slate-100">{p.user}</span>
        )}
        <When at={p.createdAt} now={now} />
      </header>
      <div className="flex items-start gap-2">
        <div className={`min-w-0 flex-1 ${p.status === 'pending' || p.status === 'sent' ? 'text-slate-600 dark:text-slate-300' : ''}`}>
          <MessageText text={p.text} self={options.self} />
        </div>
        <span className="shrink-0 font-mono text-xs text-slate-600 dark:text-slate-300" title={p.status === 'waiting' ? p.error : undefined}>
          {p.status === 'pending' ? 'sending…' : p.status === 'sent' ? (options.details ? `#${p.seq}` : 'sent') : p.status === 'waiting' ? 'waiting for the administrator…' : 'not sent'}
        </span>
      </div>
      {p.status === 'waiting' && (
        <p role="status" className="mt-1 text-xs text-amber-900 dark:text-amber-200">
          The administrator did not confirm it before it paused or went away, and may still order it. It is sent again by
          itself when the room is back (never twice).
        </p>
      )}
      {p.status === 'failed' && (
        <div className="mt-1 flex flex-wrap items-center gap-3 text-xs text-red-700 dark:text-red-300">
          <span role="alert">{p.error}</span>
          <button type="button" className="underline focus-visible:outline-2 focus-visible:outline-indigo-500" onClick={() => void session.retry(p.roomId, p.clientMsgId)}>
            Retry
          </button>
          <button
            type="button"
            className="underline focus-visible:outline-2 focus-visible:outline-indigo-500"
            onClick={() => session.dispatch({ type: 'pending.dismiss', roomId: p.roomId, clientMsgId: p.clientMsgId })}
          >
            Discard
          </button>
        </div>
      )}
    </article>
  )
}
