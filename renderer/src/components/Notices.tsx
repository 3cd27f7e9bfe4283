import type { Notice } from '../state/chat-state'
import type { Session } from '../net/session'

const STYLE: Record<Notice['kind'], string> = {
  info: 'border-sky-300 bg-sky-50 text-sky-950 dark:border-sky-700 dark:bg-sky-950 dark:text-sky-100',
  warning: 'border-amber-300 bg-amber-50 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100',
  error: 'border-red-300 bg-red-50 text-red-950 dark:border-red-700 dark:bg-red-950 dark:text-red-100',
}

/** Failure, deletion and error notices; the last few stay until dismissed. */
export function Notices({ session, notices }: { session: Session; notices: Notice[] }) {
  const shown = notices.slice(-4)
  return (
    <section
      aria-label="Notices"
      aria-live="polite"
      className="pointer-events-none fixed bottom-3 left-3 z-20 flex w-[17rem] max-w-[calc(100vw-1.5rem)] flex-col gap-2"
    >
      {shown.map((n) => (
        <div
          key={n.id}
          role={n.kind === 'error' ? 'alert' : 'status'}
          className={`pointer-events-auto flex items-start gap-2 rounded-lg border px-3 py-2 text-sm shadow ${STYLE[n.kind]}`}
        >
          <p className="flex-1">{n.text}</p>
          <button
            type="button"
            aria-label="Dismiss notice"
            onClick={() => session.dispatch({ type: 'notice.dismiss', id: n.id })}
            className="rounded px-1 leading-none opacity-70 hover:opacity-100 focus-visible:outline-2"
          >
            ×
          </button>
        </div>
      ))}
    </section>
  )
}
