// `npm run peer` as a user runs it (docs/client-protocol.md §1): the real
// process, seen only through its stdout, stderr, exit code and public protocols.
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Client, cleanup, CLUSTER_KEY, eventually, runCli, startNode, stopNode, tempDir } from '../helpers/cluster'

afterAll(cleanup)

const LOCAL = ['--grpc', '127.0.0.1:0', '--ws', '127.0.0.1:0']

/** CPU time (user + system) a running process has used, in ms, from Linux's /proc; undefined elsewhere. */
function cpuMsOf(pid: number): number | undefined {
  try {
    // Fields after the command name (in parentheses, which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // USER_HZ is 100 on Linux
  } catch {
    return undefined
  }
}

describe('ready line', () => {
  it('prints exactly one JSON ready line with every field, in about a second', async () => {
    const dataDir = tempDir()
    const t0 = performance.now()
    const n = await startNode({ name: 'ready-n1', dataDir, token: 'sekret-token' })
    const readyMs = Math.round(performance.now() - t0)
    const cpuMs = cpuMsOf(n.proc.pid!)
    console.log(`[cli] ready line after ${readyMs} ms (spawn to ready, via node --import tsx), ${cpuMs ?? '?'} ms of CPU`)
    // About a second alone (0.7 s of CPU, 0.85 s with tsx's cache cold); the wall time on a loaded
    // two-core machine is mostly waiting for a core (12 s seen), so the CPU the start-up took is
    // what is bounded tightly, and the wall time only against a hang.
    if (cpuMs !== undefined) expect(cpuMs).toBeLessThan(5000)
    expect(readyMs).toBeLessThan(30_000)

    const r = n.ready
    expect(r.event).toBe('ready')
    expect(r.nodeId).toMatch(/^[0-9a-f-]{16,}$/i)
    expect(r.name).toBe('ready-n1')
    expect(r.grpc).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(Number(r.grpc.split(':')[1])).toBeGreaterThan(0) // port 0 was resolved to the real port
    expect(r.ws).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
    expect(Number(new URL(r.ws).port)).toBeGreaterThan(0)
    expect(r.token).toBe('sekret-token')
    // The cluster key given in the environment, and a data dir only its owner reads (docs/security.md).
    expect(r.clusterKey).toBe(CLUSTER_KEY)
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)
    for (const f of ['cluster-key', 'node-key.pem', 'node.json']) expect(statSync(join(dataDir, f)).mode & 0o777, f).toBe(0o600)
    expect(r.dataDir).toBe(dataDir)
    expect(r.pid).toBe(n.proc.pid)

    // The addresses in the line are real: a client can connect and talk.
    const c = await Client.as(r, 'alice')
    const { rooms } = await c.call('rooms.list')
    expect(rooms.length).toBeGreaterThanOrEqual(1)

    // Stdout holds the ready line and nothing else, even after a client has worked with the node.
    const lines = n.stdout().split('\n').filter((l) => l.trim() !== '')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0])).toMatchObject({ event: 'ready', nodeId: r.nodeId })
    c.close()
  })

  it('without --token a random one is made and printed (and it is the one that works)', async () => {
    const n = await startNode({ name: 'rand-token' })
    expect(n.ready.token.length).toBeGreaterThanOrEqual(16)
    const c = await Client.as(n.ready, 'bob')
    expect((await c.call('peers.list')).self.nodeId).toBe(n.ready.nodeId)
    c.close()
  })

  it('two nodes get different identities', async () => {
    const [a, b] = await Promise.all([startNode({ name: 'id-a' }), startNode({ name: 'id-b' })])
    expect(a.ready.nodeId).not.toBe(b.ready.nodeId)
  })
})

