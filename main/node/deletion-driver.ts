/**
 * Room deletion by two-phase commit: the node-side driver of main/core/two-phase-commit.ts.
 * (First cut: deletion is being built; see issue 5.)
 */
import type { RequestOf, Results } from '../../proto/client-protocol'
import { ChatError } from '../core/errors'
import type { DecodedMessage } from '../cluster/peer-messages'
import type { DirectoryEntry } from '../core/room-directory'
import type { NodeOptions } from './node-options'
import type { NodeStore } from './node-store'
import type { PeerNode } from './peer-node'

export class DeletionDriver {
  private readonly inFlight = new Map<string, number>()
  constructor(
    private readonly node: PeerNode,
    private readonly store: NodeStore,
    private readonly o: NodeOptions,
  ) {}
  recover(): void {}
  stop(): void {}
  tick(_now: number): void {}
  peerDead(_nodeId: string): void {}
  onPeerMessage(_from: string, _m: DecodedMessage): void {}
  blocksSend(_roomId: string): boolean {
    return false
  }
  sendStarted(roomId: string): void {
    this.inFlight.set(roomId, (this.inFlight.get(roomId) ?? 0) + 1)
  }
  sendFinished(roomId: string): void {
    const n = (this.inFlight.get(roomId) ?? 1) - 1
    if (n <= 0) this.inFlight.delete(roomId)
    else this.inFlight.set(roomId, n)
  }
  async requestDelete(_e: DirectoryEntry, _user: string): Promise<Results['room.delete']> {
    throw new ChatError('internal', 'room deletion is not available yet')
  }
  setFaults(_req: RequestOf<'node.faults'>): Results['node.faults'] {
    if (!this.o.allowFaults) throw new ChatError('forbidden', 'fault injection is off: start the node with --allow-faults')
    return { voteAbort: false, pauseBeforeDecisionMs: 0 }
  }
}
