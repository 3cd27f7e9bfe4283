import { useEffect, useRef, useState } from 'react'
import type { PeerState } from '../../../proto/client-protocol'
import type { LogKind, Session, SessionState, TraceEvent } from '../net/session'
import { clusterNodes, handoverArrows, meshLinks, readableTraceText, replicaRows, ringLayout, type ClusterNode, type HandoverArrow, type NodeState } from '../state/cluster'
import { nodeNames } from '../use-session'
import { isCutOff, markCutOff } from '../state/faults'
import { STATS_POLL_MS, formatPerFrame, formatQueued, formatSent, linkRateLabel, statsFor, type LinkStats } from '../state/link-stats'
import { Btn } from './ChatView'
import { ArchiveNode } from './ArchiveStatus'
import { FaultPanel } from './FaultPanel'

const FILL: Record<NodeState, string> = {
  self: 'fill-indigo-600',
  alive: 'fill-emerald-600',
  suspect: 'fill-amber-500',
  dead: 'fill-red-600',
}

const LINK: Record<PeerState, { stroke: string; dash?: string; width: number }> = {
  alive: { stroke: 'stroke-emerald-500', width: 3 },
  suspect: { stroke: 'stroke-amber-500', dash: '3 6', width: 3 },
  dead: { stroke: 'stroke-red-500', dash: '10 7', width: 3 },
}
/** A link this node cut with node.faults: grey and dotted, whatever the far end's state. */
const CUT_LINK = { stroke: 'stroke-slate-400 dark:stroke-slate-500', dash: '0.5 8', width: 4 }

const KINDS: LogKind[] = ['forward', 'seq', 'deliver', 'join', 'leave', 'heartbeat', 'peer', '2pc', 'gossip', 'gap', 'error']

const stateText = (s: NodeState) => (s === 'self' ? 'this node' : s)

