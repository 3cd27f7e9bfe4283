/**
 * The deterministic simulation of a whole cluster (docs/simulation.md): N real nodes (main/node,
 * not a model of them) in one process, on a virtual clock and the in-memory network, with clients
 * doing what the WebSocket gateway's clients do, and faults chosen by a seeded generator. The
 * invariants of the client contract (docs/client-protocol.md §6) are checked after every step; a
 * run is a pure function of its seed and options, so any failure replays exactly from its seed.
 */
import type { ChatMessage, ErrorBody, Request, Results, RoomInfo, ServerFrame } from '../proto/client-protocol'
import type { ClientSession } from '../main/gateway/ws-gateway'
import { promiseHooks } from 'node:v8'
import { freezeSharedData, MemoryNetwork } from '../main/cluster/memory-transport'
import type { PeerMessage } from '../main/cluster/peer-messages'
import { VirtualClock, type ClockView } from '../main/cluster/virtual-clock'
import { PeerNode } from '../main/node/peer-node'
import { DEFAULT_TIMING } from '../main/node/node-options'
import { DirectGateway } from './direct-gateway'
import { MemoryDataDir } from './memory-data-dir'
import { Prng } from './prng'
import { SCENARIO_NODES, SCENARIO_TIMING, runScenario, type ScenarioClient, type ScenarioHost, type ScenarioName } from './ordering-scenarios'

export interface SimOptions {
  seed: number
  /** Nodes in the cluster (3 to 7). */
  nodes: number
  /** Simulated time of traffic and faults, ms (then faults are healed and the cluster settles). */
  durationMs: number
  /** Client sessions per node. */
  clientsPerNode: number
  /** Inject faults (crash, power loss, pause, partitions, link resets, delays). */
  faults: boolean
  /** Nodes fsync their message logs (without it a power loss loses acknowledged messages). */
  fsync: boolean
  /**
   * How many nodes hold each room's log (--replicas, docs/replication.md); 1 = unreplicated rooms.
   * With more, faults favour administrators, and graceful leaves (handovers) are among them.
   */
  replicas?: number
  /** --repair-ms of every node (docs/replication.md, "Repair"); absent = the node's default. */
  repairMs?: number
  /**
   * A deliberately broken world, to show the simulator catches it (test/sim/sim.test.ts):
   *   'reorder-links'  the network delivers two frames of a link out of order now and then;
   *   'lose-unsynced'  nodes do not fsync, and power losses happen (acknowledged messages are lost);
   *   'vote-any-log'   every room vote request claims a log more complete than any (the network
   *                    rewrites it), so votes are granted without the log-completeness check;
   *   'reject-unhandled' the first client step from 10 s on leaves a rejected promise unhandled (a
   *                    forgotten `.catch`): `no-crash`, reported in that step (runFor's drain).
   */
  bug?: SimBug
  /**
   * A named scenario (sim/ordering-scenarios.ts) instead of random traffic and faults: its own
   * nodes, timings, clients and fault schedule; the same invariants.
   */
  scenario?: ScenarioName
  /** Lines of trace kept for a failure report. */
  traceLines?: number
  /**
   * Share peer messages, client frames and results frozen, so that a node changing them throws
   * (default true; main/cluster/memory-transport.ts `sealAsJson`, docs/simulation.md "Transport").
   * A batch of `npm run sim` turns it off for speed unless `--check-shared`.
   */
  checkShared?: boolean
  /** Write every trace line as it happens. */
  verbose?: boolean
}

export type SimBug = 'reorder-links' | 'lose-unsynced' | 'vote-any-log' | 'reject-unhandled'
export const SIM_BUGS: readonly SimBug[] = ['reorder-links', 'lose-unsynced', 'vote-any-log', 'reject-unhandled']

export interface SimResult {
  seed: number
  ok: boolean
  /** The first invariant broken, and when (simulated ms). */
  failure?: { invariant: string; detail: string; atMs: number }
  /** The last trace lines before the end (or the failure). */
  trace: string[]
  simulatedMs: number
  wallMs: number
  stats: {
    sent: number
    acked: number
    delivered: number
    faults: Record<string, number>
    timers: number
    crashes: number
  }
}

export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation'
  readonly code = 'invariant'
  constructor(
    readonly invariant: string,
    readonly detail: string,
  ) {
    super(`${invariant}: ${detail}`)
  }
}

const TIMING = DEFAULT_TIMING

// ---------------------------------------------------------------------------------------------
// Nodes

interface SimNode {
  index: number
  name: string
  address: string
  disk: MemoryDataDir
  view: ClockView
  node: PeerNode | undefined
  gateway: DirectGateway | undefined
  /** 'stopping': a graceful leave (SIGTERM) is handing its rooms over. */
  state: 'up' | 'paused' | 'stopping' | 'down'
  /** Incarnations started (1 = never restarted). */
  starts: number
  /** Client requests sent while the node was stopped (SIGSTOP): read, in order, when it continues. */
  held: (() => void)[]
  /**
   * Room -> the term in which this node's claim to administer it was already checked: a claim
   * recorded in `leaders` never changes, so only a new (room, term) claim needs the check again.
   */
  claimsChecked: Map<string, number>
  /**
   * The node object and its replicaChanges() when every claim of it was last checked: its replica
   * states have not changed since while both are the same, so checkLeaders skips it.
   */
  claimsCheckedAt?: { node: PeerNode; changes: number }
  /** A restart is under way (its start is asynchronous). */
  restarting?: boolean
}

// ---------------------------------------------------------------------------------------------
// Clients and what they saw

interface RoomRun {
  /** The next seq this session must be delivered in the room. */
  expected: number
}

interface SentRecord {
  roomId: string
  clientMsgId: string
  text: string
  /** Order of issue within (session, room). */
  n: number
  seq?: number
  outcome?: 'acked' | 'failed' | 'unknown'
}

interface SimClient {
  id: string
  user: string
  nodeIndex: number
  session: ClientSession | undefined
  /** Bumped at every new session: replies to an older session's requests are ignored. */
  epoch: number
  /** Rooms joined in this session, with where delivery stands. */
  runs: Map<string, RoomRun>
  /** Rooms being joined (request in flight). */
  joining: Set<string>
  /** A join request's reply is in flight: deliveries for the room before it are held. */
  pendingEvents: Map<string, ChatMessage[]>
  /** Sends in flight in this session. */
  inFlight: number
  sendCounter: number
  sent: SentRecord[]
  /** Per room, the acknowledged send sent last (sender-fifo's fast path). */
  lastAcked: Map<string, SentRecord>
  created: Set<string>
  busy: boolean
  /** Driven by a named scenario, not by the random client steps. */
  scripted?: boolean
}