describe('bad flags: exit code 2 and a one-line error on stderr, no ready line', () => {
  const cases: Array<{ name: string; args: string[]; mentions: RegExp }> = [
    { name: 'unknown flag', args: ['--bogus', ...LOCAL], mentions: /bogus/ },
    { name: 'unexpected positional argument', args: ['stray', ...LOCAL], mentions: /stray|argument|positional/i },
    { name: '--grpc without a port', args: ['--grpc', 'localhost', '--ws', '127.0.0.1:0'], mentions: /--grpc/ },
    { name: '--grpc not an address', args: ['--grpc', 'not an address', '--ws', '127.0.0.1:0'], mentions: /--grpc/ },
    { name: '--grpc port out of range', args: ['--grpc', '127.0.0.1:70000', '--ws', '127.0.0.1:0'], mentions: /--grpc/ },
    { name: '--grpc port not a number', args: ['--grpc', '127.0.0.1:abc', '--ws', '127.0.0.1:0'], mentions: /--grpc/ },
    { name: '--ws not an address', args: ['--grpc', '127.0.0.1:0', '--ws', 'nope'], mentions: /--ws/ },
    { name: '--join without a port', args: [...LOCAL, '--join', '127.0.0.1'], mentions: /--join/ },
    { name: '--join with port 0', args: [...LOCAL, '--join', '127.0.0.1:0'], mentions: /--join/ },
    { name: '--join, one bad address in a list', args: [...LOCAL, '--join', '127.0.0.1:5000,what?'], mentions: /--join/ },
    { name: '--heartbeat-ms not a number', args: [...LOCAL, '--heartbeat-ms', 'fast'], mentions: /heartbeat-ms/ },
    { name: '--heartbeat-ms zero', args: [...LOCAL, '--heartbeat-ms', '0'], mentions: /heartbeat-ms/ },
    { name: '--dead-ms negative', args: [...LOCAL, '--dead-ms', '-5'], mentions: /dead-ms/ },
    { name: '--suspect-ms fractional', args: [...LOCAL, '--suspect-ms', '1.5'], mentions: /suspect-ms/ },
    { name: 'timing out of order (suspect >= dead)', args: [...LOCAL, '--suspect-ms', '4000', '--dead-ms', '3000'], mentions: /suspect-ms|dead-ms|timing/ },
    { name: 'timing out of order (heartbeat >= suspect)', args: [...LOCAL, '--heartbeat-ms', '2000'], mentions: /heartbeat-ms|timing/ },
    { name: 'flag without its value', args: [...LOCAL, '--name'], mentions: /name/ },
    { name: 'empty --name', args: [...LOCAL, '--name', '   '], mentions: /--name/ },
    { name: '--cluster-key too short', args: [...LOCAL, '--cluster-key', 'short'], mentions: /--cluster-key/ },
    { name: '--cluster-key with a space', args: [...LOCAL, '--cluster-key', 'sixteen chars or more'], mentions: /--cluster-key/ },
  ]
  it.each(cases)('$name', async ({ args, mentions }) => {
    const { code, stdout, stderr } = await runCli([...args, '--data-dir', tempDir()])
    expect(code).toBe(2)
    expect(stdout.trim()).toBe('')
    const lines = stderr.split('\n').filter((l) => l.trim() !== '')
    expect(lines, stderr).toHaveLength(1)
    expect(lines[0]).toMatch(/^error: /)
    expect(lines[0]).toMatch(mentions)
  })

  it('a --grpc port already in use: exit 2, one line naming the problem', async () => {
    const n = await startNode({ name: 'holder' })
    const { code, stdout, stderr } = await runCli([
      '--grpc', n.ready.grpc, '--ws', '127.0.0.1:0', '--data-dir', tempDir(),
    ])
    expect(code).toBe(2)
    expect(stdout.trim()).toBe('')
    const lines = stderr.split('\n').filter((l) => l.trim() !== '')
    expect(lines, stderr).toHaveLength(1)
    expect(lines[0]).toMatch(/^error: .*(in use|--grpc)/)
  })

  it('--help prints the usage and exits 0', async () => {
    const { code, stdout } = await runCli(['--help'])
    expect(code).toBe(0)
    expect(stdout).toMatch(/--grpc/)
    expect(stdout).toMatch(/--data-dir/)
  })
})