/** The picture for the projector, the cluster as this node sees it, and its protocol log. */
export function ClusterView({ session, state }: { session: Session; state: SessionState }) {
  const connected = state.connection.status === 'open'
  // Opening the view is the opt-in to the trace stream; ordinary clients never get it.
  useEffect(() => {
    if (!connected) return
    void session.refreshPeers()
    // Whether to offer the teacher's fault panel (the node runs with --allow-faults).
    void session.loadNodeInfo()
    if (!state.traceOn) void session.setTrace(true)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [session, connected])

  // Per-link traffic (node.stats) every two seconds while the view is open and connected.
  useEffect(() => {
    if (!connected) return
    void session.loadStats()
    const timer = setInterval(() => void session.loadStats(), STATS_POLL_MS)
    return () => clearInterval(timer)
  }, [session, connected])

  const nodes = clusterNodes(
    state.peers.self,
    state.peers.peers,
    Object.values(state.chat.rooms).map((r) => r.info),
  )
  const roomStates = Object.values(state.chat.rooms)
  const arrows = handoverArrows(roomStates, nodes)
  const rows = replicaRows(
    roomStates.map((r) => ({ ...r.info, handover: r.handover })),
    nodes,
    nodeNames(state),
  )
  const allowFaults = state.nodeInfo?.allowFaults === true
  const cutOff = allowFaults ? (state.faults?.partitionedFrom ?? []) : []
  const stats = state.stats?.links

  return (
    <div className="flex min-h-0 flex-1 flex-col gap-4 overflow-y-auto p-4 lg:flex-row lg:overflow-hidden">
      <section aria-labelledby="topo-h" className="flex min-w-0 flex-1 flex-col lg:overflow-y-auto">
        <h2 id="topo-h" className="mb-2 text-lg font-semibold">
          Cluster <span className="text-sm font-normal text-slate-500 dark:text-slate-400">as {state.peers.self?.name ?? 'this node'} sees it</span>
        </h2>
        <Topology nodes={nodes} cutOff={cutOff} stats={stats} arrows={arrows} />
        <ArchiveNode state={state} />
        <Legend showCutOff={allowFaults} />
        <NodeTable nodes={nodes} cutOff={cutOff} stats={stats} selfName={state.peers.self?.name ?? 'this node'} />
        <RoomTable rows={rows} />
        {allowFaults && <FaultPanel session={session} state={state} />}
      </section>
      <ProtocolLog session={session} state={state} />
    </div>
  )
}

/** Room labels hang below each node; the picture is cropped to what the layout needs. */
const W = 480
const RING = 135
const ABOVE = 46
const BELOW = 116

function Topology({
  nodes,
  cutOff,
  stats,
  arrows,
}: {
  nodes: ClusterNode[]
  cutOff: readonly string[]
  stats: readonly LinkStats[] | undefined
  arrows: HandoverArrow[]
}) {
  const pos = ringLayout(nodes.length, W / 2, 0, RING)
  const top = nodes.length ? Math.min(...pos.map((p) => p.y)) - ABOVE : -ABOVE
  const height = (nodes.length ? Math.max(...pos.map((p) => p.y)) + BELOW : BELOW) - top
  const links = markCutOff(meshLinks(nodes), nodes, cutOff)
  const summary = nodes.map((n) => `${n.name} ${stateText(n.state)}`).join(', ')
  const rate = (l: (typeof links)[number]) => linkRateLabel(l, nodes, stats)
  const linkText = (l: (typeof links)[number]) => (l.cutOff ? `cut off (${l.state})` : l.state)
  const linkSummary = links.map((l) => `${nodes[l.from].name}–${nodes[l.to].name} ${linkText(l)}`).join(', ')
  const handovers = arrows.map((a) => `${a.label} handed from ${nodes[a.from].name} to ${nodes[a.to].name}`).join(', ')
  // A halo in the background colour keeps labels readable where a link passes behind them.
  const halo = { paintOrder: 'stroke', strokeWidth: 5, strokeLinejoin: 'round' } as const
  return (
    <svg
      viewBox={`0 ${top} ${W} ${height}`}
      role="img"
      aria-label={`Cluster topology: ${nodes.length} node${nodes.length === 1 ? '' : 's'}: ${summary}; ${links.length} link${links.length === 1 ? '' : 's'}${linkSummary ? `: ${linkSummary}` : ''}${handovers ? `; handovers: ${handovers}` : ''}`}
      className="w-full max-w-2xl shrink-0 rounded-lg border border-slate-200 bg-slate-50 dark:border-slate-700 dark:bg-slate-950"
    >
      {links.map((l) => {
        const s = l.cutOff ? CUT_LINK : LINK[l.state]
        return (
          <line
            key={`${nodes[l.from].nodeId}-${nodes[l.to].nodeId}`}
            x1={pos[l.from].x}
            y1={pos[l.from].y}
            x2={pos[l.to].x}
            y2={pos[l.to].y}
            strokeWidth={s.width}
            strokeDasharray={s.dash}
            strokeLinecap="round"
            className={s.stroke}
          >
            <title>{`${nodes[l.from].name} – ${nodes[l.to].name}: ${linkText(l)}${rate(l) ? `, ${rate(l)} sent by ${nodes[l.from].name}` : ''}`}</title>
          </line>
        )
      })}
      <defs>
        <marker id="handover-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" className="fill-indigo-600 dark:fill-indigo-300" />
        </marker>
      </defs>
      {/* Handovers: a curved arrow from a replicated room's old administrator to its new one (docs/ui.md). */}
      {arrows.map((a, k) => {
        const path = handoverPath(pos[a.from], pos[a.to], k)
        return (
          <g key={`handover-${a.roomId}`}>
            <title>{`${a.label}: handed from ${nodes[a.from].name} to ${nodes[a.to].name}`}</title>
            <path d={path.d} fill="none" strokeWidth={3} markerEnd="url(#handover-head)" className="stroke-indigo-600 dark:stroke-indigo-300" />
            <text x={path.label.x} y={path.label.y} textAnchor="middle" dy="0.35em" {...halo} className="fill-indigo-800 stroke-slate-50 text-[13px] font-semibold dark:fill-indigo-200 dark:stroke-slate-950">
              {a.label}
            </text>
          </g>
        )
      })}
      {/* Labels on cut links, past the middle towards the peer: clear of this node's room names. */}
      {links
        .filter((l) => l.cutOff)
        .map((l) => (
          <text
            key={`cut-${l.from}-${l.to}`}
            {...linkLabelAt(pos[l.from], pos[l.to])}
            {...halo}
            className="fill-slate-600 stroke-slate-50 text-[14px] font-semibold italic dark:fill-slate-300 dark:stroke-slate-950"
          >
            cut off
          </text>
        ))}
      {/* Messages per frame on this node's own links, where cut links have their label (never both). */}
      {links.map((l) => {
        const text = rate(l)
        if (!text) return null
        return (
          <text
            key={`rate-${l.from}-${l.to}`}
            {...linkLabelAt(pos[l.from], pos[l.to])}
            {...halo}
            className="fill-slate-700 stroke-slate-50 text-[13px] font-semibold tabular-nums dark:fill-slate-200 dark:stroke-slate-950"
          >
            {text}
          </text>
        )
      })}
      {nodes.map((n, i) => (
        <g key={n.nodeId || n.address} transform={`translate(${pos[i].x},${pos[i].y})`}>
          <title>{`${n.name} (${n.address}): ${stateText(n.state)}`}</title>
          <circle r={34} className={`${FILL[n.state]} stroke-slate-50 dark:stroke-slate-950`} strokeWidth={5} />
          <text textAnchor="middle" dy="0.35em" className="fill-white text-[14px] font-semibold">
            {n.state === 'self' ? 'you' : n.state}
          </text>
          <text textAnchor="middle" y={56} {...halo} className="fill-slate-900 stroke-slate-50 text-[19px] font-bold dark:fill-slate-50 dark:stroke-slate-950">
            {n.name}
          </text>
          {n.rooms.slice(0, 3).map((r, j) => (
            <text
              key={r.roomId}
              textAnchor="middle"
              y={76 + j * 17}
              {...halo}
              className={`stroke-slate-50 text-[14px] dark:stroke-slate-950 ${r.available ? 'fill-slate-700 dark:fill-slate-300' : 'fill-red-700 dark:fill-red-400'}`}
            >
              #{r.name.length > 18 ? `${r.name.slice(0, 17)}…` : r.name}
              {r.term !== undefined ? ` · t${r.term}` : ''}
              {r.frozen ? ' (frozen)' : ''}
            </text>
          ))}
          {n.rooms.length > 3 && (
            <text textAnchor="middle" y={76 + 3 * 17} {...halo} className="fill-slate-500 stroke-slate-50 text-[13px] dark:fill-slate-400 dark:stroke-slate-950">
              +{n.rooms.length - 3} more
            </text>
          )}
        </g>
      ))}
    </svg>
  )
}

function Legend({ showCutOff }: { showCutOff: boolean }) {
  const nodesKey: [string, string][] = [
    ['bg-indigo-600', 'this node'],
    ['bg-emerald-600', 'alive'],
    ['bg-amber-500', 'suspect'],
    ['bg-red-600', 'dead'],
  ]
  return (
    <div aria-label="Legend" role="group" className="mt-2 space-y-1 text-xs text-slate-600 dark:text-slate-300">
      <ul aria-label="Node colours" className="flex flex-wrap items-center gap-x-4 gap-y-1">
        <li aria-hidden className="w-10 font-semibold text-slate-500 dark:text-slate-400">Nodes</li>
        {nodesKey.map(([c, l]) => (
          <li key={l} className="flex items-center gap-1.5">
            <span aria-hidden className={`inline-block h-3 w-3 rounded-full ${c}`} />
            {l}
          </li>
        ))}
      </ul>
      <ul aria-label="Link styles" className="flex flex-wrap items-center gap-x-4 gap-y-1">
        <li aria-hidden className="w-10 font-semibold text-slate-500 dark:text-slate-400">Links</li>
        {(['alive', 'suspect', 'dead'] as PeerState[]).map((s) => (
          <li key={s} className="flex items-center gap-1.5">
            <svg aria-hidden width="26" height="8" className="overflow-visible">
              <line x1="1" y1="4" x2="25" y2="4" strokeWidth={3} strokeDasharray={LINK[s].dash} strokeLinecap="round" className={LINK[s].stroke} />
            </svg>
            {s}
          </li>
        ))}
        {showCutOff && (
          <li className="flex items-center gap-1.5">
            <svg aria-hidden width="26" height="8" className="overflow-visible">
              <line x1="2" y1="4" x2="25" y2="4" strokeWidth={CUT_LINK.width} strokeDasharray={CUT_LINK.dash} strokeLinecap="round" className={CUT_LINK.stroke} />
            </svg>
            cut off
          </li>
        )}
        <li className="text-slate-500 dark:text-slate-400">(a link is as good as its worse end)</li>
      </ul>
    </div>
  )
}

function NodeTable({ nodes, cutOff, stats, selfName }: { nodes: ClusterNode[]; cutOff: readonly string[]; stats: readonly LinkStats[] | undefined; selfName: string }) {
  const num = 'py-1 pr-3 text-right whitespace-nowrap tabular-nums'
  return (
    <>
      {/* Six columns in a narrow pane: the headers wrap, and a very wide table scrolls rather than clips. */}
      <div tabIndex={0} role="region" aria-label="Nodes table (scrolls sideways)" className="mt-3 w-full max-w-2xl shrink-0 overflow-x-auto focus-visible:outline-2 focus-visible:outline-indigo-500 dark:focus-visible:outline-indigo-300">
        <table aria-label="Nodes" aria-describedby="nodes-traffic-note" className="w-full text-left text-sm">
          <thead className="text-xs text-slate-500 uppercase dark:text-slate-400">
            <tr>
              <th className="py-1 pr-3 align-bottom font-semibold">Node</th>
              <th className="pr-3 align-bottom font-semibold">State</th>
              <th className="pr-3 text-right align-bottom font-semibold">sent (frames / messages)</th>
              <th className="pr-3 text-right align-bottom font-semibold">per frame</th>
              <th className="pr-3 text-right align-bottom font-semibold">queued</th>
              <th className="align-bottom font-semibold">Rooms it administers</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n) => {
              const self = n.state === 'self'
              const s = statsFor(n, stats)
              return (
                <tr key={n.nodeId || n.address} className="border-t border-slate-200 align-top dark:border-slate-700">
                  <td className="py-1 pr-3 font-medium whitespace-nowrap">{n.name}</td>
                  <td className="py-1 pr-3 whitespace-nowrap">
                    <span className="flex items-center gap-1.5">
                      <span aria-hidden className={`inline-block h-2 w-2 rounded-full ${FILL[n.state].replace('fill-', 'bg-')}`} />
                      {stateText(n.state)}
                      {!self && isCutOff(n, cutOff) ? ' (cut off)' : ''}
                    </span>
                  </td>
                  {/* This node has no link to itself: its traffic cells stay empty. */}
                  <td className={num}>{self ? '' : formatSent(s)}</td>
                  <td className={`${num} font-semibold`}>{self ? '' : formatPerFrame(s)}</td>
                  <td className={`${num} ${s && s.queued > 0 ? 'font-semibold text-amber-700 dark:text-amber-400' : ''}`}>{self ? '' : formatQueued(s)}</td>
                  <td className="py-1 text-slate-600 dark:text-slate-300">
                    {n.rooms.length === 0
                      ? '—'
                      : n.rooms.map((r) => `#${r.name}${r.frozen ? ' (frozen)' : r.available ? '' : ' (unavailable)'}`).join(', ')}
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
      <p id="nodes-traffic-note" className="mt-1 max-w-2xl text-xs text-slate-500 dark:text-slate-400">
        Sent: what {selfName} wrote on its link to each peer since that link opened, in gRPC frames and the peer messages in them; per frame
        is their ratio, the batching (an idle link carries one heartbeat per frame). Updated every {STATS_POLL_MS / 1000} s.
      </p>
    </>
  )
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  fractionalSecondDigits: 3,
  hourCycle: 'h23',
})

const KIND_COLOR: Record<LogKind, string> = {
  forward: 'bg-sky-400/15 text-sky-300',
  seq: 'bg-indigo-400/20 text-indigo-200',
  deliver: 'bg-emerald-400/15 text-emerald-300',
  join: 'bg-teal-400/15 text-teal-300',
  leave: 'bg-teal-400/15 text-teal-300',
  heartbeat: 'bg-amber-400/15 text-amber-300',
  peer: 'bg-orange-400/15 text-orange-300',
  '2pc': 'bg-fuchsia-400/15 text-fuchsia-300',
  gossip: 'bg-cyan-400/15 text-cyan-300',
  gap: 'bg-red-400/20 text-red-300',
  error: 'bg-rose-400/20 text-rose-200',
}

function ProtocolLog({ session, state }: { session: Session; state: SessionState }) {
  const [filter, setFilter] = useState<LogKind | 'all'>('all')
  const ref = useRef<HTMLDivElement>(null)
  const rows = filter === 'all' ? state.trace : state.trace.filter((t) => t.kind === filter)
  const shown = rows.slice(-300)
  const roomNames = new Map(Object.values(state.chat.rooms).map((r) => [r.info.roomId, r.info.name]))
  useEffect(() => {
    const el = ref.current
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 60) el.scrollTop = el.scrollHeight
  }, [shown.length])
  return (
    <section aria-labelledby="log-h" className="flex min-h-80 w-full min-w-0 flex-col lg:w-[30rem] lg:shrink-0">
      <div className="mb-2 flex items-center gap-2">
        <h2 id="log-h" className="mr-auto text-lg font-semibold whitespace-nowrap">
          Protocol log
        </h2>
        <select
          aria-label="Filter log by kind"
          value={filter}
          onChange={(e) => setFilter(e.target.value as LogKind | 'all')}
          className="rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-600 dark:bg-slate-800"
        >
          <option value="all">all kinds</option>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <Btn onClick={() => void session.setTrace(!state.traceOn)}>
          {state.traceOn ? 'Pause log' : 'Resume log'}
        </Btn>
        <Btn onClick={() => session.clearTrace()}>Clear log</Btn>
      </div>
      {/* role=log on a wrapper: an <ol> with role=log would no longer be a list for its <li>s. */}
      <div
        ref={ref}
        role="log"
        aria-label="Protocol log"
        tabIndex={0}
        className="min-h-0 flex-1 overflow-y-auto rounded-lg border border-slate-200 bg-slate-950 p-2 font-mono text-xs leading-5 text-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-400 dark:border-slate-700"
      >
        <ol className="space-y-0.5">
        {shown.length === 0 && (
          <li className="p-1 text-slate-400">
            {state.traceOn ? 'Waiting for protocol events… send a message, join a room or add a peer.' : 'Log paused.'}
          </li>
        )}
        {shown.map((t, i) => (
          <LogRow key={`${t.at}-${i}`} t={t} text={readableTraceText(t.text, t.roomId, roomNames)} />
        ))}
        </ol>
      </div>
    </section>
  )
}

