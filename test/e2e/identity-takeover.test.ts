/**
 * Who is who, and a replicated room changing hands, in a real browser (docs/ui.md, "Who is who" and
 * "Replicated rooms in the cluster view"): three real headless nodes with `--replicas 3`, Debian's
 * chromium via playwright-core, selectors by role and accessible name only.
 *
 * - Two people called "alice" on two nodes (client-protocol.md §7) are told apart in the chat: each
 *   message and each member shows its node, with the node's full id in the tooltip.
 * - The administrator of a replicated room is killed (SIGKILL): the cluster view shows the new
 *   administrator and term, draws the handover, and the chat says "“design” is now run by …"
 *   instead of calling the room unavailable. It writes docs/screenshots/handover.png.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, eventually, killNode, startNode, type NodeProc } from '../helpers/cluster'
import { BrowserPages, endBrowserTests, UI_DIR, prepareBrowserTests, shot } from './browser'

const pages = new BrowserPages()
let n1: NodeProc
let n2: NodeProc
let n3: NodeProc
let alice2: Page
let alice3: Page
let roomId = ''

async function say(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text)
  await page.getByRole('textbox', { name: 'Message' }).press('Enter')
}

describe('two alices and a replicated room that changes hands (real browser, three real nodes)', () => {
  beforeAll(async () => {
    prepareBrowserTests()
    const extra = ['--ui-dir', UI_DIR, '--replicas', '3']
    // Roomy timing for a loaded two-core machine; the takeover comes within dead-ms plus an election.
    const timing = { heartbeatMs: 250, suspectMs: 1500, deadMs: 3000 }
    n1 = await startNode({ name: 'n1', extra, timing })
    ;[n2, n3] = await Promise.all([
      startNode({ name: 'n2', join: [n1.ready.grpc], extra, timing }),
      startNode({ name: 'n3', join: [n1.ready.grpc], extra, timing }),
    ])
    // Every node sees the other two alive before the room is made, so its replica set has three nodes.
    for (const n of [n1, n2, n3]) {
      const c = await Client.as(n.ready, 'watcher')
      await eventually(async () => (await c.call('peers.list')).peers.filter((p) => p.state === 'alive').length === 2, 20_000, `${n.ready.name} sees two live peers`)
      c.close()
    }
    const carol = await Client.as(n1.ready, 'carol')
    roomId = (await carol.call('room.create', { name: 'design' })).room.roomId
    await pages.launch()
    alice2 = await pages.openAs(n2, 'alice', 1280, 860)
    alice3 = await pages.openAs(n3, 'alice', 1280, 860)
  }, 180_000)

  afterAll(() => endBrowserTests(pages), 30_000)

  it('the directory gives the room three replicas and term 1', async () => {
    const c = await Client.as(n2.ready, 'watcher')
    const room = await eventually(async () => (await c.call('rooms.list')).rooms.find((r) => r.roomId === roomId && r.replicas?.length === 3), 15_000, 'design with 3 replicas')
    expect(room.adminNodeId).toBe(n1.ready.nodeId)
    expect(room.term).toBe(1)
    expect([...room.replicas!].sort()).toEqual([n1.ready.nodeId, n2.ready.nodeId, n3.ready.nodeId].sort())
    c.close()
  })

  it('tells two alices on two nodes apart: every message and member shows its node', async () => {
    for (const page of [alice2, alice3]) {
      await page.getByRole('region', { name: 'Rooms administered by n1' }).getByRole('button', { name: 'Room design' }).click()
      await page.getByRole('button', { name: 'Join room' }).click()
      await page.getByRole('log', { name: 'Messages in design' }).waitFor()
    }
    await say(alice2, 'I am alice on n2')
    await alice3.getByRole('log', { name: 'Messages in design' }).getByText('I am alice on n2').waitFor()
    await say(alice3, 'and I am alice on n3')

    const log = alice2.getByRole('log', { name: 'Messages in design' })
    const first = log.getByRole('article', { name: 'Message 1 from alice · n2' })
    const second = log.getByRole('article', { name: 'Message 2 from alice · n3' })
    await second.waitFor()
    expect(await first.innerText()).toContain('I am alice on n2')
    expect(await second.innerText()).toContain('and I am alice on n3')
    // Not grouped as one sender: each message has its own header, with its node.
    expect(await first.locator('header').innerText()).toContain('alice · n2')
    expect(await second.locator('header').innerText()).toContain('alice · n3')
    // The full node id is in the tooltip.
    expect(await second.getByTitle(n3.ready.nodeId).count()).toBe(1)

    // The member list: two alices, on two nodes.
    const members = alice3.getByRole('complementary', { name: 'Members' })
    await members.getByText('alice · n2').waitFor()
    await members.getByText('alice · n3').waitFor()
    // The room's creator is a user on a node too.
    await alice3.getByRole('region', { name: 'Room design' }).getByText('created by carol · n1').waitFor()
  })

  it('kill -9 of the administrator: the cluster view shows the new administrator and term and draws the handover', async () => {
    await alice2.getByRole('button', { name: 'Cluster' }).click()
    const table = alice2.getByRole('table', { name: 'Rooms and their replicas' })
    const row = table.getByRole('row').filter({ hasText: '#design' })
    await row.getByRole('list', { name: 'Replicas of design' }).getByText('n3').waitFor()
    expect(await row.innerText()).toMatch(/n1\s+1\s/)

    const killedAt = Date.now()
    await killNode(n1)
    // A replica with the whole log takes over within dead-ms plus an election.
    await row.getByText(/n1 → n[23] in term \d+/).waitFor({ timeout: 20_000 })
    const tookMs = Date.now() - killedAt
    const text = await row.innerText()
    const winner = /n1 → (n[23]) in term (\d+)/.exec(text)!
    expect(Number(winner[2])).toBeGreaterThanOrEqual(2)
    expect(text).toContain(`#design\t${winner[1]}`)
    // The picture: n1 dead, an arrow from n1 to the new administrator labelled with the room and term.
    const topo = alice2.getByRole('img', { name: /Cluster topology/ })
    await eventually(async () => /n1 dead/.test((await topo.getAttribute('aria-label')) ?? ''), 10_000, 'n1 drawn dead')
    expect(await topo.getAttribute('aria-label')).toContain(`handovers: #design t${winner[2]} handed from n1 to ${winner[1]}`)
    console.log(`takeover seen in the browser ${tookMs} ms after kill -9 of the administrator (dead-ms 3000)`)
    // Tall enough for the picture and the Rooms table under it.
    await alice2.setViewportSize({ width: 1280, height: 1180 })
    await shot(alice2, 'handover')
    await alice2.setViewportSize({ width: 1280, height: 860 })

    // The chat: the takeover notice, not an unavailable banner; the room keeps working.
    await alice2.getByRole('button', { name: 'Chat' }).click()
    await alice2.getByRole('status').filter({ hasText: new RegExp(`“design” is now run by ${winner[1]} \\(n1 left\\)`) }).waitFor()
    expect(await alice2.getByRole('alert').filter({ hasText: 'This room is unavailable' }).count()).toBe(0)
    await say(alice2, 'still here after n1 died')
    await alice3.getByRole('log', { name: 'Messages in design' }).getByRole('article', { name: 'Message 3 from alice · n2' }).getByText('still here after n1 died').waitFor()
  })
})
