import { useEffect, useLayoutEffect, useMemo, useRef } from 'react'
import { useVirtualizer } from '@tanstack/react-virtual'
import type { Session } from '../net/session'
import type { PendingMessage, PendingStatus, RoomState, TimelineItem } from '../state/chat-state'
import { timeline } from '../state/chat-state'

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })

/**
 * The message list, virtualized so a room with 10,000 messages renders only what is on screen
 * (docs/ui.md). Rows have variable height (multi-line messages), so each row is measured.
 * It sticks to the bottom while the user is at the bottom, and stays put when they scrolled up.
 */
export function MessageList({ session, room, names }: { session: Session; room: RoomState; names: Map<string, string> }) {
  // Rebuilt only when the messages or pending list change, not on every unrelated state change.
  const items = useMemo(() => timeline(room), [room.messages, room.pending]) // eslint-disable-line react-hooks/exhaustive-deps
  const scrollRef = useRef<HTMLDivElement>(null)
  const atBottom = useRef(true)
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 56,
    overscan: 12,
    getItemKey: (i) => keyOf(items[i]),
  })

  // Jump to the newest message when the room opens.
  useEffect(() => {
    atBottom.current = true
    if (items.length > 0) virtualizer.scrollToIndex(items.length - 1, { align: 'end' })
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [room.info.roomId])

  useLayoutEffect(() => {
    if (atBottom.current && items.length > 0) virtualizer.scrollToIndex(items.length - 1, { align: 'end' })
  }, [items.length, virtualizer])

  return (
    <div
      ref={scrollRef}
      role="log"
      aria-label={`Messages in ${room.info.name}`}
      tabIndex={0}
      onScroll={(e) => {
        const el = e.currentTarget
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40
      }}
      className="min-h-0 flex-1 overflow-y-auto focus-visible:outline-2 focus-visible:outline-indigo-500"
    >
      {items.length === 0 ? (
        <p className="p-6 text-center text-sm text-slate-500">No messages yet. Say hello!</p>
      ) : (
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative', width: '100%' }}>
          {virtualizer.getVirtualItems().map((v) => {
            const item = items[v.index]
            return (
              <div
                key={v.key}
                data-index={v.index}
                ref={virtualizer.measureElement}
                style={{ position: 'absolute', top: 0, left: 0, width: '100%', transform: `translateY(${v.start}px)` }}
              >
                <Row session={session} item={item} names={names} />
              </div>
            )
          })}
        </div>
      )}
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

function Row({ session, item, names }: { session: Session; item: TimelineItem; names: Map<string, string> }) {
  if (item.kind === 'message') {
    const m = item.message
    const node = names.get(m.nodeId) ?? m.nodeId.slice(0, 8)
    return (
      <article aria-label={`Message ${m.seq} from ${m.user}`} className="px-4 py-1.5 hover:bg-slate-50 dark:hover:bg-slate-800/50">
        <header className="flex items-baseline gap-2 text-xs text-slate-500 dark:text-slate-400">
          <span className="text-sm font-semibold text-slate-900 dark:text-slate-100">{m.user}</span>
          <span>on {node}</span>
          <time dateTime={new Date(m.sentAt).toISOString()}>{timeFmt.format(m.sentAt)}</time>
          <span className="ml-auto font-mono" title="sequence number given by the room's administrator">
            #{m.seq}
          </span>
        </header>
        <p className="text-sm break-words whitespace-pre-wrap">{m.text}</p>
      </article>
    )
  }
  const p = item.pending
  return (
    <article
      aria-label={`Your message, ${PENDING_LABEL[p.status](p)}`}
      className={`px-4 py-1.5 ${
        p.status === 'failed' ? 'bg-red-50 dark:bg-red-950/40' : p.status === 'waiting' ? 'bg-amber-50 dark:bg-amber-950/40' : 'opacity-70'
      }`}
    >
      <header className="flex items-baseline gap-2 text-xs text-slate-500 dark:text-slate-400">
        <span className="text-sm font-semibold text-slate-900 dark:text-slate-100">{p.user}</span>
        <time dateTime={new Date(p.createdAt).toISOString()}>{timeFmt.format(p.createdAt)}</time>
        <span className="ml-auto font-mono" title={p.status === 'waiting' ? p.error : undefined}>
          {p.status === 'pending' ? 'sending…' : p.status === 'sent' ? `#${p.seq}` : p.status === 'waiting' ? 'waiting for the administrator…' : 'not sent'}
        </span>
      </header>
      <p className="text-sm break-words whitespace-pre-wrap">{p.text}</p>
      {p.status === 'waiting' && (
        <p role="status" className="mt-1 text-xs text-amber-900 dark:text-amber-200">
          The administrator did not confirm it before it paused or went away, and may still order it. It is sent again by
          itself when the room is back (never twice).
        </p>
      )}
      {p.status === 'failed' && (
        <div className="mt-1 flex items-center gap-3 text-xs text-red-700 dark:text-red-300">
          <span role="alert">{p.error}</span>
          <button type="button" className="underline" onClick={() => void session.retry(p.roomId, p.clientMsgId)}>
            Retry
          </button>
          <button
            type="button"
            className="underline"
            onClick={() => session.dispatch({ type: 'pending.dismiss', roomId: p.roomId, clientMsgId: p.clientMsgId })}
          >
            Discard
          </button>
        </div>
      )}
    </article>
  )
}
