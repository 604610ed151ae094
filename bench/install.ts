// First step of `npm run bench`: installs the benchmark's own packages (PostGraphile, autocannon: bench/package.json,
// pinned by bench/package-lock.json) into bench/node_modules when they are missing or older than the lockfile. The
// gateway's `npm ci` leaves them out; bench code finds them there, and everything else in the root's node_modules.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const lockfile = path.join(benchDir, 'package-lock.json');
// npm writes this copy of the lockfile last, once an install is complete.
const installed = path.join(benchDir, 'node_modules', '.package-lock.json');

function modifiedMs(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

const installedAt = modifiedMs(installed);
const lockedAt = modifiedMs(lockfile);
if (lockedAt === undefined) throw new Error('bench/package-lock.json is missing');
if (installedAt === undefined || installedAt < lockedAt) {
  process.stderr.write(
    '[bench] installing the benchmark\'s own packages (PostGraphile, autocannon) into bench/node_modules: ' +
      'once, about half a minute; npm warnings hidden (PostGraphile asks for Node 22; its benchmark server shims what it needs on Node 20)\n',
  );
  // The npm that runs `npm run bench` when there is one; --prefix wins over any prefix the caller's npm passes down.
  const npmCli = process.env.npm_execpath;
  const [command, cliArgs] =
    npmCli && /npm-cli\.[cm]?js$/.test(npmCli) ? [process.execPath, [npmCli]] : ['npm', [] as string[]];
  const result = spawnSync(
    command,
    [...cliArgs, 'ci', '--prefix', benchDir, '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: benchDir, stdio: 'inherit', shell: command === 'npm' && process.platform === 'win32' },
  );
  if (result.error) throw result.error;
  if (result.status !== 0) {
    process.stderr.write(`[bench] installing bench/package-lock.json failed (npm ci exited with ${result.status ?? result.signal})\n`);
    process.exit(result.status || 1);
  }
}
