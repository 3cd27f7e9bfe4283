/** What the browser tests share: the built renderer, Debian's chromium and its flags (docs/testing.md). */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { ROOT, type NodeProc } from '../helpers/cluster'

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

function isFresh(): boolean {
  const index = join(UI_DIR, 'index.html')
  const cli = join(ROOT, 'out', 'main', 'cli.js')
  const ui = Math.max(newestMtime(join(ROOT, 'renderer')), newestMtime(join(ROOT, 'proto')))
  const node = Math.max(newestMtime(join(ROOT, 'main')), newestMtime(join(ROOT, 'proto')))
  return existsSync(index) && statSync(index).mtimeMs >= ui && existsSync(cli) && statSync(cli).mtimeMs >= node
}

/**
 * Build the renderer and the node (out/main/cli.js) when missing or older than their sources (a
 * fresh checkout, or edits).
 * vitest runs the browser test files in parallel: a lock directory makes one of them build while the
 * others wait, instead of two builds writing out/ at once.
 */
export function ensureBuilt(): void {
  const lock = join(ROOT, 'out', '.renderer-build.lock')
  mkdirSync(join(ROOT, 'out'), { recursive: true })
  const deadline = Date.now() + 180_000
  for (;;) {
    if (isFresh()) return
    try {
      mkdirSync(lock)
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} held for 3 minutes: remove it if no build is running`)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250) // another file is building
      continue
    }
    try {
      if (!isFresh()) execFileSync('npx', ['electron-vite', 'build'], { cwd: ROOT, stdio: 'inherit', timeout: 120_000 })
    } finally {
      rmSync(lock, { recursive: true, force: true })
    }
    return
  }
}

/**
 * Open the node's UI in `page` and sign in as `user`, as a person does at the name prompt; resolves
 * once the header says who is signed in on which node (connected).
 */
export async function signIn(page: Page, node: NodeProc, user: string): Promise<void> {
  if (!node.ready.ui) throw new Error(`${node.ready.name} printed no ui URL: start it with --ui-dir`)
  await page.goto(node.ready.ui)
  await page.getByRole('textbox', { name: 'Display name' }).fill(user)
  await page.getByRole('button', { name: 'Start chatting' }).click()
  await page.getByLabel('Signed in as').getByText(node.ready.name).waitFor()
}
