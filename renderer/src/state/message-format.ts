/**
 * How a chat message reads (docs/ui.md, "Message list"): its text cut into plain text, links,
 * inline `code`, ``` code blocks ``` and @mentions; whether it continues the previous message's group;
 * day separators; relative times. Pure functions (the clock is a parameter), unit-tested in
 * test/renderer/message-format.test.ts.
 */

export type Segment =
  | { kind: 'text'; text: string }
  | { kind: 'link'; text: string; href: string }
  | { kind: 'code'; text: string }
  | { kind: 'codeblock'; text: string }
  | { kind: 'mention'; text: string; self: boolean }

/** http(s) URLs up to the first space; trailing punctuation of the sentence is not part of them. */
const URL_RE = /\bhttps?:\/\/[^\s<>"`]+/g
const TRAILING = /[.,;:!?)\]}'’]+$/

/** Cut a message into segments. `self` is the reader's user name: "@self" is their mention. */
export function parseMessage(text: string, self?: string): Segment[] {
  const out: Segment[] = []
  // Code blocks first: nothing inside them is a link or a mention.
  const parts = text.split(/```/)
  parts.forEach((part, i) => {
    const isBlock = i % 2 === 1 && i < parts.length - 1
    if (isBlock) out.push({ kind: 'codeblock', text: part.replace(/^[a-z0-9+-]*\n/i, '').replace(/\n$/, '') })
    else inline(i % 2 === 1 ? '```' + part : part, self, out)
  })
  return merge(out)
}

function inline(text: string, self: string | undefined, out: Segment[]): void {
  const bits = text.split(/`([^`\n]+)`/)
  bits.forEach((b, i) => {
    if (i % 2 === 1) out.push({ kind: 'code', text: b })
    else links(b, self, out)
  })
}

function links(text: string, self: string | undefined, out: Segment[]): void {
  let at = 0
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0]
    const trail = TRAILING.exec(url)?.[0] ?? ''
    url = url.slice(0, url.length - trail.length)
    if (url.length <= 'https://'.length) continue
    mentions(text.slice(at, m.index), self, out)
    out.push({ kind: 'link', text: url, href: url })
    at = m.index + url.length
  }
  mentions(text.slice(at), self, out)
}

function mentions(text: string, self: string | undefined, out: Segment[]): void {
  if (!text) return
  const re = /(^|[^\w@])@([\w.-]{1,32})/g
  let at = 0
  for (const m of text.matchAll(re)) {
    const start = m.index + m[1].length
    const name = m[2].replace(/[.-]+$/, '')
    out.push({ kind: 'text', text: text.slice(at, start) })
    out.push({ kind: 'mention', text: `@${name}`, self: self !== undefined && isSelf(name, self) })
    at = start + 1 + name.length
  }
  out.push({ kind: 'text', text: text.slice(at) })
}

function isSelf(name: string, self: string): boolean {
  return name.toLowerCase() === self.trim().toLowerCase()
}

function merge(segs: Segment[]): Segment[] {
  const out: Segment[] = []
  for (const s of segs) {
    if (s.kind === 'text' && s.text === '') continue
    const last = out[out.length - 1]
    if (s.kind === 'text' && last?.kind === 'text') out[out.length - 1] = { kind: 'text', text: last.text + s.text }
    else out.push(s)
  }
  return out
}

/**
 * Whether `text` mentions `self` ("@name", any case). A name with spaces cannot be typed as one
 * @word, so its first word counts too ("@Ada" for "Ada Lovelace").
 */
export function mentionsUser(text: string, self: string): boolean {
  const first = self.trim().split(/\s+/)[0]
  return parseMessage(text, self).some((s) => s.kind === 'mention' && (s.self || s.text.slice(1).toLowerCase() === first.toLowerCase()))
}

/** Messages of one sender within this long of each other, on one day, are shown as one group. */
export const GROUP_GAP_MS = 5 * 60_000

export interface Authored {
  user: string
  nodeId: string
  at: number
}

export function continuesGroup(prev: Authored | undefined, cur: Authored): boolean {
  return prev !== undefined && prev.user === cur.user && prev.nodeId === cur.nodeId && cur.at - prev.at < GROUP_GAP_MS && cur.at >= prev.at && sameDay(prev.at, cur.at)
}

export function sameDay(a: number, b: number): boolean {
  const x = new Date(a)
  const y = new Date(b)
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate()
}

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })
const clockFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const exactFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' })

/** "Today", "Yesterday", or the full date: the label of a day separator. */
export function dayLabel(at: number, now: number): string {
  if (sameDay(at, now)) return 'Today'
  if (sameDay(at, now - 86_400_000)) return 'Yesterday'
  return dayFmt.format(at)
}

/** "just now", "5 min ago" within the hour, then the clock time (the day is in the separator). */
export function relativeTime(at: number, now: number): string {
  const d = now - at
  if (d < 45_000) return 'just now'
  if (d < 3_600_000) return `${Math.max(1, Math.round(d / 60_000))} min ago`
  return clockFmt.format(at)
}

/** The exact time, shown on hover. */
export function exactTime(at: number): string {
  return exactFmt.format(at)
}

/** Natural order: "spam 2" before "spam 10"; case and accents compare as people expect. */
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' })
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b)
}
