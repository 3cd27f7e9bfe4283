/**
 * What the node needs of a network to talk to its peers (docs/simulation.md, "Transport"): dial a
 * peer and get a link to write batches of peer messages on, accept the links other nodes open to us,
 * receive their messages in order, and close. Two implementations keep this contract
 * (test/cluster/transport-contract.test.ts runs the same suite against both):
 *   peer-transport.ts    gRPC streams between processes (the product);
 *   memory-transport.ts  an in-memory network on an injected clock, with delay, loss of links,
 *                        partitions and paused nodes (the simulator's).
 *
 * The contract, as peer-links.ts relies on it:
 *   - a link is one direction: the dialer writes, the dialed node reads; each node dials its own
 *     link to every peer it writes to;
 *   - the first thing on a link is the dialer's Hello; the dialed node answers with its own Hello
 *     (or refuses, and `open` rejects with LinkRefused); nothing else comes back on the link;
 *   - messages written on a link arrive in the order written, none twice; a link that breaks loses
 *     what it had not delivered yet and says so once through `onDown` (never silently);
 *   - `inbound` is never called for a peer whose Hello was refused.
 */
import type { DecodedMessage, Hello, PeerMessage } from './peer-messages'

export class LinkRefused extends Error {
  override readonly name = 'LinkRefused'
  constructor(
    readonly code: 'self' | 'bad_hello' | 'timeout' | 'unreachable' | 'forbidden',
    message: string,
  ) {
    super(message)
  }
}

/** What the node answers to the transport: our Hello, links opened to us, and what arrives on them. */
export interface TransportHandlers {
  /** Our Hello as of now (sent first on every link and as the answer to a dialer). */
  hello(): Hello
  /**
   * A peer opened a link to us; throw to refuse it. Returns nothing: we answer with hello().
   * Over gRPC its Hello's node id is the one its TLS certificate proves (docs/security.md).
   */
  inboundHello(hello: Hello, remoteHost: string | undefined): void
  /** Messages a peer sent us, in its order. */
  inbound(fromNodeId: string, messages: DecodedMessage[]): void
  /**
   * A message that failed the check of its shape (peer-schema.ts) where it entered: it is not handed
   * on; the node refuses it (a log line, and an error reply when it was a request).
   */
  malformed?(fromNodeId: string, body: string, reqId: number | undefined, reason: string): void
  /**
   * A Link refused before its handshake completed (no certificate of this cluster, a Hello about
   * another node than the certificate proves, a bad Hello): the caller got an error status; the node
   * says so in its logs (docs/security.md). `from` is the caller's host.
   */
  refusedLink?(from: string, reason: string): void
}

/** Our side of one link to a peer: a queue, a writer and the handshake. */
export interface PeerLink {
  /** The address dialled. */
  readonly address: string
  /** Handshake done and not closed. */
  readonly up: boolean
  /** The peer's Hello, once the handshake is done. */
  readonly peer: Hello | undefined
  /** When a frame was last written (the node's clock): a link that wrote recently needs no heartbeat. */
  readonly lastWriteAt: number
  /** Since the link opened: frames written, and peer messages in them (their ratio is the batching). */
  readonly framesWritten: number
  readonly messagesWritten: number
  /** Messages waiting to be written. */
  readonly queued: number
  /** Send our Hello and resolve with the peer's; rejects with LinkRefused. */
  open(ourHello: Hello, timeoutMs: number): Promise<Hello>
  /** Queue one message; what is queued in one turn leaves together. Ignored once closed. */
  send(m: PeerMessage): void
  /** Write what is queued, then end the link (a graceful leave); resolves within `waitMs`. */
  drainAndEnd(waitMs: number): Promise<void>
  /** Close at once, dropping what is queued; `onDown` runs once. */
  close(reason: string): void
}

export interface Transport {
  /** Accept peers' links at host:port (0 picks a port); resolves with the port. */
  listen(host: string, port: number): Promise<number>
  /** A link to `address`, not yet open; `onDown` runs once when it closes or breaks. */
  newLink(address: string, onDown: (link: PeerLink, reason: string) => void): PeerLink
  /** Stop accepting and end the links peers opened to us. */
  close(): Promise<void>
  /** The cluster key changed (an adopted invite): new links use the new credentials (gRPC only). */
  rekey?(): void
}

/** Builds a node's transport around its handlers (how peer-node.ts is given gRPC or the memory network). */
export type TransportFactory = (handlers: TransportHandlers) => Transport
