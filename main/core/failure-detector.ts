/**
 * Heartbeat failure detector and reconnect backoff: pure state machines (docs/architecture.md §5,
 * docs/failures.md; docs/client-protocol.md §6.4).
 *
 * No timers and no clock here: the node driver feeds in what it observed, with the time it observed
 * it, and carries out the effects that come back, in array order.
 *
 * API
 *   createFailureDetector(config)             -> FailureDetectorState (no peers yet)
 *   failureDetectorStep(state, input)         -> { state, effects: PeerStateEffect[] }
 *     input  { type: 'heard',  peer, now }     any frame or heartbeat from `peer` (a new peer starts alive)
 *            { type: 'left',   peer, now }     the peer said Leaving (graceful stop): dead at once
 *            { type: 'tick',   now }           call every heartbeatMs; moves silent peers down
 *            { type: 'forget', peer }          drop the peer entirely (peers.remove); no effect
 *            { type: 'heard-many', heard }     'heard' for each (peer -> now) of the map, in its order,
 *                                              with one new state (a driver that batches frames' 'heard')
 *     effect { type: 'peer-state', peer, from, to, silentMs }   `from` is null for a peer heard for the
 *            first time. Each effect is one state change, to be reported as `peer.status`.
 *
 *   Backoff (one per outgoing link):
 *   initialBackoff()                          -> Backoff
 *   nextBackoff(backoff, config?)             -> { backoff, delayMs }   after a failed dial
 *   initialBackoff() again                    as soon as the peer is heard (docs/failures.md: "resets as soon
 *                                                as it is heard")
 *
 * States: alive -> suspect (silent >= suspectMs) -> dead (silent >= deadMs). A peer heard again is
 * alive at once, from suspect or from dead. A tick that finds a peer already past deadMs moves it
 * straight from alive to dead in one effect (the driver learns the current truth, not a replay).
 *
 * Pause guard: if this node itself was paused (SIGSTOP, a laptop lid, a long GC), the first tick after
 * it sees every peer silent for the whole pause. That is our silence, not theirs; declaring every peer
 * dead would make administrators here drop every remote member (docs/failures.md). So a tick that
 * comes more than `pauseGuardMs` after the previous one shifts every peer's last-heard time forward by
 * the gap: peers get a fresh window to be heard before being suspected. Default: deadMs (a driver that
 * ticks every heartbeatMs never has such a gap unless it was paused). Set Infinity to turn it off.
 * A silent peer gets at most one such credit until it is heard again, so sustained lag (every tick
 * late) delays the death of a silent peer by one gap instead of hiding it for ever.
 */
import type { PeerState } from '../../proto/client-protocol'

export interface FailureDetectorConfig {
  /** Silence after which an alive peer is suspect. */
  suspectMs: number
  /** Silence after which a peer is dead; must be greater than suspectMs. */
  deadMs: number
  /** Gap between two ticks that means this node was paused (see header). Default: deadMs. */
  pauseGuardMs?: number
}

export interface PeerLiveness {
  readonly state: PeerState
  readonly lastHeardMs: number
  /** The pause guard already gave this peer a gap back since it was last heard (see tick). */
  readonly credited?: boolean
}

export interface FailureDetectorState {
  readonly config: Readonly<Required<FailureDetectorConfig>>
  readonly peers: Readonly<Record<string, PeerLiveness>>
  /** `now` of the previous tick, for the pause guard; null before the first tick. */
  readonly lastTickMs: number | null
}

export type FailureDetectorInput =
  | { type: 'heard'; peer: string; now: number }
  | { type: 'left'; peer: string; now: number }
  /**
   * `heard`: the 'heard' of these peers first, as 'heard-many' then 'tick' would (the same state and
   * effects), with one copy of the peers instead of two: a node ticks every 50 ms with the peers it
   * heard since (main/node/peer-links.ts; docs/simulation.md, "Speed").
   */
  | { type: 'tick'; now: number; heard?: ReadonlyMap<string, number> }
  | { type: 'forget'; peer: string }
  | { type: 'heard-many'; heard: ReadonlyMap<string, number> }