// ---------------------------------------------------------------------------------------------

export class Simulation {
  readonly clock: VirtualClock
  readonly net: MemoryNetwork
  private readonly rng: Prng
  private readonly nodes: SimNode[] = []
  private readonly clients: SimClient[] = []
  /** The last trace lines, as (clock.now(), line) pairs. */
  private readonly traceBuf: (number | string)[] = []
  /** Where the next line goes in traceBuf once it is full (the oldest line). */
  private traceNext = 0
  private failure: SimResult['failure']
  /** (roomId, seq) -> the message's identity, as first seen anywhere. */
  /** Room -> seq -> the message it names (one-message-per-seq), without a string key per delivery. */
  private readonly bySeq = new Map<string, Map<number, string>>()
  /** Every message acknowledged to a client. */
  private readonly acked: SentRecord[] = []
  /** Rooms a client was told are deleted (committed). */
  private readonly deletedCommitted = new Set<string>()
  /** Joins each client started, per room ("clientId\0roomId"): a leave counts only until the next one. */
  private readonly joinAttempts = new Map<string, number>()
  /** room.leave acknowledged to a client, with the joins it had started then (leave-kept). */
  private readonly leftAcked: { c: SimClient; roomId: string; attempt: number }[] = []
  private readonly stats: SimResult['stats'] = { sent: 0, acked: 0, delivered: 0, faults: {}, timers: 0, crashes: 0 }
  private idCounter = 0
  private stopTraffic = false
  /** --bug reject-unhandled: made once. */
  private rejectedUnhandled = false
  /** "roomId#term" -> the node that said it administers the room in that term. */
  private readonly leaders = new Map<string, string>()
  /** Election jitter of the nodes: drawn from the seed, so elections replay too. */
  private readonly jitterRng: Prng
  private readonly o: Required<Omit<SimOptions, 'bug' | 'scenario' | 'repairMs' | 'checkShared'>> & Pick<SimOptions, 'bug' | 'scenario' | 'repairMs' | 'checkShared'>
  private readonly timing: { heartbeatMs: number; suspectMs: number; deadMs: number }

  constructor(options: SimOptions) {
    this.o = { traceLines: 60, verbose: false, replicas: 1, ...options }
    this.timing = TIMING
    if (this.o.scenario) {
      this.o.nodes = SCENARIO_NODES
      this.o.clientsPerNode = 0
      this.o.faults = false
      this.timing = SCENARIO_TIMING
    }
    if (this.o.bug === 'lose-unsynced') this.o.fsync = false
    this.rng = new Prng(options.seed)
    this.clock = new VirtualClock(1_700_000_000_000)
    const netRng = this.rng.fork()
    this.net = new MemoryNetwork({
      clock: this.clock,
      // 0.2–3 ms between machines of one lab network; the delay fault adds more.
      latencyMs: () => 0.2 + netRng.next() * 2.8,
      breakAfterMs: 20_000,
      reorder: this.o.bug === 'reorder-links' ? () => netRng.next() < 0.2 : undefined,
      tamper: this.o.bug === 'vote-any-log' ? lieAboutLog : undefined,
    })
    // Its own stream, not a fork of the main one: runs without replication keep their paths.
    this.jitterRng = new Prng((options.seed ^ 0x5bd1e995) >>> 0)
    this.net.onEvent = (e) => this.trace(`net ${e.type} ${e.from} → ${e.to}${'reason' in e ? ` (${e.reason})` : ''}`)
  }

  // -------------------------------------------------------------------------------------------
  // Running

  async run(): Promise<SimResult> {
    const wallStart = performance.now()
    const onUnhandled = (reason: unknown) => this.fail('no-crash', `unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`)
    process.on('unhandledRejection', onUnhandled)
    try {
      for (let i = 0; i < this.o.nodes; i++) this.addNode(i)
      for (const n of this.nodes) await this.startNode(n)
      for (const n of this.nodes) for (let k = 0; k < this.o.clientsPerNode; k++) this.addClient(n.index, k)
      await this.runFor(2000)
      if (this.o.scenario) {
        await runScenario(this.o.scenario, this.scenarioHost())
      } else {
        for (const c of this.clients) this.scheduleClient(c, 0)
        if (this.o.faults) this.scheduleFault()
        await this.runFor(this.o.durationMs)
      }
      // Heal: no more faults or traffic; everything comes back and settles, then the end checks.
      this.stopTraffic = true
      this.healAll()
      await this.runFor(25_000)
      if (!this.failure) await this.finalChecks()
    } catch (e) {
      if (e instanceof InvariantViolation) this.recordFailure(e)
      else this.recordFailure(new InvariantViolation('no-crash', `the node threw: ${(e as Error)?.stack ?? String(e)}`))
    } finally {
      process.off('unhandledRejection', onUnhandled)
      for (const n of this.nodes) n.view.stop()
    }
    this.stats.timers = this.clock.fired
    return {
      seed: this.o.seed,
      ok: !this.failure,
      failure: this.failure,
      trace: traceLinesOf([...this.traceBuf.slice(this.traceNext), ...this.traceBuf.slice(0, this.traceNext)]),
      simulatedMs: this.clock.now() - 1_700_000_000_000,
      wallMs: performance.now() - wallStart,
      stats: this.stats,
    }
  }

