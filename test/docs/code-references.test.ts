// Comments cite the docs of this repository, never issue numbers or pages outside docs/: every
// `page.md`, `page.md §N` / `page.md section N` and `page.md, "Title"` in the code must name a page
// of docs/, a numbered section of it, and a heading or bold term it has. A renamed page or section
// then breaks this test instead of leaving a comment that points nowhere.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(__dirname, '..', '..')
const CODE = execFileSync('git', ['ls-files', 'main', 'renderer/src', 'proto', 'preload', 'scripts', 'sim', 'test', 'bench'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => /\.(ts|tsx|mjs)$/.test(f))

const pages = new Map<string, { headings: string[]; bold: string[] } | null>()
function page(name: string) {
  if (!pages.has(name)) {
    try {
      const text = readFileSync(join(ROOT, 'docs', name), 'utf8').replace(/```[\s\S]*?```/g, '')
      pages.set(name, {
        headings: [...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => m[1]),
        bold: [...text.matchAll(/\*\*([^*]+)\*\*/g)].map((m) => m[1]),
      })
    } catch {
      pages.set(name, null)
    }
  }
  return pages.get(name)
}

const REF = /(?<![\w.-])(?:[\w./-]*\/)?([a-z][a-z-]*\.md)(?:,? ?(?:§ ?|section )(\d+)|,? "([^"]+)")?/g

describe('doc references in code comments', () => {
  it('name a page of docs/, a section it has, and a heading or term it has', () => {
    const broken: string[] = []
    for (const file of CODE) {
      if (file === 'test/docs/code-references.test.ts') continue
      const text = readFileSync(join(ROOT, file), 'utf8')
      for (const m of text.matchAll(REF)) {
        const [ref, name, section, title] = m
        if (name === 'README.md') continue
        // Only docs/ of this repository: a clone has nothing else (../shared, other folders).
        if (/\//.test(ref.split(name)[0]) && !/^docs\/$/.test(ref.split(name)[0])) {
          broken.push(`${file}: ${ref} (outside docs/)`)
          continue
        }
        const p = page(name)
        if (!p) broken.push(`${file}: ${ref} (no docs/${name})`)
        else if (section && !p.headings.some((h) => new RegExp(`^${section}[.\\s]`).test(h))) broken.push(`${file}: ${ref} (no section ${section})`)
        else if (title) {
          const t = title.replace(/\s*\n\s*(?:\/\/|\*)?\s*/g, ' ').toLowerCase()
          if (![...p.headings, ...p.bold].some((h) => h.toLowerCase().includes(t))) broken.push(`${file}: ${ref} (no such heading)`)
        }
      }
    }
    expect(broken).toEqual([])
  })

  it('cite no issue numbers: a clone has the docs, not the tracker', () => {
    const cited: string[] = []
    for (const file of CODE) {
      if (file === 'test/docs/code-references.test.ts') continue
      const text = readFileSync(join(ROOT, file), 'utf8')
      for (const m of text.matchAll(/\bissue #?\d+/gi)) cited.push(`${file}: ${m[0]}`)
    }
    expect(cited).toEqual([])
  })
})
