// Lint, and the layering rules of docs/architecture.md §2 made mechanical (as VS Code does for its layers):
//   main/core is pure: no Node, Electron, gRPC or ws, and nothing of the layers above it;
//   the renderer talks only the client protocol: nothing of main/ or preload/, no Node, no Electron;
//   only main/index.ts (and the preload script, which needs contextBridge) import electron;
//   every relative import is resolved and checked against the layers (scripts/eslint-layers.mjs).
import js from '@eslint/js'
import globals from 'globals'
import reactHooks from 'eslint-plugin-react-hooks'
import tseslint from 'typescript-eslint'
import layers from './scripts/eslint-layers.mjs'

const electronOnlyInShell = {
  paths: [{ name: 'electron', message: 'Only main/index.ts (and preload/) may import electron: keep the shell thin.' }],
}

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', '.tmp/**', 'test-results/**', 'node_modules/**', 'docs/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    plugins: { layers },
    rules: {
      'layers/no-cross-layer-import': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', electronOnlyInShell],
    },
  },
  {
    files: ['main/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: electronOnlyInShell.paths,
          patterns: [
            { group: ['node:*', 'fs', 'net', 'http', 'os', 'path', 'crypto', 'child_process', 'dgram', 'timers'], message: 'main/core is pure: no Node APIs (time and I/O come in as inputs).' },
            { group: ['@grpc/*', 'ws', 'electron'], message: 'main/core is pure: no sockets or Electron.' },
            { group: ['../node/*', '../cluster/*', '../gateway/*', '../desktop/*', '../store/*', '../index', '../cli'], message: 'main/core must not depend on the layers above it.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'main/core has no timers: the node drives it.' },
        { name: 'setInterval', message: 'main/core has no timers: the node drives it.' },
        { name: 'process', message: 'main/core does not read the process.' },
      ],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'main/core gets time as an input.' }],
    },
  },
  {
    files: ['renderer/**/*.{ts,tsx}', 'test/renderer/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          paths: electronOnlyInShell.paths,
          patterns: [
            { group: ['**/main/**', '**/preload/**', '!**/preload/api'], message: 'The renderer talks only the client protocol (proto/client-protocol.ts).' },
            { group: ['node:*', 'ws', '@grpc/*'], message: 'The renderer runs in a browser: no Node modules.' },
          ],
        },
      ],
    },
  },
  {
    // Errors are named classes with a stable code (docs/architecture.md §2): a bare Error has neither.
    files: ['main/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Error']", message: 'Use a named error class with a `code` (main/core/errors.ts ChatError, or the module\'s own).' },
      ],
    },
  },
  { files: ['main/index.ts', 'preload/**/*.ts'], rules: { 'no-restricted-imports': 'off' } },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.{ts,mjs}'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
)
