/**
 * What the cluster view and Settings ask of the node (docs/ui.md): peers, the node's details and
 * link counters, the injected faults, and the protocol log.
 */
import type { EventOf, PeerInfo, RequestInput, Results } from '../../../proto/client-protocol'
import { parseInvite } from '../../../proto/client-protocol'
import { rawDetail } from '../state/errors'
import type { SessionHost, TraceEvent } from './session-host'

export const MAX_TRACE = 500

export class ClusterOps {
  private statsInFlight = false

  constructor(
    private readonly host: SessionHost,
    /** The directory may have changed (a new peer brings its rooms). */
    private readonly roomsChanged: () => void,
  ) {}

  async refreshPeers(): Promise<void> {
    try {
      const r = await this.host.client.request('peers.list')
      this.host.set({ peers: { self: r.self, peers: r.peers } })
    } catch (err) {
      this.host.error(err, 'Could not list peers')
    }
  }

  /**
   * A peer by address, or by invite (address and cluster key in one string, docs/security.md).
   * Throws a ProtocolError so the Settings form can show it next to the field.
   */
  async addPeer(addressOrInvite: string): Promise<PeerInfo> {
    const s = addressOrInvite.trim()
    const { peer } = await this.host.client.request('peers.add', parseInvite(s) ? { invite: s } : { address: s })
    this.upsertPeer(peer)
    this.roomsChanged()
    return peer
  }

  async removePeer(address: string): Promise<void> {
    await this.host.client.request('peers.remove', { address })
    const peers = this.host.state().peers
    this.host.set({ peers: { ...peers, peers: peers.peers.filter((p) => p.address !== address) } })
  }

  peerStatus(e: EventOf<'peer.status'>): void {
    this.upsertPeer({
      nodeId: e.nodeId,
      name: e.name,
      address: e.address,
      state: e.state,
      lastSeenMs: this.host.state().peers.peers.find((p) => p.nodeId === e.nodeId)?.lastSeenMs ?? 0,
    })
  }

  private upsertPeer(p: PeerInfo): void {
    const view = this.host.state().peers
    const i = view.peers.findIndex((x) => x.nodeId === p.nodeId || x.address === p.address)
    const next = i >= 0 ? view.peers.map((x, j) => (j === i ? { ...x, ...p } : x)) : [...view.peers, p]
    this.host.set({ peers: { ...view, peers: next } })
  }

  async loadNodeInfo(): Promise<void> {
    try {
      const nodeInfo = await this.host.client.request('node.info')
      this.host.set({ nodeInfo, ...(nodeInfo.archive ? { archive: nodeInfo.archive } : {}) })
    } catch (err) {
      this.host.error(err, 'Could not read this node’s details')
    }
  }

  /**
   * Read the node's link counters (node.stats); the cluster view polls this. A poll that is still
   * waiting is not doubled, and a failed one keeps the last counters without a notice (a slow or
   * older node must not raise an error every two seconds; the banner covers a lost connection).
   */
  async loadStats(): Promise<void> {
    if (this.statsInFlight) return
    this.statsInFlight = true
    try {
      const stats = await this.host.client.request('node.stats')
      this.host.set({ stats, ...(stats.archive ? { archive: stats.archive } : {}) })
    } catch {
      // keep what we had
    } finally {
      this.statsInFlight = false
    }
  }

  /** Read the node's faults (node.faults with no change); for the teacher's panel. */
  async loadFaults(): Promise<void> {
    try {
      this.host.set({ faults: await this.host.client.request('node.faults', {}) })
    } catch (err) {
      this.host.error(err, 'Could not read the injected faults')
    }
  }

  /**
   * Change the node's faults. What the panel shows comes from the reply only (nothing optimistic);
   * throws a ProtocolError so the panel can say what failed next to its controls.
   */
  async setFaults(change: Omit<RequestInput<'node.faults'>, 'op'>): Promise<Results['node.faults']> {
    const faults = await this.host.client.request('node.faults', change)
    this.host.set({ faults })
    return faults
  }

  async setTrace(on: boolean): Promise<void> {
    this.host.set({ traceOn: on })
    try {
      await this.host.client.request('trace.subscribe', { on })
    } catch (err) {
      this.host.error(err, 'Could not subscribe to the protocol log')
    }
  }

  clearTrace(): void {
    this.host.set({ trace: [] })
  }

  /** The raw detail of a failure, for the protocol log only (the notice says it in plain words). */
  logError(err: unknown, what: string): void {
    this.pushTrace({ event: 'trace', at: this.host.now(), kind: 'error', text: `${what}: ${rawDetail(err)}` })
  }

  pushTrace(e: TraceEvent): void {
    const trace = this.host.state().trace
    const next = trace.length >= MAX_TRACE ? trace.slice(-MAX_TRACE + 1) : trace.slice()
    next.push(e)
    this.host.set({ trace: next })
  }
}
