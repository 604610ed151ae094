#!/usr/bin/env node
// The published entry point runs the TypeScript sources through tsx, so the CLI and `npm start` share one code path.
import v8 from 'node:v8';
import { register } from 'tsx/esm/api';

register();
// An import into PostgreSQL streams its files into COPY and holds no rows, yet V8 doubles the young generation (to
// 16 MB a semi-space) each time enough objects have survived its collections in all, and the chunks in flight
// survive every one: the longer the file, the more doublings, and the importer's peak memory grew with the file
// (148 MB for 1M rows against 126 MB for 100k). Pinned at its starting size before the CLI's modules load, the
// peak stays near the process's own (118 and 110 MB), no slower. Not for SQLite's import, which reads every row
// into objects in Node (a small young generation promotes more of them: 4% slower, more memory), nor for the
// server. V8 raises a factor below 2 to 2 whenever it sets up a heap, a worker's too, so this comes after the
// loader's thread has started; the flag is read each time the space would grow, so it takes effect from here.
if (process.argv[2] === 'import' && process.env.SX_DB_BACKEND_MODE === 'POSTGRES_PRIMARY') {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
await import('../src/cli.js');
