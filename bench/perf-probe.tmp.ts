import { execSync, spawn } from 'node:child_process'
import { startSystem } from './systems'
import { Tracker, runStep } from './load'
void (async () => {
  const load = Number(process.argv[2] ?? 12000)
  const t = new Tracker(30)
  const sys = await startSystem('ds-g1-sms', { clientsPerServer: 10, batch: true, onDeliver: t.deliver, onRefused: t.refuse })
  await runStep(sys, t, 3000, 500, 1000)
  const perfs = sys.pids.map((pid, i) => spawn('perf', ['record', '-F', '999', '-g', '-o', `/tmp/speed/perf-n${i + 1}.data`, '-p', String(pid), '--', 'sleep', '5'], { stdio: 'ignore' }))
  const r = await runStep(sys, t, load, 1000, 5000)
  console.log(`${r.cpuPerDeliveryUs.toFixed(2)} µs/delivery, delivered ${r.delivered}`)
  await Promise.all(perfs.map((p) => new Promise((res) => p.on('exit', res))))
  await sys.stop()
  void execSync
})()
