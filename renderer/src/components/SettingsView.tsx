import { useEffect, useState } from 'react'
import { MAX_USER_CHARS, isPeerAddress, parseInvite } from '../../../proto/client-protocol'
import type { Session, SessionState } from '../net/session'
import { describeError } from '../state/errors'
import { loadUser, saveUser } from '../user-prefs'
import { ArchiveSettings } from './ArchiveStatus'
import { Btn } from './ChatView'
import { StateDot } from './Sidebar'
import { ValidatedInput } from './ValidatedInput'

type AddStatus = { kind: 'idle' } | { kind: 'joining'; address: string } | { kind: 'joined'; text: string } | { kind: 'error'; text: string }

/** This node, how to join it, and its peers. */
export function SettingsView({ session, state }: { session: Session; state: SessionState }) {
  const [address, setAddress] = useState('')
  const [touched, setTouched] = useState(false)
  const [status, setStatus] = useState<AddStatus>({ kind: 'idle' })
  const [copied, setCopied] = useState<string | null>(null)
  const [removeError, setRemoveError] = useState<string | null>(null)
  const info = state.nodeInfo
  const connected = state.connection.status === 'open'

  useEffect(() => {
    if (!connected) return
    void session.loadNodeInfo()
    void session.refreshPeers()
  }, [session, connected])

  // An address of this cluster, or an invite (address and cluster key in one string, docs/security.md).
  const valid = isPeerAddress(address) || parseInvite(address) !== undefined
  const invalidMsg = touched && address.trim() && !valid ? 'Enter host:port, for example 192.168.1.20:50051, or an invite (dsg1://…).' : null

  const copy = async (a: string) => {
    try {
      await navigator.clipboard.writeText(a)
    } catch {
      // Clipboard API refused (http origin, no permission): fall back to a hidden selection.
      const t = document.createElement('textarea')
      t.value = a
      document.body.appendChild(t)
      t.select()
      document.execCommand('copy')
      t.remove()
    }
    setCopied(a)
    setTimeout(() => setCopied((c) => (c === a ? null : c)), 2000)
  }

  const self = info?.self ?? state.peers.self
  return (
    <div className="flex-1 overflow-y-auto p-6">
      <div className="mx-auto max-w-3xl space-y-8">
        <section aria-labelledby="node-h">
          <h2 id="node-h" className="mb-3 text-lg font-semibold">
            This node
          </h2>
          <dl className="grid grid-cols-[10rem_1fr] gap-x-4 gap-y-2 text-sm">
            <dt className="text-slate-600 dark:text-slate-300">Node name</dt>
            <dd aria-label="Node name">{self?.name ?? '…'}</dd>
            <dt className="text-slate-600 dark:text-slate-300">Node id</dt>
            <dd className="font-mono text-xs break-all">{self?.nodeId ?? '…'}</dd>
            {info && (
              <>
                <dt className="text-slate-600 dark:text-slate-300">Failure detector</dt>
                <dd>
                  heartbeat {info.heartbeatMs} ms, suspect after {info.suspectMs} ms, dead after {info.deadMs} ms
                </dd>
              </>
            )}
          </dl>
          <h3 className="mt-4 mb-2 text-sm font-semibold">Lab mates join this node at</h3>
          <ul aria-label="Join addresses" className="space-y-2">
            {(info?.joinAddresses ?? (self ? [self.address] : [])).map((a) => (
              <li key={a} className="flex items-center gap-3">
                <code className="rounded bg-slate-100 px-2 py-1 text-sm dark:bg-slate-800">{a}</code>
                <Btn label={`Copy address ${a}`} onClick={() => void copy(a)}>
                  {copied === a ? 'Copied' : 'Copy'}
                </Btn>
              </li>
            ))}
          </ul>
          {info?.self.invite && (
            <>
              <h3 className="mt-4 mb-2 text-sm font-semibold">Invite (address and cluster key: share it only with lab mates)</h3>
              <div className="flex items-center gap-3">
                <code aria-label="This node's invite" className="max-w-full truncate rounded bg-slate-100 px-2 py-1 text-sm dark:bg-slate-800">
                  {info.self.invite}
                </code>
                <Btn label="Copy invite" onClick={() => void copy(info.self.invite!)}>
                  {copied === info.self.invite ? 'Copied' : 'Copy'}
                </Btn>
              </div>
            </>
          )}
        </section>

        <ArchiveSettings session={session} state={state} />

        <section aria-labelledby="peers-h">
          <h2 id="peers-h" className="mb-3 text-lg font-semibold">
            Peers
          </h2>
          <form
            aria-label="Add a peer"
            className="mb-4 flex flex-wrap items-start gap-2"
            onSubmit={async (e) => {
              e.preventDefault()
              setTouched(true)
              const a = address.trim()
              if (!isPeerAddress(a) && !parseInvite(a)) return
              // Status lines and the protocol log show the address, never the key of an invite.
              const shown = parseInvite(a)?.address ?? a
              setStatus({ kind: 'joining', address: shown })
              try {
                const peer = await session.addPeer(a)
                setStatus({ kind: 'joined', text: `Joined ${peer.name} at ${peer.address}.` })
                setAddress('')
                setTouched(false)
              } catch (err) {
                setStatus({ kind: 'error', text: `Could not join ${shown}: ${describeError(err)}` })
                session.logError(err, `Add peer ${shown}`)
              }
            }}
          >
            <ValidatedInput
              aria-label="Peer address"
              error={invalidMsg}
              errorId="peer-addr-err"
              placeholder="invite or host:port"
              value={address}
              onChange={(e) => setAddress(e.target.value)}
              onBlur={() => setTouched(true)}
              className="w-full max-w-72 rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm aria-invalid:border-red-500 dark:border-slate-600 dark:bg-slate-800"
            />
            <Btn primary type="submit" disabled={status.kind === 'joining'}>
              Add peer
            </Btn>
          </form>
          <p
            role="status"
            aria-label="Add peer status"
            className={`mb-4 min-h-5 text-sm ${status.kind === 'error' ? 'text-red-700 dark:text-red-300' : 'text-slate-600 dark:text-slate-300'}`}
          >
            {status.kind === 'joining' ? `Joining ${status.address}…` : status.kind === 'idle' ? '' : status.text}
          </p>
          {removeError && (
            <p role="alert" className="mb-2 text-sm text-red-700 dark:text-red-300">
              {removeError}
            </p>
          )}
          <table aria-label="Peers" className="w-full text-left text-sm">
            <thead className="text-xs text-slate-600 dark:text-slate-300 uppercase">
              <tr>
                <th className="py-1">Name</th>
                <th>Address</th>
                <th>State</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {state.peers.peers.length === 0 && (
                <tr>
                  <td colSpan={4} className="py-2 text-slate-600 dark:text-slate-300">
                    No peers yet: add one above, or give a lab mate one of your addresses.
                  </td>
                </tr>
              )}
              {state.peers.peers.map((p) => (
                <tr key={p.nodeId || p.address} className="border-t border-slate-200 dark:border-slate-700">
                  <td className="py-1.5 font-medium">{p.name}</td>
                  <td className="font-mono text-xs">{p.address}</td>
                  <td>
                    <span className="inline-flex items-center gap-1.5">
                      <StateDot state={p.state} />
                      <span>{p.state}</span>
                    </span>
                  </td>
                  <td className="py-1.5 text-right">
                    <Btn
                      label={`Remove peer ${p.name}`}
                      onClick={async () => {
                        setRemoveError(null)
                        try {
                          await session.removePeer(p.address)
                        } catch (err) {
                          setRemoveError(`Could not remove ${p.name}: ${describeError(err)}`)
                        }
                      }}
                    >
                      Remove
                    </Btn>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>

        <section aria-labelledby="you-h">
          <h2 id="you-h" className="mb-3 text-lg font-semibold">
            You
          </h2>
          <NameForm />
          <NotificationSetting />
          <p className="mt-3 text-xs text-slate-600 dark:text-slate-300">
            Theme follows your system’s light or dark setting. Keyboard: Ctrl+1/2/3 switch Chat, Settings and Cluster; arrow
            keys move between rooms; Enter sends, Shift+Enter adds a line.
          </p>
        </section>
      </div>
    </div>
  )
}

function NameForm() {
  const [name, setName] = useState(loadUser() ?? '')
  return (
    <form
      aria-label="Change display name"
      className="flex items-center gap-2"
      onSubmit={(e) => {
        e.preventDefault()
        if (!name.trim()) return
        saveUser(name)
        // The node knows us by the name given in hello: a new session is the honest way to change it.
        const saved = window.chatNode?.settings?.set({ displayName: name.trim() }).catch(() => undefined)
        void Promise.resolve(saved).finally(() => window.location.reload())
      }}
    >
      <input
        aria-label="Display name"
        maxLength={MAX_USER_CHARS}
        value={name}
        onChange={(e) => setName(e.target.value)}
        className="w-60 rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm dark:border-slate-600 dark:bg-slate-800"
      />
      <Btn type="submit">Change name</Btn>
    </form>
  )
}

function NotificationSetting() {
  const supported = typeof Notification !== 'undefined'
  const [perm, setPerm] = useState(supported ? Notification.permission : 'denied')
  if (!supported) return <p className="mt-3 text-sm text-slate-600 dark:text-slate-300">Desktop notifications are not supported here.</p>
  return (
    <div className="mt-3 flex items-center gap-3 text-sm">
      <span>Desktop notifications for rooms not in view: {perm === 'granted' ? 'on' : perm === 'denied' ? 'blocked' : 'off'}</span>
      {perm === 'default' && <Btn onClick={async () => setPerm(await Notification.requestPermission())}>Enable notifications</Btn>}
    </div>
  )
}
