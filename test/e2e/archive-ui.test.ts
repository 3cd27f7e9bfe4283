/**
 * The history archive in the UI (docs/archive.md, docs/ui.md): Debian's chromium against a real
 * headless node started with --db and a real PostgreSQL. The cluster view shows the database as a
 * node of the picture with the archive's state; the database stopped, it says how far behind the
 * archive is; restarted, it is up to date again. Roles and accessible names only.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, startNode, type NodeProc } from '../helpers/cluster'
import { startPostgres, type TempPostgres } from '../helpers/postgres'
import { BrowserPages, UI_DIR, endBrowserTests, prepareBrowserTests, shot } from './browser'

const pages = new BrowserPages()
let pg: TempPostgres
let node: NodeProc
let page: Page

describe('the history archive in the UI', () => {
  beforeAll(async () => {
    prepareBrowserTests()
    pg = await startPostgres()
    node = await startNode({ name: 'arch1', extra: ['--ui-dir', UI_DIR, '--db', pg.url] })
    await pages.launch()
    page = await pages.openAs(node, 'ada')
  }, 180_000)

  afterAll(async () => {
    await endBrowserTests(pages)
    await pg?.destroy()
  }, 30_000)

  it('shows the database as a node of the cluster picture, and the archive falling behind and catching up', async () => {
    const bot = await Client.as(node.ready, 'bot')
    const { room } = await bot.call('room.create', { name: 'kept' })
    await bot.call('room.join', { roomId: room.roomId })
    for (let i = 1; i <= 5; i++) await bot.call('message.send', { roomId: room.roomId, text: `m${i}`, clientMsgId: `m${i}` })

    await page.getByRole('button', { name: 'Cluster' }).click()
    const archive = page.getByRole('figure', { name: 'History archive' })
    await archive.getByRole('img', { name: new RegExp(`arch1 writes history to the database 127\\.0\\.0\\.1:${pg.port}/postgres: Database archive up to date`) }).waitFor()
    await archive.getByRole('status').getByText('Database archive up to date').waitFor()

    await pg.stop()
    for (let i = 6; i <= 12; i++) await bot.call('message.send', { roomId: room.roomId, text: `m${i}`, clientMsgId: `m${i}` })
    await archive.getByRole('status').getByText('Database archive unreachable: archive behind by 7 messages').waitFor({ timeout: 20_000 })

    await pg.start()
    await archive.getByRole('status').getByText('Database archive up to date').waitFor({ timeout: 20_000 })
    const rows = await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM archive_messages WHERE room_id = $1', [room.roomId])
    expect(rows.rows[0].n).toBe(12)
    await shot(page, 'archive')

    // Settings says the same, in words.
    await page.getByRole('button', { name: 'Settings' }).click()
    await page.getByRole('status', { name: 'Archive status' }).getByText(/Database archive up to date \(127\.0\.0\.1:\d+\/postgres\)/).waitFor()

    // A node started with an empty data dir and the same database, alone: its page lists the
    // archived room and reads its history from the database.
    const fresh = await startNode({ name: 'arch2', extra: ['--ui-dir', UI_DIR, '--db', pg.url] })
    const page2 = await pages.openAs(fresh, 'grace')
    await page2.getByRole('button', { name: 'Settings' }).click()
    await page2.getByRole('button', { name: 'Show archived rooms' }).click()
    await page2.getByRole('list', { name: 'Archived rooms' }).getByText('by bot on arch1, 12 messages').waitFor()
    await page2.getByRole('button', { name: 'Read kept' }).click()
    const read = page2.getByRole('region', { name: 'Archived history of kept' })
    await read.getByText('bot · arch1: m12').waitFor()
    expect(await read.getByRole('listitem').allInnerTexts()).toEqual(Array.from({ length: 12 }, (_, i) => `${i + 1} bot · arch1: m${i + 1}`))
    await read.getByRole('heading', { name: '#kept history from the database archive' }).waitFor()
    await shot(page2, 'archive-settings')
  })
})