describe('stopping and restarting', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s stops the node with exit code 0 and closes its clients', async (signal) => {
    const n = await startNode({ name: `stop-${signal}` })
    const c = await Client.as(n.ready, 'alice')
    const t0 = performance.now()
    const code = await stopNode(n, signal)
    const stopMs = Math.round(performance.now() - t0)
    console.log(`[cli] ${signal}: exit ${code} after ${stopMs} ms`)
    expect(code).toBe(0)
    expect(stopMs).toBeLessThan(4500) // stopNode falls back to SIGKILL at 5 s: this proves it was not needed
    const closed = await c.closed
    expect(closed.code).not.toBe(1006) // a clean close frame, not a dropped TCP connection
  })

  it('SIGTERM tells peers it is leaving: a peer reports it dead long before --dead-ms', async () => {
    // With --dead-ms 60 s, only the "leaving" message can make the peer dead within the wait below.
    const slow = { heartbeatMs: 500, suspectMs: 30_000, deadMs: 60_000 }
    const a = await startNode({ name: 'leaver', timing: slow })
    const b = await startNode({ name: 'stayer', timing: slow, join: [a.ready.grpc] })
    const cb = await Client.as(b.ready, 'bob')
    await eventually(
      async () => (await cb.call('peers.list')).peers.some((p) => p.nodeId === a.ready.nodeId && p.state === 'alive'),
      20_000,
      'stayer to list leaver as alive',
    )
    const t0 = performance.now()
    expect(await stopNode(a, 'SIGTERM')).toBe(0)
    const ev = await cb.event('peer.status', (e) => e.nodeId === a.ready.nodeId && e.state === 'dead', 20_000).catch((e: Error) => {
      throw new Error(`${e.message}; events: ${JSON.stringify(cb.events)}; stayer's log: ${b.stderr()}`)
    })
    const deadAfterMs = Math.round(performance.now() - t0)
    console.log(`[cli] peer reported the leaver dead ${deadAfterMs} ms after SIGTERM (dead-ms is 60000)`)
    expect(ev.name).toBe('leaver')
    const { peers } = await cb.call('peers.list')
    expect(peers.find((p) => p.nodeId === a.ready.nodeId)?.state).toBe('dead')
    cb.close()
  })

  it('the same --data-dir gives back the same nodeId; another folder gives a new one', async () => {
    const dataDir = tempDir()
    const first = await startNode({ name: 'keeper', dataDir })
    expect(await stopNode(first)).toBe(0)
    const second = await startNode({ name: 'keeper', dataDir })
    expect(second.ready.nodeId).toBe(first.ready.nodeId)
    expect(second.ready.dataDir).toBe(dataDir)
    const code2 = await stopNode(second, 'SIGINT')
    expect(code2, `signal ${second.proc.signalCode}; stderr: ${second.stderr()}`).toBe(0)
    const other = await startNode({ name: 'keeper' })
    expect(other.ready.nodeId).not.toBe(first.ready.nodeId)
  })

  it('without a key a node makes one, saves it and keeps it; an old 0755/0644 data dir is made private', async () => {
    const dataDir = tempDir()
    writeFileSync(join(dataDir, 'peers.json'), '[]')
    chmodSync(join(dataDir, 'peers.json'), 0o644)
    chmodSync(dataDir, 0o755)
    // The room logs' folder too, and what is in it.
    mkdirSync(join(dataDir, 'messages'), { mode: 0o755 })
    writeFileSync(join(dataDir, 'messages', 'left-over.tmp'), 'x', { mode: 0o644 })
    chmodSync(join(dataDir, 'messages'), 0o755)
    const first = await startNode({ name: 'keymaker', dataDir, clusterKey: null })
    expect(first.ready.clusterKey).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(first.ready.clusterKey).not.toBe(CLUSTER_KEY)
    expect(readFileSync(join(dataDir, 'cluster-key'), 'utf8').trim()).toBe(first.ready.clusterKey)
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dataDir, 'peers.json')).mode & 0o777).toBe(0o600)
    expect(statSync(join(dataDir, 'messages')).mode & 0o777).toBe(0o700)
    expect(statSync(join(dataDir, 'messages', 'left-over.tmp')).mode & 0o777).toBe(0o600)
    expect(await stopNode(first)).toBe(0)
    const second = await startNode({ name: 'keymaker', dataDir, clusterKey: null })
    expect(second.ready.clusterKey).toBe(first.ready.clusterKey)
    expect(second.ready.nodeId).toBe(first.ready.nodeId)
  })
})
