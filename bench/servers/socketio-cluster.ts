/**
 * Baseline for `npm run bench -- --compare`: Socket.IO 4 with its cluster adapter, three worker
 * processes (the same count as the ds-g1-sms nodes), each on its own port; the primary relays the
 * adapter's messages between workers over IPC, so its CPU counts as server CPU too. A `msg` event is
 * emitted to everyone in one room (sender included), as a chat server built on Socket.IO would.
 */
import cluster from 'node:cluster'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server } from 'socket.io'
import { createAdapter, setupPrimary } from '@socket.io/cluster-adapter'

const WORKERS = Number(process.env.BENCH_WORKERS ?? 3)

if (cluster.isPrimary) {
  setupPrimary()
  const ready: { pid: number; port: number }[] = []
  for (let i = 0; i < WORKERS; i++) {
    const w = cluster.fork()
    w.on('message', (m: { benchReady?: boolean; port: number; pid: number }) => {
      if (!m?.benchReady) return
      ready.push({ pid: m.pid, port: m.port })
      if (ready.length === WORKERS) {
        console.log(
          JSON.stringify({ event: 'ready', pids: [process.pid, ...ready.map((r) => r.pid)], urls: ready.map((r) => `http://127.0.0.1:${r.port}`) }),
        )
      }
    })
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM')
    setTimeout(() => process.exit(0), 200)
  })
} else {
  const http = createServer()
  const io = new Server(http, { transports: ['websocket'], serveClient: false, maxHttpBufferSize: 64 * 1024 })
  io.adapter(createAdapter())
  io.on('connection', (socket) => {
    void socket.join('room')
    socket.on('msg', (text: string) => io.to('room').emit('msg', text))
  })
  // exclusive: each worker binds its own port instead of sharing the primary's.
  http.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
    process.send!({ benchReady: true, port: (http.address() as AddressInfo).port, pid: process.pid })
  })
  process.on('SIGTERM', () => process.exit(0))
}
