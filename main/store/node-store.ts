/**
 * What a node keeps in its --data-dir between runs: its identity (the same nodeId after a restart,
 * docs/client-protocol.md §1), the peers it knew (so it rejoins by itself), the rooms it
 * administers (so they come back after a restart) and the two-phase-commit decision log.
 * Small JSON files, each replaced atomically (write a temporary file, fsync, rename) so that a
 * kill -9 in the middle of a write leaves the old file, never half of a new one.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { isClusterKey } from '../../proto/client-protocol'
import { newNodeKeyPem } from '../cluster/cluster-credentials'
import type { Creator } from '../core/room-directory'

/**
 * The data dir holds chat logs and secrets (cluster key, node key): readable by its owner only
 * (docs/security.md, "Security model": other local users).
 */
export const DIR_MODE = 0o700
export const FILE_MODE = 0o600

export interface StoredRoom {
  roomId: string
  name: string
  /** A name alone in data dirs from before users were a name on a node: read as a user of this node. */
  createdBy: Creator | string
  createdAt: number
  lastSeq: number
  version: number
}

export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`
  const fd = openSync(tmp, 'w', FILE_MODE)
  try {
    writeSync(fd, JSON.stringify(value, null, 1))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  const fd = openSync(tmp, 'w', FILE_MODE)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

/** A new random cluster key: 32 bytes, base64url (43 characters). */
export function newClusterKey(): string {
  return newSecret(32)
}

/**
 * `bytes` random bytes as base64url, never starting with '-': a secret a user passes as
 * `--cluster-key KEY` or `--token T` must not read as a flag (Node's argument parser refuses a
 * value after a space that starts with '-'; docs/headless-node.md). About one draw in 64 starts with
 * '-' and is drawn again.
 */
export function newSecret(bytes: number): string {
  for (;;) {
    const s = randomBytes(bytes).toString('base64url')
    if (s[0] !== '-') return s
  }
}

/** Data dirs made before modes were set (0755 / 0644): fixed at every start. */
function restrictModes(dir: string): void {
  chmodSync(dir, DIR_MODE)
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    const st = lstatSync(path)
    if (st.isSymbolicLink()) continue
    if (st.isDirectory()) restrictModes(path)
    else if ((st.mode & 0o077) !== 0) chmodSync(path, FILE_MODE)
  }
}

/**
 * A file of the data dir that exists but cannot be read as JSON. Never treated as missing: a node
 * that silently reset its rooms, identity or deletion log would lose data and lie to its peers, so
 * it refuses to start and names the file (docs/persistence.md).
 */
export class CorruptFileError extends Error {
  override readonly name = 'CorruptFileError'
  readonly code = 'corrupt_file'
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file} is corrupt (${reason}): repair or remove it`)
  }
}

/** A cluster key that cannot be one (docs/security.md): refused before anything is saved. */
export class ClusterKeyError extends Error {
  override readonly name = 'ClusterKeyError'
  readonly code = 'bad_cluster_key'
}

/** The JSON in `file`, or `fallback` when there is no such file; CorruptFileError when it is not JSON. */
export function readJson<T>(file: string, fallback: T): T {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return fallback
    throw e
  }
  try {
    return JSON.parse(text) as T
  } catch (e) {
    throw new CorruptFileError(file, (e as Error).message)
  }
}

/**
 * What the node keeps in its data dir, as one component: NodeStore (files) in a process; the
 * simulator's in-memory data dir (sim/memory-data-dir.ts) survives its simulated crashes.
 */
