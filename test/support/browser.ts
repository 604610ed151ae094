import { chromium, type Browser } from 'playwright-core';
import { externalToolRequired, findExternalTool, missingToolBanner, type ExternalTool } from './externalTool.js';

/**
 * The browser tests drive a system Chromium through playwright-core, which ships no browser: npm cannot
 * install one. CI installs Debian's `chromium` and sets SX_TEST_REQUIRE_BROWSER=1, so there a missing browser
 * fails the tests instead of skipping them.
 */
export const CHROMIUM: ExternalTool = {
  label: 'Chromium',
  names: ['chromium', 'chromium-browser', 'google-chrome'],
  override: 'SX_CHROMIUM_BIN',
  install: 'Install it (Debian: sudo apt-get install chromium)',
  requireVariable: 'SX_TEST_REQUIRE_BROWSER',
};

export const findChromium = (env: NodeJS.ProcessEnv = process.env) => findExternalTool(CHROMIUM, env);
export const browserRequired = (env: NodeJS.ProcessEnv = process.env) => externalToolRequired(CHROMIUM, env);
export const browserMissingBanner = (what: string, env: NodeJS.ProcessEnv = process.env) => missingToolBanner(CHROMIUM, what, env);

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
