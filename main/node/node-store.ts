/**
 * What a node keeps in its --data-dir between runs: its identity (the same nodeId after a restart,
 * docs/client-protocol.md §1), the peers it knew (so it rejoins by itself), the rooms it
 * administers (so they come back after a restart) and the two-phase-commit decision log.
 * Small JSON files, each replaced atomically (write a temporary file, fsync, rename) so that a
 * kill -9 in the middle of a write leaves the old file, never half of a new one.
 */
import { randomUUID } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export interface StoredRoom {
  roomId: string
  name: string
  createdBy: string
  createdAt: number
  lastSeq: number
  version: number
}

export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`
  const fd = openSync(tmp, 'w')
  try {
    writeSync(fd, JSON.stringify(value, null, 1))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

export function readJson<T>(file: string, fallback: T): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T
  } catch {
    return fallback
  }
}

/**
 * What the node keeps in its data dir, as one component: NodeStore (files) in a process; the
 * simulator's in-memory data dir (main/store/memory-data-dir.ts) survives its simulated crashes.
 */
export interface NodeStorage {
  identity(): { nodeId: string; createdAt: number }
  peers(): string[]
  savePeers(addresses: string[]): void
  rooms(): StoredRoom[]
  saveRooms(rooms: StoredRoom[]): void
  load<T>(name: string, fallback: T): T
  save(name: string, value: unknown): void
}

export class NodeStore implements NodeStorage {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true })
  }

  /** The node's identity: created once, then read back at every start. */
  identity(): { nodeId: string; createdAt: number } {
    const file = join(this.dir, 'node.json')
    const cur = readJson<{ nodeId?: string; createdAt?: number } | null>(file, null)
    if (cur?.nodeId && typeof cur.nodeId === 'string') return { nodeId: cur.nodeId, createdAt: cur.createdAt ?? 0 }
    const fresh = { nodeId: randomUUID(), createdAt: Date.now() }
    writeJsonAtomic(file, fresh)
    return fresh
  }

  peers(): string[] {
    const list = readJson<unknown>(join(this.dir, 'peers.json'), [])
    return Array.isArray(list) ? list.filter((a): a is string => typeof a === 'string') : []
  }

  savePeers(addresses: string[]): void {
    writeJsonAtomic(join(this.dir, 'peers.json'), [...new Set(addresses)].sort())
  }

  rooms(): StoredRoom[] {
    const list = readJson<unknown>(join(this.dir, 'rooms.json'), [])
    return Array.isArray(list) ? (list as StoredRoom[]).filter((r) => r && typeof r.roomId === 'string') : []
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
}
