#!/usr/bin/env node
/**
 * `npm run audit:electron`: Doyensec's electronegativity over the built app (out/: main, preload,
 * renderer, what electron-builder packs), offline (-e gives the Electron version instead of asking
 * GitHub). Fails on any HIGH finding; prints the others for review (docs/desktop.md, "Hardening").
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
if (!existsSync(join(root, 'out', 'main', 'index.js'))) {
  process.stderr.write('error: no build in out/: run npm run build first\n')
  process.exit(2)
}
const electronVersion = require('electron/package.json').version
const bin = join(dirname(require.resolve('@doyensec/electronegativity/package.json')), 'dist', 'index.js')
const dir = mkdtempSync(join(tmpdir(), 'electronegativity-'))
const csv = join(dir, 'findings.csv')
try {
  const run = spawnSync(process.execPath, [bin, '-i', join(root, 'out'), '-e', electronVersion, '-r', '-v', 'false', '-o', csv], {
    encoding: 'utf8',
  })
  if (!existsSync(csv)) {
    process.stderr.write(`error: electronegativity wrote no report (exit ${run.status}):\n${run.stderr}\n`)
    process.exit(2)
  }
  const rows = readFileSync(csv, 'utf8').trim().split('\n').slice(1).filter(Boolean)
  const high = rows.filter((r) => r.split(',')[1] === '"HIGH"')
  for (const r of rows) process.stdout.write(`${r.split(',').slice(0, 5).join(' ')}\n`)
  process.stdout.write(`electronegativity (Electron ${electronVersion}): ${rows.length} finding(s), ${high.length} high\n`)
  process.exit(high.length === 0 ? 0 : 1)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
