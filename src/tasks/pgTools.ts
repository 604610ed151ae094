import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import which from 'which';
import { GatewayError } from '../errors.js';

const run = promisify(execFile);

export type PgToolName = 'pg_dump' | 'pg_restore' | 'psql';

export interface PgTool {
  name: PgToolName;
  path: string;
  /** As the tool prints it, e.g. `15.20`. */
  version: string;
  major: number;
}

const INSTALL_HINT =
  'install the PostgreSQL client tools of the server\'s major version or newer (Debian: apt-get install postgresql-client-<major>) ' +
  'or set SX_PG_BIN_DIR to the folder that holds them';

/**
 * Where a tool is: SX_PG_BIN_DIR when it is set (and then only there, so an operator who points at a version is
 * never handed another one from PATH), else PATH.
 */
async function locate(name: PgToolName, env: NodeJS.ProcessEnv): Promise<string> {
  const binDir = env.SX_PG_BIN_DIR;
  if (binDir) {
    const candidate = path.join(binDir, name);
    if (!existsSync(candidate)) {
      throw new GatewayError('TOOL_MISSING', `${name} not found in SX_PG_BIN_DIR=${binDir}; ${INSTALL_HINT}`, { tool: name });
    }
    return candidate;
  }
  const found = await which(name, { nothrow: true, path: env.PATH ?? '' });
  if (!found) throw new GatewayError('TOOL_MISSING', `${name} not found on PATH; ${INSTALL_HINT}`, { tool: name });
  return found;
}

/** `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → 15.20; also `16beta1` style versions. */
export function parseToolVersion(text: string): { version: string; major: number } | null {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) return null;
  return { version: match[2] === undefined ? match[1]! : `${match[1]}.${match[2]}`, major: Number(match[1]) };
}

export async function findPgTool(name: PgToolName, env: NodeJS.ProcessEnv = process.env): Promise<PgTool> {
  const toolPath = await locate(name, env);
  let output: string;
  try {
    output = (await run(toolPath, ['--version'], { timeout: 10_000 })).stdout;
  } catch (error) {
    throw new GatewayError('TOOL_MISSING', `${toolPath} --version failed (${(error as Error).message.split('\n')[0]}); ${INSTALL_HINT}`, {
      tool: name,
    });
  }
  const parsed = parseToolVersion(output);
  if (!parsed) {
    throw new GatewayError('TOOL_MISSING', `${toolPath} does not look like PostgreSQL's ${name}: it printed ${JSON.stringify(output.trim())}`, {
      tool: name,
    });
  }
  return { name, path: toolPath, ...parsed };
}

/**
 * The tools a command needs, each at least the server's major version: pg_dump refuses to dump a newer server,
 * and an older pg_restore cannot read a newer dump's archive format. Every problem is named in one error.
 */
export async function requirePgTools(names: PgToolName[], serverMajor: number, env: NodeJS.ProcessEnv = process.env): Promise<Record<PgToolName, PgTool>> {
  const settled = await Promise.allSettled(names.map((name) => findPgTool(name, env)));
  const problems: string[] = [];
  const tools = {} as Record<PgToolName, PgTool>;
  let code = 'TOOL_TOO_OLD' as 'TOOL_MISSING' | 'TOOL_TOO_OLD';
  settled.forEach((result, i) => {
    if (result.status === 'rejected') {
      code = 'TOOL_MISSING';
      problems.push((result.reason as Error).message);
      return;
    }
    const tool = result.value;
    if (tool.major < serverMajor) {
      problems.push(`${tool.path} is version ${tool.version}, older than the server's major version ${serverMajor}`);
    }
    tools[names[i]!] = tool;
  });
  if (problems.length > 0) {
    throw new GatewayError(code, problems.length === 1 && code === 'TOOL_MISSING' ? problems[0]! : `${problems.join('; ')}; ${INSTALL_HINT}`, {
      tools: names,
    });
  }
  return tools;
}

/**
 * A connection URL for a tool's --dbname without its password, and the environment that carries the password
 * (PGPASSWORD), so the password never shows in a process listing.
 */
export function toolConnection(dsn: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const url = new URL(dsn);
  const password = decodeURIComponent(url.password);
  url.password = '';
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (password) env.PGPASSWORD = password;
  return { dbname: url.toString(), env };
}

export interface ToolRun {
  stdout: string;
  stderr: string;
}

/**
 * Runs a tool to completion. A non-zero exit becomes an error carrying the tool's own stderr, which names the
 * problem better than anything said here (a refused connection, a broken archive, a missing role).
 */
export function runPgTool(
  tool: PgTool,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: NodeJS.ReadableStream; stdout?: NodeJS.WritableStream } = {},
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool.path, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    if (options.stdout) child.stdout.pipe(options.stdout);
    else child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    if (options.stdin) options.stdin.pipe(child.stdin);
    else child.stdin.end();
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${tool.name} failed (${signal ?? `exit code ${code}`}): ${stderr.trim() || '(no message)'}`));
    });
  });
}

/**
 * `producer | consumer` where the consumer commits what it read at end of input (psql --single-transaction):
 * its input is ended only once the producer has exited 0. When the producer fails part-way, the consumer is
 * killed while it still waits for input, so its transaction never reaches COMMIT and the server rolls it back.
 */
export function pipePgTools(
  producer: { tool: PgTool; args: string[]; env?: NodeJS.ProcessEnv },
  consumer: { tool: PgTool; args: string[]; env?: NodeJS.ProcessEnv },
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const source = spawn(producer.tool.path, producer.args, { env: producer.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const sink = spawn(consumer.tool.path, consumer.args, { env: consumer.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let sourceErr = '';
    let sinkOut = '';
    let sinkErr = '';
    let failure: Error | null = null;
    source.stderr.on('data', (chunk: Buffer) => (sourceErr += chunk.toString()));
    sink.stdout.on('data', (chunk: Buffer) => (sinkOut += chunk.toString()));
    sink.stderr.on('data', (chunk: Buffer) => (sinkErr += chunk.toString()));
    // The consumer may stop reading first (an error with ON_ERROR_STOP); its own exit reports why.
    sink.stdin.on('error', () => undefined);
    source.stdout.pipe(sink.stdin, { end: false });
    source.on('error', (error) => {
      failure ??= error;
      sink.kill('SIGKILL');
    });
    sink.on('error', (error) => {
      failure ??= error;
      source.kill('SIGKILL');
    });
    source.on('close', (code, signal) => {
      if (code === 0 && !failure) {
        sink.stdin.end();
        return;
      }
      failure ??= new Error(`${producer.tool.name} failed (${signal ?? `exit code ${code}`}): ${sourceErr.trim() || '(no message)'}`);
      sink.kill('SIGKILL');
    });
    sink.on('close', (code, signal) => {
      if (code !== 0 && !failure) {
        failure = new Error(`${consumer.tool.name} failed (${signal ?? `exit code ${code}`}): ${sinkErr.trim() || '(no message)'}`);
        source.kill('SIGKILL');
      }
      if (failure) reject(failure);
      else resolve({ stdout: sinkOut, stderr: sinkErr });
    });
  });
}