  private async runFor(ms: number): Promise<void> {
    const until = this.clock.now() + ms
    const watch = watchMicrotasks()
    try {
      watch.queued = false
      while (!this.failure && this.clock.runNext(until)) {
        // Node runs every promise continuation after each timer callback: so does the simulation
        // (docs/simulation.md, "Speed").
        if (this.o.scenario) {
          // A scenario's script runs several of these loops at once (a request driven while the
          // script waits on another), interleaved by the turns of the event loop each takes after
          // a step that queued promise work: they are kept there, so a scenario runs as it did.
          if (!watch.queued) {
            // Nothing seen queued: one microtask turn proves it (a job queued unseen, such as a
            // promise resolved with a promise, runs before this continuation and shows in the
            // `before` hook); if anything but this continuation ran, drain it all.
            watch.jobs = 0
            await RESOLVED
            if (watch.jobs > 1 || watch.tasks || watch.ticks) await drain()
          } else await drain()
          watch.tasks = false
        } else {
          // Without a turn (it costs more than most steps; docs/simulation.md, "Speed"): this
          // continuation `await`s a resolved promise, which puts it behind whatever the step
          // queued. First once, as the probe above: if nothing else ran before it (promise jobs
          // show in the `before` hook; a queueMicrotask callback does not, but its queueing is
          // watched) and the step made or settled no promise, there is nothing to drain.
          const promised = watch.queued
          let tasksAhead = watch.tasks
          watch.tasks = false
          watch.jobs = 0
          await RESOLVED
          if (promised || tasksAhead || watch.jobs > 1 || watch.tasks || watch.ticks) {
            // Otherwise drain it all, as a turn would: again until a round in which nothing else
            // ran. A continuation of an `await` made while the hooks were off (between two runFor
            // calls) runs without the `before` hook, so what it does counts too: a promise made
            // or settled beyond this continuation's own (OWN_EVENTS).
            for (;;) {
              tasksAhead = watch.tasks
              watch.tasks = false
              watch.jobs = 0
              watch.events = 0
              await RESOLVED
              if (!tasksAhead && watch.jobs <= 1 && !watch.tasks && watch.events <= OWN_EVENTS) break
            }
            // What Node does in a turn once the microtask queue is empty: process.nextTick
            // callbacks (then the microtasks they queue: those take the turn, not nested) and the
            // rejections nobody handled (`no-crash`).
            if (watch.ticks || !tickCallback) await drain()
            else tickCallback()
          }
        }
        watch.queued = false
        watch.ticks = false
        if (this.failure) break
        if (this.o.replicas > 1) this.checkLeaders()
      }
    } finally {
      watch.stop()
    }
    if (this.failure) throw new InvariantViolation(this.failure.invariant, this.failure.detail)
    if (this.clock.now() < until) await this.clock.runUntil(until)
  }

  // -------------------------------------------------------------------------------------------
  // Nodes

  private addNode(i: number): void {
    const name = `n${i + 1}`
    const address = `10.0.0.${i + 1}:7000`
    this.nodes.push({
      index: i,
      name,
      address,
      disk: new MemoryDataDir(this.newId('node'), name),
      view: this.clock.view(),
      node: undefined,
      gateway: undefined,
      state: 'down',
      starts: 0,
      held: [],
      claimsChecked: new Map(),
    })
  }

  private newId(kind: string): string {
    this.idCounter++
    const r = this.rng.nextU32().toString(16).padStart(8, '0')
    return `${kind}-${this.idCounter.toString(36)}-${r}`
  }

  private async startNode(n: SimNode): Promise<void> {
    n.view = this.clock.view()
    n.starts++
    const files = n.disk.open({ fsync: this.o.fsync })
    // Each node joins through the first one (and, after a restart, the peers it remembers).
    const join = n.index === 0 ? [] : [this.nodes[0].address]
    const node = new PeerNode(
      {
        name: n.name,
        grpcHost: n.address.split(':')[0],
        grpcPort: 7000,
        wsHost: '127.0.0.1',
        wsPort: 0,
        join,
        dataDir: `/sim/${n.name}`,
        token: 'sim',
        ...this.timing,
        fsync: this.o.fsync,
        replicas: this.o.replicas,
        repairMs: this.o.repairMs,
        log: (line) => {
          this.trace(`${n.name}: ${line}`)
          // A TypeError the node caught and logged (a peer message's handler, an answer): shared
          // data changed, which a node must not do (docs/simulation.md, "Transport").
          if (isSharedDataWrite(line)) this.fail('no-crash', `${n.name} changed data shared frozen by the simulator (a peer message, a client frame, a saved file): ${line}`)
        },
      },
      {
        clock: n.view,
        newId: () => this.newId(n.name),
        randomInt: (n) => this.jitterRng.int(n),
        transport: (h) => this.net.transport(h),
        store: files.store,
        messages: files.messages,
        gateway: (api) => (n.gateway = new DirectGateway(api)),
      },
    )
    n.node = node
    await node.start()
    n.state = 'up'
    this.trace(`${n.name} started (incarnation ${n.starts})`)
  }

  // -------------------------------------------------------------------------------------------
  // Named scenarios (sim/ordering-scenarios.ts)

  private scenarioHost(): ScenarioHost {
    let made = 0
    return {
      client: async (node, user) => {
        const n = this.nodes[node]
        const c = this.newClient(`${user}@${n.name}#${++made}`, user, node, true)
        c.session = n.gateway!.connect((f) => this.onFrame(c, f))
        const r = await this.drive(this.request(c, { id: 1, op: 'hello', user }))
        if (!r?.ok) throw new InvariantViolation('no-crash', `${c.id} could not sign in on ${n.name}`)
        return this.scriptedClient(c)
      },
      lobbyOf: (node) => {
        const rooms = JSON.parse(this.nodes[node].disk.files.get('rooms.json') ?? '[]') as { roomId: string }[]
        if (!rooms[0]) throw new InvariantViolation('no-crash', `${this.nodes[node].name} has no lobby`)
        return rooms[0].roomId
      },
      crash: (node) => {
        this.count('crash')
        this.crash(this.nodes[node], false)
      },
      restart: (node) => this.restart(this.nodes[node]),
      pause: (node) => {
        this.count('pause')
        this.pause(this.nodes[node])
      },
      resume: (node) => this.resume(this.nodes[node]),
      run: (ms) => this.runFor(ms),
    }
  }

  /** Run the cluster until `p` settles (at most 30 simulated s): a scenario waits for its requests this way. */
  private async drive<T>(p: Promise<T>): Promise<T> {
    let settled = false
    void p.then(
      () => (settled = true),
      () => (settled = true),
    )
    await null
    for (let waited = 0; !settled && waited < 30_000; waited += 10) await this.runFor(10)
    if (!settled) throw new InvariantViolation('no-crash', 'a scenario request got no answer within 30 simulated s')
    return p
  }

  private scriptedClient(c: SimClient): ScenarioClient {
    return {
      join: async (roomId) => {
        await this.drive(this.join(c, roomId))
        if (!c.runs.has(roomId)) throw new InvariantViolation('no-crash', `${c.id} could not join ${roomId}`)
      },
      type: (roomId, everyMs, window = Infinity) => {
        let typing = true
        const tick = () => {
          if (!typing || this.stopTraffic || this.failure) return
          if (c.runs.has(roomId) && c.inFlight < window) void this.send(c, roomId)
          this.clock.setTimeout(tick, everyMs)
        }
        tick()
        return { stop: () => (typing = false) }
      },
      close: () => {
        const n = this.nodes[c.nodeIndex]
        if (c.session && n.gateway) n.gateway.disconnect(c.session)
        this.disconnected(c)
      },
    }
  }

