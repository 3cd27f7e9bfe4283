/**
 * Setup file of every test file (vitest.config.mts): when a test fails, print the end of the log of
 * the nodes it ran (test/helpers/cluster.ts nodeLogs). A test that starts no node prints nothing.
 */
import { beforeEach } from 'vitest'
import { nodeLogs } from './cluster'

beforeEach(({ onTestFailed }) => {
  const since = Date.now()
  onTestFailed(() => {
    const logs = nodeLogs(since)
    if (logs) console.error(`[node logs of the failed test]\n${logs}`)
  })
})
