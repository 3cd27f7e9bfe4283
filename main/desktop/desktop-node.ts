/**
 * Startup and shutdown of the peer node inside a desktop instance, without Electron: main/index.ts
 * hands in the real startNode and Electron's folders, tests hand in the same startNode (real nodes)
 * or a fake one. Order of work:
 *   claim the instance folder -> load settings -> pick the gRPC port -> start the node joined to the
 *   remembered peers -> keep the remembered peers up to date -> on quit: save peers, leave gracefully.
 */
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_TIMING, type NodeOptions, type RunningNode } from '../node/node-options'
import type { DesktopArgs } from './instance'
import { acquireInstanceLock, type InstanceLock } from './instance'
import { chooseGrpcPort, defaultGrpcPort, isAddressInUse } from './ports'
import { SettingsStore, samePeers, type Settings } from './settings-store'

export type StartNode = (options: NodeOptions) => Promise<RunningNode>

export interface DesktopNodeConfig extends DesktopArgs {
  /** This instance's own folder (instanceUserDataDir). */
  userDataDir: string
  /** Port to try first instead of 50051 + (N - 1) (tests use 0: they never touch fixed ports). */
  preferredGrpcPort?: number
  /** Default 0.0.0.0: lab mates on other machines must reach the node. */
  defaultGrpcHost?: string
  /** Origins of our own UI that the node's gateway must accept (docs/client-protocol.md §2). */
  allowedOrigins?: string[]
  /** How often known peers are compared with the remembered ones; default 2000 ms. */
  peerSaveIntervalMs?: number
  /**
   * The cluster key to use (DS_CLUSTER_KEY, e.g. from scripts/three.mjs); absent: the one the node
   * saved in its folder, or a new one on first start (client-protocol.md section 7).
   */
  clusterKey?: string
  /** Node timing; default DEFAULT_TIMING (tests shorten it). */
  timing?: Pick<NodeOptions, 'heartbeatMs' | 'suspectMs' | 'deadMs'>
  log?: (line: string) => void
}

export interface DesktopNode {
  readonly instance: number
  readonly node: RunningNode
  readonly settings: SettingsStore
  /** What lab mates on other machines type to join this node (see shareableAddress). */
  readonly shareableAddress: string
  /** Compare the node's known peers with the remembered ones and save if they differ. */
  savePeers(): Promise<void>
  /** Save peers, leave the cluster gracefully, release the folder. Safe to call twice. */
  stop(): Promise<void>
}

/** Folder where main/node keeps this instance's identity (and later its store). */
export function nodeDataDir(userDataDir: string): string {
  return join(userDataDir, 'node')
}

type Interfaces = ReturnType<typeof networkInterfaces>

/**
 * The address a lab mate on another machine should type. A node listening on every interface
 * reports 127.0.0.1:PORT (right for this machine only), so the first non-internal IPv4 address
 * of this machine is shown instead, with the same port.
 */
const WILDCARD_HOSTS = ['0.0.0.0', '::', '']

/** This machine's address on the lab network, if it has one (undefined when offline). */
export function lanIPv4(interfaces: Interfaces = networkInterfaces()): string | undefined {
  // Container and VM bridges (docker0 172.17.0.1, virbr0, vboxnet...) are not reachable from a lab
  // mate's machine; list real interfaces first and use a bridge only when there is nothing else.
  const virtual = /^(docker|br-|veth|virbr|vboxnet|vmnet|vethernet|tun|tap|utun|zt|tailscale)/i
  const names = Object.keys(interfaces).sort((a, b) => Number(virtual.test(a)) - Number(virtual.test(b)))
  for (const name of names) {
    for (const n of interfaces[name] ?? []) if (n.family === 'IPv4' && !n.internal) return n.address
  }
  return undefined
}

export function shareableAddress(grpcAddress: string, grpcHost: string, interfaces: Interfaces = networkInterfaces()): string {
  if (!WILDCARD_HOSTS.includes(grpcHost)) return grpcAddress
  const port = grpcAddress.slice(grpcAddress.lastIndexOf(':') + 1)
  const lan = lanIPv4(interfaces)
  return lan ? `${lan}:${port}` : grpcAddress
}

/** "name — address" so that a lab mate can read the address to type off the screen. */
export function windowTitle(node: Pick<RunningNode, 'name'>, address: string, instance: number): string {
  const suffix = instance > 1 ? ` (instance ${instance})` : ''
  return `ds-g1-sms — ${node.name} — ${address}${suffix}`
}

/**
 * One JSON line on stdout when the app's node is ready, shaped like the CLI's ready line
 * (docs/client-protocol.md §1) minus the token: scripts/three.mjs reads it to join instances 2
 * and 3 to instance 1, and a token has no business in a terminal scroll-back here.
 */
