/**
 * The chat as people expect it (docs/ui.md): rooms that stay joined across a reload, previews,
 * message formatting, the layout at 1280 and 390 px, notices, the room list's filter and quick
 * switcher, keyboard-only use, and axe-core (WCAG 2.1 A/AA + best practice) with 0 violations in
 * every view in both themes. Debian's chromium via playwright-core against two real headless nodes;
 * selectors are roles and accessible names only.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, ROOT, eventually, startNode, type NodeProc } from '../helpers/cluster'
import { BrowserPages, endBrowserTests, PAGE_TIMEOUT_MS as T, UI_DIR, prepareBrowserTests, shot, signIn } from './browser'

const AXE_SOURCE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8')

const pages = new BrowserPages()
let n1: NodeProc
let n2: NodeProc
let bot: Client
/** Console errors of every page (a CSP violation would show here). */
const consoleErrors: string[] = []

async function newPage(width: number, height: number): Promise<Page> {
  const page = await pages.newPage(width, height)
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text())
  })
  return page
}

/**
 * axe-core in the page (evaluated through the DevTools protocol, so the page's CSP stays as it is),
 * WCAG 2.1 A and AA and best practice; returns "rule: targets" per violation.
 */
async function axe(page: Page): Promise<string[]> {
  if (!(await page.evaluate('"axe" in window'))) await page.evaluate(AXE_SOURCE)
  return page.evaluate(`axe
    .run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
    .then((r) => r.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`)
}

/** 0 violations in light and in dark theme. */
async function expectAccessible(page: Page, view: string): Promise<void> {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme })
    expect(await axe(page), `axe violations in ${view} (${colorScheme})`).toEqual([])
  }
  await page.emulateMedia({ colorScheme: 'light' })
}

/** What has focus: "tag accessible-label", or "body" when focus was lost. */
const focused = (page: Page): Promise<string> =>
  page.evaluate(`(() => {
    const el = document.activeElement
    return !el || el === document.body ? 'body' : el.tagName.toLowerCase() + ' ' + (el.getAttribute('aria-label') ?? el.textContent?.trim() ?? '')
  })()`)
/** Anything wider than the window (sideways scrolling, something cut off at the right)? */
const overflowsX = (page: Page): Promise<boolean> => page.evaluate('document.documentElement.scrollWidth > window.innerWidth')