  /** kill -9 (the OS keeps what was written) or a power loss (only what was fsynced survives). */
  private crash(n: SimNode, powerLoss: boolean): void {
    if (n.state === 'down') return
    n.view.stop()
    this.net.crash(n.address)
    n.node = undefined
    n.gateway = undefined
    n.state = 'down'
    n.held = [] // requests waiting in a dead process's sockets are gone with it
    this.stats.crashes++
    const lost = powerLoss ? n.disk.powerLoss() : 0
    this.trace(`FAULT ${powerLoss ? 'power loss' : 'crash'} ${n.name}${powerLoss ? ` (${lost} unsynced messages lost)` : ''}`)
    for (const c of this.clients) if (c.nodeIndex === n.index) this.disconnected(c)
  }

  private async restart(n: SimNode): Promise<void> {
    // Two restarts of one node can be due at once (a scheduled one and the heal's): one start only.
    if (n.state !== 'down' || n.restarting) return
    this.trace(`restart ${n.name}`)
    n.restarting = true
    try {
      await this.startNode(n)
    } finally {
      n.restarting = false
    }
    for (const c of this.clients) if (c.nodeIndex === n.index && !c.scripted) this.scheduleClient(c, 10)
  }

  /**
   * SIGTERM: a graceful leave. The node hands the rooms it administers to replicas
   * (docs/replication.md, "Graceful handover"), says goodbye and stops; it restarts later.
   */
  private async gracefulStop(n: SimNode): Promise<void> {
    if (n.state !== 'up' || !n.node) return
    const node = n.node
    n.state = 'stopping'
    this.trace(`FAULT graceful leave ${n.name}`)
    await node.stop()
    if (n.node !== node) return // killed meanwhile
    n.view.stop()
    this.net.crash(n.address)
    n.node = undefined
    n.gateway = undefined
    n.state = 'down'
    this.trace(`${n.name} left`)
    for (const c of this.clients) if (c.nodeIndex === n.index) this.disconnected(c)
    const after = this.stopTraffic ? 0 : 1000 + this.rng.int(8000)
    this.clock.setTimeout(() => void this.restart(n).catch((e: Error) => this.fail('no-crash', `restart ${n.name}: ${e.stack}`)), after)
  }

  private pause(n: SimNode): void {
    if (n.state !== 'up') return
    n.view.pause()
    this.net.pause(n.address)
    n.state = 'paused'
    this.trace(`FAULT pause ${n.name}`)
  }

  private resume(n: SimNode): void {
    if (n.state !== 'paused') return
    n.view.resume()
    this.net.resume(n.address)
    n.state = 'up'
    this.trace(`resume ${n.name}`)
    for (const read of n.held.splice(0)) read()
  }

  // -------------------------------------------------------------------------------------------
  // Faults

  private active = { partitions: 0, delays: 0 }

  private scheduleFault(): void {
    const wait = 300 + this.rng.int(2500)
    this.clock.setTimeout(() => {
      if (this.stopTraffic) return
      this.injectFault()
      this.scheduleFault()
    }, wait)
  }

  private count(kind: string): void {
    this.stats.faults[kind] = (this.stats.faults[kind] ?? 0) + 1
  }

  private injectFault(): void {
    const up = this.nodes.filter((n) => n.state === 'up')
    const down = this.nodes.filter((n) => n.state === 'down')
    const pick = this.rng.next()
    // With replicated rooms, half the faults hit an administrator: failover is what is tested.
    const admins = this.o.replicas > 1 && this.rng.next() < 0.5 ? this.administrators() : []
    const a = admins.length > 0 ? this.rng.pick(admins) : this.rng.pick(this.nodes)
    let b = this.rng.pick(this.nodes)
    if (b === a) b = this.nodes[(a.index + 1) % this.nodes.length]
    if (pick < 0.12) {
      // Crash: keep at least one node up.
      if (up.length <= 1 || a.state !== 'up') return
      const powerLoss = this.o.bug === 'lose-unsynced' ? true : this.rng.next() < 0.4
      this.count(powerLoss ? 'power-loss' : 'crash')
      this.crash(a, powerLoss)
      const after = 1000 + this.rng.int(12_000)
      this.clock.setTimeout(() => void this.restart(a).catch((e: Error) => this.fail('no-crash', `restart ${a.name}: ${e.stack}`)), after)
    } else if (this.o.replicas > 1 && pick < 0.16) {
      if (up.length <= 1 || a.state !== 'up') return
      this.count('leave')
      void this.gracefulStop(a).catch((e: Error) => this.fail('no-crash', `stop ${a.name}: ${e.stack}`))
    } else if (pick < 0.2) {
      if (a.state !== 'up') return
      this.count('pause')
      this.pause(a)
      this.clock.setTimeout(() => this.resume(a), 300 + this.rng.int(7000))
    } else if (pick < 0.35) {
      // A full partition: one group against the rest.
      const group = this.nodes.filter(() => this.rng.next() < 0.4)
      if (group.length === 0 || group.length === this.nodes.length) return
      this.count('partition')
      const rest = this.nodes.filter((n) => !group.includes(n))
      for (const g of group) for (const r of rest) this.net.partition(g.address, r.address)
      this.trace(`FAULT partition {${group.map((n) => n.name).join(',')}} | {${rest.map((n) => n.name).join(',')}}`)
      this.active.partitions++
      this.clock.setTimeout(() => this.healPartitions(), 500 + this.rng.int(25_000))
    } else if (pick < 0.45) {
      this.count('one-way')
      this.net.blockOneWay(a.address, b.address)
      this.trace(`FAULT one-way ${a.name} ↛ ${b.name}`)
      this.active.partitions++
      this.clock.setTimeout(() => this.healPartitions(), 500 + this.rng.int(15_000))
    } else if (pick < 0.6) {
      this.count('link-reset')
      const n = this.net.breakLinks(a.address, b.address)
      this.trace(`FAULT reset links ${a.name} ↔ ${b.name} (${n})`)
    } else if (pick < 0.75) {
      this.count('delay')
      const ms = 20 + this.rng.int(1500)
      this.net.setDelay(a.address, b.address, ms)
      this.trace(`FAULT delay ${a.name} → ${b.name} +${ms} ms`)
      this.clock.setTimeout(() => {
        this.net.setDelay(a.address, b.address, 0)
        this.trace(`delay ${a.name} → ${b.name} lifted`)
      }, 500 + this.rng.int(8000))
    } else if (down.length > 0 && pick < 0.8) {
      // An early restart of a crashed node.
      void this.restart(down[0]).catch((e: Error) => this.fail('no-crash', `restart: ${e.stack}`))
    }
  }

