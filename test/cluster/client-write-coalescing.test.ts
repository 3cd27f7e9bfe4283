// The client protocol's write coalescing (docs/client-protocol.md §5), on a real node over a real
// WebSocket: a connection that was quiet is written at once; one written less than a window ago
// holds what is sent to it until the window ends, then gets it in order. The window is widened to
// 2 s here (DS_CLIENT_COALESCE_MS, the knob of docs/benchmarks.md) so that the held replies are told
// from prompt ones even on a loaded machine; the default is 8 ms.
import { afterAll, describe, expect, it } from 'vitest'
import { Client, cleanup, startNode } from '../helpers/cluster'

afterAll(cleanup)

const WINDOW_MS = 2000

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now()
  const value = await p
  return { value, ms: performance.now() - t0 }
}

describe('client write coalescing', () => {
  it('answers a quiet connection at once and holds a busy one until its window ends, in order', async () => {
    const node = await startNode({ name: 'co1', env: { DS_CLIENT_COALESCE_MS: String(WINDOW_MS) } })
    const c = await Client.connect(node.ready)

    // Quiet: the hello's reply is the connection's first write.
    const hello = await timed(c.call('hello', { user: 'alice' }))
    expect(hello.ms).toBeLessThan(WINDOW_MS * 0.75)

    // Busy: written just now, so the next replies wait for the window, then come together, in order.
    const order: string[] = []
    const first = timed(c.call('rooms.list').then(() => order.push('first')))
    const second = timed(c.call('node.stats').then(() => order.push('second')))
    const [a, b] = await Promise.all([first, second])
    expect(a.ms).toBeGreaterThan(WINDOW_MS * 0.5)
    expect(b.ms).toBeGreaterThan(WINDOW_MS * 0.5)
    expect(order).toEqual(['first', 'second'])

    // Quiet again after a window without writes: at once.
    await new Promise((r) => setTimeout(r, WINDOW_MS * 1.5))
    const again = await timed(c.call('rooms.list'))
    expect(again.ms).toBeLessThan(WINDOW_MS * 0.75)
  }, 60_000)
})
