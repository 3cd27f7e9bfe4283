/**
 * What it takes to start a peer node, and what a started node offers to whoever hosts it (the
 * headless CLI in main/cli.ts, the Electron shell in main/index.ts, and the tests).
 */
export interface NodeOptions {
  /** Human name of the node (docs/client-protocol.md §1: default host name + port). */
  name?: string
  /** Where to listen for peers; port 0 picks one. */
  grpcHost: string
  grpcPort: number
  /** Host peers should dial (e.g. this machine's LAN address when grpcHost is 0.0.0.0). */
  advertiseHost?: string
  /** Where to listen for clients (WebSocket and the browser UI); port 0 picks one. */
  wsHost: string
  wsPort: number
  /** Peer addresses (host:port) to join at start. */
  join: string[]
  /** Node identity, remembered peers, administered rooms and the deletion log live here. */
  dataDir: string
  /** Secret a client must present; random when absent. */
  token?: string
  /**
   * The cluster's secret (client-protocol.md section 7): absent = the one saved in dataDir, else a
   * new one. The host reads --cluster-key / DS_CLUSTER_KEY; the node never reads the environment.
   */
  clusterKey?: string
  /** Most rooms this node administers (docs/security.md, "Abuse limits"); default 200. */
  maxRooms?: number
  /** Most rooms one user creates in 10 s; default 5. */
  roomCreatesPer10s?: number
  heartbeatMs: number
  suspectMs: number
  deadMs: number
  /** fsync every message log append (survives power loss, not only a crash of the process). */
  fsync?: boolean
  /** Allow the `node.faults` client op (teaching demos and failure tests). */
  allowFaults?: boolean
  /** Folder with the built renderer (index.html) to serve over HTTP; absent = no browser UI. */
  uiDir?: string
  /** Extra Origin values the gateway accepts besides its own (e.g. the packaged app's). */
  allowedOrigins?: string[]
  /**
   * postgresql:// URL of a CockroachDB or PostgreSQL server that keeps the shared history archive
   * (docs/archive.md); absent = the embedded log only.
   */
  db?: string
  /**
   * How many nodes hold each room's log, its administrator included (docs/replication.md;
   * client-protocol.md §8). Absent = DEFAULT_REPLICAS; 1 = rooms are not replicated.
   */
  replicas?: number
  /**
   * A replica of a room dead this long is replaced by another live node (docs/replication.md,
   * "Repair"); default DEFAULT_REPAIR_MS.
   */
  repairMs?: number
  /**
   * Past this many members a room is large: clients that said `largeRooms` get its member count
   * instead of every join and leave (client-protocol.md §5, "Large rooms"); default LARGE_ROOM_MEMBERS.
   */
  largeRoomMembers?: number
  /** Where log lines go (stderr for the CLI). */
  log?: (line: string) => void
}

/** --replicas default (client-protocol.md §8); fewer when the cluster is smaller. */
export const DEFAULT_REPLICAS = 3

/** --repair-ms default: long enough that a restart or a short outage is not repaired. */
export const DEFAULT_REPAIR_MS = 30_000

export const DEFAULT_TIMING = { heartbeatMs: 500, suspectMs: 1500, deadMs: 3000 } as const

/** Everything the host of a node may use. */
export interface RunningNode {
  readonly nodeId: string
  readonly name: string
  /** host:port peers use to reach this node. */
  readonly grpcAddress: string
  /** ws://host:port of the client gateway. */
  readonly wsUrl: string
  /** http://host:port/?token=... serving the UI, when uiDir was given. */
  readonly uiUrl: string | undefined
  readonly token: string
  /** The cluster key in use (a program that starts nodes passes it on, like the token). */
  readonly clusterKey: string
  /** Dial a peer and wait for its handshake (what `peers.add` does). */
  addPeer(address: string): Promise<void>
  /** Addresses of the peers this node knows (to remember them across restarts). */
  knownPeerAddresses(): string[]
  /** Graceful leave: tell peers, close streams and servers. Safe to call twice. */
  stop(): Promise<void>
}
