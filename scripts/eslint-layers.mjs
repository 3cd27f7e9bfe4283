// The layering of docs/architecture.md §2 as one ESLint rule that resolves every relative import to
// the file it names and checks it against the importing file's layer. Text patterns on the
// specifier ('../node/*') can be dodged by a file one folder deeper or by '..' detours; resolved
// paths cannot.
import { dirname, relative, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..')

/** Layer of a repository-relative path: the first prefix that matches. */
const LAYERS = [
  ['main/core/', 'core'],
  ['main/cluster/', 'cluster'],
  ['main/gateway/', 'gateway'],
  ['main/store/', 'store'],
  ['main/node/', 'node'],
  ['main/desktop/', 'desktop'],
  ['main/index', 'shell'],
  ['main/cli', 'shell'],
  ['proto/', 'proto'],
  ['preload/', 'preload'],
  ['renderer/', 'renderer'],
]

function layerOf(rel) {
  for (const [prefix, layer] of LAYERS) if (rel.startsWith(prefix)) return layer
  return undefined
}

/** What each layer may import (besides itself). Anything else is an upward or sideways arrow. */
const ALLOWED = {
  core: ['proto'],
  cluster: ['core', 'proto'],
  gateway: ['core', 'proto'],
  store: ['core', 'proto', 'cluster'],
  node: ['core', 'proto', 'cluster', 'gateway', 'store'],
  desktop: ['core', 'proto', 'cluster', 'gateway', 'store', 'node'],
  shell: ['core', 'proto', 'cluster', 'gateway', 'store', 'node', 'desktop'],
  proto: [],
  preload: ['proto', 'desktop'],
  renderer: ['proto'],
}

const WHY = {
  core: 'main/core is pure and depends on nothing above it',
  cluster: 'main/cluster is used by main/node, never the reverse',
  gateway: 'main/gateway is used by main/node, never the reverse',
  store: 'main/store is used by main/node, never the reverse',
  node: 'main/node does not depend on the desktop app or the shell',
  proto: 'proto/ holds the wire contracts and depends on nothing',
  preload: 'the preload shares only the IPC channel names of main/desktop and the protocol',
  renderer: 'the renderer talks only the client protocol (proto/client-protocol.ts)',
}

const rule = {
  meta: { type: 'problem', docs: { description: 'imports follow the layers of docs/architecture.md §2' }, schema: [] },
  create(context) {
    const file = relative(ROOT, context.filename).split('\\').join('/')
    const from = layerOf(file)
    if (!from) return {}
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return
      const target = relative(ROOT, resolve(dirname(context.filename), spec)).split('\\').join('/')
      const to = layerOf(target)
      if (!to || to === from || ALLOWED[from].includes(to)) return
      // The renderer may read the preload's type declarations (the API it is handed), nothing else.
      if (from === 'renderer' && target.startsWith('preload/api')) return
      context.report({ node, message: `${file} may not import ${target}: ${WHY[from]} (docs/architecture.md §2).` })
    }
    return {
      ImportDeclaration: (n) => check(n.source, n.source.value),
      ExportNamedDeclaration: (n) => n.source && check(n.source, n.source.value),
      ExportAllDeclaration: (n) => check(n.source, n.source.value),
      ImportExpression: (n) => n.source.type === 'Literal' && check(n.source, n.source.value),
    }
  },
}

export default { rules: { 'no-cross-layer-import': rule } }
