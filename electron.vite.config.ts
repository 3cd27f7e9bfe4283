import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'

// Runtime dependencies that must stay `require()`s in the built main bundle: grpc-js loads its own
// files lazily, proto-loader reads .proto files from disk, ws has optional native add-ons. They are
// in package.json "dependencies", so electron-builder ships them in the packaged app's node_modules.
const RUNTIME_EXTERNALS = ['@grpc/grpc-js', '@grpc/proto-loader', 'ws', 'zod']

const rendererHtml = resolve('renderer/index.html')

export default defineConfig({
  main: {
    build: {
      externalizeDeps: { include: RUNTIME_EXTERNALS },
      lib: {
        // Two entries built together: the Electron shell and the headless peer, so that
        // `node out/main/cli.js` runs the very node code the app ships (shared code goes in a chunk).
        entry: {
          index: resolve('main/index.ts'),
          cli: resolve('main/cli.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      lib: { entry: resolve('preload/index.ts') },
    },
  },
  renderer: {
    root: resolve('renderer'),
    // Relative asset URLs: the packaged app serves the renderer from app://chat/ (main/index.ts),
    // not from a web server root.
    base: './',
    // Minified: the same bundle is also served to browsers over the lab network (browser mode).
    build: { minify: true, rolldownOptions: { input: rendererHtml } },
    plugins: [react(), tailwindcss()],
  },
})
