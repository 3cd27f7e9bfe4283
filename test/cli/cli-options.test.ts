// The flags of `npm run peer`, parsed in-process (main/cli-options.ts): every flag that cannot work
// is a ConfigError with code bad_config and a message naming the flag, which the CLI prints as its
// one-line error (the real-process cases with exit code 2 are in cli.test.ts).
import { describe, expect, it } from 'vitest'
import { ConfigError, parseFlags } from '../../main/cli-options'

const LOCAL = ['--grpc', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--no-ui', '--data-dir', '/nonexistent/ds-g1-sms-test']

function configError(args: string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseFlags(args, env)
  } catch (e) {
    if (e instanceof ConfigError) return e
    throw e
  }
  throw new Error(`no error for ${args.join(' ')}`)
}

describe('cli options', () => {
  it.each([
    ['--bogus', /bogus/],
    ['--replicas 0', /--replicas must be a positive whole number, got "0"/],
    ['--replicas 10', /--replicas must be from 1 to 9/],
    ['--heartbeat-ms fast', /--heartbeat-ms must be a positive whole number of milliseconds/],
    ['--join 127.0.0.1', /--join/],
    ['--cluster-key short', /--cluster-key must be/],
    ['--db mysql://x/y', /^--db: /],
  ])('%s is a ConfigError (bad_config) naming the flag', (flags, message) => {
    const e = configError([...LOCAL, ...flags.split(' ')])
    expect(e.code).toBe('bad_config')
    expect(e.name).toBe('ConfigError')
    expect(e.message).toMatch(message)
  })

  it('--name follows the name rules peers apply to a Hello (client-protocol.md §7)', () => {
    expect(parseFlags([...LOCAL, '--name', ' Zoe\u0301 '], {}).name).toBe('Zo\u00e9')
    for (const [name, message] of [
      ['ad\u202emin', /^--name must not contain bidirectional override characters$/],
      ['n1\u0000', /^--name must not contain control characters$/],
      ['\u200b'.repeat(3), /^--name must contain a visible character$/],
      ['x'.repeat(65), /^--name must be at most 64 characters$/],
    ] as const) {
      const e = configError([...LOCAL, '--name', name])
      expect(e.code).toBe('bad_config')
      expect(e.message).toMatch(message)
    }
  })

  it('the environment given is the one read (DS_DB_URL, DS_CLUSTER_KEY), not the process environment', () => {
    expect(configError(LOCAL, { DS_DB_URL: 'mysql://x/y' }).message).toMatch(/^DS_DB_URL: /)
    expect(configError(LOCAL, { DS_CLUSTER_KEY: 'short' }).message).toMatch(/\(DS_CLUSTER_KEY\)/)
    expect(parseFlags([...LOCAL, '--replicas', '3'], {}).replicas).toBe(3)
  })
})

describe('generated secrets on the command line', () => {
  // A user copies the token or cluster key a node printed into `--token T` / `--cluster-key KEY`.
  // base64url starts with '-' about once in 64 draws, which Node's parser would refuse as a flag.
  it('every generated cluster key and token can follow its flag after a space', async () => {
    const { newClusterKey, newSecret } = await import('../../main/store/node-store')
    for (let i = 0; i < 2000; i++) {
      const key = newClusterKey()
      const token = newSecret(18)
      const o = parseFlags([...LOCAL, '--cluster-key', key, '--token', token], {})
      expect(o.clusterKey).toBe(key)
      expect(o.token).toBe(token)
    }
  })
})
