import { existsSync } from 'node:fs';
import { CommanderError } from 'commander';
import pino from 'pino';
import type { GatewayConfig } from '../config.js';
import type { InProcessGateway } from '../interfaces.js';
import { openStore, type OpenedStore } from '../stores/openStore.js';

/** Exit codes: 0 success, 1 the command failed (or a check did not pass), 2 bad usage or configuration. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Shown under every command's --help (commander's 'afterAll' on the program reaches each subcommand). */
export const EXIT_CODES_HELP = [
  '',
  'Exit codes:',
  '  0  success',
  '  1  the command failed or a check did not pass; stderr says why (`error CODE: message`)',
  '  2  bad usage or configuration (an unknown or missing option, an invalid environment variable)',
  '',
  'Output (every command but serve): with --json, stdout holds exactly one JSON object (the report; after a',
  'failure without one, {"error":{"code","message"}}) and progress is silent; errors still go to stderr. Without',
  '--json, progress goes to stderr: a bar (rows, rows/s, ETA) on a terminal, else a plain line at most once a second.',
].join('\n');

/**
 * Whether the running command was asked for --json and has printed its object: the failure handler adds an
 * error object only when nothing was printed, so stdout never holds two.
 */
export const jsonOutput = { requested: false, printed: false };

// Synchronous: a line is written before the next statement runs, so none is lost at process.exit. The
// asynchronous destination flushes at exit and retries a broken pipe forever: with its reader gone (a log
// collector that died, a parent killed), stderr would keep serve from ever exiting after SIGTERM.
export const logger = pino({ level: process.env.SX_LOG_LEVEL ?? 'info' }, pino.destination({ dest: 2, sync: true }));

export async function withStore<T>(config: GatewayConfig, fn: (opened: OpenedStore) => Promise<T>): Promise<T> {
  const opened = await openStore(config);
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}

/** A usage error that names the option; printed as `error: …` with exit code 2. */
export function usageError(message: string): CommanderError {
  return new CommanderError(EXIT_USAGE, 'sx.usage', message);
}

export function requireFile(path: string, option: string): string {
  if (!existsSync(path)) throw usageError(`${option}: no such file: ${path}`);
  return path;
}

/** Prints a command's result: one JSON object with --json, else the lines a person reads. */
export function printResult(json: boolean | undefined, result: unknown, lines: () => string[]): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    jsonOutput.printed = true;
  } else for (const line of lines()) process.stdout.write(`${line}\n`);
}

/** Parses a positive integer option or refuses it by name. */
export function positiveInteger(name: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw usageError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

/**
 * The gateway's own GraphQL endpoint, loaded on first use: the schema and Yoga are most of a command's start-up
 * time, and only a restore's verification needs them.
 */
export const inProcessGateway: InProcessGateway = async (store, config, request) =>
  (await import('../http/yoga.js')).createGatewayYoga(store, config).fetch(request);
