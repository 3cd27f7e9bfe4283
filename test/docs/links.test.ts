// The repository's docs are its manual (docs/architecture.md §6): every relative link in README.md
// and docs/*.md must lead to a file that exists, and every anchor to a heading of that file, so a
// page that moves or a section that is renamed breaks this test instead of a reader's click.
import { describe, expect, it } from 'vitest'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

const ROOT = resolve(__dirname, '..', '..')
const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-')
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '')
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1])))
}

describe('docs links', () => {
  it.each(pages)('%s: every relative link and anchor resolves', (page) => {
    const file = join(ROOT, page)
    const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '')
    const broken: string[] = []
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const href = m[1]
      if (/^[a-z]+:/i.test(href)) continue // http(s), mailto: not ours to check offline
      const [path, anchor] = href.split('#')
      const target = path ? resolve(dirname(file), path) : file
      if (!existsSync(target)) broken.push(`${href} (no such file)`)
      else if (anchor && target.endsWith('.md') && !anchorsOf(target).has(anchor)) broken.push(`${href} (no such heading)`)
    }
    expect(broken, `broken links in ${page}`).toEqual([])
  })
})
