/**
 * What a deletion's vote depends on besides the protocol: the faults a teacher injects
 * (`node.faults`, only with --allow-faults; docs/deletion.md, "Fault injection") and the sends of
 * this node's clients still on their way to a room's administrator (a node votes ABORT rather than
 * lose one with the room; main/core/deletion-policy.ts).
 */
import type { RequestOf, Results } from '../../proto/client-protocol'
import { ChatError } from '../core/errors'

export type DeletionFaultSettings = Omit<Results['node.faults'], 'partitionedFrom'>

export class DeletionFaults implements DeletionFaultSettings {
  /** Every vote of this node is ABORT. */
  voteAbort = false
  /** The coordinator holds its decision this long before persisting and sending it. */
  pauseBeforeDecisionMs = 0
  /** Forwarded sends wait this long before leaving: they are "in flight" when a PREPARE comes. */
  delayForwardMs = 0

  constructor(
    private readonly allowed: boolean,
    private readonly trace: (text: string) => void,
  ) {}

  set(req: RequestOf<'node.faults'>): DeletionFaultSettings {
    if (!this.allowed) throw new ChatError('forbidden', 'fault injection is off: start the node with --allow-faults')
    if (req.voteAbort !== undefined) this.voteAbort = req.voteAbort
    if (req.pauseBeforeDecisionMs !== undefined) this.pauseBeforeDecisionMs = req.pauseBeforeDecisionMs
    if (req.delayForwardMs !== undefined) this.delayForwardMs = req.delayForwardMs
    // Only a change is worth a line in the protocol log (the UI reads the faults whenever it opens).
    if (req.voteAbort !== undefined || req.pauseBeforeDecisionMs !== undefined || req.delayForwardMs !== undefined) {
      this.trace(`faults now voteAbort=${this.voteAbort} pauseBeforeDecisionMs=${this.pauseBeforeDecisionMs} delayForwardMs=${this.delayForwardMs}`)
    }
    return { voteAbort: this.voteAbort, pauseBeforeDecisionMs: this.pauseBeforeDecisionMs, delayForwardMs: this.delayForwardMs }
  }
}

/** Forwarded sends not answered yet, per room. */
export class SendsInFlight {
  private readonly counts = new Map<string, number>()

  started(roomId: string): void {
    this.counts.set(roomId, (this.counts.get(roomId) ?? 0) + 1)
  }

  finished(roomId: string): void {
    const n = (this.counts.get(roomId) ?? 1) - 1
    if (n <= 0) this.counts.delete(roomId)
    else this.counts.set(roomId, n)
  }

  count(roomId: string): number {
    return this.counts.get(roomId) ?? 0
  }
}
