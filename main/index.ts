/**
 * The Electron shell, and the only file that imports electron (docs/architecture.md §2). It wires
 * Electron to modules that run and are tested under plain Node (main/desktop/*): which instance we
 * are, where its folder is, which port, what is remembered, how the node starts and stops. Keep it
 * thin: every decision that can be made without Electron is made in main/desktop.
 */
import { app, BrowserWindow, dialog, ipcMain, net, protocol, session, shell, type IpcMainEvent, type IpcMainInvokeEvent } from 'electron'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { startNode } from './node/peer-node'
import {
  APP_ENTRY_URL,
  APP_ORIGIN,
  APP_SCHEME,
  contentSecurityPolicy,
  isAppUrl,
  isSafeExternalUrl,
  resolveAppRequest,
} from './desktop/app-protocol'
import { desktopReadyLine, startDesktopNode, windowTitle, type DesktopNode } from './desktop/desktop-node'
import { APP_FOLDER_NAME, DesktopArgsError, InstanceBusyError, instanceUserDataDir, parseDesktopArgs } from './desktop/instance'
import { IPC_CONNECTION, IPC_SETTINGS_GET, IPC_SETTINGS_SET, IpcError, type ChatNodeConnection } from './desktop/ipc-channels'
import { SettingsPatchSchema, publicSettings } from './desktop/settings-store'

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

// electron-vite dev sets this to its dev server; the built and packaged app load app://chat instead.
const devServerUrl = !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined

// --- Before ready: instance folder and scheme privileges must be fixed before Chromium starts. ---

let args: ReturnType<typeof parseDesktopArgs>
try {
  args = parseDesktopArgs(process.argv.slice(1))
} catch (err) {
  // Same contract as the CLI for bad flags: one line on stderr, exit code 2. process.exit, not
  // app.exit: nothing below may run (no scheme registration, no node).
  log(err instanceof DesktopArgsError ? err.message : String(err))
  process.exit(2)
}
const userDataDir = instanceUserDataDir(join(app.getPath('appData'), APP_FOLDER_NAME), args.instance)
// Chromium's profile (cache, localStorage) goes into the instance folder too, so two instances
// never share one; then the single-instance lock (keyed on userData) is per instance.
app.setPath('userData', userDataDir)
if (!app.requestSingleInstanceLock()) {
  // The running one gets 'second-instance' and comes to the front; this process must start nothing.
  log(`instance ${args.instance} is already running (${userDataDir}); start another with --instance N`)
  process.exit(0)
}

protocol.registerSchemesAsPrivileged([
  // standard: real origin (app://chat) and relative URLs; secure: treated like https (no mixed
  // content downgrade); supportFetchAPI + corsEnabled: Vite emits <script type="module" crossorigin>,
  // which Chromium fetches in CORS mode, refused for schemes without these.
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true } },
])

let desktop: DesktopNode | undefined
let mainWindow: BrowserWindow | undefined

/** Only our own page in our own window gets the token or the settings. */
function trustedSender(event: IpcMainEvent | IpcMainInvokeEvent): boolean {
  const frame = event.senderFrame
  return (
    !!mainWindow &&
    event.sender === mainWindow.webContents &&
    !!frame &&
    frame === event.sender.mainFrame &&
    isAppUrl(frame.url, devServerUrl)
  )
}

function registerIpc(node: DesktopNode): void {
  // sendSync: the preload must hand the renderer plain values before the page's scripts run. The
  // token travels by IPC, not by command-line switch, so other local users cannot read it in `ps`.
  ipcMain.on(IPC_CONNECTION, (event) => {
    const connection: ChatNodeConnection | null = trustedSender(event)
      ? { wsUrl: node.node.wsUrl, token: node.node.token }
      : null
    event.returnValue = connection
  })
  ipcMain.handle(IPC_SETTINGS_GET, (event) => {
    if (!trustedSender(event)) throw new IpcError('forbidden')
    return publicSettings(node.settings.get())
  })
  ipcMain.handle(IPC_SETTINGS_SET, async (event, patch: unknown) => {
    if (!trustedSender(event)) throw new IpcError('forbidden')
    // Renderer input is untrusted: only known fields, validated; peers change through the node.
    const parsed = SettingsPatchSchema.safeParse(patch)
    if (!parsed.success) throw new IpcError('bad_settings', parsed.error.message)
    return publicSettings(await node.settings.update(parsed.data))
  })
}

