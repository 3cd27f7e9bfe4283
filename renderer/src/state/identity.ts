/**
 * How the UI names a person (docs/client-protocol.md §7: a user is `user` on `nodeId`): two people
 * may share a name on two nodes, so wherever a user name is shown the node goes with it, "alice · n2",
 * with the node's full id on hover. Node names are not unique either (two lab machines may both call
 * themselves n1): a name that two known nodes share gets the start of each node's id.
 * Pure functions, unit-tested in test/renderer/identity.test.ts.
 */

import type { PeerInfo, SelfInfo } from '../../../proto/client-protocol'
import type { ChatState } from './chat-state'

/** nodeId -> human name, from what this node knows (itself, its peers, room administrators). */
export function knownNodeNames(s: { chat: ChatState; peers: { self?: SelfInfo; peers: PeerInfo[] } }): Map<string, string> {
  const m = new Map<string, string>()
  for (const r of Object.values(s.chat.rooms)) m.set(r.info.adminNodeId, r.info.adminNodeName)
  for (const p of s.peers.peers) m.set(p.nodeId, p.name)
  if (s.peers.self) m.set(s.peers.self.nodeId, s.peers.self.name)
  if (s.chat.self) m.set(s.chat.self.nodeId, s.chat.self.nodeName)
  return m
}

/** The system user that creates each node's default room (proto/client-protocol.ts SYSTEM_USER). */
const SYSTEM = 'system'

export interface NodeLabel {
  /** What is shown: the node's name, or its short id when the name is unknown or shared. */
  text: string
  /** The node's full id (for a tooltip). */
  nodeId: string
}

/** A short form of a node id, enough to tell nodes apart by eye. */
export function shortId(nodeId: string): string {
  return nodeId.slice(0, 8)
}

/** The label of `nodeId`, given every known node's name (nodeId -> name). */
export function nodeLabel(nodeId: string, names: ReadonlyMap<string, string>): NodeLabel {
  const name = names.get(nodeId)
  if (name === undefined) return { text: shortId(nodeId), nodeId }
  for (const [id, other] of names) {
    if (id !== nodeId && other === name) return { text: `${name} (${shortId(nodeId)})`, nodeId }
  }
  return { text: name, nodeId }
}

export interface UserLabel {
  user: string
  node: NodeLabel
  /** "alice · n2": one line of text for aria labels, notifications, titles. */
  text: string
  /** "alice on node n2 (id …)": the tooltip. */
  title: string
}

export function userLabel(user: string, nodeId: string, names: ReadonlyMap<string, string>): UserLabel {
  const node = nodeLabel(nodeId, names)
  return { user, node, text: `${user} · ${node.text}`, title: `${user} on node ${node.text} (node id ${nodeId})` }
}

/** Who created a room, for people: a node's default room was made by the node itself. */
export function creatorText(createdBy: { user: string; nodeId: string }, names: ReadonlyMap<string, string>): string {
  if (createdBy.user === SYSTEM) return `node ${nodeLabel(createdBy.nodeId, names).text}`
  return userLabel(createdBy.user, createdBy.nodeId, names).text
}
