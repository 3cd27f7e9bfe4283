// The resend memory's key (docs/ordering.md, "How a client learns the truth"): the same text as
// always, and one flat string rather than a tree of concatenations that the resend memory's queue
// would keep alive for each of its 50,000 keys (docs/benchmarks.md, "The resend memory's keys").
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dedupeKey, memberKey } from '../../main/core/room-ordering'

const ROOT = join(__dirname, '..', '..')

describe('dedupeKey', () => {
  it('is the member key, a NUL and the clientMsgId: alice on n1 and alice on n2 are two senders', () => {
    expect(dedupeKey('alice', 'n1', 'm-1')).toBe(`${memberKey('alice', 'n1')}\u0000m-1`)
    expect(dedupeKey('alice', 'n1', 'm-1')).not.toBe(dedupeKey('alice', 'n2', 'm-1'))
    expect(dedupeKey('a\u0000b', 'n1', 'c')).toBe('n1\u0000a\u0000b\u0000c')
  })

  it('is one flat string, not a tree of concatenations (V8 tells which)', () => {
    // Parts that come from parsed input, as on a node (literals could be joined at compile time).
    const script = [
      "const { dedupeKey } = require('./main/core/room-ordering.ts')",
      'const [u, n, id] = JSON.parse(process.argv[1])',
      // Made at run time: the TypeScript loader would not let V8's own syntax through.
      "const print = new Function('s', '%DebugPrint(s)')",
      'print(dedupeKey(u, n, id))',
      'print(`${n}\\u0000${u}\\u0000${id}`)',
    ].join('\n')
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=commonjs', '-e', script, JSON.stringify(['bench27', '0f1e2d3c-aaaa-bbbb-cccc-0123456789ab', 'm-123456-abcdef'])], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    })
    const types = [...out.matchAll(/- type: (\w+)/g)].map((m) => m[1])
    // The second print is the control: the same text made by a template literal is a cons string,
    // so the check can tell the two apart.
    expect(types[1]).toMatch(/^CONS_/)
    expect(types[0]).toMatch(/STRING_TYPE$/)
    expect(types[0]).not.toMatch(/^CONS_/)
  })
})
