/**
 * The server of `npm run bench -- --ingress` (bench/ingress.ts): the node's client gateway
 * (main/gateway/ws-gateway.ts) alone, with an API that answers `message.send` one microtask later,
 * as a forwarded send is answered by a promise. What it costs per frame is the gateway's share of a
 * send: the WebSocket frame read, JSON, validation, and the reply written (docs/benchmarks.md,
 * "Client ingress"). Told `start` and `stop` on IPC, it answers with its CPU per frame in between.
 */
import { WsGateway, type ClientSession } from '../../main/gateway/ws-gateway'
import type { Request } from '../../proto/client-protocol'

let seq = 0
let frames = 0
const gateway = new WsGateway({
  host: '127.0.0.1',
  port: 0,
  token: 'bench',
  log: () => {},
  api: {
    handle: (s: ClientSession, req: Request) => {
      if (req.op === 'hello') {
        s.user = req.user
        return Promise.resolve({ user: req.user })
      }
      frames++
      return Promise.resolve({ seq: ++seq })
    },
    closed: () => {},
  },
})

let cpu0: NodeJS.CpuUsage | undefined
let frames0 = 0
void gateway.listen().then((port) => process.send!({ port }))
process.on('message', (m: { start?: boolean; stop?: boolean }) => {
  if (m.start) {
    cpu0 = process.cpuUsage()
    frames0 = frames
  }
  if (m.stop) {
    const cpu = process.cpuUsage(cpu0)
    process.send!({ usPerFrame: (cpu.user + cpu.system) / Math.max(1, frames - frames0), frames: frames - frames0 })
    void gateway.close().then(() => process.exit(0))
  }
})
