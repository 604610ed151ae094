import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface Running {
  child: ChildProcess;
  url: string;
  /** Resident set size now, in bytes (Linux /proc; null elsewhere). */
  rssBytes(): number | null;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function rssOf(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Starts a TypeScript entry point in its own Node process (so its CPU and memory are its own, not the load
 * generator's) and waits for the line that says it is listening.
 */
export function startNodeProcess(entry: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs = 60_000): Promise<Running> {
  // SX_BENCH_PROFILE_DIR=dir writes a V8 CPU profile of every server process, for the "what limits it" question.
  const profile = process.env.SX_BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SX_BENCH_PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', entry, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} did not become ready in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      // Keep draining so a chatty process never blocks on a full pipe.
      child.stdout!.resume();
      resolve({
        child,
        url: match[1]!,
        rssBytes: () => rssOf(child.pid),
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
          }),
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code} before it was ready:\n${output}`));
    });
  });
}

/**
 * Runs a program to completion, timed from spawn to exit, and returns its stdout; fails with its stderr. Waits
 * for 'close', not 'exit': a process can exit with the end of its stdout still in the pipe, and the commands'
 * `--json` report is that end.
 */
export function runProcess(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; ms: number }> {
  const started = performance.now();
  const child = spawn(file, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve({ stdout, ms: performance.now() - started });
      else reject(new Error(`${file} ${args.join(' ')} exited with ${signal ?? code}:\n${stderr}${stdout}`));
    });
  });
}

/**
 * Runs `sx-gateway` as a user does, through its published entry point (bin/sx-gateway.js, which sets up the
 * import's memory before the CLI loads), to completion; returns its stdout and fails with its stderr.
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; ms: number }> {
  return runProcess(process.execPath, ['bin/sx-gateway.js', ...args], env);
}
