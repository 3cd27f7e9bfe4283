/**
 * The prebuilt WebSocket frame of an encoded event (encodeFrame, docs/benchmarks.md) is what ws
 * itself reads as one text message: for each of the three length encodings of RFC 6455 §5.2.
 */
import { describe, expect, it } from 'vitest'
import * as wsModule from 'ws'
import { encodeFrame } from '../../main/gateway/ws-gateway'
import type { ServerFrame } from '../../proto/client-protocol'

function readWithWs(wire: Buffer): Promise<{ text: string; isBinary: boolean }> {
  // ws's own parser, as a client reads a server's frames.
  // ws exports its parser (Receiver) without types.
  const { Receiver } = wsModule as unknown as { Receiver: new (o: object) => NodeJS.WritableStream & NodeJS.EventEmitter }
  const r = new Receiver({ isServer: false, maxPayload: 0 })
  return new Promise((resolve, reject) => {
    r.on('message', (data: Buffer, isBinary: boolean) => resolve({ text: data.toString('utf8'), isBinary }))
    r.on('error', reject)
    r.write(wire)
  })
}

describe('encodeFrame', () => {
  for (const [what, chars] of [
    ['a short event (7-bit length)', 10],
    ['a 16-bit length', 3000],
    ['a 64-bit length', 70_000],
  ] as const) {
    it(`${what}: ws reads the same JSON text, once`, async () => {
      const frame: ServerFrame = { event: 'message', roomId: 'r1', seq: 1, user: 'ann', nodeId: 'n1', text: 'é'.repeat(chars), sentAt: 1, clientMsgId: 'c1' }
      const encoded = encodeFrame(frame)
      expect(encoded.json.toString('utf8')).toBe(JSON.stringify(frame))
      const got = await readWithWs(encoded.wire)
      expect(got.isBinary).toBe(false)
      expect(JSON.parse(got.text)).toEqual(frame)
    })
  }
})