export interface PeerStateEffect {
  type: 'peer-state'
  peer: string
  /** null: the peer was not known before (first heard). */
  from: PeerState | null
  to: PeerState
  /** How long the peer had been silent when the change was decided (0 when heard). */
  silentMs: number
}

export interface FailureDetectorResult {
  state: FailureDetectorState
  effects: PeerStateEffect[]
}

/** A detector configuration that cannot work (thrown by createFailureDetector). */
export class FailureDetectorConfigError extends Error {
  readonly code = 'failure_detector_config'
  constructor(message: string) {
    super(message)
    this.name = 'FailureDetectorConfigError'
  }
}

export function createFailureDetector(config: FailureDetectorConfig): FailureDetectorState {
  const { suspectMs, deadMs } = config
  if (!(suspectMs > 0) || !(deadMs > suspectMs)) {
    throw new FailureDetectorConfigError(
      `need 0 < suspectMs < deadMs, got suspectMs=${suspectMs} deadMs=${deadMs}`,
    )
  }
  const pauseGuardMs = config.pauseGuardMs ?? deadMs
  if (!(pauseGuardMs > 0)) {
    throw new FailureDetectorConfigError(`pauseGuardMs must be positive, got ${pauseGuardMs}`)
  }
  return { config: { suspectMs, deadMs, pauseGuardMs }, peers: {}, lastTickMs: null }
}

export function failureDetectorStep(
  state: FailureDetectorState,
  input: FailureDetectorInput,
): FailureDetectorResult {
  switch (input.type) {
    case 'heard':
      return heard(state, input.peer, input.now)
    case 'left':
      return left(state, input.peer, input.now)
    case 'tick':
      return tick(state, input.now, input.heard)
    case 'heard-many':
      return heardMany(state, input.heard)
    case 'forget': {
      if (!(input.peer in state.peers)) return { state, effects: [] }
      const peers = { ...state.peers }
      delete peers[input.peer]
      return { state: { ...state, peers }, effects: [] }
    }
  }
}

// Any traffic proves the peer is running: alive at once, whatever it was (docs/failures.md: "a peer that
// answers again is alive again at once").
function heard(state: FailureDetectorState, peer: string, now: number): FailureDetectorResult {
  const prev = state.peers[peer]
  const lastHeardMs = prev ? Math.max(prev.lastHeardMs, now) : now
  const next = withPeer(state, peer, { state: 'alive', lastHeardMs })
  if (prev?.state === 'alive') return { state: next, effects: [] }
  return {
    state: next,
    effects: [{ type: 'peer-state', peer, from: prev?.state ?? null, to: 'alive', silentMs: 0 }],
  }
}

// The same as 'heard' for each peer in turn, copying the peers once instead of once per peer.
function heardMany(state: FailureDetectorState, heard: ReadonlyMap<string, number>): FailureDetectorResult {
  if (heard.size === 0) return { state, effects: [] }
  const peers: Record<string, PeerLiveness> = { ...state.peers }
  const effects: PeerStateEffect[] = []
  for (const [peer, now] of heard) {
    const prev = peers[peer]
    peers[peer] = { state: 'alive', lastHeardMs: prev ? Math.max(prev.lastHeardMs, now) : now }
    if (prev?.state !== 'alive') effects.push({ type: 'peer-state', peer, from: prev?.state ?? null, to: 'alive', silentMs: 0 })
  }
  return { state: { config: state.config, peers, lastTickMs: state.lastTickMs }, effects }
}

// Graceful leave (peer.proto Leaving): no reason to wait for the timeout. A peer we never heard of
// has nothing to mark.
function left(state: FailureDetectorState, peer: string, now: number): FailureDetectorResult {
  const prev = state.peers[peer]
  if (!prev) return { state, effects: [] }
  if (prev.state === 'dead') return { state, effects: [] }
  const silentMs = Math.max(0, now - prev.lastHeardMs)
  return {
    state: withPeer(state, peer, { state: 'dead', lastHeardMs: prev.lastHeardMs }),
    effects: [{ type: 'peer-state', peer, from: prev.state, to: 'dead', silentMs }],
  }
}

