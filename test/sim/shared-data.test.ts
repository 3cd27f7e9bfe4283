/**
 * What the simulator shares instead of copying (docs/simulation.md, "Transport", "Speed"): peer
 * messages and client frames sealed (sealAsJson: JSON's data, frozen), replication.json kept as
 * its value until read (MemoryFiles). Each must give a reader exactly what a JSON round trip gave,
 * and a node that changes shared data must be told, never silently seen by another node.
 */
import { describe, expect, it } from 'vitest'
import { copyAsJson, freezeSharedData, MemoryNetwork, sealAsJson } from '../../main/cluster/memory-transport'
import { msg, type DecodedMessage, type Hello } from '../../main/cluster/peer-messages'
import type { TransportHandlers } from '../../main/cluster/transport'
import { VirtualClock } from '../../main/cluster/virtual-clock'
import { MemoryDataDir } from '../../sim/memory-data-dir'
import { isSharedDataWrite } from '../../sim/simulator'

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  get sum(): number {
    return this.x + this.y
  }
}

/** Values a JSON round trip changes, and values it keeps, nested. */
function samples(): unknown[] {
  const when = new Date(1_700_000_000_000)
  return [
    { a: 1, b: 'two', c: true, d: null, e: [1, 'x', null, { f: 2 }] },
    { kept: 1, gone: undefined, fn: () => 1, sym: Symbol('s'), nan: Number.NaN, inf: -Infinity, after: 'z' },
    [undefined, () => 1, Number.NaN, 3, [undefined]],
    { nested: { deeper: { meta: { deleted: undefined, replicas: ['n1', 'n2'] } } }, tail: [{ x: undefined }] },
    { point: new Point(1, 2), when, custom: { toJSON: () => ({ as: 'json' }) } },
    Object.assign(Object.create(null) as object, { room1: { term: 2, votedFor: 'n1' }, room2: { term: 1, votedFor: null } }),
    'text',
    42,
    null,
  ]
}

describe('sealAsJson', () => {
  it('gives what copyAsJson gives (and JSON text), field for field and in order', () => {
    for (const v of samples()) {
      const sealed = sealAsJson(v)
      expect(sealed).toEqual(copyAsJson(v))
      expect(JSON.stringify(sealed)).toBe(JSON.stringify(v))
      if (sealed && typeof sealed === 'object') expect(Object.keys(sealed)).toEqual(Object.keys(JSON.parse(JSON.stringify(v)) as object))
    }
    const dropped = sealAsJson({ kept: 1, gone: undefined }) as Record<string, unknown>
    expect('gone' in dropped).toBe(false)
  })

  it('freezes everything it returns, sharing the parts JSON keeps as they are', () => {
    const entry = { term: 1, message: { roomId: 'r', seq: 1, text: 'hi' } }
    const meta = { replicas: ['n1'], deleted: undefined }
    const m = { roomAppend: { roomId: 'r', entries: [entry], meta } }
    const sealed = sealAsJson(m)
    const deepFrozen = (v: unknown): boolean =>
      v === null || typeof v !== 'object' || (Object.isFrozen(v) && Object.values(v).every(deepFrozen))
    expect(deepFrozen(sealed)).toBe(true)
    // The entries are shared (frozen); the meta, which JSON changes, is a copy, and so is the path to it.
    expect(sealed.roomAppend.entries[0]).toBe(entry)
    expect(sealed.roomAppend.meta).not.toBe(meta)
    expect(sealed).not.toBe(m)
    expect(meta.deleted).toBeUndefined()
    expect('deleted' in meta).toBe(true)
    expect(() => {
      ;(entry.message as { text: string }).text = 'changed'
    }).toThrow(TypeError)
  })

  it('without freezing (a batch of npm run sim) shares the same data, unfrozen', () => {
    freezeSharedData(false)
    try {
      for (const v of samples()) {
        const sealed = sealAsJson(v)
        expect(JSON.stringify(sealed)).toBe(JSON.stringify(v))
        if (sealed && typeof sealed === 'object') expect(Object.isFrozen(sealed)).toBe(false)
      }
      const entry = { term: 1 }
      expect(sealAsJson({ entries: [entry] }).entries[0]).toBe(entry)
    } finally {
      freezeSharedData(true)
    }
    expect(Object.isFrozen(sealAsJson({ a: [1] }).a)).toBe(true)
  })
})