function registerSecurity(wsUrl: string): void {
  const csp = contentSecurityPolicy({ wsUrl, devServerUrl })
  const rendererDir = join(__dirname, '../renderer')
  protocol.handle(APP_SCHEME, async (request) => {
    const target = resolveAppRequest(rendererDir, request.url)
    if ('status' in target) return new Response(null, { status: target.status })
    // net.fetch on file: also reads inside app.asar and sets the content type.
    const res = await net.fetch(pathToFileURL(target.file).toString())
    const headers = new Headers(res.headers)
    headers.set('Content-Security-Policy', csp)
    return new Response(res.body, { status: res.status, headers })
  })
  // The dev server's pages arrive over http: add the same policy (the dev flavour) as a header.
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } })
  })
  // A chat needs no camera, location or notifications permission prompt: refuse them all.
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
}

// Every web contents, present and future: no navigation away, no new windows, no <webview>.
app.on('web-contents-created', (_event, contents) => {
  contents.on('will-navigate', (event) => {
    if (isAppUrl(event.url, devServerUrl)) return
    event.preventDefault()
    if (isSafeExternalUrl(event.url)) void shell.openExternal(event.url)
  })
  contents.setWindowOpenHandler(({ url }) => {
    if (isSafeExternalUrl(url)) void shell.openExternal(url)
    return { action: 'deny' }
  })
  contents.on('will-attach-webview', (event) => event.preventDefault())
})

function openWindow(node: DesktopNode): BrowserWindow {
  const win = new BrowserWindow({
    width: 1100,
    height: 760,
    minWidth: 640,
    minHeight: 480,
    show: false,
    title: windowTitle(node.node, node.shareableAddress, node.instance),
    // Linux and Windows show it in the title bar and task bar (macOS uses the bundle's icon).
    icon: app.isPackaged ? join(process.resourcesPath, 'icon.png') : join(__dirname, '../../build/icon.png'),
    webPreferences: {
      preload: join(__dirname, '../preload/index.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      // Middle-click on a link would open it in a new Electron window (electronegativity
      // AUXCLICK_JS_CHECK); links go to the system browser through the window-open handler instead.
      disableBlinkFeatures: 'Auxclick',
    },
  })
  // The page's <title> would replace ours; the title is where lab mates read this node's address.
  win.on('page-title-updated', (event) => event.preventDefault())
  win.once('ready-to-show', () => win.show())
  void win.loadURL(devServerUrl ?? APP_ENTRY_URL)
  return win
}

app.on('second-instance', () => {
  if (!mainWindow) return
  if (mainWindow.isMinimized()) mainWindow.restore()
  mainWindow.focus()
})

async function boot(): Promise<void> {
  desktop = await startDesktopNode(startNode, {
    ...args,
    userDataDir,
    // Given by scripts/three.mjs (or the user) in the environment, never on the command line.
    clusterKey: process.env.DS_CLUSTER_KEY || undefined,
    allowedOrigins: [APP_ORIGIN, ...(devServerUrl ? [new URL(devServerUrl).origin] : [])],
    log,
  })
  registerSecurity(desktop.node.wsUrl)
  registerIpc(desktop)
  mainWindow = openWindow(desktop)
  mainWindow.on('closed', () => {
    mainWindow = undefined
  })
  process.stdout.write(`${desktopReadyLine(args.instance, desktop.node, userDataDir, desktop.shareableAddress)}\n`)
}

app
  .whenReady()
  .then(boot)
  .catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err)
    log(`could not start: ${message}`)
    if (!(err instanceof InstanceBusyError)) dialog.showErrorBox('ds-g1-sms could not start', message)
    app.exit(1)
  })

// Quitting is a graceful leave (docs/desktop.md): hold the quit until the node has told its peers.
const STOP_TIMEOUT_MS = 5000
let stopped = false
let stopping = false
app.on('before-quit', (event) => {
  if (stopped || !desktop) return
  event.preventDefault()
  if (stopping) return
  stopping = true
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref())
  void Promise.race([desktop.stop(), timeout])
    .catch((err: unknown) => log(`stopping the node failed: ${String(err)}`))
    .finally(() => {
      stopped = true
      app.quit()
    })
})

// One window per node: closing it quits (and leaves) on every platform, macOS included, because a
// node that stays in the cluster with nobody at the window would be a ghost member.
app.on('window-all-closed', () => app.quit())

// Started from a terminal (npm start, npm run three): Ctrl-C is a graceful leave as well.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => app.quit())
