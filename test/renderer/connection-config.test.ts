import { describe, expect, it } from 'vitest'
import { TOKEN_KEY, resolveConnection, socketUrl } from '../../renderer/src/state/connection-config'

function store(init: Record<string, string> = {}) {
  const m = new Map(Object.entries(init))
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), m }
}

describe('resolveConnection', () => {
  it('uses what the Electron preload hands over', () => {
    expect(resolveConnection({ wsUrl: 'ws://127.0.0.1:5000', token: 't' }, 'file:///x/index.html', undefined)).toEqual({
      wsUrl: 'ws://127.0.0.1:5000',
      token: 't',
    })
  })

  it('in a browser, reads the token from the address, remembers it and cleans the address', () => {
    const s = store()
    const r = resolveConnection(undefined, 'http://127.0.0.1:4321/?token=abc&x=1#h', s)
    expect(r).toEqual({ wsUrl: 'ws://127.0.0.1:4321/', token: 'abc', cleanedHref: '/?x=1#h' })
    expect(s.m.get(TOKEN_KEY)).toBe('abc')
    expect(resolveConnection(undefined, 'http://127.0.0.1:4321/?token=abc', store())).toMatchObject({ cleanedHref: '/' })
  })

  it('after a reload without the token, uses the remembered one', () => {
    const r = resolveConnection(undefined, 'http://localhost:9/', store({ [TOKEN_KEY]: 'zz' }))
    expect(r).toEqual({ wsUrl: 'ws://localhost:9/', token: 'zz', cleanedHref: undefined })
  })

  it('says what to do when there is no token or no node', () => {
    expect(resolveConnection(undefined, 'http://localhost:9/', store())).toHaveProperty('error')
    expect(resolveConnection(undefined, 'file:///index.html', store())).toHaveProperty('error')
  })

  it('builds the WebSocket address with the token (section 2)', () => {
    expect(socketUrl({ wsUrl: 'ws://127.0.0.1:5/', token: 'a b' })).toBe('ws://127.0.0.1:5/?token=a+b')
  })
})