describe('the in-memory network shares sealed messages', () => {
  function helloOf(name: string, address: string): Hello {
    return { self: { nodeId: `id-${name}`, name, address }, incarnation: `inc-${name}`, known: [], rooms: [], protocol: 1 }
  }

  async function twoNodes() {
    const clock = new VirtualClock(1_000_000)
    const net = new MemoryNetwork({ clock, latencyMs: () => 2 })
    const received: DecodedMessage[] = []
    const handlers = (name: string, address: string): TransportHandlers => ({
      hello: () => helloOf(name, address),
      inboundHello: () => {},
      inbound: (_from, ms) => {
        for (const m of ms) received.push(m)
      },
    })
    const a = net.transport(handlers('a', '10.0.0.1:7000'))
    await a.listen('10.0.0.1', 7000)
    const b = net.transport(handlers('b', '10.0.0.2:7000'))
    await b.listen('10.0.0.2', 7000)
    const l = a.newLink('10.0.0.2:7000', () => {})
    const opened = l.open(helloOf('a', '10.0.0.1:7000'), 5000)
    await clock.advance(20)
    await opened
    return { clock, l, received }
  }

  it('delivers a message decoded (`body`) and frozen; neither end can change it after', async () => {
    const { clock, l, received } = await twoNodes()
    const body = { roomId: 'r1', messages: [{ roomId: 'r1', seq: 1, user: 'ann', nodeId: 'id-a', text: 'hi', sentAt: 5, clientMsgId: 'c1' }] }
    const m = msg('deliver', body)
    l.send(m)
    l.send(m) // the same object twice: both arrive, the same
    await clock.advance(20)
    expect(received).toHaveLength(2)
    const got = received[0]
    expect(got.body).toBe('deliver')
    expect(got).toEqual({ deliver: body, body: 'deliver' })
    expect(received[1]).toEqual(got)
    expect(Object.isFrozen(got)).toBe(true)
    // The receiver cannot change what it got, nor the writer what it wrote: each throws.
    expect(() => {
      ;(got as { deliver: { roomId: string } }).deliver.roomId = 'r2'
    }).toThrow(TypeError)
    expect(() => {
      body.messages.push(body.messages[0])
    }).toThrow(TypeError)
  })

  it('a message with fields JSON drops arrives without them; the writer’s object keeps them', async () => {
    const { clock, l, received } = await twoNodes()
    const meta = { term: 1, deleted: undefined as boolean | undefined }
    const body = { roomId: 'r1', meta }
    l.send({ roomTimeoutNow: body } as never)
    await clock.advance(20)
    expect(received).toHaveLength(1)
    const got = received[0] as unknown as { roomTimeoutNow: { meta: object }; body: string }
    expect(got.body).toBe('roomTimeoutNow')
    expect(got.roomTimeoutNow.meta).toEqual({ term: 1 })
    expect('deleted' in got.roomTimeoutNow.meta).toBe(false)
    expect('deleted' in meta).toBe(true)
  })
})

describe('MemoryFiles (a data dir’s small files in the simulator)', () => {
  it('a file saved fresh reads back as the JSON text of its value, like any file', () => {
    const dir = new MemoryDataDir('n1')
    const { store } = dir.open({ fsync: true })
    const value = Object.assign(Object.create(null) as Record<string, unknown>, { r1: { term: 3, votedFor: 'n2', commitSeq: 7, gone: undefined } })
    store.saveFresh('replication.json', value)
    store.save('rooms.json', [{ roomId: 'r1' }])
    expect(dir.files.size).toBe(2)
    expect(dir.files.has('replication.json')).toBe(true)
    expect(dir.files.get('replication.json')).toBe('{"r1":{"term":3,"votedFor":"n2","commitSeq":7}}')
    expect(store.load('replication.json', {})).toEqual({ r1: { term: 3, votedFor: 'n2', commitSeq: 7 } })
    // Every way of reading the files gives text.
    store.saveFresh('replication.json', { r1: { term: 4 } })
    expect(Object.fromEntries(dir.files)).toEqual({ 'replication.json': '{"r1":{"term":4}}', 'rooms.json': '[{"roomId":"r1"}]' })
    store.saveFresh('replication.json', { r1: { term: 5 } })
    expect([...dir.files.values()]).toContain('{"r1":{"term":5}}')
    // Text written over a fresh value, and a deletion, win.
    store.saveFresh('replication.json', { r1: { term: 6 } })
    dir.files.set('replication.json', '{}')
    expect(store.load('replication.json', null)).toEqual({})
    store.saveFresh('replication.json', { r1: { term: 7 } })
    dir.files.delete('replication.json')
    expect(store.load('replication.json', 'missing')).toBe('missing')
  })

  it('freezes a fresh value where shared data is checked, so a node that changed it after would throw', () => {
    const { store } = new MemoryDataDir('n1').open({ fsync: true })
    const meta = { term: 2, replicas: ['n1', 'n2'] }
    store.saveFresh('replication-room-x.json', { meta })
    expect(() => meta.replicas.push('n3')).toThrow(TypeError)
    freezeSharedData(false)
    try {
      const later = { term: 3, replicas: ['n1'] }
      store.saveFresh('replication-room-y.json', { meta: later })
      later.replicas.push('n2') // unchecked (a batch): not frozen
      expect(Object.isFrozen(later)).toBe(false)
    } finally {
      freezeSharedData(true)
    }
  })
})

describe('the simulator notices shared data changed', () => {
  it('knows V8’s TypeErrors for writes to frozen objects and arrays, and nothing else', () => {
    const frozen = Object.freeze({ a: 1, list: Object.freeze([2, 1]) })
    const messages: string[] = []
    for (const write of [
      () => ((frozen as { a: number }).a = 2),
      () => ((frozen as unknown as { b: number }).b = 2),
      () => delete (frozen as { a?: number }).a,
      () => (frozen.list as number[]).push(2),
      () => (frozen.list as number[]).sort(),
      () => Object.defineProperty(frozen, 'c', { value: 1 }),
    ]) {
      try {
        write()
        messages.push('no error')
      } catch (e) {
        messages.push((e as Error).message)
      }
    }
    for (const m of messages) expect(isSharedDataWrite(`bad deliver message from n2: ${m}`), m).toBe(true)
    expect(isSharedDataWrite('cannot save replication.json: disk full')).toBe(false)
    expect(isSharedDataWrite('bad deliver message from n2: roomId must be a string')).toBe(false)
  })
})
