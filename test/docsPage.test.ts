import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissingBanner, browserRequired, findChromium, launchChromium } from './support/browser.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const CHROMIUM = findChromium();
const WHAT = 'the /docs browser test';
if (!CHROMIUM) process.stderr.write(browserMissingBanner(WHAT));

/**
 * The plugin's "API docs" button opens /docs. The original's page showed no API (its strict source rule refused the
 * page's own /openapi.json); here the page must render the REST routes from the generated document.
 */
describe.skipIf(!CHROMIUM && !browserRequired())('the /docs page in Chromium', () => {
  let gateway: TestGateway;
  let browser: Browser;
  beforeAll(async () => {
    if (!CHROMIUM) throw new Error(`SX_TEST_REQUIRE_BROWSER=1 but no browser was found.\n${browserMissingBanner(WHAT)}`);
    gateway = await startTestGateway('sqlite');
    await gateway.store.bootstrapSource({ sourceId: 'docs_1' });
    browser = await launchChromium(CHROMIUM);
  });
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
  });

  it('lists the routes the plugin calls, as the plugin opens it (with ?source_id)', async () => {
    const page = await browser.newPage();
    try {
      const failed: string[] = [];
      page.on('response', (response) => {
        if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
      });
      await page.goto(`${gateway.url}/docs?source_id=docs_1`);
      await page.waitForSelector('.opblock-summary-path', { timeout: 30_000 });
      const paths = await page.$$eval('.opblock-summary-path', (nodes) => nodes.map((node) => node.getAttribute('data-path') ?? node.textContent ?? ''));
      for (const route of ['/items', '/notes', '/items/{item_id}/note', '/items/{item_id}/note-md', '/items/{item_id}/meta', '/sources', '/health']) {
        expect(paths.map((p) => p.replace(/\u200b/g, '').trim()), route).toContain(route);
      }
      expect(await page.title()).not.toBe('');
      expect(failed).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