export function desktopReadyLine(instance: number, node: RunningNode, userDataDir: string, lanAddress?: string): string {
  return JSON.stringify({
    event: 'ready',
    instance,
    nodeId: node.nodeId,
    name: node.name,
    grpc: node.grpcAddress,
    ...(lanAddress && lanAddress !== node.grpcAddress ? { lan: lanAddress } : {}),
    ws: node.wsUrl,
    userData: userDataDir,
  })
}

export async function startDesktopNode(startNode: StartNode, config: DesktopNodeConfig): Promise<DesktopNode> {
  const log = config.log ?? (() => {})
  const lock: InstanceLock = acquireInstanceLock(config.userDataDir)
  try {
    const settings = await SettingsStore.open(config.userDataDir, log)
    if (config.join.length > 0) {
      // Addresses given with --join become remembered peers, as if typed into the settings.
      await settings.update({ peers: [...settings.get().peers, ...config.join] })
    }
    const remembered: Settings = settings.get()
    const grpcHost = config.grpcHost ?? config.defaultGrpcHost ?? '0.0.0.0'
    const explicitPort = config.grpcPort !== undefined
    const firstPort = explicitPort ? config.grpcPort! : await chooseGrpcPort(grpcHost, config.preferredGrpcPort ?? defaultGrpcPort(config.instance))
    // Listening on every interface, the node would tell peers "127.0.0.1:PORT", useless to other
    // machines (and gossiped onwards). advertiseHost asks it to give the LAN address instead; it is
    // not in NodeOptions yet (see the lead's note), so it rides along as an extra field for now.
    const advertiseHost = WILDCARD_HOSTS.includes(grpcHost) ? lanIPv4() : undefined
    const options = (grpcPort: number): NodeOptions & { advertiseHost?: string } => ({
      ...(advertiseHost ? { advertiseHost } : {}),
      ...(config.timing ?? DEFAULT_TIMING),
      // Unset: the node's own default, host name + port (docs/client-protocol.md §1), which already
      // tells instances on one machine apart.
      name: config.name ?? remembered.nodeName,
      grpcHost,
      grpcPort,
      // Clients are only this machine's window: never expose the gateway to the network.
      wsHost: '127.0.0.1',
      wsPort: 0,
      join: remembered.peers,
      dataDir: nodeDataDir(config.userDataDir),
      ...(config.clusterKey ? { clusterKey: config.clusterKey } : {}),
      allowedOrigins: config.allowedOrigins ?? [],
      // The history archive (docs/archive.md): the environment wins over the saved setting.
      db: process.env.DS_DB_URL || remembered.dbUrl,
      log,
    })
    let node: RunningNode
    try {
      node = await startNode(options(firstPort))
    } catch (err) {
      // Someone took the port between our probe and the node's bind: any free port will do.
      if (explicitPort || !isAddressInUse(err)) throw err
      log(`desktop: gRPC port ${firstPort} taken at bind time, using a free one`)
      node = await startNode(options(0))
    }
    return watchPeers(node, shareableAddress(node.grpcAddress, grpcHost), settings, lock, config, log)
  } catch (err) {
    lock.release()
    throw err
  }
}

function watchPeers(
  node: RunningNode,
  address: string,
  settings: SettingsStore,
  lock: InstanceLock,
  config: DesktopNodeConfig,
  log: (line: string) => void,
): DesktopNode {
  // Until the node has known at least one peer this run, an empty list means "not connected yet"
  // (the remembered peers may be offline), not "the user removed them": do not forget them then.
  let sawPeers = false
  let saving: Promise<void> = Promise.resolve()
  const savePeers = (): Promise<void> => {
    saving = saving.then(async () => {
      const self = node.grpcAddress
      const known = node.knownPeerAddresses().filter((a) => a !== self)
      if (known.length > 0) sawPeers = true
      if (!sawPeers) return
      if (samePeers(known, settings.get().peers)) return
      await settings.update({ peers: known })
      log(`desktop: remembered peers now ${JSON.stringify(settings.get().peers)}`)
    }).catch((err) => log(`desktop: saving peers failed: ${(err as Error).message}`))
    return saving
  }
  const timer = setInterval(() => void savePeers(), config.peerSaveIntervalMs ?? 2000)
  // The app quits through stop(); this timer alone must never keep a process alive.
  timer.unref()
  let stopping: Promise<void> | undefined
  return {
    instance: config.instance,
    node,
    settings,
    shareableAddress: address,
    savePeers,
    stop() {
      stopping ??= (async () => {
        clearInterval(timer)
        try {
          // Last look before leaving: once stopped, the node knows no peers any more.
          await savePeers()
          await settings.flush()
          await node.stop()
        } finally {
          lock.release()
        }
      })()
      return stopping
    },
  }
}