  /** Nodes up that administer at least one replicated room (by their own account). */
  private administrators(): SimNode[] {
    return this.nodes.filter((n) => {
      if (n.state !== 'up' || !n.node) return false
      for (const s of n.node.replicaStates().values()) if (s.role === 'leader') return true
      return false
    })
  }

  /**
   * At most one administrator per room and term (Raft's election safety), from what each running
   * node says about itself after every step; a claim is remembered after the node dies.
   */
  private checkLeaders(): void {
    for (const n of this.nodes) {
      if (!n.node || n.state === 'down') {
        n.claimsCheckedAt = undefined
        continue
      }
      const changes = n.node.replicaChanges()
      if (n.claimsCheckedAt?.node === n.node && n.claimsCheckedAt.changes === changes) continue
      const checked = n.claimsChecked
      for (const s of n.node.replicaStates().values()) {
        // Run after every step: a claim already checked costs one lookup (docs/simulation.md, "Speed").
        if (s.role !== 'leader' || checked.get(s.roomId) === s.term) continue
        const key = `${s.roomId}#${s.term}`
        const known = this.leaders.get(key)
        if (known === undefined) {
          this.leaders.set(key, n.name)
          if (s.term > 1) this.trace(`${n.name} administers ${s.roomId} in term ${s.term}`)
        } else if (known !== n.name) {
          this.fail('one-admin-per-term', `${n.name} and ${known} both administer room ${s.roomId} in term ${s.term}`)
          continue
        }
        checked.set(s.roomId, s.term)
      }
      if (!this.failure) n.claimsCheckedAt = { node: n.node, changes }
    }
  }

  private healPartitions(): void {
    if (--this.active.partitions > 0) return
    this.net.heal()
    this.trace('partitions healed')
  }

  private healAll(): void {
    this.net.heal()
    this.active.partitions = 0
    for (const a of this.nodes) for (const b of this.nodes) this.net.setDelay(a.address, b.address, 0)
    for (const n of this.nodes) {
      if (n.state === 'paused') this.resume(n)
      if (n.state === 'down') void this.restart(n).catch((e: Error) => this.fail('no-crash', `restart: ${e.stack}`))
    }
    this.trace('HEAL: every fault lifted')
  }

  // -------------------------------------------------------------------------------------------
  // Clients

  private addClient(nodeIndex: number, k: number): void {
    this.newClient(`c${nodeIndex + 1}.${k + 1}`, `u${nodeIndex + 1}${String.fromCharCode(97 + k)}`, nodeIndex)
  }

  /** A client of node `nodeIndex`, not connected yet; `scripted` ones are driven by a named scenario. */
  private newClient(id: string, user: string, nodeIndex: number, scripted?: boolean): SimClient {
    const c: SimClient = {
      id,
      user,
      nodeIndex,
      session: undefined,
      epoch: 0,
      runs: new Map(),
      joining: new Set(),
      pendingEvents: new Map(),
      inFlight: 0,
      sendCounter: 0,
      sent: [],
      lastAcked: new Map(),
      created: new Set(),
      busy: false,
      scripted,
    }
    this.clients.push(c)
    return c
  }

  private scheduleClient(c: SimClient, ms: number): void {
    this.clock.setTimeout(() => void this.clientStep(c).catch((e) => this.fail('no-crash', `client ${c.id}: ${(e as Error).stack}`)), ms)
  }

  private disconnected(c: SimClient): void {
    c.session = undefined
    c.epoch++
    c.runs.clear()
    c.joining.clear()
    c.pendingEvents.clear()
    c.inFlight = 0
    c.busy = false
    for (const s of c.sent) if (s.outcome === undefined) s.outcome = 'unknown'
  }

  private async request(c: SimClient, req: Request): Promise<{ ok: true; result: unknown } | { ok: false; error: ErrorBody } | undefined> {
    const n = this.nodes[c.nodeIndex]
    const s = c.session
    if (!s || !n.gateway) return undefined
    const epoch = c.epoch
    // A stopped process reads nothing: the request waits in its socket, in order, until it continues.
    if (n.state === 'paused') await new Promise<void>((read) => n.held.push(read))
    if (c.epoch !== epoch || c.session !== s || !n.gateway) return undefined
    const r = await n.gateway.request(s, req)
    // The node crashed (or the client reconnected) meanwhile: this reply never reached the client.
    if (c.epoch !== epoch || c.session !== s) return undefined
    return r
  }

  private async clientStep(c: SimClient): Promise<void> {
    const n = this.nodes[c.nodeIndex]
    if (this.stopTraffic || this.failure) return
    if (this.o.bug === 'reject-unhandled' && !this.rejectedUnhandled && this.clock.now() - 1_700_000_000_000 >= 10_000) {
      this.rejectedUnhandled = true
      void Promise.reject(new Error(`a rejection nobody handles, made at ${this.clock.now() - 1_700_000_000_000} ms`))
    }
    const again = () => this.scheduleClient(c, 50 + this.rng.int(400))
    if (n.state !== 'up' || !n.gateway) {
      // Down: the client waits for its node to come back (restart schedules it); paused: it waits.
      if (n.state === 'paused') again()
      return
    }
    if (c.busy) return again()
    if (!c.session) {
      c.busy = true
      c.session = n.gateway.connect((f) => this.onFrame(c, f))
      const r = await this.request(c, { id: 1, op: 'hello', user: c.user })
      c.busy = false
      if (r?.ok) this.trace(`${c.id} hello on ${n.name}`)
      return again()
    }
    const roll = this.rng.next()
    if (c.runs.size === 0 || (roll < 0.08 && c.runs.size < 3)) {
      const list = await this.request(c, { id: 7, op: 'rooms.list' })
      const rooms = list?.ok ? (list.result as Results['rooms.list']).rooms : []
      const candidates = rooms.filter((r) => r.available && !c.runs.has(r.roomId) && !c.joining.has(r.roomId)).map((r) => r.roomId)
      if (candidates.length > 0) await this.join(c, this.rng.pick(candidates))
    } else if (roll < 0.85) {
      // Now and then a burst: sends a few ms apart, pipelined (each leaves in its own frame), which
      // is what sender FIFO is about.
      const roomId = this.rng.pick([...c.runs.keys()])
      const burst = c.inFlight > 0 ? 0 : this.rng.next() < 0.3 ? 2 + this.rng.int(3) : 1
      const epoch = c.epoch
      for (let j = 0; j < burst; j++) {
        this.clock.setTimeout(() => {
          if (c.epoch === epoch && c.runs.has(roomId) && !this.stopTraffic) void this.send(c, roomId)
        }, j * 2)
      }
    } else if (roll < 0.9) {
      await this.leave(c, this.rng.pick([...c.runs.keys()]))
    } else if (roll < 0.93) {
      const r = await this.request(c, { id: 2, op: 'room.create', name: `room of ${c.user} #${c.created.size + 1}` })
      if (r?.ok) {
        const roomId = (r.result as { room: { roomId: string } }).room.roomId
        c.created.add(roomId)
        this.trace(`${c.id} created room ${roomId}`)
      }
    } else if (roll < 0.95 && c.created.size > 0) {
      const roomId = this.rng.pick([...c.created])
      this.trace(`${c.id} deletes room ${roomId}`)
      const r = await this.request(c, { id: 3, op: 'room.delete', roomId })
      if (r?.ok) {
        const outcome = (r.result as { outcome: string }).outcome
        this.trace(`${c.id} delete ${roomId}: ${outcome}`)
        if (outcome === 'committed') {
          this.deletedCommitted.add(roomId)
          c.created.delete(roomId)
        }
      } else if (r) this.trace(`${c.id} delete ${roomId}: ${r.error.code}`)
    }
    again()
  }

