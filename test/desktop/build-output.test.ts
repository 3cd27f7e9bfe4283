/**
 * `electron-vite build` works here (it needs no Electron binary), so CI builds for real and checks:
 *   1. the outputs the app and the CLI start from exist (main, cli, preload, renderer);
 *   2. the preload is one self-contained file (a sandboxed preload can require only 'electron');
 *   3. everything the built code needs at run time is shipped by electron-builder.yml: bundled
 *      code through `files`, external modules as production dependencies, the .proto files
 *      through `extraResources`;
 *   4. the proof: electron-builder packs the app (offline, with a stand-in Electron runtime), and
 *      the packed headless node, run from there alone, reaches "ready".
 * It builds into .tmp/ (ignored by git), never into the out/ that `npm start` uses.
 */
import { spawnSync } from 'node:child_process'
import { builtinModules } from 'node:module'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve, sep } from 'node:path'
import { load as loadYaml } from 'js-yaml'
import { minimatch } from 'minimatch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnReady } from '../helpers/cluster'

const repo = resolve(__dirname, '..', '..')
const buildRoot = join(repo, '.tmp', `build-output-${process.pid}`)
const outDir = join(buildRoot, 'out')
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }

interface ExtraResource {
  from: string
  to: string
  filter?: string[]
}
interface BuilderConfig {
  files: string[]
  extraResources: ExtraResource[]
  linux: { target: string[] }
  win: { target: string[] }
  mac: { target: string[] }
}
const builder = loadYaml(readFileSync(join(repo, 'electron-builder.yml'), 'utf8')) as BuilderConfig

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}
const posix = (p: string): string => p.split(sep).join('/')

/** electron-builder's `files` semantics, enough for our patterns: later patterns win, `!` excludes. */
function shippedByFiles(appRelative: string): boolean {
  let included = false
  for (const pattern of builder.files) {
    if (pattern.startsWith('!')) {
      if (minimatch(appRelative, pattern.slice(1), { dot: true })) included = false
    } else if (minimatch(appRelative, pattern, { dot: true })) included = true
  }
  return included
}

let buildLog = ''
beforeAll(() => {
  mkdirSync(buildRoot, { recursive: true })
  const bin = join(repo, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js')
  // An absolute --outDir: electron-vite resolves a relative one against renderer/ for the renderer.
  const res = spawnSync(process.execPath, [bin, 'build', '--outDir', outDir], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 150_000,
  })
  buildLog = `${res.stdout}\n${res.stderr}`
  if (res.status !== 0) throw new Error(`electron-vite build failed (${res.status ?? res.signal}):\n${buildLog}`)
}, 180_000)

afterAll(() => {
  rmSync(buildRoot, { recursive: true, force: true })
})

