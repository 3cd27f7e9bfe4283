/**
 * Per-link traffic in the cluster view (node.stats), as pure functions: which counters belong to
 * which node of the picture, and how the Nodes table and the links print them. The ratio of peer
 * messages to gRPC frames is how well fan-out batching works: 1.0 is one call per message.
 * Unit-tested in test/renderer/link-stats.test.ts.
 */
import type { Results } from '../../../proto/client-protocol'
import type { ClusterLink, ClusterNode } from './cluster'

export type LinkStats = Results['node.stats']['links'][number]

/** How often the cluster view asks for node.stats while it is open. */
export const STATS_POLL_MS = 2000

const count = new Intl.NumberFormat('en-US')
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })

/** Peer messages per gRPC frame on a link, or undefined before its first frame. */
export function messagesPerFrame(l: Pick<LinkStats, 'framesSent' | 'messagesSent'>): number | undefined {
  return l.framesSent > 0 ? l.messagesSent / l.framesSent : undefined
}

/** The "per frame" column: one decimal, "—" when no frame was written yet (or no counters). */
export function formatPerFrame(l: Pick<LinkStats, 'framesSent' | 'messagesSent'> | undefined): string {
  const r = l ? messagesPerFrame(l) : undefined
  return r === undefined ? '—' : oneDecimal.format(r)
}

/** The "sent (frames / messages)" column, e.g. "1,204 / 38,530"; "—" without counters. */
export function formatSent(l: Pick<LinkStats, 'framesSent' | 'messagesSent'> | undefined): string {
  return l ? `${count.format(l.framesSent)} / ${count.format(l.messagesSent)}` : '—'
}

/** The "queued" column: messages waiting on the link; "—" without counters. */
export function formatQueued(l: Pick<LinkStats, 'queued'> | undefined): string {
  return l ? count.format(l.queued) : '—'
}

/**
 * This node's counters for a node of the picture: by node id when both sides know it, else by name
 * (a peer not yet handshaken has no id). None for this node itself, which has no link to itself.
 */
export function statsFor(node: Pick<ClusterNode, 'nodeId' | 'name' | 'state'>, links: readonly LinkStats[] | undefined): LinkStats | undefined {
  if (!links || node.state === 'self') return undefined
  const byId = node.nodeId ? links.find((l) => l.nodeId === node.nodeId) : undefined
  return byId ?? links.find((l) => l.name === node.name && (!l.nodeId || !node.nodeId))
}

/**
 * The label on a link of the picture from this node (index 0) to a peer: its messages per frame,
 * e.g. "12.3 msg/frame". None on links between two peers (this node has no counters for them), on cut
 * links (they carry their own label) and before the link's first frame.
 */
export function linkRateLabel(link: Pick<ClusterLink, 'from' | 'to' | 'cutOff'>, nodes: Pick<ClusterNode, 'nodeId' | 'name' | 'state'>[], links: readonly LinkStats[] | undefined): string | undefined {
  if (link.from !== 0 || link.cutOff || nodes[0]?.state !== 'self' || !nodes[link.to]) return undefined
  const s = statsFor(nodes[link.to], links)
  return s && s.framesSent > 0 ? `${formatPerFrame(s)} msg/frame` : undefined
}
