/**
 * Baseline for `npm run bench -- --compare`: the cheapest possible chat server, one process, no order
 * beyond one socket's FIFO, no persistence: every text frame a client sends goes, as the same bytes,
 * to every connected client. It is the local upper bound a fan-out server can approach.
 */
import { WebSocketServer } from 'ws'

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 })
wss.on('listening', () => {
  const addr = wss.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  console.log(JSON.stringify({ event: 'ready', pids: [process.pid], urls: [`ws://127.0.0.1:${port}`] }))
})
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const c of wss.clients) c.send(data, { binary: isBinary })
  })
})
process.on('SIGTERM', () => process.exit(0))
