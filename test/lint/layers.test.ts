// The layer rules of docs/architecture.md §2 are enforced by lint: a forbidden import fails
// `npm run lint` (eslint.config.mjs with scripts/eslint-layers.mjs), wherever the file sits.
import { describe, expect, it } from 'vitest'
import { ESLint } from 'eslint'
import { resolve } from 'node:path'

const ROOT = resolve(__dirname, '..', '..')
const eslint = new ESLint({ cwd: ROOT })

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: resolve(ROOT, file) })
  return result.messages.filter((m) => m.ruleId === 'layers/no-cross-layer-import' || m.ruleId === 'no-restricted-imports').map((m) => m.message)
}

describe('layer rules (npm run lint)', () => {
  it.each([
    ['main/core/x.ts', "import { PeerNode } from '../node/peer-node'\nexport const n = PeerNode\n", 'main/core is pure'],
    ['main/core/deeper/x.ts', "import { PeerNode } from '../../node/peer-node'\nexport const n = PeerNode\n", 'main/core is pure'],
    ['main/core/x.ts', "import { PeerNode } from './../cluster/../node/peer-node'\nexport const n = PeerNode\n", 'main/core is pure'],
    ['main/cluster/x.ts', "import { PeerNode } from '../node/peer-node'\nexport const n = PeerNode\n", 'never the reverse'],
    ['main/gateway/x.ts', "export { PeerNode } from '../node/peer-node'\n", 'never the reverse'],
    ['main/store/x.ts', "import { ClientOps } from '../node/client-ops'\nexport const c = ClientOps\n", 'never the reverse'],
    ['renderer/src/x.ts', "import { PeerNode } from '../../main/node/peer-node'\nexport const n = PeerNode\n", 'only the client protocol'],
    ['main/node/x.ts', "import { app } from 'electron'\nexport const a = app\n", 'Only main/index.ts'],
  ])('%s importing a higher layer fails lint', async (file, code, why) => {
    const found = await problems(file, code)
    expect(found.length, `no lint error for ${file}`).toBeGreaterThan(0)
    expect(found.join('\n')).toContain(why)
  })

  it.each([
    ['main/node/x.ts', "import { ChatError } from '../core/errors'\nexport const e = ChatError\n"],
    ['main/cluster/x.ts', "import { ChatError } from '../core/errors'\nexport const e = ChatError\n"],
    ['renderer/src/x.ts', "import type { Op } from '../../proto/client-protocol'\nexport type O = Op\n"],
  ])('%s importing downwards is fine', async (file, code) => {
    expect(await problems(file, code)).toEqual([])
  })
})

describe('named errors (npm run lint)', () => {
  async function bareErrors(file: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: resolve(ROOT, file) })
    return result.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.message)
  }
  it('a bare Error in main/ fails lint; a named one with a code does not', async () => {
    expect((await bareErrors('main/node/x.ts', "export function f(): never {\n  throw new Error('x')\n}\n")).join('\n')).toContain('named error class')
    expect(await bareErrors('main/node/x.ts', "import { ChatError } from '../core/errors'\nexport function f(): never {\n  throw new ChatError('internal', 'x')\n}\n")).toEqual([])
  })
})
