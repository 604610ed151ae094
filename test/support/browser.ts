import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/**
 * The browser tests drive a system Chromium through playwright-core, which ships no browser: npm cannot
 * install one. CI installs Debian's `chromium` and sets SX_TEST_REQUIRE_BROWSER=1, so there a missing browser
 * fails the tests instead of skipping them.
 */
const NAMES = ['chromium', 'chromium-browser', 'google-chrome'];

/** Where a Chromium is: SX_CHROMIUM_BIN, else the first of NAMES on PATH. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.SX_CHROMIUM_BIN) return isExecutable(env.SX_CHROMIUM_BIN) ? env.SX_CHROMIUM_BIN : null;
  const folders = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const name of NAMES) {
    for (const folder of folders) {
      const candidate = path.join(folder, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const browserRequired = (env: NodeJS.ProcessEnv = process.env) => env.SX_TEST_REQUIRE_BROWSER === '1';

/** The loud stderr message for a machine without a browser: what did not run, and how to make it run. */
export function browserMissingBanner(what: string, env: NodeJS.ProcessEnv = process.env): string {
  const line = '!'.repeat(78);
  const looked = env.SX_CHROMIUM_BIN
    ? `SX_CHROMIUM_BIN=${env.SX_CHROMIUM_BIN} is not an executable file.`
    : `No executable ${NAMES.map((name) => `"${name}"`).join(', ')} on PATH.`;
  return [
    line,
    `!! Chromium NOT FOUND: ${what} DID NOT RUN.`,
    `!! ${looked}`,
    '!! Install it (Debian: sudo apt-get install chromium) or point SX_CHROMIUM_BIN at a Chromium or Chrome binary.',
    browserRequired(env)
      ? '!! SX_TEST_REQUIRE_BROWSER=1 (as CI sets): a missing browser FAILS the run.'
      : '!! Reported as skipped; with SX_TEST_REQUIRE_BROWSER=1 (as CI sets) a missing browser fails the run instead.',
    line,
    '',
  ].join('\n');
}

/** A headless Chromium; its version is printed so a run's log says which browser it tested. */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // Chromium's sandbox needs user namespaces, which containers and CI runners running as root often lack;
    // the browser only loads pages of the gateway under test.
    args: ['--no-sandbox'],
  });
  process.stderr.write(`[tests] Chromium ${browser.version()} (${executablePath})\n`);
  return browser;
}
