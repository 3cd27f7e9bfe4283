/** What the browser tests share: the built renderer, Debian's chromium and its flags (docs/testing.md). */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { ROOT, cleanup, type NodeProc } from '../helpers/cluster'

export const UI_DIR = join(ROOT, 'out', 'renderer')
/** Where the browser tests write the screenshots docs/ui.md and the README show. */
export const SHOTS = join(ROOT, 'docs', 'screenshots')
/** How long a page action may wait (a role to appear, a click): roomy for a loaded two-core machine. */
export const PAGE_TIMEOUT_MS = 15_000
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

/** Writes docs/screenshots/`name`.png of what `page` shows now. */
export const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`) })

/**
 * What a browser test file does before it starts its nodes: no silent skip, so without Debian's
 * chromium it fails and says how to install it (`bash .ci/run` installs it, docs/testing.md); then
 * it builds what is stale and makes the screenshots folder.
 */
export function prepareBrowserTests(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (the browser tests need Debian's chromium)`)
  ensureBuilt()
  mkdirSync(SHOTS, { recursive: true })
}

/**
 * A test file's chromium and the pages it opens, each in a context of its own (its own storage,
 * as another person's browser would be); close() ends them all, whatever the test left open.
 */
export class BrowserPages {
  private browser: Browser | undefined
  private readonly contexts: BrowserContext[] = []

  async launch(): Promise<void> {
    this.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 })
  }

  /** A blank page with a `width` × `height` window. */
  async newPage(width: number, height: number): Promise<Page> {
    if (!this.browser) throw new Error('BrowserPages.launch() first')
    const ctx = await this.browser.newContext({ viewport: { width, height } })
    this.contexts.push(ctx)
    const page = await ctx.newPage()
    page.setDefaultTimeout(PAGE_TIMEOUT_MS)
    return page
  }

  /** A page signed in as `user` on `node` (signIn), with a `width` × `height` window. */
  async openAs(node: NodeProc, user: string, width = 1280, height = 800): Promise<Page> {
    const page = await this.newPage(width, height)
    await signIn(page, node, user)
    return page
  }

  async close(): Promise<void> {
    for (const c of this.contexts) await c.close().catch(() => {})
    await this.browser?.close().catch(() => {})
  }
}

/** A browser test file's afterAll: its pages and chromium, then every node it started (cleanup). */
export async function endBrowserTests(pages: BrowserPages): Promise<void> {
  await pages.close()
  await cleanup()
}