describe('electron-vite build output', () => {
  it.each(['main/index.js', 'main/cli.js', 'preload/index.js', 'renderer/index.html'])('has %s', (file) => {
    expect(existsSync(join(outDir, file)), `${file} missing; build log:\n${buildLog}`).toBe(true)
  })

  it('builds a preload that requires nothing but electron (sandbox: true)', () => {
    const code = readFileSync(join(outDir, 'preload', 'index.js'), 'utf8')
    const required = [...code.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1])
    expect(new Set(required)).toEqual(new Set(['electron']))
    expect(readdirSync(join(outDir, 'preload'))).toEqual(['index.js'])
  })

  it('builds a renderer that loads its assets by relative URL (served from app://chat/)', () => {
    const html = readFileSync(join(outDir, 'renderer', 'index.html'), 'utf8')
    expect(html).not.toMatch(/(src|href)="\/(?!\/)/)
    expect(html).toMatch(/(src|href)="\.\/assets\//)
  })
})

describe('electron-builder.yml ships what the built code reads at run time', () => {
  it('targets AppImage, deb, NSIS and dmg', () => {
    expect(builder.linux.target).toEqual(expect.arrayContaining(['AppImage', 'deb']))
    expect(builder.win.target).toContain('nsis')
    expect(builder.mac.target).toContain('dmg')
  })

  it('packs every built file (source maps aside) and package.json', () => {
    expect(shippedByFiles('package.json')).toBe(true)
    const built = walk(outDir).map((f) => posix(join('out', relative(outDir, f))))
    expect(built.length).toBeGreaterThan(3)
    const missing = built.filter((f) => !f.endsWith('.map') && !shippedByFiles(f))
    expect(missing).toEqual([])
  })

  it('has every module the main bundle requires as a builtin, electron, or a production dependency', () => {
    const required = new Set<string>()
    for (const file of walk(join(outDir, 'main')).filter((f) => f.endsWith('.js'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/require\(["']([^"'.][^"']*)["']\)/g)) required.add(m[1]!)
    }
    const builtins = new Set(builtinModules)
    const unshipped = [...required].filter((id) => {
      if (id === 'electron' || id.startsWith('node:') || builtins.has(id)) return false
      const name = id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0]!
      return !(name in pkg.dependencies)
    })
    expect(unshipped).toEqual([])
    expect(required).toContain('@grpc/proto-loader')
  })

  it('copies every .proto file through extraResources', () => {
    const protos = walk(join(repo, 'proto')).filter((f) => f.endsWith('.proto'))
    expect(protos.length).toBeGreaterThan(0)
    const uncovered = protos.filter(
      (file) =>
        !builder.extraResources.some((r) => {
          const rel = relative(join(repo, r.from), file)
          return !rel.startsWith('..') && (r.filter ?? ['**/*']).some((g) => minimatch(posix(rel), g, { dot: true }))
        }),
    )
    expect(uncovered).toEqual([])
  })

  it('packs an app from which the built headless node starts, with no repository around it', async () => {
    // electron-builder for real (Linux `dir` target: the unpacked app, no installer), offline: the
    // Electron runtime it would download is replaced by a stand-in folder (electronDist), and
    // asar is off so that plain Node can run what was packed. Then the packed CLI must reach
    // "ready" from there, with its own node_modules and resources/proto and nothing else.
    const work = mkdtempSync(join(tmpdir(), 'ds-packaged-'))
    try {
      const fakeElectron = join(work, 'electron-dist')
      mkdirSync(join(fakeElectron, 'resources'), { recursive: true })
      writeFileSync(join(fakeElectron, 'electron'), '#!/bin/sh\nexit 0\n', { mode: 0o755 })
      writeFileSync(join(fakeElectron, 'version'), 'v45.5.0')
      // The repository's config, except that `files` takes this test's build instead of out/
      // (whose coverage the test above checks) and the output goes to the temporary folder.
      const config = {
        ...builder,
        files: [{ from: posix(relative(repo, outDir)), to: 'out', filter: ['**/*', '!**/*.map'] }, 'package.json'],
        directories: { ...(builder as { directories?: object }).directories, output: join(work, 'dist') },
        electronDist: fakeElectron,
        asar: false,
        // The stand-in has no fuse wire to flip (and asar is off here); the fuses are checked
        // against the repository's config below.
        electronFuses: null,
      }
      const configFile = join(work, 'electron-builder.json')
      writeFileSync(configFile, JSON.stringify(config))
      const packed = spawnSync(
        process.execPath,
        [join(repo, 'node_modules', 'electron-builder', 'cli.js'), '--config', configFile, '--linux', 'dir', '--publish', 'never'],
        { cwd: repo, encoding: 'utf8', timeout: 90_000 },
      )
      expect(packed.status, `electron-builder failed:\n${packed.stdout}\n${packed.stderr}`).toBe(0)
      const resources = join(work, 'dist', 'linux-unpacked', 'resources')
      expect(existsSync(join(resources, 'proto', 'chat', 'peer', 'v1', 'peer.proto'))).toBe(true)

      const dataDir = join(work, 'data')
      // cwd outside the repository and no NODE_PATH: only what was packed can be found.
      const { proc: child, ready } = await spawnReady<Record<string, unknown>>(
        process.execPath,
        [join(resources, 'app', 'out', 'main', 'cli.js'), '--name', 'packaged', '--grpc', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--data-dir', dataDir],
        { cwd: work, env: { ...process.env, NODE_PATH: '', DS_PROTO_DIR: '' }, what: 'the packed cli' },
      )
      try {
        expect(ready.name).toBe('packaged')
        expect(String(ready.ws)).toMatch(/^ws:\/\/127\.0\.0\.1:\d+/)
      } finally {
        const exited = new Promise((r) => child.once('exit', r))
        if (child.exitCode === null) child.kill('SIGTERM')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  }, 120_000)
})

describe('electron-builder.yml hardens and brands the packaged app (docs/desktop.md)', () => {
  const config = builder as unknown as { electronFuses?: Record<string, boolean>; icon?: string; extraResources: ExtraResource[] }

  it('flips the Electron Fuses: no run-as-node, no NODE_OPTIONS or --inspect, asar only and checked, encrypted cookies', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableCookieEncryption: true,
      onlyLoadAppFromAsar: true,
      enableEmbeddedAsarIntegrityValidation: true,
    })
  })

  it('has an app icon for the installers and ships it for the window', () => {
    expect(config.icon).toBe('build/icon.png')
    const png = readFileSync(join(repo, 'build', 'icon.png'))
    // A PNG, 512×512 (electron-builder needs at least 512 for the macOS icon set).
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG')
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([512, 512])
    expect(config.extraResources).toContainEqual({ from: 'build/icon.png', to: 'icon.png' })
  })
})
