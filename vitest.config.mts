import { defineConfig } from 'vitest/config'

// One runner for everything: unit tables of main/core, integration tests that spawn real node
// processes, and browser tests in Debian's chromium. Two cores: keep the process count sane.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    environment: 'node',
    // A failed test prints the end of its nodes' logs (test/helpers/node-logs-on-failure.ts).
    setupFiles: ['test/helpers/node-logs-on-failure.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    reporters: ['default'],
  },
})