  private async join(c: SimClient, roomId: string): Promise<void> {
    const key = `${c.id}\u0000${roomId}`
    this.joinAttempts.set(key, (this.joinAttempts.get(key) ?? 0) + 1)
    c.joining.add(roomId)
    c.pendingEvents.set(roomId, [])
    this.trace(`${c.id} joins ${roomId}`)
    const r = await this.request(c, { id: 4, op: 'room.join', roomId })
    c.joining.delete(roomId)
    const held = c.pendingEvents.get(roomId) ?? []
    c.pendingEvents.delete(roomId)
    if (!r) return
    if (!r.ok) {
      this.trace(`${c.id} join ${roomId}: ${r.error.code}`)
      return
    }
    const res = r.result as { lastSeq: number; history: ChatMessage[] }
    this.trace(`${c.id} joined ${roomId} at seq ${res.lastSeq} (history ${res.history.length})`)
    // Join history: ascending, gap-free, ending at lastSeq (docs/client-protocol.md §6).
    let prev: number | undefined
    for (const m of res.history) {
      this.seen(m, `${c.id} history`)
      if (prev !== undefined && m.seq !== prev + 1) this.fail('history-gap-free', `${c.id} join ${roomId}: history jumps ${prev} → ${m.seq}`)
      prev = m.seq
    }
    if (prev !== undefined && prev !== res.lastSeq) this.fail('history-gap-free', `${c.id} join ${roomId}: history ends at ${prev}, lastSeq ${res.lastSeq}`)
    const run: RoomRun = { expected: res.lastSeq + 1 }
    c.runs.set(roomId, run)
    for (const m of held) this.deliver(c, roomId, m)
  }

  private async leave(c: SimClient, roomId: string): Promise<void> {
    c.runs.delete(roomId)
    this.trace(`${c.id} leaves ${roomId}`)
    const attempt = this.joinAttempts.get(`${c.id}\u0000${roomId}`) ?? 0
    const r = await this.request(c, { id: 5, op: 'room.leave', roomId })
    if (r?.ok) this.leftAcked.push({ c, roomId, attempt })
    else if (r) this.trace(`${c.id} leave ${roomId}: ${r.error.code}`)
  }

  private async send(c: SimClient, roomId: string): Promise<void> {
    const rec: SentRecord = { roomId, clientMsgId: `${c.id}-${++c.sendCounter}`, text: `m${c.sendCounter} from ${c.user}`, n: c.sendCounter }
    c.sent.push(rec)
    if (c.sent.length > 200) c.sent.splice(0, c.sent.length - 200)
    c.inFlight++
    this.stats.sent++
    const epoch = c.epoch
    const r = await this.request(c, { id: 6, op: 'message.send', roomId, text: rec.text, clientMsgId: rec.clientMsgId })
    if (c.epoch === epoch) c.inFlight--
    if (!r) {
      rec.outcome = 'unknown'
      return
    }
    if (!r.ok) {
      rec.outcome = 'failed'
      this.trace(`${c.id} send ${rec.clientMsgId} to ${roomId}: ${r.error.code}`)
      return
    }
    rec.seq = (r.result as { seq: number }).seq
    rec.outcome = 'acked'
    this.stats.acked++
    this.acked.push(rec)
    this.trace(`${c.id} send ${rec.clientMsgId} → seq ${rec.seq} in ${roomId}`)
    const ids = this.seqIds(roomId)
    const known = ids.get(rec.seq)
    if (known !== undefined && known !== rec.clientMsgId) this.fail('one-message-per-seq', `${roomId}#${rec.seq} acknowledged for ${rec.clientMsgId} but is ${known}`)
    ids.set(rec.seq, rec.clientMsgId)
    // Sender FIFO: in (session, room), a later send never gets an earlier seq than an earlier one.
    // The full scan only when it could find something: before any failure, the acknowledged sends
    // of a room are in seq order as they are in send order (each pair was checked), so a send later
    // and numbered higher than the latest one acknowledged is in order with all of them.
    const latest = c.lastAcked.get(roomId)
    if (!latest || rec.n > latest.n) c.lastAcked.set(roomId, rec)
    if (!this.failure && (!latest || (rec.n > latest.n && rec.seq > latest.seq!))) return
    for (const other of c.sent) {
      if (other === rec || other.roomId !== roomId || other.outcome !== 'acked' || other.seq === undefined) continue
      if (other.n < rec.n && other.seq > rec.seq) this.fail('sender-fifo', `${c.id} sent ${other.clientMsgId} before ${rec.clientMsgId} but got seq ${other.seq} > ${rec.seq}`)
      if (other.n > rec.n && other.seq < rec.seq) this.fail('sender-fifo', `${c.id} sent ${rec.clientMsgId} before ${other.clientMsgId} but got seq ${rec.seq} > ${other.seq}`)
    }
  }

  private onFrame(c: SimClient, f: ServerFrame): void {
    if (!('event' in f)) return
    if (f.event === 'message') {
      const m: ChatMessage = { roomId: f.roomId, seq: f.seq, user: f.user, nodeId: f.nodeId, text: f.text, sentAt: f.sentAt, clientMsgId: f.clientMsgId }
      const held = c.pendingEvents.get(m.roomId)
      if (held) held.push(m)
      else this.deliver(c, m.roomId, m)
    } else if (f.event === 'messages') {
      for (const m of f.messages) this.onFrame(c, { event: 'message', ...m })
    } else if (f.event === 'room.admin_changed') {
      // The room goes on under a new administrator: seqs continue, so the run is not reset.
      this.trace(`${c.id} hears ${f.roomId} is now run by ${f.adminNodeName} (term ${f.term}, ${f.reason})`)
    } else if (f.event === 'room.deleted') {
      c.runs.delete(f.roomId)
      c.created.delete(f.roomId)
    }
  }

