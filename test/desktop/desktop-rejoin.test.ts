/**
 * Remembered peers rejoined after restart, with real nodes (docs/desktop.md): two real peer nodes (the
 * lead's startNode, in this process, on 127.0.0.1 with OS-chosen ports) driven by the desktop
 * orchestration. B joins A once (as if the address was typed in), quits, and is started again from
 * nothing but its instance folder: it must find A by itself. Checked through the public client
 * protocol (hello, then peers.list), as any client would see it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import { startNode } from '../../main/node/peer-node'
import type { NodeOptions } from '../../main/node/node-options'
import { CLUSTER_KEY } from '../helpers/cluster'
import { startDesktopNode, type DesktopNode } from '../../main/desktop/desktop-node'

const timing = { heartbeatMs: 100, suspectMs: 400, deadMs: 800 }
const dirs: string[] = []
const running: DesktopNode[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop().catch(() => {})))
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function start(userDataDir: string, join: string[] = [], seen?: NodeOptions[]): Promise<DesktopNode> {
  const recordingStart = (o: NodeOptions) => {
    seen?.push(o)
    return startNode(o)
  }
  return startDesktopNode(recordingStart, {
    instance: 1,
    join,
    userDataDir,
    grpcHost: '127.0.0.1',
    preferredGrpcPort: 0,
    timing,
    peerSaveIntervalMs: 100,
    // One cluster: every instance of this file holds the same key (docs/security.md).
    clusterKey: CLUSTER_KEY,
  }).then((d) => {
    running.push(d)
    return d
  })
}

interface PeerView {
  nodeId: string
  address: string
  state: string
}

/** A minimal client-protocol client: hello, then one request at a time. */
async function askPeers(wsUrl: string, token: string): Promise<PeerView[]> {
  const ws = new WebSocket(`${wsUrl}/?token=${encodeURIComponent(token)}`)
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    let next = 0
    const request = (op: string, params: Record<string, unknown> = {}) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const id = ++next
        const timer = setTimeout(() => reject(new Error(`${op}: no reply`)), 5000)
        const onMessage = (data: WebSocket.RawData) => {
          const frame = JSON.parse(String(data)) as { id?: unknown; ok?: boolean; result?: Record<string, unknown>; error?: unknown }
          if (frame.id !== id) return
          clearTimeout(timer)
          ws.off('message', onMessage)
          if (frame.ok) resolve(frame.result ?? {})
          else reject(new Error(`${op}: ${JSON.stringify(frame.error)}`))
        }
        ws.on('message', onMessage)
        ws.send(JSON.stringify({ id, op, ...params }))
      })
    await request('hello', { user: 'desktop-test' })
    const result = await request('peers.list')
    return result.peers as PeerView[]
  } finally {
    ws.close()
  }
}

async function waitForAlivePeer(d: DesktopNode, nodeId: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: PeerView[] = []
  while (Date.now() < deadline) {
    last = await askPeers(d.node.wsUrl, d.node.token)
    if (last.some((p) => p.nodeId === nodeId && p.state === 'alive')) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`peer ${nodeId} not alive at ${d.node.name} after ${timeoutMs} ms; peers: ${JSON.stringify(last)}`)
}

describe('desktop node with real peers', () => {
  it('remembers a joined peer in its settings and rejoins it by itself after a restart', async () => {
    const folderA = mkdtempSync(join(tmpdir(), 'ds-rejoin-a-'))
    const folderB = mkdtempSync(join(tmpdir(), 'ds-rejoin-b-'))
    dirs.push(folderA, folderB)

    const a = await start(folderA)
    const b1 = await start(folderB, [a.node.grpcAddress])
    await waitForAlivePeer(b1, a.node.nodeId)
    await waitForAlivePeer(a, b1.node.nodeId)
    const firstId = b1.node.nodeId

    // Quit B: the remembered peers are on disk in B's own folder.
    await b1.stop()
    running.splice(running.indexOf(b1), 1)
    const saved = JSON.parse(readFileSync(join(folderB, 'settings.json'), 'utf8')) as { peers: string[] }
    expect(saved.peers).toContain(a.node.grpcAddress)

    // The node keeps its own copy of known peers (main/store/node-store.ts, peers.json); drop it so
    // that this test shows the desktop settings alone are enough to bring B back.
    rmSync(join(folderB, 'node', 'peers.json'), { force: true })

    // Start B again from its folder only: no --join.
    const seen: NodeOptions[] = []
    const b2 = await start(folderB, [], seen)
    expect(seen[0]!.join).toContain(a.node.grpcAddress)
    expect(b2.node.nodeId).toBe(firstId) // same folder, same identity
    await waitForAlivePeer(b2, a.node.nodeId)
    await waitForAlivePeer(a, b2.node.nodeId)
  }, 40_000)
})
