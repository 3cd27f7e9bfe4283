/**
 * What the cluster view draws (docs/ui.md), as pure functions: the nodes this node knows with
 * the rooms each administers, the links between them, where they sit on the picture, and protocol
 * log lines made readable. Unit-tested in test/renderer/cluster.test.ts.
 */
import type { PeerInfo, PeerState, RoomInfo, SelfInfo } from '../../../proto/client-protocol'
import type { Handover } from './chat-state'

export type NodeState = PeerState | 'self'

export interface ClusterRoom {
  roomId: string
  name: string
  available: boolean
  frozen: boolean
  /** The administrator's term, for a replicated room (client-protocol.md §8); undefined otherwise. */
  term?: number
}

export interface ClusterNode {
  nodeId: string
  name: string
  address: string
  state: NodeState
  rooms: ClusterRoom[]
}

export interface ClusterLink {
  from: number
  to: number
  /** The state of the link as this node sees it: the worse of its two ends (this node counts as alive). */
  state: PeerState
  /** This node drops all traffic on this link (a partition injected with node.faults). */
  cutOff?: boolean
}

const RANK: Record<NodeState, number> = { self: 0, alive: 0, suspect: 1, dead: 2 }
const BY_RANK: PeerState[] = ['alive', 'suspect', 'dead']

/** This node first, then its peers by name, each with the rooms it administers (by name). */
export function clusterNodes(self: SelfInfo | undefined, peers: PeerInfo[], rooms: RoomInfo[]): ClusterNode[] {
  const roomsOf = new Map<string, ClusterRoom[]>()
  for (const r of rooms) {
    const list = roomsOf.get(r.adminNodeId) ?? []
    list.push({ roomId: r.roomId, name: r.name, available: r.available, frozen: r.frozen === true, term: isReplicated(r) ? r.term : undefined })
    roomsOf.set(r.adminNodeId, list)
  }
  for (const list of roomsOf.values()) list.sort((a, b) => a.name.localeCompare(b.name) || a.roomId.localeCompare(b.roomId))
  const nodes: ClusterNode[] = []
  if (self) nodes.push({ nodeId: self.nodeId, name: self.name, address: self.address, state: 'self', rooms: roomsOf.get(self.nodeId) ?? [] })
  const others = peers
    .filter((p) => p.nodeId !== self?.nodeId)
    .sort((a, b) => a.name.localeCompare(b.name) || a.address.localeCompare(b.address))
  for (const p of others) {
    nodes.push({ nodeId: p.nodeId, name: p.name, address: p.address, state: p.state, rooms: p.nodeId ? (roomsOf.get(p.nodeId) ?? []) : [] })
  }
  // Two nodes may share a name (docs/ui.md, "Who is who"): each then shows the start of its id.
  const count = new Map<string, number>()
  for (const n of nodes) count.set(n.name, (count.get(n.name) ?? 0) + 1)
  for (const n of nodes) if ((count.get(n.name) ?? 0) > 1 && n.nodeId) n.name = `${n.name} (${n.nodeId.slice(0, 8)})`
  return nodes
}

/**
 * The cluster is a full mesh (every node links to every other), so there is a link for every pair.
 * This node only knows the state of each far end, so a link is as good as the worse of its ends:
 * a link to or from a dead node is dead.
 */
export function meshLinks(nodes: Pick<ClusterNode, 'state'>[]): ClusterLink[] {
  const links: ClusterLink[] = []
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      links.push({ from: i, to: j, state: BY_RANK[Math.max(RANK[nodes[i].state], RANK[nodes[j].state])] })
    }
  }
  return links
}

/** Nodes evenly on a circle, the first (this node) at the top; two nodes side by side; one in the middle. */
export function ringLayout(n: number, cx: number, cy: number, r: number): { x: number; y: number }[] {
  if (n <= 1) return n === 1 ? [{ x: cx, y: cy }] : []
  const start = n === 2 ? Math.PI : -Math.PI / 2
  return Array.from({ length: n }, (_, i) => {
    const a = start + (2 * Math.PI * i) / n
    return { x: Math.round(cx + r * Math.cos(a)), y: Math.round(cy + r * Math.sin(a)) }
  })
}

/** Protocol log text with room ids (some log lines carry them) replaced by the rooms' names. */
export function readableTraceText(text: string, roomId: string | undefined, roomNames: Map<string, string>): string {
  if (!roomId) return text
  const name = roomNames.get(roomId)
  return name && text.includes(roomId) ? text.split(roomId).join(name) : text
}

/** A room whose log lives on more than one node (client-protocol.md §8). */
export function isReplicated(r: Pick<RoomInfo, 'replicas'>): boolean {
  return (r.replicas?.length ?? 0) > 1
}

export interface ReplicaRow {
  roomId: string
  name: string
  adminNodeId: string
  adminName: string
  term: number
  /** The nodes holding the room's log, administrator first, with their state as this node sees it. */
  replicas: { nodeId: string; name: string; state: NodeState | 'unknown'; admin: boolean }[]
  /** "n1 → n2 in term 2 (n1 left)": the last change of administrator this page saw. */
  handover?: string
}

/**
 * One row per room for the cluster view's Rooms table: who runs it, in which term, and which nodes
 * hold its log (a room with one holder is "not replicated"). Rooms by name.
 */
export function replicaRows(rooms: (RoomInfo & { handover?: Handover })[], nodes: ClusterNode[], names: ReadonlyMap<string, string>): ReplicaRow[] {
  const stateOf = new Map(nodes.map((n) => [n.nodeId, n.state]))
  return [...rooms]
    .sort((a, b) => a.name.localeCompare(b.name) || a.roomId.localeCompare(b.roomId))
    .map((r) => {
      const holders = isReplicated(r) ? r.replicas! : [r.adminNodeId]
      const ordered = [r.adminNodeId, ...holders.filter((id) => id !== r.adminNodeId)]
      const h = r.handover
      return {
        roomId: r.roomId,
        name: r.name,
        adminNodeId: r.adminNodeId,
        adminName: r.adminNodeName,
        term: r.term ?? 0,
        replicas: (isReplicated(r) ? ordered : [r.adminNodeId]).map((id) => ({
          nodeId: id,
          name: id === r.adminNodeId ? r.adminNodeName : (names.get(id) ?? id.slice(0, 8)),
          state: stateOf.get(id) ?? 'unknown',
          admin: id === r.adminNodeId,
        })),
        handover: h ? `${h.fromName} → ${h.toName} in term ${h.term}${h.reason ? ` (${h.reason})` : ''}` : undefined,
      }
    })
}

export interface HandoverArrow {
  from: number
  to: number
  roomId: string
  label: string
}

/**
 * The handovers to draw on the topology: an arrow from the old administrator to the new one, for each
 * room whose administrator changed while this page watched and still runs it (both nodes drawn).
 */
export function handoverArrows(rooms: { info: RoomInfo; handover?: Handover }[], nodes: ClusterNode[]): HandoverArrow[] {
  const index = new Map(nodes.map((n, i) => [n.nodeId, i]))
  const out: HandoverArrow[] = []
  for (const r of rooms) {
    const h = r.handover
    if (!h || h.toNodeId !== r.info.adminNodeId) continue
    const from = index.get(h.fromNodeId)
    const to = index.get(h.toNodeId)
    if (from === undefined || to === undefined || from === to) continue
    out.push({ from, to, roomId: r.info.roomId, label: `#${r.info.name} t${h.term}` })
  }
  return out.sort((a, b) => a.label.localeCompare(b.label))
}
