import type { Notice } from '../state/chat-state'
import type { Session } from '../net/session'

const STYLE: Record<Notice['kind'], string> = {
  info: 'border-sky-300 bg-sky-50 text-sky-950 dark:border-sky-700 dark:bg-sky-950 dark:text-sky-100',
  warning: 'border-amber-300 bg-amber-50 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100',
  error: 'border-red-300 bg-red-50 text-red-950 dark:border-red-700 dark:bg-red-950 dark:text-red-100',
}

/**
 * Failure, deletion and error notices (docs/ui.md, "Notices"): one per subject, the newest three,
 * in the page's flow under the header, so they push content down instead of covering the room list.
 */
export function Notices({ session, notices }: { session: Session; notices: Notice[] }) {
  const shown = notices.slice(-3)
  return (
    <section aria-label="Notices" aria-live="polite" className={shown.length ? 'flex flex-col gap-1 border-b border-slate-200 p-2 dark:border-slate-700' : ''}>
      {shown.map((n) => (
        <div key={n.id} role={n.kind === 'error' ? 'alert' : 'status'} className={`flex items-start gap-2 rounded-md border px-3 py-1.5 text-sm ${STYLE[n.kind]}`}>
          <p className="min-w-0 flex-1 break-words">{n.text}</p>
          <button
            type="button"
            aria-label="Dismiss notice"
            onClick={() => session.dispatch({ type: 'notice.dismiss', id: n.id })}
            className="rounded px-1 leading-none focus-visible:outline-2 focus-visible:outline-current"
          >
            ×
          </button>
        </div>
      ))}
    </section>
  )
}
