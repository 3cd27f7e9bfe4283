/**
 * Real nodes (main/node/peer-node.ts) in the test process, on a virtual clock and the in-memory
 * network, each with an in-memory data dir that survives its crashes, and clients that talk to
 * them through the client ops (sim/direct-gateway.ts). Time moves only when the test says so.
 */
import type { Request, Results, RoomInfo, ServerEvent, ServerFrame } from '../../proto/client-protocol'
import { MemoryNetwork, type MemoryNetworkOptions } from '../../main/cluster/memory-transport'
import { VirtualClock, type ClockView } from '../../main/cluster/virtual-clock'
import type { Clock } from '../../main/cluster/clock'
import type { ClientSession } from '../../main/gateway/ws-gateway'
import { PeerNode } from '../../main/node/peer-node'
import type { MessageStore } from '../../main/store/message-log'
import { DirectGateway } from '../../sim/direct-gateway'
import { MemoryDataDir } from '../../sim/memory-data-dir'
import { Prng } from '../../sim/prng'

export const TIMING = { heartbeatMs: 200, suspectMs: 600, deadMs: 1200 }

export interface TestNode {
  name: string
  address: string
  disk: MemoryDataDir
  view: ClockView
  node: PeerNode
  gateway: DirectGateway
}

export interface TestClient {
  session: ClientSession
  events: ServerEvent[]
  /** A request; rejects with the contract's error code. */
  call<O extends Request['op']>(req: Extract<Request, { op: O }>): Promise<Results[O]>
}

/** The room as `c`'s node lists it (rooms.list), or undefined when it does not list it. */
export async function listedRoom(c: TestClient, roomId: string): Promise<RoomInfo | undefined> {
  return (await c.call({ id: 90, op: 'rooms.list' })).rooms.find((r) => r.roomId === roomId)
}

/** The node's id, as room states and directory entries name it. */
export const nodeId = (n: TestNode): string => n.node.selfRef().nodeId

/** The replica set of `roomId` as `n`'s replica holds it, or undefined when `n` holds none. */
export const replicaSet = (n: TestNode, roomId: string): string[] | undefined => n.node.replicaStates().get(roomId)?.meta.replicas

/** The texts of the room's `message` events `c` got, in arrival order. */
export const messageTexts = (c: TestClient, roomId: string): string[] =>
  c.events.flatMap((e) => (e.event === 'message' && e.roomId === roomId ? [e.text] : []))

/**
 * The node `n1` that created a replicated room (its administrator of term 1) crashes and comes back
 * from its data dir: another replica `x` is elected and runs the room in term 2, and the restarted
 * n1 follows it (docs/replication.md, "Election"). Tests of a deposed administrator start here, so
 * the term and the new administrator are checked in one place. `user` signs in again on the
 * restarted node; `y` is the third replica. The checks throw (this harness is also the node code's
 * driver in `npm run bench -- --logic`, where vitest cannot be loaded).
 */
export async function creatorRestarted(
  cluster: TestCluster,
  n1: TestNode,
  user: string,
  roomId: string,
): Promise<{ n1: TestNode; client: TestClient; x: TestNode; y: TestNode }> {
  cluster.crash(n1)
  await cluster.run(5000)
  const restarted = await cluster.restart(n1)
  await cluster.run(3000)
  const client = await cluster.client(restarted, user)
  const first = (await listedRoom(client, roomId))!
  if (first.term !== 2) throw new Error(`the room is in term ${first.term} after its creator's restart, not 2`)
  const x = cluster.nodes.find((n) => n.name === first.adminNodeName)!
  const y = cluster.nodes.find((n) => n !== x && n !== restarted)!
  if (x === restarted) throw new Error('the restarted creator administers the room again, not another replica')
  return { n1: restarted, client, x, y }
}

