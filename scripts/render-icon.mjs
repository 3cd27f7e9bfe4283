#!/usr/bin/env node
/**
 * Renders build/icon.svg to build/icon.png (512×512, transparent corners) with Debian's chromium, the
 * one image tool this repository already relies on. electron-builder makes the installers' .ico and
 * .icns from the PNG; the window uses it too (main/index.ts). Run after editing the SVG.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const svg = readFileSync(join(root, 'build', 'icon.svg'), 'utf8')
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] })
try {
  const page = await browser.newPage({ viewport: { width: 512, height: 512 } })
  await page.setContent(`<html><body style="margin:0;background:transparent">${svg}</body></html>`)
  await page.screenshot({ path: join(root, 'build', 'icon.png'), omitBackground: true, clip: { x: 0, y: 0, width: 512, height: 512 } })
} finally {
  await browser.close()
}