  private deliver(c: SimClient, roomId: string, m: ChatMessage): void {
    this.stats.delivered++
    this.seen(m, `${c.id} delivery`)
    const run = c.runs.get(roomId)
    if (!run) return // left meanwhile: a late delivery is harmless
    if (m.seq < run.expected) this.fail('no-duplicates', `${c.id} got seq ${m.seq} of ${roomId} again (expected ${run.expected})`)
    if (m.seq > run.expected) this.fail('gap-free', `${c.id} got seq ${m.seq} of ${roomId}, expected ${run.expected}`)
    run.expected = m.seq + 1
  }

  /** (room, seq) names one message everywhere. */
  private seen(m: ChatMessage, where: string): void {
    const id = m.clientMsgId || `${m.user}:${m.text}`
    const ids = this.seqIds(m.roomId)
    const known = ids.get(m.seq)
    if (known === undefined) ids.set(m.seq, id)
    else if (known !== id) this.fail('one-message-per-seq', `${where}: ${m.roomId}#${m.seq} is ${id}, but was ${known} before`)
  }

  private seqIds(roomId: string): Map<number, string> {
    let ids = this.bySeq.get(roomId)
    if (!ids) this.bySeq.set(roomId, (ids = new Map()))
    return ids
  }

  // -------------------------------------------------------------------------------------------
  // The end: after healing and settling

  /** Each live node's room directory, as a client of it sees it (rooms.list). */
  private async directories(): Promise<Map<SimNode, Map<string, RoomInfo>>> {
    const out = new Map<SimNode, Map<string, RoomInfo>>()
    for (const n of this.nodes) {
      if (n.state !== 'up' || !n.gateway) continue
      const s = n.gateway.connect(() => {})
      await n.gateway.request(s, { id: 1, op: 'hello', user: 'inspector' })
      const r = await n.gateway.request(s, { id: 2, op: 'rooms.list' })
      n.gateway.disconnect(s)
      if (r.ok) out.set(n, new Map((r.result as Results['rooms.list']).rooms.map((room) => [room.roomId, room])))
    }
    return out
  }

  /** What each live node says of a room: its directory entry and its replica, for a failure report. */
  private roomViews(dirs: Map<SimNode, Map<string, RoomInfo>>, roomId: string): string {
    const name = (id: string | null | undefined) => this.nodes.find((x) => x.disk.nodeId === id)?.name ?? String(id)
    return [...dirs.keys()]
      .map((n) => {
        const e = dirs.get(n)!.get(roomId)
        const s = n.node?.replicaStates().get(roomId)
        const listed = e ? `administrator ${name(e.adminNodeId)} term ${e.term} replicas ${(e.replicas ?? []).map(name).join(',')}` : 'unlisted'
        return `${n.name}: ${listed}${s ? `, its replica ${s.role} in term ${s.term} (leader ${name(s.leader)}, last seq ${s.log.at(-1)?.message.seq ?? s.floorSeq}, committed ${s.commitSeq})` : ''}`
      })
      .join('; ')
  }

