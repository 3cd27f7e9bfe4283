import { useSyncExternalStore } from 'react'
import type { Session, SessionState } from './net/session'

export function useSessionState(session: Session): SessionState {
  return useSyncExternalStore(session.subscribe, session.getState)
}

/** nodeId -> human name, from what this node knows (itself, its peers, room administrators). */
export function nodeNames(s: SessionState): Map<string, string> {
  const m = new Map<string, string>()
  for (const r of Object.values(s.chat.rooms)) m.set(r.info.adminNodeId, r.info.adminNodeName)
  for (const p of s.peers.peers) m.set(p.nodeId, p.name)
  if (s.peers.self) m.set(s.peers.self.nodeId, s.peers.self.name)
  if (s.chat.self) m.set(s.chat.self.nodeId, s.chat.self.nodeName)
  return m
}
