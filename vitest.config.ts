import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; integration tests share one real Kafka broker started by
// test/global-setup.ts (Testcontainers, or a declared child-process fallback).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks', // chdb binds one data directory per process: keep test files in separate processes
    poolOptions: { forks: { singleFork: false, maxForks: 2, minForks: 1 } },
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 180_000,
  },
});