describe('the chat as people expect it (real browser, real nodes)', () => {
  beforeAll(async () => {
    prepareBrowserTests()
    // The bot makes rooms faster than a person: past the default room.create limit (docs/security.md).
    n1 = await startNode({ name: 'n1', extra: ['--ui-dir', UI_DIR, '--room-creates-per-10s', '50'] })
    n2 = await startNode({ name: 'n2', join: [n1.ready.grpc], extra: ['--ui-dir', UI_DIR] })
    await pages.launch()
    // A program on n1 fills a room the pages have not joined yet.
    bot = await Client.as(n1.ready, 'bot')
    const { room } = await bot.call('room.create', { name: 'news' })
    await bot.call('room.join', { roomId: room.roomId })
    for (const text of ['first news', 'hello @ana, see https://example.org/page. ok?', 'run `npm test` first', '```\nconst x = 1\n```', 'last news']) {
      await bot.call('message.send', { roomId: room.roomId, text, clientMsgId: text })
    }
    for (const name of ['spam 10', 'spam 2', 'spam 1', 'spam 100']) await bot.call('room.create', { name })
    await eventually(async () => (await (await Client.as(n2.ready, 'probe')).call('rooms.list')).rooms.some((r) => r.name === 'spam 100'), 10_000, 'rooms gossiped to n2')
  }, 180_000)

  afterAll(() => endBrowserTests(pages), 30_000)

  it('has no accessibility violations on the name prompt, and focus lands in the room list after it', async () => {
    const page = await newPage(1280, 800)
    await page.goto(n1.ready.ui!)
    await page.getByRole('textbox', { name: 'Display name' }).waitFor()
    await expectAccessible(page, 'name prompt')
    await page.getByRole('textbox', { name: 'Display name' }).fill('nameless')
    await page.keyboard.press('Enter')
    await page.getByLabel('Signed in as').getByText('n1').waitFor()
    expect(await focused(page)).toBe('input Filter rooms')
  })

  it('previews a room before joining, formats messages, and keeps joined rooms and the last room across a reload', async () => {
    const ana = await newPage(1280, 800)
    await signIn(ana, n2, 'ana')
    // Natural order in the room list: spam 1, 2, 10, 100.
    const group = ana.getByRole('region', { name: 'Rooms administered by n1' })
    // The list fills as the node's rooms.list answer and room events arrive: wait for all four.
    const spamRooms = async () => (await group.getByRole('button').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))).filter((n) => n?.startsWith('Room spam'))
    await expect.poll(spamRooms, { timeout: T }).toHaveLength(4)
    expect(await spamRooms()).toEqual(['Room spam 1', 'Room spam 2', 'Room spam 10', 'Room spam 100'])

    // Preview: the last messages, read-only, and a Join button; no composer.
    await group.getByRole('button', { name: 'Room news' }).click()
    const preview = ana.getByRole('region', { name: 'Preview of news' })
    await preview.getByText('last news').waitFor()
    expect(await preview.getByText('first news').count()).toBe(1)
    expect(await ana.getByRole('textbox', { name: 'Message' }).count()).toBe(0)
    await expectAccessible(ana, 'room preview')
    await shot(ana, 'preview')
    await ana.getByRole('button', { name: 'Join room' }).click()
    const log = ana.getByRole('log', { name: 'Messages in news' })
    await log.getByText('last news').waitFor() // the history of the join is shown (counts below do not wait)

    // Formatting: links open outside the app, code stays literal, a mention of ana is highlighted.
    const link = log.getByRole('link', { name: 'https://example.org/page' })
    expect(await link.getAttribute('href')).toBe('https://example.org/page')
    expect(await link.getAttribute('target')).toBe('_blank')
    expect(await link.getAttribute('rel')).toContain('noopener')
    expect(await log.locator('code', { hasText: 'npm test' }).count()).toBe(1)
    expect(await log.locator('pre', { hasText: 'const x = 1' }).count()).toBe(1)
    expect(await log.locator('mark', { hasText: '@ana' }).count()).toBe(1)
    // Grouped: the sender's name is shown once for the five messages in a row, under one day separator.
    await log.getByRole('separator', { name: 'Today' }).waitFor()
    expect(await log.locator('header').filter({ hasText: 'bot' }).count()).toBe(1)
    expect(await log.getByRole('article', { name: /from bot · n1$/ }).count()).toBe(5)
    // Relative time, exact time on hover.
    const time = log.locator('time').first()
    expect(await time.innerText()).toMatch(/just now|min ago/)
    expect(await time.getAttribute('title')).toMatch(/\d{4}/)
    // No seq for a chat user; the sender's node is always next to its name (two bots on two nodes are two people).
    expect(await log.innerText()).not.toMatch(/#\d/)
    expect(await log.locator('header').filter({ hasText: 'bot' }).innerText()).toContain('bot · n1')
    await expectAccessible(ana, 'chat')

    // A reload: the room is still joined and selected, without clicking anything.
    await ana.reload()
    await ana.getByRole('log', { name: 'Messages in news' }).getByText('last news').waitFor()
    expect(await ana.getByRole('button', { name: 'Room news' }).getAttribute('aria-current')).toBe('true')
    expect(await ana.getByRole('button', { name: 'Join room' }).count()).toBe(0)
  })

  it('keeps one notice per subject and drops it when it is no longer true', async () => {
    const ana = await newPage(1280, 800)
    await signIn(ana, n2, 'ana2')
    const notices = ana.getByRole('region', { name: 'Notices' })
    const { room } = await bot.call('room.create', { name: 'flaky' })
    await ana.getByRole('button', { name: 'Room flaky' }).click()
    await ana.getByRole('button', { name: 'Join room' }).click()
    await ana.getByRole('log', { name: 'Messages in flaky' }).waitFor()
    await bot.call('room.delete', { roomId: room.roomId })
    await notices.getByText('Room “flaky” was deleted.').waitFor()
    // The deletion's phases replaced each other: one notice about this room.
    expect(await notices.getByText(/flaky/).count()).toBe(1)
    // Notices never cover the room list: they sit in the flow above it.
    const list = await ana.getByRole('navigation', { name: 'Rooms' }).boundingBox()
    const box = await notices.boundingBox()
    expect(box!.y + box!.height).toBeLessThanOrEqual(list!.y + 1)
  })

  it('at 390 px: the room list and the room are two screens, members in a drawer, nothing wider than the window', async () => {
    const page = await newPage(390, 844)
    await signIn(page, n2, 'mo')
    const nav = page.getByRole('navigation', { name: 'Rooms' })
    await nav.waitFor()
    expect(await overflowsX(page)).toBe(false)
    await expectAccessible(page, 'room list at 390 px')
    await nav.getByRole('button', { name: 'Room news' }).click()
    await page.getByRole('region', { name: 'Preview of news' }).getByText('last news').waitFor()
    expect(await nav.count()).toBe(0)
    await page.getByRole('button', { name: 'Join room' }).click()
    await page.getByRole('log', { name: 'Messages in news' }).waitFor()
    expect(await overflowsX(page)).toBe(false)
    // The header's buttons stay on one line at 390 px.
    const heights = await page.getByRole('region', { name: 'Room news' }).locator('header').first().evaluate((h) => h.getBoundingClientRect().height)
    expect(heights).toBeLessThan(70)
    await expectAccessible(page, 'room at 390 px')
    await shot(page, 'chat-mobile')
    // Members: closed by default, then a drawer over the chat; Escape closes it.
    expect(await page.getByRole('complementary', { name: 'Members' }).count()).toBe(0)
    await page.getByRole('button', { name: 'Members' }).click()
    await page.getByRole('complementary', { name: 'Members' }).getByText('bot').waitFor()
    await expectAccessible(page, 'member drawer at 390 px')
    await page.keyboard.press('Escape')
    await page.getByRole('complementary', { name: 'Members' }).waitFor({ state: 'detached' })
    expect(await focused(page)).toBe('button Members')
    // Room actions behind ⋯, back to the list.
    await page.getByRole('button', { name: 'Room actions' }).click()
    await page.getByRole('button', { name: 'Leave room' }).waitFor()
    await page.getByRole('button', { name: 'Room actions' }).click()
    await page.getByRole('button', { name: 'Back to rooms' }).click()
    await nav.waitFor()
    for (const v of ['Settings', 'Cluster']) {
      await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: v }).click()
      await page.getByRole('heading', { level: 2 }).first().waitFor()
      expect(await overflowsX(page), `${v} fits at 390 px`).toBe(false)
      await expectAccessible(page, `${v} at 390 px`)
    }
  })

  it('at 1280 px: filter box, quick switcher (Ctrl+K), Settings and Cluster accessible, protocol details after the Cluster view', async () => {
    const page = await newPage(1280, 800)
    await signIn(page, n1, 'kim')
    const nav = page.getByRole('navigation', { name: 'Rooms' })
    await nav.getByRole('searchbox', { name: 'Filter rooms' }).fill('spam 1')
    const shown = () => nav.getByRole('button', { name: /^Room / }).evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))
    await eventually(async () => (await shown()).length === 3, 5000, 'the filtered list')
    expect(await shown()).toEqual(['Room spam 1', 'Room spam 10', 'Room spam 100'])
    await nav.getByRole('searchbox', { name: 'Filter rooms' }).fill('')

    await page.keyboard.press('Control+k')
    const dialog = page.getByRole('dialog', { name: 'Jump to a room' })
    await dialog.waitFor()
    await page.keyboard.type('news')
    await expectAccessible(page, 'quick switcher')
    await page.keyboard.press('Enter')
    await dialog.waitFor({ state: 'detached' })
    await page.getByRole('region', { name: 'Preview of news' }).waitFor()
    await page.getByRole('button', { name: 'Join room' }).click()
    await page.getByRole('log', { name: 'Messages in news' }).waitFor()

    // Each room's list reopens where the user left it.
    const { room: long } = await bot.call('room.create', { name: 'long' })
    await bot.call('room.join', { roomId: long.roomId })
    await Promise.all(Array.from({ length: 150 }, (_, i) => bot.call('message.send', { roomId: long.roomId, text: `long ${i + 1}`, clientMsgId: `long-${i}` })))
    await nav.getByRole('button', { name: 'Room long' }).click()
    await page.getByRole('button', { name: 'Join room' }).click()
    const longLog = page.getByRole('log', { name: 'Messages in long' })
    await longLog.getByText('long 150', { exact: true }).waitFor()
    // The join brought the last 50: the top of the list is message 101.
    await longLog.evaluate((el) => (el.scrollTop = 0))
    await longLog.getByText('long 101', { exact: true }).waitFor()
    await nav.getByRole('button', { name: 'Room news' }).click()
    await page.getByRole('log', { name: 'Messages in news' }).waitFor()
    await nav.getByRole('button', { name: 'Room long' }).click()
    await longLog.getByText('long 101', { exact: true }).waitFor()
    expect(await longLog.evaluate((el) => el.scrollTop)).toBeLessThan(200)
    expect(await longLog.getByText('long 150', { exact: true }).count()).toBe(0)

    // Settings and Cluster views, both themes.
    for (const v of ['Settings', 'Cluster']) {
      await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: v }).click()
      await page.getByRole('heading', { level: 2 }).first().waitFor()
      await expectAccessible(page, v)
    }
    // A peer that cannot be reached: a sentence in Settings, the raw gRPC detail only in the protocol log.
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Settings' }).click()
    await page.getByRole('textbox', { name: 'Peer address' }).fill('127.0.0.1:1')
    await page.getByRole('button', { name: 'Add peer' }).click()
    const addStatus = page.getByRole('status', { name: 'Add peer status' })
    await addStatus.getByText(/^Could not join 127\.0\.0\.1:1: /).waitFor({ timeout: 20_000 })
    expect(await addStatus.innerText()).not.toMatch(/ECONN|UNAVAILABLE|Resolution note|grpc/i)
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Cluster' }).click()
    const errorLine = page.getByRole('log', { name: 'Protocol log' }).getByRole('listitem').filter({ hasText: 'Add peer 127.0.0.1:1' })
    await errorLine.waitFor()
    expect(await errorLine.innerText()).toMatch(/error\s+Add peer 127\.0\.0\.1:1: \w+: /)

    // The Cluster view turns protocol details on (until the user chooses): seq and node show.
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Chat' }).click()
    await page.getByRole('log', { name: 'Messages in long' }).getByText('#101', { exact: true }).waitFor()
    expect(consoleErrors.filter((e) => /Content Security Policy|EvalError/.test(e))).toEqual([])
  })

  it('works with the keyboard only, and focus never falls back to the page after an action', async () => {
    const page = await newPage(1280, 800)
    await page.goto(n1.ready.ui!)
    await page.getByRole('textbox', { name: 'Display name' }).waitFor()
    await page.keyboard.type('keys')
    await page.keyboard.press('Enter')
    await page.getByLabel('Signed in as').getByText('n1').waitFor()
    expect(await focused(page)).toBe('input Filter rooms')
    // Create a room from the keyboard: Shift+Tab to the name field (Create room is disabled while empty).
    await page.keyboard.press('Shift+Tab')
    expect(await focused(page)).toBe('input New room name')
    await page.keyboard.type('keyboard room')
    await page.keyboard.press('Enter')
    await page.getByRole('log', { name: 'Messages in keyboard room' }).waitFor()
    expect(await focused(page)).toBe('textarea Message')
    await page.keyboard.type('typed only')
    await page.keyboard.press('Enter')
    await page.getByRole('log', { name: 'Messages in keyboard room' }).getByText('typed only').waitFor()

    // Tab to the room's buttons; each action leaves focus on what replaced it.
    const tabTo = async (name: string) => {
      for (let i = 0; i < 40 && (await focused(page)) !== `button ${name}`; i++) await page.keyboard.press('Shift+Tab')
      expect(await focused(page)).toBe(`button ${name}`)
    }
    await tabTo('Delete room')
    await page.keyboard.press('Enter')
    expect(await focused(page)).toBe('button Confirm delete')
    await page.keyboard.press('Tab')
    expect(await focused(page)).toBe('button Cancel')
    await page.keyboard.press('Enter')
    expect(await focused(page)).toBe('button Delete room')
    await tabTo('Leave room')
    await page.keyboard.press('Enter')
    await page.getByRole('button', { name: 'Join room' }).waitFor()
    await eventually(async () => (await focused(page)) === 'button Join room', 5000, 'focus on Join room')
    await page.keyboard.press('Enter')
    await page.getByRole('log', { name: 'Messages in keyboard room' }).waitFor()
    await eventually(async () => (await focused(page)) === 'textarea Message', 5000, 'focus in the composer')
    await tabTo('Delete room')
    await page.keyboard.press('Enter')
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Room “keyboard room” was deleted' }).waitFor()
    await eventually(async () => (await focused(page)) !== 'body', 5000, 'focus kept after the deletion')
    // Arrow keys move through the room list, Enter opens.
    await page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /^Room / }).first().focus()
    await page.keyboard.press('ArrowDown')
    const second = await focused(page)
    expect(second).toMatch(/^button Room /)
    await page.keyboard.press('Enter')
    await page.getByRole('region', { name: second.replace('button ', '') }).waitFor()
  })
})
