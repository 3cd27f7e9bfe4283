/**
 * A node's --data-dir in memory, for the simulator (docs/simulation.md, "Data dir"): it outlives the
 * node object, so a simulated crash and restart read back what the node wrote, and it knows what
 * was written from what was made durable:
 *   - the small JSON files (identity, peers, rooms, deletion log) are replaced atomically and
 *     fsynced by NodeStore, so they are always durable here too;
 *   - a message log append is durable only when it is fsynced (--fsync, or a graceful stop's sync).
 * A process crash (kill -9) keeps everything written (it is in the OS cache); a power loss keeps
 * only what was durable.
 */
import type { ChatMessage } from '../proto/client-protocol'
import { nodeKeyPemFromLabel } from '../main/cluster/cluster-credentials'
import { sealAsJson, sharedDataFrozen } from '../main/cluster/memory-transport'
import type { NodeStorage, StoredRoom } from '../main/store/node-store'
import type { MessageStore, OpenedLog } from '../main/store/message-log'

/** A misuse of the log by the node (the real log throws the same way). */
export class MemoryLogError extends Error {
  override readonly name = 'MemoryLogError'
  readonly code = 'message_log'
}

interface RoomLog {
  messages: ChatMessage[]
  /** Replicated rooms (docs/replication.md): the term of each message, by index (0 = unreplicated). */
  terms?: number[]
  /** How many of `messages` are durable. */
  synced: number
  /** The seq an empty log goes on after (`resumeAfter`). */
  floor?: number
}

function lastSeqOf(log: RoomLog): number {
  return log.messages.length > 0 ? log.messages[log.messages.length - 1].seq : (log.floor ?? 0)
}

/**
 * The small files of a data dir, by name, as their JSON text. A file saved with `saveFresh` (a value
 * nobody changes after it: replication.json, made for each write, and the room state files, made of
 * a state that is replaced, never changed in place) is kept as that value and serialised only when
 * the file is read (a restart, a test): most are replaced unread, and their text was 2-3 % of a
 * simulated run (docs/simulation.md, "Speed"). What a reader gets is the text it would have got,
 * written when it was saved. Where the simulator checks shared data (freezeSharedData), the value is
 * frozen as it is saved, so a node that changed it after would throw.
 */
export class MemoryFiles extends Map<string, string> {
  private readonly unwritten = new Map<string, unknown>()

  /** Save `value` as the file `name`, its text made when it is first read. */
  setValue(name: string, value: unknown): void {
    this.unwritten.set(name, sharedDataFrozen() ? sealAsJson(value) : value)
    // Listed with the others (size, keys); its text comes with get().
    super.set(name, '')
  }

  override get(name: string): string | undefined {
    if (this.unwritten.size > 0 && this.unwritten.has(name)) this.write(name)
    return super.get(name)
  }

  override set(name: string, text: string): this {
    if (this.unwritten.size > 0) this.unwritten.delete(name)
    return super.set(name, text)
  }

  override delete(name: string): boolean {
    this.unwritten.delete(name)
    return super.delete(name)
  }

  override clear(): void {
    this.unwritten.clear()
    super.clear()
  }

  override entries(): MapIterator<[string, string]> {
    for (const name of [...this.unwritten.keys()]) this.write(name)
    return super.entries()
  }

  override values(): MapIterator<string> {
    for (const name of [...this.unwritten.keys()]) this.write(name)
    return super.values()
  }

  override forEach(fn: (text: string, name: string, map: Map<string, string>) => void, thisArg?: unknown): void {
    for (const name of [...this.unwritten.keys()]) this.write(name)
    super.forEach(fn, thisArg)
  }

  override [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries()
  }

  private write(name: string): void {
    const value = this.unwritten.get(name)
    this.unwritten.delete(name)
    super.set(name, JSON.stringify(value))
  }
}

export class MemoryDataDir {
  readonly files = new MemoryFiles()
  readonly logs = new Map<string, RoomLog>()
  /** The node's key (as a file in the data dir would keep it). */
  nodeKeyPem: string | undefined

  /**
   * `keyLabel`: the node key is derived from it (default: the node id). The simulator passes the
   * node's name: the in-memory network checks no certificate, so the key changes nothing in a run,
   * and the same names in every seed reuse one key and certificate per name for the whole process.
   */
  constructor(
    readonly nodeId: string,
    readonly keyLabel: string = nodeId,
  ) {}

  /** The node's view of this data dir: its small files and its message logs. */
  open(opts: { fsync: boolean }): { store: NodeStorage; messages: MessageStore } {
    return { store: new MemoryNodeStore(this), messages: new MemoryMessageLog(this, opts.fsync) }
  }

  /** Power loss: every message log loses what was written but not fsynced. Returns how many were lost. */
  powerLoss(): number {
    let lost = 0
    for (const log of this.logs.values()) {
      lost += log.messages.length - log.synced
      log.messages.length = log.synced
      if (log.terms) log.terms.length = Math.min(log.terms.length, log.synced)
    }
    return lost
  }
}

const NODE_KEYS = new Map<string, string>()

function nodeKeyOf(label: string): string {
  let pem = NODE_KEYS.get(label)
  if (pem === undefined) NODE_KEYS.set(label, (pem = nodeKeyPemFromLabel(`sim node ${label}`)))
  return pem
}

class MemoryNodeStore implements NodeStorage {
  constructor(private readonly dir: MemoryDataDir) {}