function LogRow({ t, text }: { t: TraceEvent; text: string }) {
  return (
    <li className="flex items-start gap-2 rounded px-1 hover:bg-white/5">
      <time dateTime={new Date(t.at).toISOString()} className="shrink-0 text-slate-400">
        {timeFmt.format(t.at)}
      </time>
      <span className={`w-[4.5rem] shrink-0 rounded px-1 text-center font-semibold ${KIND_COLOR[t.kind] ?? 'text-slate-300'}`}>{t.kind}</span>
      <span className="min-w-0 flex-1 break-words">{text}</span>
      {t.peer && (
        <span className="shrink-0 rounded border border-slate-600 px-1 text-slate-300" title={`peer ${t.peer}`}>
          <span className="sr-only">peer </span>
          {t.peer}
        </span>
      )}
    </li>
  )
}

/** Where a link's label goes: past the middle towards the far end, clear of this node's room names. */
function linkLabelAt(from: { x: number; y: number }, to: { x: number; y: number }) {
  return {
    'aria-hidden': true,
    x: Math.round(from.x + 0.58 * (to.x - from.x)),
    y: Math.round(from.y + 0.58 * (to.y - from.y)),
    dy: '0.35em',
    textAnchor: 'middle' as const,
  }
}

/**
 * A handover arrow bends to one side of the straight link (several handovers between one pair fan
 * out), and stops short of the node circles so its head shows. Its label sits at the bend.
 */
