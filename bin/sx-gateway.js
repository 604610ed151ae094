#!/usr/bin/env node
// The published entry point runs the TypeScript sources through tsx, so the CLI and `npm start` share one code path.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli.js');
