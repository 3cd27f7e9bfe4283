import { useEffect, useState } from 'react'
import type { PeerInfo } from '../../../proto/client-protocol'
import type { Session, SessionState } from '../net/session'
import { describeError } from '../state/errors'
import { MAX_HOLD_MS, isCutOff, nextPartition, parseHoldMs, peerKey } from '../state/faults'
import { Btn } from './ChatView'
import { StateDot } from './Sidebar'
import { ValidatedInput } from './ValidatedInput'

type Status = { kind: 'idle' } | { kind: 'busy'; text: string } | { kind: 'done'; text: string } | { kind: 'error'; text: string }

/**
 * The teacher's fault panel (only when node.info says allowFaults): cut this node off from a peer
 * and reconnect it, make it vote ABORT, hold its 2PC decisions. The controls show what the node's
 * last node.faults reply said, never what was merely asked for.
 */
export function FaultPanel({ session, state }: { session: Session; state: SessionState }) {
  const connected = state.connection.status === 'open'
  const faults = state.faults
  const selfName = state.peers.self?.name ?? 'this node'
  const deadMs = state.nodeInfo?.deadMs
  const [status, setStatus] = useState<Status>({ kind: 'idle' })
  const [hold, setHold] = useState('')
  const [holdDirty, setHoldDirty] = useState(false)
  const [holdTouched, setHoldTouched] = useState(false)

  // Faults live in the node's memory: read them whenever (re)connected, they may have changed.
  useEffect(() => {
    if (connected) void session.loadFaults()
  }, [session, connected])

  const currentHold = faults?.pauseBeforeDecisionMs
  useEffect(() => {
    if (!holdDirty && currentHold !== undefined) setHold(String(currentHold))
  }, [currentHold, holdDirty])

  const busy = status.kind === 'busy' || !faults
  const peers = state.peers.peers.filter((p) => p.nodeId !== state.peers.self?.nodeId)
  const cutOff = faults?.partitionedFrom ?? []
  const holdParsed = parseHoldMs(hold)
  const holdError = holdTouched && !holdParsed.ok ? holdParsed.error : null

  const run = async (doing: string, change: Parameters<Session['setFaults']>[0], done: (r: NonNullable<SessionState['faults']>) => string, failed: string) => {
    if (busy) return
    setStatus({ kind: 'busy', text: doing })
    try {
      const r = await session.setFaults(change)
      setStatus({ kind: 'done', text: done(r) })
    } catch (err) {
      setStatus({ kind: 'error', text: `${failed}: ${describeError(err)}` })
    }
  }

  const toggle = (p: PeerInfo, cut: boolean) =>
    run(
      cut ? `Cutting ${selfName} off from ${p.name}…` : `Reconnecting ${p.name}…`,
      { partition: nextPartition(peers, cutOff, p, cut) },
      (r) =>
        isCutOff(p, r.partitionedFrom)
          ? `${selfName} now drops all traffic with ${p.name}; each declares the other dead after ${deadMs ?? 'dead-ms'} ms.`
          : `${p.name} reconnected: both sides hear each other again, and cut-off rooms recover.`,
      cut ? `Could not cut off ${p.name}` : `Could not reconnect ${p.name}`,
    )

  return (
    <section
      aria-labelledby="faults-h"
      aria-busy={status.kind === 'busy'}
      className="mt-4 w-full max-w-2xl rounded-lg border border-amber-300 bg-amber-50 p-3 text-sm dark:border-amber-700/60 dark:bg-amber-950/30"
    >
      <h3 id="faults-h" className="font-semibold">
        Teacher’s fault panel{' '}
        <span className="font-normal text-slate-600 dark:text-slate-400">faults injected on {selfName} only (--allow-faults)</span>
      </h3>

      <table aria-label="Network partition" className="mt-2 w-full text-left">
        <thead className="text-xs text-slate-500 uppercase dark:text-slate-400">
          <tr>
            <th className="py-1 pr-3 font-semibold">Peer</th>
            <th className="pr-3 font-semibold">State</th>
            <th className="pr-3 font-semibold">Link from {selfName}</th>
            <th>
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {peers.length === 0 && (
            <tr>
              <td colSpan={4} className="py-1.5 text-slate-500 dark:text-slate-400">
                No peers to cut off.
              </td>
            </tr>
          )}
          {peers.map((p) => {
            const cut = isCutOff(p, cutOff)
            return (
              <tr key={peerKey(p)} className="border-t border-amber-200 dark:border-amber-900/60">
                <td className="py-1 pr-3 font-medium">{p.name}</td>
                <td className="pr-3">
                  <span className="inline-flex items-center gap-1.5">
                    <StateDot state={p.state} />
                    <span>{p.state}</span>
                  </span>
                </td>
                <td className={`pr-3 ${cut ? 'font-semibold text-slate-600 dark:text-slate-300' : 'text-slate-600 dark:text-slate-400'}`}>
                  {cut ? 'cut off' : 'connected'}
                </td>
                <td className="py-1 text-right">
                  <Btn danger={!cut} disabled={busy} label={`${cut ? 'Reconnect' : 'Cut off'} ${p.name}`} onClick={() => void toggle(p, !cut)}>
                    {cut ? 'Reconnect' : 'Cut off'}
                  </Btn>
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>

      <div className="mt-3 flex flex-wrap items-start gap-x-6 gap-y-2 border-t border-amber-200 pt-3 dark:border-amber-900/60">
        <label className="flex items-center gap-2 py-1.5">
          <input
            type="checkbox"
            checked={faults?.voteAbort ?? false}
            disabled={busy}
            onChange={(e) => {
              const on = e.target.checked
              void run(
                on ? 'Voting ABORT from now on…' : 'Voting normally again…',
                { voteAbort: on },
                (r) => (r.voteAbort ? `${selfName} votes ABORT on every deletion (as coordinator it aborts at once).` : `${selfName} votes normally again.`),
                'Could not change the vote',
              )
            }}
            className="h-4 w-4 accent-indigo-600"
          />
          Vote ABORT on deletions
        </label>
        <form
          aria-label="Hold 2PC decisions"
          className="flex flex-wrap items-start gap-2"
          onSubmit={(e) => {
            e.preventDefault()
            setHoldTouched(true)
            if (!holdParsed.ok) return
            void run(
              'Changing the hold…',
              { pauseBeforeDecisionMs: holdParsed.ms },
              (r) => {
                setHoldDirty(false)
                return r.pauseBeforeDecisionMs > 0
                  ? `As coordinator, ${selfName} holds each decision ${r.pauseBeforeDecisionMs} ms after the last vote.`
                  : `${selfName} decides at once again.`
              },
              'Could not change the hold',
            )
          }}
        >
          <label htmlFor="hold-ms" className="py-1.5">
            Hold 2PC decisions (ms)
          </label>
          <ValidatedInput
            id="hold-ms"
            type="number"
            inputMode="numeric"
            min={0}
            max={MAX_HOLD_MS}
            step={500}
            value={hold}
            error={holdError}
            errorId="hold-ms-err"
            errorClassName="max-w-56"
            onChange={(e) => {
              setHold(e.target.value)
              setHoldDirty(true)
            }}
            onBlur={() => setHoldTouched(true)}
            className="w-28 rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm aria-invalid:border-red-500 dark:border-slate-600 dark:bg-slate-800"
          />
          <Btn type="submit" disabled={busy} label="Apply hold time">
            Apply
          </Btn>
        </form>
      </div>

      {status.kind === 'error' ? (
        <p role="alert" className="mt-2 text-red-700 dark:text-red-300">
          {status.text}
        </p>
      ) : (
        <p role="status" aria-label="Fault status" className="mt-2 min-h-5 text-slate-600 dark:text-slate-300">
          {!faults ? 'Reading the injected faults…' : status.kind === 'idle' ? '' : status.text}
        </p>
      )}
    </section>
  )
}
