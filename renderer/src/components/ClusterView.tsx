import { useEffect, useRef, useState } from 'react'
import type { PeerState, TraceKind } from '../../../proto/client-protocol'
import type { Session, SessionState } from '../net/session'
import { Btn } from './ChatView'

const FILL: Record<PeerState | 'self', string> = {
  self: 'fill-indigo-500',
  alive: 'fill-emerald-500',
  suspect: 'fill-amber-500',
  dead: 'fill-red-500',
}

const KINDS: TraceKind[] = ['forward', 'seq', 'deliver', 'join', 'leave', 'heartbeat', 'peer', '2pc', 'gossip', 'gap']

interface NodeView {
  nodeId: string
  name: string
  address: string
  state: PeerState | 'self'
  rooms: string[]
}

/** Issue 6 item 3: the picture for the projector, the cluster as this node sees it, and its protocol log. */
export function ClusterView({ session, state }: { session: Session; state: SessionState }) {
  const connected = state.connection.status === 'open'
  // Opening the view is the opt-in to the trace stream; ordinary clients never get it.
  useEffect(() => {
    if (!connected) return
    void session.refreshPeers()
    if (!state.traceOn) void session.setTrace(true)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [session, connected])

  const roomsOf = new Map<string, string[]>()
  for (const r of Object.values(state.chat.rooms)) {
    const list = roomsOf.get(r.info.adminNodeId) ?? []
    list.push(r.info.name + (r.info.frozen ? ' (frozen)' : ''))
    roomsOf.set(r.info.adminNodeId, list)
  }
  const self = state.peers.self
  const nodes: NodeView[] = []
  if (self) nodes.push({ nodeId: self.nodeId, name: self.name, address: self.address, state: 'self', rooms: roomsOf.get(self.nodeId) ?? [] })
  for (const p of state.peers.peers) {
    if (p.nodeId === self?.nodeId) continue
    nodes.push({ nodeId: p.nodeId, name: p.name, address: p.address, state: p.state, rooms: roomsOf.get(p.nodeId) ?? [] })
  }

  return (
    <div className="flex min-h-0 flex-1 flex-col gap-4 overflow-y-auto p-4 lg:flex-row">
      <section aria-labelledby="topo-h" className="flex min-w-0 flex-1 flex-col">
        <h2 id="topo-h" className="mb-2 text-lg font-semibold">
          Cluster
        </h2>
        <Topology nodes={nodes} />
        <ul aria-label="Nodes" className="mt-3 grid grid-cols-1 gap-1 text-sm sm:grid-cols-2">
          {nodes.map((n) => (
            <li key={n.nodeId} className="flex gap-2">
              <span className="font-medium">{n.name}</span>
              <span className="text-slate-500">{n.state === 'self' ? 'this node' : n.state}</span>
              <span className="truncate text-slate-500">{n.rooms.length ? `administers ${n.rooms.join(', ')}` : ''}</span>
            </li>
          ))}
        </ul>
        <Legend />
      </section>
      <ProtocolLog session={session} state={state} />
    </div>
  )
}

function Topology({ nodes }: { nodes: NodeView[] }) {
  const W = 640
  const H = 440
  const cx = W / 2
  const cy = H / 2
  const R = nodes.length <= 1 ? 0 : Math.min(W, H) / 2 - 100
  // This node in the centre when there are many, otherwise all on a ring: easy to read on a projector.
  const pos = nodes.map((_, i) => {
    if (i === 0 && nodes.length > 3) return { x: cx, y: cy }
    const ring = nodes.length > 3 ? nodes.length - 1 : nodes.length
    const k = nodes.length > 3 ? i - 1 : i
    const a = (2 * Math.PI * k) / Math.max(1, ring) - Math.PI / 2
    return { x: cx + R * Math.cos(a), y: cy + R * Math.sin(a) }
  })
  const summary = nodes.map((n) => `${n.name} ${n.state === 'self' ? 'this node' : n.state}`).join(', ')
  return (
    <svg
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      aria-label={`Cluster topology: ${nodes.length} node${nodes.length === 1 ? '' : 's'}: ${summary}`}
      className="w-full max-w-3xl rounded-lg border border-slate-200 bg-slate-50 dark:border-slate-700 dark:bg-slate-950"
    >
      {nodes.slice(1).map((n, i) => (
        <line
          key={n.nodeId}
          x1={pos[0].x}
          y1={pos[0].y}
          x2={pos[i + 1].x}
          y2={pos[i + 1].y}
          strokeWidth={2}
          strokeDasharray={n.state === 'alive' ? undefined : '6 6'}
          className={n.state === 'alive' ? 'stroke-emerald-400' : n.state === 'suspect' ? 'stroke-amber-400' : 'stroke-red-400'}
        />
      ))}
      {nodes.map((n, i) => (
        <g key={n.nodeId} transform={`translate(${pos[i].x},${pos[i].y})`}>
          <title>{`${n.name} (${n.address}): ${n.state === 'self' ? 'this node' : n.state}`}</title>
          <circle r={34} className={`${FILL[n.state]} stroke-white dark:stroke-slate-900`} strokeWidth={3} />
          <text textAnchor="middle" dy="0.35em" className="fill-white text-[13px] font-semibold">
            {n.state === 'self' ? 'you' : n.state}
          </text>
          <text textAnchor="middle" y={54} className="fill-slate-900 text-[17px] font-semibold dark:fill-slate-100">
            {n.name}
          </text>
          {n.rooms.slice(0, 4).map((r, j) => (
            <text key={r + j} textAnchor="middle" y={74 + j * 16} className="fill-slate-600 text-[13px] dark:fill-slate-400">
              #{r}
            </text>
          ))}
          {n.rooms.length > 4 && (
            <text textAnchor="middle" y={74 + 4 * 16} className="fill-slate-500 text-[13px]">
              +{n.rooms.length - 4} more
            </text>
          )}
        </g>
      ))}
    </svg>
  )
}

function Legend() {
  const items: [string, string][] = [
    ['bg-indigo-500', 'this node'],
    ['bg-emerald-500', 'alive'],
    ['bg-amber-500', 'suspect'],
    ['bg-red-500', 'dead'],
  ]
  return (
    <ul aria-label="Legend" className="mt-2 flex gap-4 text-xs text-slate-600 dark:text-slate-400">
      {items.map(([c, l]) => (
        <li key={l} className="flex items-center gap-1.5">
          <span aria-hidden className={`inline-block h-3 w-3 rounded-full ${c}`} />
          {l}
        </li>
      ))}
    </ul>
  )
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3 })

