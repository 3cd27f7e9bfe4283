/**
 * End to end through the real Electron app (docs/desktop.md): start an instance, the window
 * shows the chat, send a message and see it come back in order. Driven by playwright-core's
 * Electron support against a fresh build in .tmp/ and a throw-away user-data root.
 *
 * It needs the Electron binary. The electron npm package (>= 42) downloads it from GitHub the first
 * time it is used, which our build machines cannot reach, so there the test is skipped and says so.
 * We look for the binary without require('electron'): that require itself starts the download.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { _electron as electron, type ElectronApplication } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const repo = resolve(__dirname, '..', '..')

function findElectron(): { executable?: string; reason?: string } {
  const pkgDir = dirname(require.resolve('electron/package.json', { paths: [repo] }))
  const pathFile = join(pkgDir, 'path.txt')
  if (!existsSync(pathFile)) {
    return {
      reason: `Electron binary not installed (${pathFile} missing): the electron package downloads it from GitHub on first use, and this machine cannot reach GitHub`,
    }
  }
  const executable = join(process.env.ELECTRON_OVERRIDE_DIST_PATH ?? join(pkgDir, 'dist'), readFileSync(pathFile, 'utf8').trim())
  if (!existsSync(executable)) return { reason: `Electron binary missing at ${executable}` }
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    return { reason: 'no display (DISPLAY unset): run the tests under xvfb-run to include this one' }
  }
  return { executable }
}

const found = findElectron()
const hasElectron = found.executable !== undefined
if (!hasElectron) console.log(`[electron-app.test] NOT RUN: ${found.reason}`)

const buildRoot = join(repo, '.tmp', `electron-app-${process.pid}`)
const outDir = join(buildRoot, 'out')
let userDataRoot = ''
let app: ElectronApplication | undefined

describe('the desktop app (real Electron)', () => {
  beforeAll(() => {
    if (!hasElectron) return
    mkdirSync(buildRoot, { recursive: true })
    userDataRoot = mkdtempSync(join(tmpdir(), 'ds-e2e-'))
    const bin = join(repo, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js')
    const res = spawnSync(process.execPath, [bin, 'build', '--outDir', outDir], { cwd: repo, encoding: 'utf8', timeout: 150_000 })
    if (res.status !== 0) throw new Error(`electron-vite build failed:\n${res.stdout}\n${res.stderr}`)
  }, 180_000)

  afterAll(async () => {
    // close() lets the app run its before-quit handler: the node leaves gracefully.
    await app?.close().catch(() => {})
    if (userDataRoot) rmSync(userDataRoot, { recursive: true, force: true })
    rmSync(buildRoot, { recursive: true, force: true })
  })

  // Skipped where the Electron binary cannot be present (see findElectron and the NOT RUN line).
  it.skipIf(!hasElectron)(
    'starts an instance whose window shows the chat, and sends a message',
    async () => {
      app = await electron.launch({
        executablePath: found.executable!,
        args: [join(outDir, 'main', 'index.js'), '--instance', '7', '--name', 'e2e', '--grpc', '127.0.0.1:0'],
        env: { ...process.env, DS_USER_DATA_ROOT: userDataRoot },
        timeout: 30_000,
      })
      const page = await app.firstWindow()
      const title = await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]?.getTitle() ?? '')
      expect(title).toMatch(/e2e — 127\.0\.0\.1:\d+ \(instance 7\)/)

      // Hardened renderer: the bridge is there, Node is not.
      // (globalThis, not window: this file is type-checked without the DOM library.)
      expect(await page.evaluate(() => typeof (globalThis as { chatNode?: { wsUrl?: unknown } }).chatNode?.wsUrl)).toBe('string')
      expect(await page.evaluate(() => typeof (globalThis as { require?: unknown }).require)).toBe('undefined')
      expect(page.url()).toMatch(/^app:\/\/chat\//)

      await page.getByLabel('Display name').fill('e2e-user')
      await page.getByRole('button', { name: 'Start chatting' }).click()
      await page.getByRole('button', { name: /^Room e2e lobby/ }).click()
      const text = `hello from playwright ${Date.now()}`
      await page.getByLabel('Message', { exact: true }).fill(text)
      await page.keyboard.press('Enter')
      await expect
        .poll(async () => page.getByRole('article', { name: /from e2e-user/ }).filter({ hasText: text }).count(), { timeout: 15_000 })
        .toBe(1)
    },
    90_000,
  )
})
