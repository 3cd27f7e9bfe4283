import type { ConnectionView, Session } from '../net/session'

/** Say plainly when the link to our own node is down and what that means. */
export function ConnectionBanner({ session, connection }: { session: Session; connection: ConnectionView }) {
  const c = connection
  if (c.helloError) {
    return (
      <div role="alert" className="bg-red-100 px-4 py-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
        The node refused this session: {c.helloError}
      </div>
    )
  }
  if (c.status === 'open') {
    if (!c.reconnectedMayHaveMissed) return null
    return (
      <div role="status" className="flex items-center gap-3 bg-amber-100 px-4 py-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100">
        <span>Reconnected to the node and rejoined your rooms. Messages sent while you were disconnected may have been missed.</span>
        <button
          type="button"
          onClick={() => session.dismissReconnectNotice()}
          className="ml-auto rounded px-2 py-0.5 underline focus-visible:outline-2 focus-visible:outline-amber-700"
        >
          Dismiss
        </button>
      </div>
    )
  }
  if (!c.everConnected) {
    return (
      <div role="status" className="bg-slate-100 px-4 py-2 text-sm text-slate-700 dark:bg-slate-800 dark:text-slate-200">
        Connecting to the node{c.attempt > 0 ? ` (attempt ${c.attempt + 1})` : ''}…
      </div>
    )
  }
  const secs = c.retryInMs !== undefined ? Math.max(1, Math.round(c.retryInMs / 1000)) : undefined
  return (
    <div role="alert" className="bg-red-100 px-4 py-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
      Connection to the node lost. Reconnecting{secs !== undefined ? ` (next try in ${secs} s)` : ''}… Messages sent meanwhile may
      have been missed.
    </div>
  )
}