function handoverPath(from: { x: number; y: number }, to: { x: number; y: number }, k: number) {
  const dx = to.x - from.x
  const dy = to.y - from.y
  const len = Math.hypot(dx, dy) || 1
  const ux = dx / len
  const uy = dy / len
  const r = 40
  const a = { x: from.x + ux * r, y: from.y + uy * r }
  const b = { x: to.x - ux * r, y: to.y - uy * r }
  const bend = 34 + 18 * k
  const c = { x: (a.x + b.x) / 2 - uy * bend, y: (a.y + b.y) / 2 + ux * bend }
  return {
    d: `M${Math.round(a.x)},${Math.round(a.y)} Q${Math.round(c.x)},${Math.round(c.y)} ${Math.round(b.x)},${Math.round(b.y)}`,
    label: { x: Math.round((a.x + b.x) / 4 + c.x / 2), y: Math.round((a.y + b.y) / 4 + c.y / 2) },
  }
}

const STATE_TEXT: Record<NodeState | 'unknown', string> = { self: 'this node', alive: 'alive', suspect: 'suspect', dead: 'dead', unknown: 'unknown' }
const DOT: Record<NodeState | 'unknown', string> = { ...Object.fromEntries(Object.entries(FILL).map(([k, v]) => [k, v.replace('fill-', 'bg-')])), unknown: 'bg-slate-400' } as Record<NodeState | 'unknown', string>