function tick(state: FailureDetectorState, now: number, heard?: ReadonlyMap<string, number>): FailureDetectorResult {
  const { suspectMs, deadMs, pauseGuardMs } = state.config
  const gap = state.lastTickMs === null ? 0 : now - state.lastTickMs
  const paused = gap > pauseGuardMs
  // A new peers object only when a peer changed: most ticks change none, and a node ticks every
  // 50 ms (docs/simulation.md, "Speed"). Copied in key order, so effects keep the peers' order.
  let peers: Record<string, PeerLiveness> | undefined
  let from = state.peers
  const effects: PeerStateEffect[] = []
  if (heard !== undefined && heard.size > 0) {
    // What heardMany does, in a copy this tick then changes in place.
    peers = { ...state.peers }
    for (const [peer, at] of heard) {
      const prev = peers[peer]
      peers[peer] = { state: 'alive', lastHeardMs: prev ? Math.max(prev.lastHeardMs, at) : at }
      if (prev?.state !== 'alive') effects.push({ type: 'peer-state', peer, from: prev?.state ?? null, to: 'alive', silentMs: 0 })
    }
    from = peers
  }
  for (const peer in from) {
    const p = from[peer]
    // Pause guard (header): give back the time we were not running, never past `now`. A peer heard
    // after we resumed (late in the gap) has a silence of its own; one heard before the pause, even
    // after the previous tick (a heartbeat read just before SIGSTOP), gets the gap back too. Nothing
    // is heard in the middle of the gap, so its midpoint tells the two apart.
    // Once per silence: under sustained lag every tick is late, and crediting every gap would keep a
    // dead peer alive for ever. A peer must be heard (which clears `credited`) to be credited again.
    const shift = paused && state.lastTickMs !== null && !p.credited && p.lastHeardMs < state.lastTickMs + gap / 2
    const lastHeardMs = shift ? Math.min(now, p.lastHeardMs + gap) : p.lastHeardMs
    const silentMs = Math.max(0, now - lastHeardMs)
    // Silence only ever moves a peer down; only `heard` moves it up.
    let to: PeerState = p.state
    if (silentMs >= deadMs) to = 'dead'
    else if (silentMs >= suspectMs && p.state === 'alive') to = 'suspect'
    const credited = shift || !!p.credited
    if (to !== p.state || lastHeardMs !== p.lastHeardMs || credited !== !!p.credited) {
      peers ??= { ...state.peers }
      peers[peer] = credited ? { state: to, lastHeardMs, credited: true } : { state: to, lastHeardMs }
    }
    if (to !== p.state) effects.push({ type: 'peer-state', peer, from: p.state, to, silentMs })
  }
  return { state: { config: state.config, peers: peers ?? state.peers, lastTickMs: now }, effects }
}

function withPeer(state: FailureDetectorState, peer: string, p: PeerLiveness): FailureDetectorState {
  return { ...state, peers: { ...state.peers, [peer]: p } }
}


// ---------------------------------------------------------------------------------------------
// Reconnect backoff (docs/failures.md: "any reconnect backoff resets as soon as it is heard
// (backoff capped at a few seconds)"). Exponential so a dead peer costs little; capped so a peer that
// comes back is redialled within maxMs; reset on `heard` so a flapping link recovers at full speed.

export interface BackoffConfig {
  /** Delay after the first failure. */
  baseMs: number
  /** Largest delay. */
  maxMs: number
}

export const DEFAULT_BACKOFF: Readonly<BackoffConfig> = { baseMs: 100, maxMs: 2000 }

export interface Backoff {
  /** Failed dials since the peer was last heard. */
  readonly failures: number
}

export function initialBackoff(): Backoff {
  return { failures: 0 }
}

/** After a failed dial: how long to wait before the next one (baseMs, 2*baseMs, ... up to maxMs). */
export function nextBackoff(
  backoff: Backoff,
  config: BackoffConfig = DEFAULT_BACKOFF,
): { backoff: Backoff; delayMs: number } {
  // Cap the exponent too, so a peer that stays dead for days cannot overflow the arithmetic.
  const exp = Math.min(backoff.failures, 30)
  const delayMs = Math.min(config.maxMs, config.baseMs * 2 ** exp)
  return { backoff: { failures: backoff.failures + 1 }, delayMs }
}