/** `log`, with `before(entries)` called ahead of each write of a replicated room's entries (to count them). */
export function beforeEntryWrites(log: MessageStore, before: (entries: Parameters<MessageStore['appendEntries']>[1]) => void): MessageStore {
  return new Proxy(log, {
    get(target, prop, receiver) {
      if (prop === 'appendEntries') {
        return (roomId: string, entries: Parameters<MessageStore['appendEntries']>[1]) => {
          before(entries)
          target.appendEntries(roomId, entries)
        }
      }
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

export class TestCluster {
  readonly clock = new VirtualClock(1_000_000)
  readonly net: MemoryNetwork
  /** The peer protocol of some nodes, by name (a node of an older release); set before start. */
  peerProtocols: Record<string, number> = {}

  /**
   * Every node's election jitter (NodeEnvironment.randomInt), seeded: a test runs the same schedule
   * each time. NODE_TEST_SEED picks another seed, to see that a test does not hang on one draw.
   */
  private readonly jitter: Prng

  /** `tamper`: sees (and may change) every peer message on the wire (MemoryNetworkOptions). */
  constructor(o: { tamper?: MemoryNetworkOptions['tamper']; seed?: number } = {}) {
    this.net = new MemoryNetwork({ clock: this.clock, latencyMs: () => 1, tamper: o.tamper })
    this.jitter = new Prng(o.seed ?? Number(process.env.NODE_TEST_SEED ?? 1))
  }
  readonly nodes: TestNode[] = []
  /** A test's own message log in front of a node's (a disk that fails, say); set before start. */
  wrapMessages?: (nodeName: string, log: MessageStore) => MessageStore
  /** --replicas for every node (default: the node's default); set before start. */
  replicas?: number
  /** --repair-ms for every node (default: the node's default, 30 s); set before start. */
  repairMs?: number
  /** The large-room threshold of every node (client-protocol.md §5, "Large rooms"); set before start. */
  largeRoomMembers?: number
  /**
   * The nodes' clock runs Clock.afterIo behind everything due at the same virtual instant (the
   * real clock's setImmediate: after the I/O callbacks of the turn); without it, the node batches
   * to the end of each callback, as in the simulator. Set before start.
   */
  afterIo?: boolean
  /** Failure detector timing of every node instead of TIMING; set before start. */
  timing?: Partial<typeof TIMING>
  private ids = 0
  /** Every node's log lines, as `<virtual ms> <node>: <line>` (printed by a test that needs them). */
  readonly logs: string[] = []

  /** `count` nodes started with `--replicas replicas` (replicated rooms, docs/replication.md). */
  static async replicated(count: number, replicas = 3, o: { repairMs?: number } = {}): Promise<TestCluster> {
    const c = new TestCluster()
    c.replicas = replicas
    c.repairMs = o.repairMs
    await c.start(count)
    return c
  }

  async start(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const disk = new MemoryDataDir(`node-${i + 1}`)
      this.nodes.push(await this.boot(`n${i + 1}`, `10.0.0.${i + 1}:7000`, disk, i === 0 ? [] : ['10.0.0.1:7000']))
    }
    await this.run(2000)
  }

  private async boot(name: string, address: string, disk: MemoryDataDir, join: string[]): Promise<TestNode> {
    const view = this.clock.view()
    const files = disk.open({ fsync: false })
    let gateway: DirectGateway | undefined
    const node = new PeerNode(
      { name, grpcHost: address.split(':')[0], grpcPort: 7000, wsHost: '127.0.0.1', wsPort: 0, join, dataDir: `/test/${name}`, token: 't', log: (line: string) => this.logs.push(`${this.clock.now()} ${name}: ${line}`), ...TIMING, ...this.timing, ...(this.replicas ? { replicas: this.replicas } : {}), ...(this.repairMs ? { repairMs: this.repairMs } : {}), ...(this.largeRoomMembers ? { largeRoomMembers: this.largeRoomMembers } : {}) },
      {
        clock: this.afterIo ? withAfterIo(view) : view,
        newId: () => `${name}-id-${++this.ids}`,
        transport: (h) => this.net.transport(h),
        store: files.store,
        messages: this.wrapMessages ? this.wrapMessages(name, files.messages) : files.messages,
        gateway: (api) => (gateway = new DirectGateway(api)),
        peerProtocol: this.peerProtocols[name],
        randomInt: (n) => this.jitter.int(n),
      },
    )
    await node.start()
    return { name, address, disk, view, node, gateway: gateway! }
  }

  /** Let `ms` of virtual time pass (timers, network, promise continuations). */
  run(ms: number): Promise<void> {
    return this.clock.advance(ms)
  }

  /** Wait for a request while virtual time passes. */
  async settle<T>(p: Promise<T>, maxMs = 30_000): Promise<T> {
    let done = false
    const watched = p.finally(() => (done = true))
    watched.catch(() => {})
    for (let t = 0; t < maxMs && !done; t += 10) await this.clock.advance(10)
    return watched
  }

  /** A signed-in client; `hello` adds to its hello (batch, largeRooms). */
  async client(n: TestNode, user: string, hello: { batch?: boolean; largeRooms?: boolean } = {}): Promise<TestClient> {
    const events: ServerEvent[] = []
    const session = n.gateway.connect((f: ServerFrame) => {
      if ('event' in f) events.push(f)
    })
    const c: TestClient = {
      session,
      events,
      call: async (req) => {
        const r = await this.settle(n.gateway.request(session, req))
        if (!r.ok) throw Object.assign(new Error(`${r.error.code}: ${r.error.message}`), { code: r.error.code })
        return r.result as never
      },
    }
    await c.call({ id: 1, op: 'hello', user, ...hello })
    return c
  }

  /** Partition `a` from each of `others`: every frame between them is held back, both ways. */
  cut(a: TestNode, ...others: TestNode[]): void {
    for (const o of others) this.net.partition(a.address, o.address)
  }

  /** kill -9: the process is gone, its data dir stays. */
  crash(n: TestNode): void {
    n.view.stop()
    this.net.crash(n.address)
  }

  /** Start the node again from its data dir. */
  async restart(n: TestNode): Promise<TestNode> {
    const again = await this.boot(n.name, n.address, n.disk, [])
    this.nodes[this.nodes.indexOf(n)] = again
    return again
  }

  /** Every client-visible message event of a room, in arrival order. */
  static seqs(c: TestClient, roomId: string): number[] {
    return c.events.filter((e): e is Extract<ServerEvent, { event: 'message' }> => e.event === 'message' && e.roomId === roomId).map((e) => e.seq)
  }

  stopAll(): void {
    for (const n of this.nodes) n.view.stop()
  }
}

/** `view` with afterIo: `fn` runs behind every callback already due now (a 0 ms timer of the virtual clock). */
function withAfterIo(view: ClockView): Clock {
  return {
    now: () => view.now(),
    setTimeout: (fn, ms) => view.setTimeout(fn, ms),
    setInterval: (fn, ms) => view.setInterval(fn, ms),
    clear: (t) => view.clear(t),
    afterIo: (fn) => {
      view.setTimeout(fn, 0)
    },
  }
}
