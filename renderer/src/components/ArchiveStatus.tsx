import { useEffect, useState } from 'react'
import type { ArchivedRoomInfo, ChatMessage, HistorySource } from '../../../proto/client-protocol'
import type { Session, SessionState } from '../net/session'
import { archiveHost, describeArchive, sourceText, type ArchiveTone } from '../state/archive'
import { describeError } from '../state/errors'
import { userLabel } from '../state/identity'
import { nodeNames } from '../use-session'
import { Btn } from './ChatView'

const TONE_TEXT: Record<ArchiveTone, string> = {
  ok: 'text-emerald-700 dark:text-emerald-300',
  warn: 'text-amber-700 dark:text-amber-300',
  down: 'text-red-700 dark:text-red-300',
  off: 'text-slate-600 dark:text-slate-300',
}

// Whole class names (never built from parts): Tailwind only generates classes it finds in the source.
const TONE_FILL: Record<ArchiveTone, string> = {
  ok: 'fill-emerald-700 dark:fill-emerald-300',
  warn: 'fill-amber-700 dark:fill-amber-300',
  down: 'fill-red-700 dark:fill-red-300',
  off: 'fill-slate-600 dark:fill-slate-300',
}

const TONE_STROKE: Record<ArchiveTone, { stroke: string; dash?: string }> = {
  ok: { stroke: 'stroke-emerald-500' },
  warn: { stroke: 'stroke-amber-500', dash: '3 6' },
  down: { stroke: 'stroke-red-500', dash: '10 7' },
  off: { stroke: 'stroke-slate-400' },
}

/**
 * The database archive as one more node of the cluster picture (docs/archive.md): this node, the
 * link it writes over (coloured like a peer link: green up to date, amber behind, red unreachable)
 * and the database. Nothing when the node has no --db.
 */
export function ArchiveNode({ state }: { state: SessionState }) {
  const a = state.archive
  if (!a) return null
  const view = describeArchive(a)
  const link = TONE_STROKE[view.tone]
  const self = state.peers.self?.name ?? 'this node'
  return (
    <figure aria-label="History archive" className="mt-3 w-full max-w-2xl">
      <svg
        viewBox="0 0 480 92"
        role="img"
        aria-label={`${self} writes history to the database ${archiveHost(a)}: ${view.text}`}
        className="w-full rounded-lg border border-slate-200 bg-slate-50 dark:border-slate-700 dark:bg-slate-950"
      >
        <line x1={90} y1={40} x2={372} y2={40} strokeWidth={3} strokeDasharray={link.dash} strokeLinecap="round" className={link.stroke} />
        <circle cx={70} cy={40} r={18} className="fill-indigo-600" />
        <text x={70} y={78} textAnchor="middle" className="fill-slate-700 text-[12px] dark:fill-slate-200">
          {self}
        </text>
        {/* A cylinder, the usual picture of a database. */}
        <g className="fill-sky-700 stroke-sky-900 dark:stroke-sky-300">
          <rect x={378} y={22} width={44} height={36} strokeWidth={0} />
          <ellipse cx={400} cy={58} rx={22} ry={7} />
          <ellipse cx={400} cy={22} rx={22} ry={7} className="fill-sky-500" />
        </g>
        <text x={400} y={84} textAnchor="middle" className="fill-slate-700 text-[12px] dark:fill-slate-200">
          {archiveHost(a)}
        </text>
        <text x={231} y={30} textAnchor="middle" className={`text-[13px] font-semibold ${TONE_FILL[view.tone]}`}>
          {a.state === 'ok' && a.behind === 0 ? `archived ${a.archived}` : a.behind > 0 ? `behind by ${a.behind}` : a.state}
        </text>
      </svg>
      <figcaption role="status" className={`mt-1 text-sm ${TONE_TEXT[view.tone]}`}>
        {view.text}
        {a.state === 'ok' && a.lagMs > 0 ? ` (last write ${a.lagMs} ms after its commit)` : ''}
        {a.state === 'down' && a.lastError ? ` — ${a.lastError}` : ''}
      </figcaption>
    </figure>
  )
}

/**
 * Settings: where history comes from, the archive's state, per room where the last history answer
 * came from, and (in the desktop app) the archive URL, its password never shown back.
 */
export function ArchiveSettings({ session, state }: { session: Session; state: SessionState }) {
  const view = describeArchive(state.archive)
  const rooms = state.chat.rooms
  // Rooms in this node's directory; an archived room read below says its source in its own pane.
  const sources = Object.entries(state.historySource ?? {}).filter(([roomId]) => rooms[roomId])
  return (
    <section aria-labelledby="archive-h">
      <h2 id="archive-h" className="mb-3 text-lg font-semibold">
        History archive
      </h2>
      <p role="status" aria-label="Archive status" className={`text-sm ${TONE_TEXT[view.tone]}`}>
        {view.text}
        {state.archive ? ` (${archiveHost(state.archive)})` : ''}
      </p>
      {sources.length > 0 && (
        <ul aria-label="History sources" className="mt-2 space-y-1 text-sm text-slate-600 dark:text-slate-300">
          {sources.map(([roomId, s]) => (
            <li key={roomId}>
              {rooms[roomId].info.name}: history {sourceText(s)}
            </li>
          ))}
        </ul>
      )}
      {state.archive && <ArchivedRooms session={session} sources={state.historySource ?? {}} names={nodeNames(state)} />}
      {window.chatNode?.settings && <ArchiveUrlField />}
    </section>
  )
}

