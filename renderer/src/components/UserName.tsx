import { userLabel } from '../state/identity'

/**
 * A user's name with its node, "alice · n2" (docs/ui.md, "Who is who"): two people may share a name on
 * two nodes (client-protocol.md §7). The node's full id is in the tooltip.
 */
export function UserName({ user, nodeId, names, className = '' }: { user: string; nodeId: string; names: ReadonlyMap<string, string>; className?: string }) {
  const l = userLabel(user, nodeId, names)
  return (
    <span title={l.title} className={`min-w-0 truncate ${className}`}>
      <span className="font-semibold text-slate-900 dark:text-slate-100">{user}</span>{' '}
      <span className="text-xs font-normal text-slate-600 dark:text-slate-300">· {l.node.text}</span>
    </span>
  )
}
