import { useSyncExternalStore } from 'react'
import type { Session, SessionState } from './net/session'
import { knownNodeNames } from './state/identity'

export function useSessionState(session: Session): SessionState {
  return useSyncExternalStore(session.subscribe, session.getState)
}

/** nodeId -> human name, from what this node knows (itself, its peers, room administrators). */
export const nodeNames: (s: SessionState) => Map<string, string> = knownNodeNames