/**
 * The rooms the shared archive holds, and a read-only page of one's history: how a node that never
 * knew a room (started with an empty data dir) still shows what was said in it.
 */
function ArchivedRooms({ session, sources, names: known }: { session: Session; sources: Record<string, HistorySource>; names: Map<string, string> }) {
  const [rooms, setRooms] = useState<ArchivedRoomInfo[] | null>(null)
  // An archived room names its administrator node, which this node may never have met: authors on
  // that node get its name rather than the bare start of its id.
  const names = new Map(known)
  for (const r of rooms ?? []) if (!names.has(r.adminNodeId)) names.set(r.adminNodeId, r.adminNodeName)
  const [reading, setReading] = useState<{ room: ArchivedRoomInfo; messages: ChatMessage[] } | null>(null)
  const [error, setError] = useState<string | null>(null)
  const run = async (f: () => Promise<void>) => {
    setError(null)
    try {
      await f()
    } catch (err) {
      setError(describeError(err))
    }
  }
  const older = reading && reading.messages.length > 0 && reading.messages[0].seq > 1 ? reading.messages[0].seq : undefined
  return (
    <div className="mt-3 text-sm">
      <Btn onClick={() => void run(async () => setRooms(await session.archiveRooms()))}>{rooms ? 'Refresh archived rooms' : 'Show archived rooms'}</Btn>
      {error && (
        <p role="alert" className="mt-2 text-red-700 dark:text-red-300">
          {error}
        </p>
      )}
      {rooms && (
        <ul aria-label="Archived rooms" className="mt-2 space-y-1">
          {rooms.length === 0 && <li className="text-slate-500">The archive holds no rooms yet.</li>}
          {rooms.map((r) => (
            <li key={r.roomId} className="flex flex-wrap items-center gap-2">
              <span className="font-medium">#{r.name}</span>
              <span className="text-slate-500">
                by {r.createdBy} on {r.adminNodeName}, {r.lastSeq} message{r.lastSeq === 1 ? '' : 's'}
              </span>
              <Btn label={`Read ${r.name}`} onClick={() => void run(async () => setReading({ room: r, messages: await session.readHistory(r.roomId) }))}>
                Read
              </Btn>
            </li>
          ))}
        </ul>
      )}
      {reading && (
        <section aria-label={`Archived history of ${reading.room.name}`} className="mt-3 rounded-md border border-slate-200 p-3 dark:border-slate-700">
          <h3 className="mb-2 font-semibold">
            #{reading.room.name}{' '}
            <span className="font-normal text-slate-500">
              history {sourceText(sources[reading.room.roomId] ?? 'database')}
            </span>
          </h3>
          {older !== undefined && (
            <Btn
              onClick={() =>
                void run(async () => {
                  const page = await session.readHistory(reading.room.roomId, older)
                  setReading({ room: reading.room, messages: [...page, ...reading.messages] })
                })
              }
            >
              Older messages
            </Btn>
          )}
          <ol className="mt-2 max-h-64 space-y-1 overflow-y-auto">
            {reading.messages.map((m) => (
              <li key={m.seq}>
                <span className="text-slate-500 tabular-nums">{m.seq}</span> <span className="font-medium" title={userLabel(m.user, m.nodeId, names).title}>{userLabel(m.user, m.nodeId, names).text}</span>: {m.text}
              </li>
            ))}
          </ol>
        </section>
      )}
    </div>
  )
}

function ArchiveUrlField() {
  const [url, setUrl] = useState('')
  const [saved, setSaved] = useState<string | undefined>(undefined)
  const [note, setNote] = useState<{ error: boolean; text: string } | null>(null)

  useEffect(() => {
    void window.chatNode?.settings?.get().then((s) => {
      setSaved(s.dbUrl)
      setUrl(s.dbUrl ?? '')
    })
  }, [])

  const save = async (value: string) => {
    try {
      const s = await window.chatNode!.settings!.set({ dbUrl: value.trim() })
      setSaved(s.dbUrl)
      setUrl(s.dbUrl ?? '')
      setNote({ error: false, text: s.dbUrl ? 'Saved: used from the next start of the app.' : 'Removed: from the next start, history stays in the embedded log only.' })
    } catch (err) {
      setNote({ error: true, text: `Not saved: ${describeError(err)} (expected postgresql://user:password@host:port/database)` })
    }
  }

  return (
    <form
      aria-label="Archive database"
      className="mt-3 flex flex-wrap items-start gap-2"
      onSubmit={(e) => {
        e.preventDefault()
        void save(url)
      }}
    >
      <input
        aria-label="Archive database URL"
        placeholder="postgresql://user:password@host:26257/chat"
        value={url}
        onChange={(e) => setUrl(e.target.value)}
        spellCheck={false}
        autoComplete="off"
        className="w-[28rem] max-w-full rounded-md border border-slate-300 bg-white px-3 py-1.5 font-mono text-xs dark:border-slate-600 dark:bg-slate-800"
      />
      <Btn primary type="submit">
        Save
      </Btn>
      {saved && (
        <Btn label="Remove the archive database" onClick={() => void save('')}>
          Remove
        </Btn>
      )}
      {note && (
        <p role="status" className={`w-full text-xs ${note.error ? 'text-red-700 dark:text-red-300' : 'text-slate-600 dark:text-slate-300'}`}>
          {note.text}
        </p>
      )}
    </form>
  )
}
