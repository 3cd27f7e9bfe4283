/**
 * `npm run bench -- --ingress`: the client gateway alone (bench/servers/ingress-gateway.ts), 10
 * WebSocket clients sending `message.send` frames of 200 characters at a fixed rate in total; prints
 * the gateway process's CPU per frame. Far steadier than the cluster's CPU per delivery (no peer
 * links, no fan-out), so an A/B of two trees (run it in each) shows a change of a microsecond per
 * frame on a loaded machine (docs/benchmarks.md, "Client ingress").
 */
import { fork } from 'node:child_process'
import { join } from 'node:path'
import WebSocket from 'ws'
import { ROOT } from '../test/helpers/cluster'

const CLIENTS = 10
const TICK_MS = 5

export async function runIngress(o: { rate: number; seconds: number; repeat: number }): Promise<void> {
  for (let round = 1; round <= o.repeat; round++) {
    const server = fork(join(ROOT, 'bench', 'servers', 'ingress-gateway.ts'), [], { execArgv: ['--import', 'tsx'], cwd: ROOT })
    const sockets: WebSocket[] = []
    let timer: NodeJS.Timeout | undefined
    try {
      const port = await new Promise<number>((resolve, reject) => {
        server.once('message', (m: { port: number }) => resolve(m.port))
        server.once('exit', () => reject(new Error('the gateway process exited')))
      })
      for (let i = 0; i < CLIENTS; i++) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/?token=bench`)
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
        ws.send(JSON.stringify({ id: 0, op: 'hello', user: `bench-${i}` }))
        sockets.push(ws)
      }
      let replies = 0
      for (const ws of sockets) ws.on('message', () => replies++)
      const text = 'x'.repeat(200)
      let id = 0
      const perTick = (o.rate * TICK_MS) / 1000 / CLIENTS
      let owed = 0
      timer = setInterval(() => {
        owed += perTick
        for (; owed >= 1; owed--) {
          for (const ws of sockets) {
            id++
            ws.send(`{"id":${id},"op":"message.send","roomId":"bench-room-0123456789","text":"${text}","clientMsgId":"bench-${id}"}`)
          }
        }
      }, TICK_MS)
      await new Promise((r) => setTimeout(r, 1500)) // V8 compiles the hot path first
      server.send({ start: true })
      const replies0 = replies
      await new Promise((r) => setTimeout(r, o.seconds * 1000))
      server.send({ stop: true })
      const r = await new Promise<{ usPerFrame: number; frames: number }>((resolve) => server.once('message', resolve))
      console.log(
        `  gateway alone, round ${round}: ${r.usPerFrame.toFixed(2)} µs of server CPU per message.send frame ` +
          `(${r.frames} frames at ${o.rate}/s offered, ${replies - replies0} replies)`,
      )
    } finally {
      clearInterval(timer)
      for (const ws of sockets) ws.terminate()
      server.kill()
    }
  }
}