/** Every room: who runs it in which term, and which nodes hold its log (client-protocol.md §8). */
function RoomTable({ rows }: { rows: ReturnType<typeof replicaRows> }) {
  if (rows.length === 0) return null
  return (
    <div tabIndex={0} role="region" aria-label="Rooms table (scrolls sideways)" className="mt-4 w-full max-w-2xl shrink-0 overflow-x-auto focus-visible:outline-2 focus-visible:outline-indigo-500 dark:focus-visible:outline-indigo-300">
      <table aria-label="Rooms and their replicas" className="w-full text-left text-sm">
        <thead className="text-xs text-slate-500 uppercase dark:text-slate-400">
          <tr>
            <th className="py-1 pr-3 font-semibold">Room</th>
            <th className="pr-3 font-semibold">Administrator</th>
            <th className="pr-3 text-right font-semibold">Term</th>
            <th className="font-semibold">Replicas (hold the log)</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.roomId} className="border-t border-slate-200 align-top dark:border-slate-700">
              <td className="py-1 pr-3 font-medium">#{r.name}</td>
              <td className="py-1 pr-3 whitespace-nowrap">
                {r.adminName}
                {r.handover && <div className="text-xs text-indigo-700 dark:text-indigo-300">{r.handover}</div>}
              </td>
              <td className="py-1 pr-3 text-right tabular-nums">{r.replicas.length > 1 ? r.term : '—'}</td>
              <td className="py-1">
                {r.replicas.length <= 1 ? (
                  <span className="text-slate-600 dark:text-slate-300">not replicated</span>
                ) : (
                  <ul aria-label={`Replicas of ${r.name}`} className="flex flex-wrap gap-x-3 gap-y-0.5">
                    {r.replicas.map((n) => (
                      <li key={n.nodeId} title={`node id ${n.nodeId}`} className="flex items-center gap-1.5 whitespace-nowrap">
                        <span aria-hidden className={`inline-block h-2 w-2 rounded-full ${DOT[n.state]}`} />
                        {n.name}
                        <span className="text-xs text-slate-600 dark:text-slate-300">
                          ({n.admin ? 'administrator' : STATE_TEXT[n.state]})
                        </span>
                      </li>
                    ))}
                  </ul>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
