/** What the browser tests share: the built renderer, Debian's chromium and its flags (docs/testing.md). */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../helpers/cluster'

export const UI_DIR = join(ROOT, 'out', 'renderer')
export const CHROMIUM = '/usr/bin/chromium'
// Playwright gives every launch a fresh temporary profile (its own --user-data-dir).
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

function newestMtime(dir: string): number {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return t
}

/** Build the renderer when it is missing or older than its sources (a fresh checkout, or UI edits). */
export function ensureBuilt(): void {
  const index = join(UI_DIR, 'index.html')
  const sources = Math.max(newestMtime(join(ROOT, 'renderer')), statSync(join(ROOT, 'proto', 'client-protocol.ts')).mtimeMs)
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return
  execFileSync('npx', ['electron-vite', 'build'], { cwd: ROOT, stdio: 'inherit', timeout: 120_000 })
}