function ProtocolLog({ session, state }: { session: Session; state: SessionState }) {
  const [filter, setFilter] = useState<TraceKind | 'all'>('all')
  const [hideHeartbeats, setHideHeartbeats] = useState(true)
  const ref = useRef<HTMLOListElement>(null)
  const rows = state.trace.filter((t) => (filter === 'all' || t.kind === filter) && !(hideHeartbeats && filter === 'all' && t.kind === 'heartbeat'))
  const shown = rows.slice(-300)
  useEffect(() => {
    const el = ref.current
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 60) el.scrollTop = el.scrollHeight
  }, [shown.length])
  return (
    <section aria-labelledby="log-h" className="flex min-h-80 w-full flex-col lg:w-[28rem]">
      <div className="mb-2 flex flex-wrap items-center gap-2">
        <h2 id="log-h" className="mr-auto text-lg font-semibold">
          Protocol log
        </h2>
        <select
          aria-label="Filter log by kind"
          value={filter}
          onChange={(e) => setFilter(e.target.value as TraceKind | 'all')}
          className="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-800"
        >
          <option value="all">all kinds</option>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <label className="flex items-center gap-1 text-sm">
          <input type="checkbox" checked={hideHeartbeats} onChange={(e) => setHideHeartbeats(e.target.checked)} />
          Hide heartbeats
        </label>
        <Btn pressed={state.traceOn} onClick={() => void session.setTrace(!state.traceOn)}>
          {state.traceOn ? 'Pause log' : 'Resume log'}
        </Btn>
        <Btn onClick={() => session.clearTrace()}>Clear log</Btn>
      </div>
      <ol
        ref={ref}
        role="log"
        aria-label="Protocol log"
        tabIndex={0}
        className="min-h-0 flex-1 overflow-y-auto rounded-lg border border-slate-200 bg-slate-950 p-2 font-mono text-xs text-slate-100 dark:border-slate-700"
      >
        {shown.length === 0 && <li className="text-slate-400">{state.traceOn ? 'Waiting for protocol events…' : 'Log paused.'}</li>}
        {shown.map((t, i) => (
          <li key={`${t.at}-${i}`} className="flex gap-2 py-0.5">
            <span className="text-slate-500">{timeFmt.format(t.at)}</span>
            <span className={`w-16 shrink-0 ${KIND_COLOR[t.kind] ?? 'text-slate-300'}`}>{t.kind}</span>
            <span className="break-all">{t.text}</span>
          </li>
        ))}
      </ol>
    </section>
  )
}

const KIND_COLOR: Partial<Record<TraceKind, string>> = {
  forward: 'text-sky-300',
  seq: 'text-indigo-300',
  deliver: 'text-emerald-300',
  join: 'text-teal-300',
  leave: 'text-teal-300',
  heartbeat: 'text-slate-400',
  peer: 'text-amber-300',
  '2pc': 'text-fuchsia-300',
  gossip: 'text-cyan-300',
  gap: 'text-red-300',
}
