/**
 * The teacher's fault panel in the cluster view (node.faults, only on a node started with
 * --allow-faults), as pure functions: which peers this node has cut off, the partition list to send
 * when one more is cut off or reconnected, which links of the picture are cut, and the hold time
 * typed by the teacher. Unit-tested in test/renderer/faults.test.ts.
 */
import type { PeerInfo } from '../../../proto/client-protocol'
import type { ClusterLink, ClusterNode } from './cluster'

/** Largest hold the node accepts (`pauseBeforeDecisionMs`, proto/client-protocol.ts). */
export const MAX_HOLD_MS = 600_000

type PeerRef = Pick<PeerInfo, 'nodeId' | 'name' | 'address'>

/** The node answers with the peers' names; a request may name a peer by id, name or address. */
export function isCutOff(peer: PeerRef, partitionedFrom: readonly string[]): boolean {
  return partitionedFrom.some((x) => x !== '' && (x === peer.nodeId || x === peer.name || x === peer.address))
}

/** How a request names a peer: its id when known (names need not be unique), else its address. */
export const peerKey = (peer: PeerRef): string => peer.nodeId || peer.address

/**
 * The `partition` list for node.faults after cutting off (`cut`) or reconnecting `target`: the peers
 * cut off now, plus or minus the target. The node replaces its whole set with the list, so every
 * peer still cut off must be in it. Entries that match no known peer are left out (the node would
 * refuse them with not_found), and every peer appears once, by its id.
 */
export function nextPartition(peers: readonly PeerRef[], partitionedFrom: readonly string[], target: PeerRef, cut: boolean): string[] {
  const out: string[] = []
  for (const p of peers) {
    const same = peerKey(p) === peerKey(target)
    const wanted = same ? cut : isCutOff(p, partitionedFrom)
    if (wanted && !out.includes(peerKey(p))) out.push(peerKey(p))
  }
  if (cut && !peers.some((p) => peerKey(p) === peerKey(target))) out.push(peerKey(target))
  return out
}

/** Links between this node (index 0 of the picture) and a peer it has cut off are drawn as cut. */
export function markCutOff(links: ClusterLink[], nodes: Pick<ClusterNode, 'nodeId' | 'name' | 'address' | 'state'>[], partitionedFrom: readonly string[]): ClusterLink[] {
  if (partitionedFrom.length === 0 || nodes[0]?.state !== 'self') return links
  return links.map((l) => (l.from === 0 && isCutOff(nodes[l.to], partitionedFrom) ? { ...l, cutOff: true } : l))
}

export type HoldParse = { ok: true; ms: number } | { ok: false; error: string }

/** The "Hold 2PC decisions (ms)" field: a whole number of milliseconds from 0 (no hold) to 600,000. */
export function parseHoldMs(text: string): HoldParse {
  const t = text.trim()
  const error = `Enter a whole number of milliseconds from 0 to ${MAX_HOLD_MS} (0: no hold).`
  if (!/^\d+$/.test(t)) return { ok: false, error }
  const ms = Number(t)
  return ms <= MAX_HOLD_MS ? { ok: true, ms } : { ok: false, error }
}