export interface NodeStorage {
  /** Record the node's id (the hash of its public key, docs/security.md) and when it was first seen. */
  identity(nodeId: string): { nodeId: string; createdAt: number }
  /** The node's Ed25519 private key (PKCS#8 PEM), made on first start. */
  nodeKey(): string
  /** The cluster key: `given`, else the saved one, else a new one; whatever is used is saved. */
  clusterKey(given: string | undefined): { key: string; created: boolean }
  saveClusterKey(key: string): void
  peers(): string[]
  savePeers(addresses: string[]): void
  rooms(): StoredRoom[]
  saveRooms(rooms: StoredRoom[]): void
  load<T>(name: string, fallback: T): T
  save(name: string, value: unknown): void
  /**
   * `save` for a value nobody changes after it is saved (made for this write, or made of state that
   * is replaced, never changed in place): a store may keep the value itself instead of its text
   * (the simulator's in-memory data dir serialises it only if it is read, and freezes it where it
   * checks shared data; docs/simulation.md "Speed"). On disk, the same as `save`.
   */
  saveFresh(name: string, value: unknown): void
}

export class NodeStore implements NodeStorage {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: DIR_MODE })
    restrictModes(dir)
  }

  /**
   * The node's identity: its id is the hash of its public key (cluster-credentials.ts), so node.json
   * only records it for people; a data dir from before keys existed gets a key, hence a new id, once.
   */
  identity(nodeId: string): { nodeId: string; createdAt: number } {
    const file = join(this.dir, 'node.json')
    const cur = readJson<{ nodeId?: string; createdAt?: number } | null>(file, null)
    if (cur?.nodeId === nodeId) return { nodeId, createdAt: cur.createdAt ?? 0 }
    const fresh = { nodeId, createdAt: Date.now(), ...(cur?.nodeId ? { previousNodeId: cur.nodeId } : {}) }
    writeJsonAtomic(file, fresh)
    return fresh
  }

  /** The node's Ed25519 private key (PEM): made on first start, then read back. */
  nodeKey(): string {
    const file = join(this.dir, 'node-key.pem')
    try {
      return readFileSync(file, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    const pem = newNodeKeyPem()
    writeFileAtomic(file, pem)
    return pem
  }

  /**
   * The cluster key (client-protocol.md section 7): the one given (flag or environment), else the one
   * saved here, else a new one (a new cluster of one). Whatever is used is saved for the next start.
   */
  clusterKey(given: string | undefined): { key: string; created: boolean } {
    const file = join(this.dir, 'cluster-key')
    if (given !== undefined) {
      if (!isClusterKey(given)) throw new ClusterKeyError('the cluster key must be 16 to 256 printable characters without spaces')
      this.saveClusterKey(given)
      return { key: given, created: false }
    }
    let saved: string | undefined
    try {
      saved = readFileSync(file, 'utf8').trim()
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    if (saved !== undefined && isClusterKey(saved)) return { key: saved, created: false }
    const key = newClusterKey()
    this.saveClusterKey(key)
    return { key, created: true }
  }

  saveClusterKey(key: string): void {
    const file = join(this.dir, 'cluster-key')
    let cur: string | undefined
    try {
      cur = readFileSync(file, 'utf8').trim()
    } catch {
      cur = undefined
    }
    if (cur !== key) writeFileAtomic(file, `${key}\n`)
  }

  peers(): string[] {
    const list = readJson<unknown>(join(this.dir, 'peers.json'), [])
    return Array.isArray(list) ? list.filter((a): a is string => typeof a === 'string') : []
  }

  savePeers(addresses: string[]): void {
    writeJsonAtomic(join(this.dir, 'peers.json'), [...new Set(addresses)].sort())
  }

  rooms(): StoredRoom[] {
    const file = join(this.dir, 'rooms.json')
    const list = readJson<unknown>(file, [])
    if (!Array.isArray(list)) throw new CorruptFileError(file, 'not a list of rooms')
    return (list as StoredRoom[]).filter((r) => r && typeof r.roomId === 'string')
  }

  saveRooms(rooms: StoredRoom[]): void {
    writeJsonAtomic(join(this.dir, 'rooms.json'), rooms)
  }

  /** Any JSON document of the node (used by the deletion log). */
  load<T>(name: string, fallback: T): T {
    return readJson<T>(join(this.dir, name), fallback)
  }

  save(name: string, value: unknown): void {
    writeJsonAtomic(join(this.dir, name), value)
  }

  saveFresh(name: string, value: unknown): void {
    this.save(name, value)
  }
}
