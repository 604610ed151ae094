import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { parse, validate } from 'graphql';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SOURCE_ID, importDemo } from '../src/demo.js';
import { schema } from '../src/schema/index.js';
import { browserMissingBanner, browserRequired, findChromium, launchChromium } from './support/browser.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const CHROMIUM = findChromium();
const WHAT = 'the GraphiQL browser test';
if (!CHROMIUM) process.stderr.write(browserMissingBanner(WHAT));

const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
const SCREENSHOT = path.join(ARTIFACTS, 'graphiql.png');
const ADMIN_TOKEN = 'graphiql-test-admin-token-0123456789';

async function fetchPage(gateway: TestGateway): Promise<{ status: number; type: string | null; html: string }> {
  const response = await fetch(`${gateway.url}/graphql`, { headers: { accept: 'text/html' } });
  return { status: response.status, type: response.headers.get('content-type'), html: await response.text() };
}

/** The options the page hands GraphiQL: the JSON argument of its render call, the page's last script. */
function graphiqlOptionsOf(html: string): Record<string, unknown> {
  const marker = "querySelector('#root'),";
  const start = html.lastIndexOf(marker);
  expect(start).toBeGreaterThan(0);
  const call = html.slice(start + marker.length, html.lastIndexOf('</script>'));
  return JSON.parse(call.trim().replace(/\)\s*;$/, '').trim().replace(/,$/, '')) as Record<string, unknown>;
}

describe('the GraphiQL page', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway('sqlite', { SX_ADMIN_TOKEN: ADMIN_TOKEN });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('is one self-contained page with the example operations and only a placeholder for the admin token', async () => {
    const first = await fetchPage(gateway);
    expect(first.status).toBe(200);
    expect(first.type).toMatch(/^text\/html/);
    // Scripts, styles and editor workers are inline: nothing to fetch from a CDN.
    expect(first.html).not.toMatch(/<script[^>]+\bsrc=|<link[^>]+rel="stylesheet"/);
    const options = graphiqlOptionsOf(first.html);
    const examples = ['query DemoItems {', 'query Stats {', 'query Search {', '# mutation Tag {', 'Bearer <SX_ADMIN_TOKEN>'];
    for (const example of examples) expect(options.defaultQuery).toContain(example);
    // The examples keep up with the schema.
    expect(validate(schema, parse(String(options.defaultQuery))).map((error) => error.message)).toEqual([]);
    expect(JSON.parse(String(options.headers))).toEqual({ Authorization: 'Bearer <SX_ADMIN_TOKEN>' });
    expect(options.defaultHeaders).toBe(options.headers);
    expect(options.shouldPersistHeaders).toBe(false);
    expect(first.html).not.toContain(ADMIN_TOKEN);
  });

  it('prefills no header when no admin token is configured (loopback clients are admins)', async () => {
    const open = await startTestGateway('sqlite');
    try {
      const { html } = await fetchPage(open);
      const options = graphiqlOptionsOf(html);
      expect(options.defaultQuery).toContain('query DemoItems {');
      expect(options.headers).toBeUndefined();
      expect(options.shouldPersistHeaders).toBe(false);
    } finally {
      await open.close();
    }
  });
});

describe.skipIf(!CHROMIUM && !browserRequired())('GraphiQL in Chromium', () => {
  let gateway: TestGateway;
  let browser: Browser;
  let expected: { totalCount: number; firstIds: string[] };
  beforeAll(async () => {
    if (!CHROMIUM) {
      throw new Error(`SX_TEST_REQUIRE_BROWSER=1 but no browser was found.\n${browserMissingBanner(WHAT)}`);
    }
    gateway = await startTestGateway('sqlite');
    const summary = await importDemo(gateway.store);
    expect(summary?.inserted).toBeGreaterThan(3);
    // Read from the file itself, not through the gateway: DemoItems lists the newest items (RECENT).
    const db = new Database(gateway.databaseUrl, { readonly: true });
    try {
      const count = db.prepare('SELECT count(*) FROM videos WHERE source_id = ?').pluck().get(DEMO_SOURCE_ID) as number;
      const ids = db
        .prepare('SELECT id FROM videos WHERE source_id = ? ORDER BY updated_at DESC, id LIMIT 3')
        .pluck()
        .all(DEMO_SOURCE_ID) as string[];
      expected = { totalCount: count, firstIds: ids };
    } finally {
      db.close();
    }
    browser = await launchChromium(CHROMIUM);
  });
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
  });

  it('runs the DemoItems example and shows its rows in the result pane', async () => {
    const page: Page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const requested: string[] = [];
    const operationNames: unknown[] = [];
    page.on('request', (request) => {
      requested.push(request.url());
      if (request.method() === 'POST') operationNames.push(request.postDataJSON()?.operationName);
    });
    let shown = '';
    try {
      await page.goto(`${gateway.url}/graphql`);
      const editor = page.locator('.graphiql-query-editor .view-lines');
      await expect.poll(async () => text(await editor.innerText()), { timeout: 10_000 }).toContain('query DemoItems {');

      // Several operations in the editor: the run button opens a menu of them.
      await page.locator('.graphiql-execute-button').click();
      await page.getByRole('menuitem', { name: 'DemoItems', exact: true }).click();

      const result = page.locator('.graphiql-response .view-lines');
      await expect.poll(async () => (shown = text(await result.innerText())), { timeout: 10_000 }).toContain('"nodes"');
    } finally {
      // Also on failure: the picture says what the page showed instead.
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: SCREENSHOT });
    }

    expect(shown).toContain(`"totalCount": ${expected.totalCount}`);
    for (const id of expected.firstIds) expect(shown).toContain(`"id": "${id}"`);
    expect(shown).not.toContain('"errors"');
    expect(operationNames).toContain('DemoItems');
    // Page, editor workers (blob URLs of the page) and GraphQL: nothing from anywhere but the gateway.
    expect(requested.length).toBeGreaterThan(0);
    const local = (url: string) => url.startsWith(`${gateway.url}/`) || url.startsWith(`blob:${gateway.url}/`);
    const elsewhere = requested.filter((url) => !local(url));
    expect(elsewhere).toEqual([]);
  }, 20_000);
});

/** Monaco renders spaces as no-break spaces. */
function text(rendered: string): string {
  return rendered.replace(/\u00a0/g, ' ');
}
