import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql ships CJS and ESM builds; Pothos and Yoga load one, Vite would hand our code the other, and
  // graphql refuses types from "another realm". One entry for everybody.
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/globalPostgres.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: files run two at a time, each against its own database.
    maxWorkers: 2,
    pool: 'forks',
  },
});
