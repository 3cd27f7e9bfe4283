/**
 * Named scenarios of the simulator (docs/simulation.md, "Ordering scenarios"): the fault schedules
 * of the real-process ordering tests (test/cluster/ordering-faults.test.ts) on the virtual clock,
 * with the simulator's invariants checked after every step instead of an audit at the end. Each
 * repeats its fault a few times while clients type, as the real-process test does; the seed decides
 * the network's latencies, so each seed is another interleaving of the same schedule.
 */

/** What a scenario may do to the simulated cluster (implemented by Simulation). */
export interface ScenarioHost {
  /** Node names are n1, n2, ...; clients are made on a node and signed in as `user`. */
  client(node: number, user: string): Promise<ScenarioClient>
  /** The room the node's lobby is (its first room). */
  lobbyOf(node: number): string
  crash(node: number): void
  restart(node: number): Promise<void>
  pause(node: number): void
  resume(node: number): void
  /** Let `ms` of simulated time pass. */
  run(ms: number): Promise<void>
}

export interface ScenarioClient {
  join(roomId: string): Promise<void>
  /** Send every `everyMs` while at most `window` sends are unanswered, until stopped. */
  type(roomId: string, everyMs: number, window?: number): { stop(): void }
  /** Close the session (a browser tab closed). */
  close(): void
}

export type ScenarioName = 'admin-kill-restart' | 'admin-pause' | 'member-pause' | 'joins-during-traffic'
export const SCENARIOS: readonly ScenarioName[] = ['admin-kill-restart', 'admin-pause', 'member-pause', 'joins-during-traffic']

/** The real-process test's timings: each fault and its recovery take a second or two. */
export const SCENARIO_TIMING = { heartbeatMs: 150, suspectMs: 450, deadMs: 900 }

/** How many nodes each scenario needs. */
export const SCENARIO_NODES = 2

export async function runScenario(name: ScenarioName, h: ScenarioHost): Promise<void> {
  switch (name) {
    case 'admin-kill-restart':
      // The room on n1, four users on n2 typing; n1 is killed (-9) and restarted from its data dir.
      return memberNodeSendsThrough(h, 2, async () => {
        h.crash(0)
        await h.run(1000) // a process takes about this long to boot
        await h.restart(0)
      })
    case 'admin-pause':
      // The same, with n1 stopped (SIGSTOP) for twice the dead timeout, then continued.
      return memberNodeSendsThrough(h, 3, async () => {
        h.pause(0)
        await h.run(2 * SCENARIO_TIMING.deadMs)
        h.resume(0)
      })
    case 'member-pause': {
      // alice on n1 types fast without waiting for acks into n2's room; n1 is stopped for three
      // dead timeouts (n2 drops alice), then continued: her queued sends keep their order.
      const { alice, roomId } = await aliceAndBobIn(h, 1)
      const typing = alice.type(roomId, 16)
      for (let round = 0; round < 3; round++) {
        await h.run(500)
        h.pause(0)
        await h.run(SCENARIO_TIMING.deadMs + 3 * SCENARIO_TIMING.deadMs)
        h.resume(0)
        await h.run(2500)
      }
      await h.run(500)
      typing.stop()
      return
    }
    case 'joins-during-traffic': {
      // Traffic from both nodes, pipelined, while a client on n2 joins 25 times: each join's
      // history must meet the live stream exactly.
      const { alice, bob, roomId } = await aliceAndBobIn(h, 0)
      const typing = [alice.type(roomId, 10, 8), bob.type(roomId, 10, 8)]
      for (let k = 1; k <= 25; k++) {
        const carol = await h.client(1, 'carol')
        await carol.join(roomId)
        await h.run(60 + (k % 5) * 30)
        carol.close()
      }
      for (const t of typing) t.stop()
      return
    }
  }
}

/** alice on n1 and bob on n2, both in the lobby of node `lobbyNode`. */
async function aliceAndBobIn(h: ScenarioHost, lobbyNode: number): Promise<{ alice: ScenarioClient; bob: ScenarioClient; roomId: string }> {
  const alice = await h.client(0, 'alice')
  const bob = await h.client(1, 'bob')
  const roomId = h.lobbyOf(lobbyNode)
  await alice.join(roomId)
  await bob.join(roomId)
  return { alice, bob, roomId }
}

/** Two nodes, the room on n1, four users on n2 typing (about 15 sends/s each, at most 4 unanswered). */
async function memberNodeSendsThrough(h: ScenarioHost, rounds: number, fault: () => Promise<void>): Promise<void> {
  const users = await Promise.all([1, 2, 3, 4].map((k) => h.client(1, `u${k}`)))
  const roomId = h.lobbyOf(0)
  for (const c of users) await c.join(roomId)
  const typing = users.map((c) => c.type(roomId, 65, 4))
  for (let round = 0; round < rounds; round++) {
    await h.run(500)
    await fault()
    // Back in business: the users are members again and sends are acknowledged.
    await h.run(3000)
  }
  await h.run(600)
  for (const t of typing) t.stop()
}