  /**
   * The simulator names its nodes itself: the in-memory network has no certificates, so the id a
   * node key proves (docs/security.md) is not used here.
   */
  identity(): { nodeId: string; createdAt: number } {
    return { nodeId: this.dir.nodeId, createdAt: 0 }
  }

  nodeKey(): string {
    // Derived once per label: a key pair costs more than a restart of the node otherwise does.
    return (this.dir.nodeKeyPem ??= nodeKeyOf(this.dir.keyLabel))
  }

  clusterKey(given: string | undefined): { key: string; created: boolean } {
    const saved = this.dir.files.get('cluster-key')
    const key = given ?? saved ?? 'simulated-cluster-key'
    this.saveClusterKey(key)
    return { key, created: given === undefined && saved === undefined }
  }

  saveClusterKey(key: string): void {
    this.dir.files.set('cluster-key', key)
  }

  peers(): string[] {
    return this.load<string[]>('peers.json', [])
  }

  savePeers(addresses: string[]): void {
    this.save('peers.json', [...new Set(addresses)].sort())
  }

  rooms(): StoredRoom[] {
    return this.load<StoredRoom[]>('rooms.json', [])
  }

  saveRooms(rooms: StoredRoom[]): void {
    this.save('rooms.json', rooms)
  }

  load<T>(name: string, fallback: T): T {
    const text = this.dir.files.get(name)
    return text === undefined ? fallback : (JSON.parse(text) as T)
  }

  save(name: string, value: unknown): void {
    this.dir.files.set(name, JSON.stringify(value))
  }

  saveFresh(name: string, value: unknown): void {
    this.dir.files.setValue(name, value)
  }
}

class MemoryMessageLog implements MessageStore {
  /** Rooms whose log this node object opened (a restarted node opens them again). */
  private readonly opened = new Set<string>()

  constructor(
    private readonly dir: MemoryDataDir,
    private readonly fsync: boolean,
  ) {}

  roomIds(): string[] {
    return [...this.dir.logs.keys()]
  }

  open(roomId: string, tail: number): OpenedLog {
    let log = this.dir.logs.get(roomId)
    if (!log) this.dir.logs.set(roomId, (log = { messages: [], synced: 0 }))
    this.opened.add(roomId)
    const ms = log.messages
    return { lastSeq: lastSeqOf(log), tail: ms.slice(Math.max(0, ms.length - tail)).map((m) => ({ ...m })) }
  }

  append(m: ChatMessage): void {
    const log = this.dir.logs.get(m.roomId)
    if (!log || !this.opened.has(m.roomId)) throw new MemoryLogError(`room ${m.roomId} has no open log`)
    const last = lastSeqOf(log)
    if (m.seq <= last) throw new MemoryLogError(`seq ${m.seq} is not after ${last} in room ${m.roomId}`)
    log.messages.push({ ...m })
    if (this.fsync) log.synced = log.messages.length
  }

  range(roomId: string, from: number, to: number): ChatMessage[] {
    const log = this.dir.logs.get(roomId)
    if (!log || to < from) return []
    return log.messages.filter((m) => m.seq >= from && m.seq <= to).map((m) => ({ ...m }))
  }

  lastSeq(roomId: string): number {
    const log = this.dir.logs.get(roomId)
    return log ? lastSeqOf(log) : 0
  }

  resumeAfter(roomId: string, seq: number): void {
    const log = this.dir.logs.get(roomId)
    if (!log || !this.opened.has(roomId)) throw new MemoryLogError(`room ${roomId} has no open log`)
    if (lastSeqOf(log) < seq) log.floor = seq
  }

  sync(): void {
    for (const id of this.opened) {
      const log = this.dir.logs.get(id)
      if (log) log.synced = log.messages.length
    }
  }

  close(roomId?: string): void {
    if (roomId === undefined) this.opened.clear()
    else this.opened.delete(roomId)
  }

  drop(roomId: string): void {
    this.opened.delete(roomId)
    this.dir.logs.delete(roomId)
  }

  isOpen(roomId: string): boolean {
    return this.opened.has(roomId)
  }

  appendEntries(roomId: string, entries: { term: number; message: ChatMessage }[]): void {
    const log = this.dir.logs.get(roomId)
    if (!log || !this.opened.has(roomId)) throw new MemoryLogError(`room ${roomId} has no open log`)
    const terms = (log.terms ??= log.messages.map(() => 0))
    for (const { term, message } of entries) {
      const last = lastSeqOf(log)
      if (message.seq !== last + 1) throw new MemoryLogError(`seq ${message.seq} does not follow ${last} in room ${roomId}`)
      log.messages.push({ ...message })
      terms.push(term)
    }
    if (this.fsync) log.synced = log.messages.length
  }

  truncateAfter(roomId: string, seq: number): void {
    const log = this.dir.logs.get(roomId)
    if (!log) return
    const keep = log.messages.filter((m) => m.seq <= seq).length
    log.messages.length = keep
    if (log.terms) log.terms.length = Math.min(log.terms.length, keep)
    log.synced = Math.min(log.synced, keep)
  }

  rangeEntries(roomId: string, from: number, to: number): { term: number; message: ChatMessage }[] {
    const log = this.dir.logs.get(roomId)
    if (!log || to < from) return []
    const out: { term: number; message: ChatMessage }[] = []
    log.messages.forEach((m, i) => {
      if (m.seq >= from && m.seq <= to) out.push({ term: log.terms?.[i] ?? 0, message: { ...m } })
    })
    return out
  }
}
