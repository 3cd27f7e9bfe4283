#!/usr/bin/env node
/**
 * Makes sure the Electron binary is there before `npm start`, `npm run dev` and `npm run three`.
 * electron >= 42 no longer downloads it at `npm install`; its own CLI fetches it on first use, but
 * electron-vite looks only for an already installed binary and fails with a bare "Electron
 * uninstall". So: run the electron package's installer (a no-op once installed), and explain what
 * to do when the download is impossible (offline, no GitHub) instead of printing a stack trace.
 * ELECTRON_EXEC_PATH (honoured by electron-vite and scripts/three.mjs) names a binary to use instead.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)

if (process.env.ELECTRON_EXEC_PATH) {
  if (existsSync(process.env.ELECTRON_EXEC_PATH)) process.exit(0)
  console.error(`ELECTRON_EXEC_PATH=${process.env.ELECTRON_EXEC_PATH} does not exist`)
  process.exit(1)
}

const installer = join(dirname(require.resolve('electron/package.json')), 'install.js')
const res = spawnSync(process.execPath, [installer], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' })
if (res.status === 0) process.exit(0)

const version = require('electron/package.json').version
console.error(
  [
    `Could not download the Electron ${version} binary (it comes from github.com on first use).`,
    '  - With internet access: run the command again (a proxy may need HTTPS_PROXY set).',
    '  - Behind a mirror: set ELECTRON_MIRROR to it and run again.',
    '  - With a binary already on disk: set ELECTRON_EXEC_PATH to it.',
    '  - Without a window at all: `npm run peer` runs the same node headless (docs/headless-node.md).',
    `Installer said: ${(res.stderr || '').trim().split('\n')[0]}`,
  ].join('\n'),
)
process.exit(1)