  private async finalChecks(): Promise<void> {
    const dirs = await this.directories()
    const up = [...dirs.keys()]
    // Every acknowledged message is in its administrator's log (unless the room was deleted).
    const adminOf = new Map<string, SimNode>()
    for (const [n, rooms] of dirs) for (const room of rooms.values()) if (room.adminNodeId === n.disk.nodeId) adminOf.set(room.roomId, n)
    for (const rec of this.acked) {
      const admin = adminOf.get(rec.roomId)
      if (!admin) {
        const listed = up.some((n) => dirs.get(n)!.has(rec.roomId))
        if (listed) this.fail('acked-in-log', `room ${rec.roomId} of ${rec.clientMsgId} is listed but no live node administers it (${this.roomViews(dirs, rec.roomId)})`)
        continue
      }
      const got = atSeq(admin.disk.logs.get(rec.roomId)?.messages, rec.seq)
      if (!got || got.clientMsgId !== rec.clientMsgId) {
        this.fail('acked-in-log', `${rec.clientMsgId} was acknowledged as seq ${rec.seq} of ${rec.roomId} but ${admin.name}'s log has ${got ? got.clientMsgId : 'nothing'} there`)
      }
      // Replicated: on every live replica too, at the same seq (docs/replication.md).
      const replicas = admin.node?.replicaStates().get(rec.roomId)?.meta.replicas ?? []
      for (const id of replicas) {
        const r = this.nodes.find((x) => x.disk.nodeId === id)
        if (!r || r === admin || r.state !== 'up') continue
        const copy = atSeq(r.disk.logs.get(rec.roomId)?.messages, rec.seq)
        if (!copy || copy.clientMsgId !== rec.clientMsgId) {
          const log = r.disk.logs.get(rec.roomId)?.messages
          this.fail(
            'acked-on-replicas',
            `${rec.clientMsgId} was acknowledged as seq ${rec.seq} of ${rec.roomId} but replica ${r.name}'s log has ${copy ? copy.clientMsgId : 'nothing'} there (its log: ${log ? `${log.length} messages, seq ${log[0]?.seq ?? '-'}..${log.at(-1)?.seq ?? '-'}` : 'none'}; ${this.roomViews(dirs, rec.roomId)})`,
          )
        }
      }
    }
    // A deletion decided the same way everywhere: each room is listed by every live node or by none.
    const all = new Set<string>()
    for (const rooms of dirs.values()) for (const id of rooms.keys()) all.add(id)
    for (const id of all) {
      const having = up.filter((n) => dirs.get(n)!.has(id)).map((n) => n.name)
      if (having.length !== up.length) this.fail('deletion-agreed', `room ${id} is listed by ${having.join(',')} but not by the other live nodes (${this.roomViews(dirs, id)})`)
      if (this.deletedCommitted.has(id)) this.fail('deletion-agreed', `room ${id} was deleted (committed) but ${having.join(',')} still list it`)
    }
    // An acknowledged leave is kept (docs/replication.md, "Membership and deletion"): unless its
    // client joined the room again since, the administrator does not list the user, whatever
    // failovers came after the acknowledgement.
    const membersOf = new Map<string, { user: string; nodeId: string }[] | undefined>()
    for (const left of this.leftAcked) {
      if ((this.joinAttempts.get(`${left.c.id}\u0000${left.roomId}`) ?? 0) !== left.attempt) continue
      const admin = adminOf.get(left.roomId)
      if (!admin?.gateway) continue
      if (!membersOf.has(left.roomId)) {
        const s = admin.gateway.connect(() => {})
        await admin.gateway.request(s, { id: 1, op: 'hello', user: 'inspector' })
        const r = await admin.gateway.request(s, { id: 2, op: 'room.members', roomId: left.roomId })
        admin.gateway.disconnect(s)
        membersOf.set(left.roomId, r.ok ? (r.result as Results['room.members']).members : undefined)
      }
      const nodeId = this.nodes[left.c.nodeIndex].disk.nodeId
      if (membersOf.get(left.roomId)?.some((m) => m.user === left.c.user && m.nodeId === nodeId)) {
        this.fail('leave-kept', `${left.c.id} left ${left.roomId} (acknowledged) but its administrator ${admin.name} still lists ${left.c.user} (${this.roomViews(dirs, left.roomId)})`)
      }
    }
    // Settled: every session still in a room has been delivered up to the administrator's last seq.
    for (const c of this.clients) {
      for (const [roomId, run] of c.runs) {
        const admin = adminOf.get(roomId)
        if (!admin) continue
        const last = admin.disk.logs.get(roomId)?.messages.at(-1)?.seq ?? 0
        if (run.expected - 1 < last) this.fail('delivered-after-heal', `${c.id} in ${roomId} got up to seq ${run.expected - 1}, the log is at ${last} (${this.roomViews(dirs, roomId)})`)
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Trace and failures

  private trace(line: string): void {
    const at = this.clock.now()
    if (this.o.verbose) console.log(traceText(at, line))
    // Kept unformatted, in a ring: a run traces tens of thousands of lines and shows the last few.
    const buf = this.traceBuf
    if (this.o.traceLines <= 0) return
    if (buf.length < 2 * this.o.traceLines) buf.push(at, line)
    else {
      buf[this.traceNext] = at
      buf[this.traceNext + 1] = line
      this.traceNext = (this.traceNext + 2) % buf.length
    }
  }

  private fail(invariant: string, detail: string): void {
    if (this.failure) return
    this.failure = { invariant, detail, atMs: this.clock.now() - 1_700_000_000_000 }
    this.trace(`VIOLATION ${invariant}: ${detail}`)
  }

  private recordFailure(e: InvariantViolation): void {
    if (!this.failure) this.fail(e.invariant, e.detail)
  }
}

/**
 * The 'vote-any-log' broken world: a room vote request claims the most complete log there can be,
 * so every voter grants it whatever the candidate holds (a vote without the log check).
 */
function lieAboutLog(m: PeerMessage): PeerMessage {
  if (!('roomVoteRequest' in m)) return m
  return { roomVoteRequest: { ...m.roomVoteRequest, lastTerm: 1e9, lastSeq: 1e9 } } as PeerMessage
}

/**
 * Whether anything was queued to run as a microtask: a promise made or settled (V8's promise
 * hooks), a queueMicrotask or a process.nextTick. When nothing was, there is nothing to drain.
 */
function watchMicrotasks(): { queued: boolean; tasks: boolean; ticks: boolean; jobs: number; events: number; stop(): void } {
  const w = { queued: true, tasks: false, ticks: false, jobs: 0, events: 0, stop: () => {} }
  const mark = () => {
    w.queued = true
    w.events++
  }
  const stopHooks = promiseHooks.createHook({
    init: mark,
    settled: mark,
    before: () => {
      w.jobs++
    },
  })
  const queueMicrotask = globalThis.queueMicrotask
  const nextTick = process.nextTick
  globalThis.queueMicrotask = (cb) => {
    w.queued = w.tasks = true
    queueMicrotask(cb)
  }
  process.nextTick = (...args: Parameters<typeof process.nextTick>) => {
    w.queued = w.ticks = true
    nextTick(...args)
  }
  w.stop = () => {
    stopHooks()
    globalThis.queueMicrotask = queueMicrotask
    process.nextTick = nextTick
  }
  return w
}

/**
 * V8's words for a write to a frozen object (strict mode): the simulator shares what crosses between
 * nodes, and to its clients, frozen (sealAsJson, main/cluster/memory-transport.ts), so a node that
 * changes such data throws this TypeError; one that catches and logs it is reported too.
 */
const FROZEN_WRITE = /Cannot (assign to read only property|add property|delete property|define property|redefine property)|object is not extensible/

export function isSharedDataWrite(line: string): boolean {
  // Every node log line passes here: the regular expression only for the few that could match.
  return (line.includes('Cannot ') || line.includes('not extensible')) && FROZEN_WRITE.test(line)
}

/**
 * The message at `seq` in a data dir's log, by binary search: a log's seqs strictly increase (the
 * in-memory log refuses anything else, as the real one does), so this finds what a scan would, in
 * O(log n) for each of a run's thousands of acknowledged messages.
 */
function atSeq(messages: readonly ChatMessage[] | undefined, seq: number | undefined): ChatMessage | undefined {
  if (!messages || seq === undefined) return undefined
  let lo = 0
  let hi = messages.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const at = messages[mid].seq
    if (at === seq) return messages[mid]
    if (at < seq) lo = mid + 1
    else hi = mid - 1
  }
  return undefined
}

function traceText(at: number, line: string): string {
  return `${((at - 1_700_000_000_000) / 1000).toFixed(3).padStart(9)}s ${line}`
}

function traceLinesOf(buf: (number | string)[]): string[] {
  const out: string[] = []
  for (let i = 0; i < buf.length; i += 2) out.push(traceText(buf[i] as number, buf[i + 1] as string))
  return out
}

const RESOLVED = Promise.resolve()

/** The promise hooks' init and settled calls of one `await RESOLVED` of runFor's own (its throwaway promise). */
const OWN_EVENTS = 2

/**
 * What Node runs when a turn's microtask queue is empty (process.nextTick callbacks, then the
 * 'unhandledRejection' events of rejections still unhandled), called without the turn. Node's own,
 * undocumented; without it the simulator takes the turn.
 */
const tickCallback = (process as unknown as { _tickCallback?: () => void })._tickCallback

/** Let every promise continuation run, as Node does after each timer callback. */
function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export async function simulate(o: SimOptions): Promise<SimResult> {
  freezeSharedData(o.checkShared ?? true)
  return new Simulation(o).run()
}
