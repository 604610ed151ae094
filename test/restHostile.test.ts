import net from 'node:net';
import pg from 'pg';
import sql from 'sql-template-tag';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONSOLIDATED_HEADER, csv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';
import { INVALID_SOURCE_IDS } from './support/hostileIds.js';

/**
 * The REST face (the original's routes, src/http/rest) against hostile input, over the real HTTP server, in both
 * stores: hostile source ids in the query and in X-SX-Source-ID, hostile item ids in the path, oversized and
 * malformed bodies and parameters, wrong methods, and a request that names two sources. Nothing may answer 500,
 * nothing may be created or written, and no source may see another's rows.
 */

const MAX_BODY = 4096;
const SOURCE_A = 'hostile_1';
const SOURCE_B = 'other_2';
const A_IDS = ['v1', 'v2', 'v3', 'v4', 'v5'];
const B_IDS = ['o1', 'o2', 'o3'];

/** The GraphQL suite's hostile ids, never valid wherever they are sent, and look-alikes of this suite's sources. */
const INVALID: [string, string][] = [
  ...INVALID_SOURCE_IDS,
  ['Cyrillic look-alike of an existing source', 'h\u043Estile_1'],
  ['zero-width space after an existing source', 'hostile_1\u200B'],
  ['comma list of two real sources', 'hostile_1,other_2'],
  ['LIKE wildcard matching an existing source', 'hostile%'],
];

/** Valid ids no source has (the `sx_` and system-schema tricks among them): unknown, and never auto-created. */
const UNKNOWN: [string, string][] = [
  ['public', 'public'],
  ['pg_catalog', 'pg_catalog'],
  ['information_schema', 'information_schema'],
  ['pg_toast', 'pg_toast'],
  ['pg_temp', 'pg_temp'],
  ['the schema prefix itself', 'sx'],
  ['prefix with separator', 'sx_'],
  ['another source schema name', 'sx_public'],
  ['the schema name of an existing source', 'sx_hostile_1'],
  ['an existing source in upper case', 'HOSTILE_1'],
  ['an existing source with a dash', 'hostile-1'],
  ['an existing source with a trailing dot', 'hostile_1.'],
  ['double dot', 'assets..1'],
  ['single dot', '.'],
  ['double dot alone', '..'],
  ['single dash', '-'],
  ['single underscore', '_'],
  ['SQL comment dashes', '--'],
  ['digits only', '0'],
  ['64 characters', 'a'.repeat(64)],
  ['NULL', 'NULL'],
  ['null', 'null'],
  ['default', 'default'],
];

const SOURCE_ID = /^[A-Za-z0-9._-]{1,64}$/;
// PostgreSQL's and SQLite's own wording; none of it may reach a client.
const DATABASE_TEXT =
  /syntax error at or near|does not exist|violates|SQLSTATE|duplicate key|invalid byte sequence|unterminated quoted|permission denied|current transaction is aborted|SQLITE_|no such table|no such column|Expression tree is too large/i;

type Expected = 'SOURCE_ID_INVALID' | 'SOURCE_NOT_MAPPED' | 'ABSENT';

/** What the original's selection makes of a requested value: trimmed; blank means none was named. */
function expectedFor(seen: string): Expected {
  const effective = seen.trim();
  if (effective === '') return 'ABSENT';
  return SOURCE_ID.test(effective) ? 'SOURCE_NOT_MAPPED' : 'SOURCE_ID_INVALID';
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
  body: any;
}

function parsed(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A fetch whose answer is read whole; `json` bodies are sent as application/json. */
async function request(
  gateway: TestGateway,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; json?: unknown; rawBody?: string | ReadableStream<Uint8Array> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | ReadableStream<Uint8Array> | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  } else if (options.rawBody !== undefined) {
    body = options.rawBody;
    headers['content-type'] ??= 'application/json';
  }
  const init: RequestInit & { duplex?: 'half' } = { method, headers, body };
  if (body instanceof ReadableStream) init.duplex = 'half';
  const response = await fetch(`${gateway.url}${path}`, init);
  const text = await response.text();
  return { status: response.status, headers: Object.fromEntries(response.headers), text, body: parsed(text) };
}

/**
 * One HTTP/1.1 request written byte for byte on a socket: header values fetch refuses to send (NUL, CR, LF inside,
 * characters past U+00FF, which go as their UTF-8 bytes) reach the server as a client could send them.
 */
async function rawRequest(gateway: TestGateway, method: string, path: string, extraHeaders: Buffer, body?: string): Promise<Answer> {
  const { hostname, port } = new URL(gateway.url);
  const head = [`${method} ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close'];
  if (body !== undefined) head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  const payload = Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n`, 'latin1'), extraHeaders, Buffer.from(`\r\n${body ?? ''}`, 'utf8')]);
  const received = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    // Not half-closed: the server closes the connection after its answer (Connection: close).
    const socket = net.connect(Number(port), hostname, () => socket.write(payload));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.setTimeout(20_000, () => socket.destroy(new Error('raw request timed out')));
  });
  const split = received.indexOf('\r\n\r\n');
  const headText = received.subarray(0, split).toString('latin1');
  let rest = received.subarray(split + 4);
  const [statusLine, ...lines] = headText.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
      if (!size) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 2 + size + 2);
    }
    rest = Buffer.concat(parts);
  }
  const text = rest.toString('utf8');
  return { status: Number(statusLine!.split(' ')[1]), headers, text, body: parsed(text) };
}

/** Every answer: never a 500, never the database's own words. */
function expectClean(answer: Answer, what: string): void {
  expect(answer.status, `${what}: ${answer.status} ${answer.text.slice(0, 300)}`).toBeLessThan(500);
  expect(answer.text, what).not.toMatch(DATABASE_TEXT);
}

/** The source selection's refusal: 400 `{ok:false, detail, request_id, code}`, the request id also in X-SX-Request-ID. */
function expectSelectionRefusal(answer: Answer, code: string, what: string): void {
  expectClean(answer, what);
  expect(answer.status, `${what}: ${answer.text.slice(0, 300)}`).toBe(400);
  expect(answer.headers['content-type'], what).toMatch(/^application\/json/);
  expect(answer.body, `${what}: ${answer.text.slice(0, 300)}`).toMatchObject({ ok: false, code });
  expect(typeof answer.body.detail, what).toBe('string');
  expect(answer.body.request_id, what).toMatch(/^[0-9a-f]{32}$/);
  expect(answer.headers['x-sx-request-id'], what).toBe(answer.body.request_id);
}

/** The routes every hostile source id is sent to, with what an accepted request would answer for item `x`. */
const SOURCE_ROUTES: { method: string; path: string; json?: unknown; absentStatus: number }[] = [
  { method: 'GET', path: '/items', absentStatus: 200 },
  { method: 'GET', path: '/stats', absentStatus: 200 },
  { method: 'GET', path: '/notes', absentStatus: 200 },
  { method: 'GET', path: '/search', absentStatus: 200 },
  { method: 'GET', path: '/authors', absentStatus: 200 },
  { method: 'GET', path: '/items/v1', absentStatus: 200 },
  { method: 'GET', path: '/items/v1/note', absentStatus: 200 },
  { method: 'PUT', path: '/items/x/meta', json: { rating: 1, notes: 'written through a hostile source id' }, absentStatus: 404 },
  { method: 'PUT', path: '/items/x/note-md', json: { markdown: 'written through a hostile source id' }, absentStatus: 404 },
];

const withQuery = (path: string, name: string, value: string) => `${path}${path.includes('?') ? '&' : '?'}${new URLSearchParams({ [name]: value })}`;

/** A header value fetch can send as it is: bytes 0x20-0xFF (and tab), no NUL/CR/LF, nothing for fetch to strip. */
function fetchCanSend(value: string): boolean {
  return /^[\x20-\x7e\x80-\xff\t]*$/.test(value) && value === value.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** What the server reads from a header line carrying `id`'s UTF-8 bytes (Node decodes headers as latin1). */
function headerAsSeen(id: string): string {
  const latin1 = Buffer.from(id, 'utf8').toString('latin1');
  // A CR LF inside ends the header line: the rest is another header.
  return latin1.split(/\r?\n/)[0]!.replace(/^[ \t]+|[ \t]+$/g, '');
}

async function itemsOf(gateway: TestGateway, sourceId: string): Promise<any> {
  const answer = await request(gateway, 'GET', '/items?limit=2000', { headers: { 'X-SX-Source-ID': sourceId } });
  expect(answer.status, answer.text).toBe(200);
  return answer.body;
}

async function metaOf(gateway: TestGateway, sourceId: string, itemId: string): Promise<any> {
  const answer = await request(gateway, 'GET', `/items/${encodeURIComponent(itemId)}/meta`, { headers: { 'X-SX-Source-ID': sourceId } });
  expect(answer.status, answer.text).toBe(200);
  return answer.body.meta;
}

async function noteOf(gateway: TestGateway, sourceId: string, itemId: string): Promise<string> {
  const answer = await request(gateway, 'GET', `/items/${encodeURIComponent(itemId)}/note`, { headers: { 'X-SX-Source-ID': sourceId } });
  expect(answer.status, answer.text).toBe(200);
  return answer.body.markdown;
}

/** The item ids of every user-meta and user-note row each source holds, read from the store itself. */
async function storedRows(gateway: TestGateway): Promise<Record<string, { meta: string[]; userNotes: string[] }>> {
  const out: Record<string, { meta: string[]; userNotes: string[] }> = {};
  for (const sourceId of [SOURCE_A, SOURCE_B]) {
    out[sourceId] = await gateway.store.withTenant(sourceId, async (db) => ({
      meta: (await db.all<{ video_id: string }>(sql`SELECT video_id FROM user_meta WHERE source_id = ${db.sourceId} ORDER BY video_id`)).map((r) => r.video_id),
      userNotes: (
        await db.all<{ video_id: string }>(
          sql`SELECT video_id FROM video_notes WHERE source_id = ${db.sourceId} AND template_version = 'user' ORDER BY video_id`,
        )
      ).map((r) => r.video_id),
    }));
  }
  return out;
}

async function namespaces(gateway: TestGateway): Promise<{ schemas: string[]; strayTables: unknown[] }> {
  const client = new pg.Client({ connectionString: gateway.databaseUrl });
  await client.connect();
  try {
    const schemas = (await client.query<{ nspname: string }>('SELECT nspname FROM pg_namespace ORDER BY 1')).rows.map((r) => r.nspname);
    const strayTables = (
      await client.query(
        `SELECT table_schema, table_name FROM information_schema.tables
          WHERE table_schema IN ('public', 'pg_catalog', 'information_schema') AND table_name IN ('videos', 'user_meta', 'authors', 'video_notes')`,
      )
    ).rows;
    return { schemas, strayTables };
  } finally {
    await client.end();
  }
}

describe.each(STORE_KINDS)('REST face against hostile input (%s)', (kind) => {
  let gateway: TestGateway;
  let namespacesBefore: Awaited<ReturnType<typeof namespaces>> | null = null;

  beforeAll(async () => {
    gateway = await startTestGateway(kind, { SX_MAX_QUERY_BYTES: String(MAX_BODY) });
    // hostile_1 is imported first: it is the default source.
    const a = await uploadCsv(gateway, SOURCE_A, {
      consolidated: csv(
        CONSOLIDATED_HEADER,
        A_IDS.map((id, i) => [id, `a${(i % 2) + 1}`, `author${(i % 2) + 1}`, `Author ${(i % 2) + 1}`, `caption of ${SOURCE_A} ${id}`, `h-${id}`]),
      ),
    });
    expect(a.body.errors).toBeUndefined();
    const b = await uploadCsv(gateway, SOURCE_B, {
      consolidated: csv(
        CONSOLIDATED_HEADER,
        B_IDS.map((id) => [id, 'b1', 'bauthor', 'B Author', `caption of ${SOURCE_B} ${id}`, `h-${id}`]),
      ),
    });
    expect(b.body.errors).toBeUndefined();
    if (kind === 'postgres') namespacesBefore = await namespaces(gateway);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('starts with the two sources, hostile_1 the default', async () => {
    const sources = await request(gateway, 'GET', '/sources');
    expect(sources.status).toBe(200);
    expect(sources.body.sources.map((s: { id: string }) => s.id).sort()).toEqual([SOURCE_A, SOURCE_B]);
    expect(sources.body.default_source_id).toBe(SOURCE_A);
    expect((await itemsOf(gateway, SOURCE_A)).items.map((i: { id: string }) => i.id).sort()).toEqual(A_IDS);
    expect((await itemsOf(gateway, SOURCE_B)).items.map((i: { id: string }) => i.id).sort()).toEqual(B_IDS);
  });

  // ---- 1. hostile source ids ----

  describe('hostile source ids', () => {
    const cases = [...INVALID, ...UNKNOWN];

    it('covers at least 60 ids', () => {
      expect(cases.length).toBeGreaterThanOrEqual(60);
    });

    it.each(cases)('%s: refused in ?source_id= on every route (blank: the default source answers), never 500', async (_name, sourceId) => {
      const expected = expectedFor(sourceId);
      for (const route of SOURCE_ROUTES) {
        const what = `${route.method} ${route.path}?source_id=${JSON.stringify(sourceId)}`;
        const answer = await request(gateway, route.method, withQuery(route.path, 'source_id', sourceId), { json: route.json });
        if (expected === 'ABSENT') {
          // Blank after trimming: no source named, so the default source answers (item x is not in it).
          expectClean(answer, what);
          expect(answer.status, `${what}: ${answer.text.slice(0, 300)}`).toBe(route.absentStatus);
          expect(answer.headers['x-sx-source-id'], what).toBe(SOURCE_A);
          continue;
        }
        expectSelectionRefusal(answer, expected, what);
        // An invalid id is never echoed as the effective source.
        if (expected === 'SOURCE_ID_INVALID') expect(answer.headers['x-sx-source-id'], what).toBeUndefined();
      }
    });

    it.each(cases)('%s: refused in X-SX-Source-ID on every route (blank: the default source answers), never 500', async (_name, sourceId) => {
      const raw = !fetchCanSend(Buffer.from(sourceId, 'utf8').toString('latin1'));
      const seen = headerAsSeen(sourceId);
      for (const route of SOURCE_ROUTES) {
        const what = `${route.method} ${route.path} with X-SX-Source-ID ${JSON.stringify(sourceId)}${raw ? ' (raw bytes)' : ''}`;
        let answer: Answer;
        if (raw) {
          const header = Buffer.concat([Buffer.from('X-SX-Source-ID: ', 'latin1'), Buffer.from(sourceId, 'utf8'), Buffer.from('\r\n', 'latin1')]);
          answer = await rawRequest(gateway, route.method, route.path, header, route.json === undefined ? undefined : JSON.stringify(route.json));
        } else {
          answer = await request(gateway, route.method, route.path, {
            headers: { 'X-SX-Source-ID': Buffer.from(sourceId, 'utf8').toString('latin1') },
            json: route.json,
          });
        }
        expectClean(answer, what);
        // A NUL byte or a bare CR or LF in a header line is refused by the HTTP parser itself, before any route runs.
        if (raw && /\u0000|[^\r]\n|\r[^\n]/.test(sourceId)) {
          expect(answer.status, what).toBe(400);
          expect(answer.headers['x-sx-source-id'], what).toBeUndefined();
          continue;
        }
        // A CR LF inside splits the line: the injected header must not come back.
        expect(answer.headers['x-injected'], what).toBeUndefined();
        const expected = expectedFor(seen);
        if (expected === 'ABSENT') {
          expect(answer.status, `${what}: ${answer.text.slice(0, 300)}`).toBe(route.absentStatus);
          expect(answer.headers['x-sx-source-id'], what).toBe(SOURCE_A);
          continue;
        }
        expectSelectionRefusal(answer, expected, what);
        if (expected === 'SOURCE_ID_INVALID') expect(answer.headers['x-sx-source-id'], what).toBeUndefined();
      }
    });

    it('media routes refuse every hostile or unknown source id with the selection refusal, as the other routes', async () => {
      for (const [, sourceId] of cases) {
        const expected = expectedFor(sourceId);
        for (const path of ['/media/cover/v1', '/media/video/v1']) {
          const viaQuery = await request(gateway, 'GET', withQuery(path, 'source_id', sourceId));
          const what = `GET ${path}?source_id=${JSON.stringify(sourceId)}`;
          if (expected === 'ABSENT') {
            // The default source answers: v1 is there, but no vault is configured.
            expectClean(viaQuery, what);
            expect(viaQuery.status, what).toBe(404);
            continue;
          }
          expectSelectionRefusal(viaQuery, expected, what);
          const latin1 = Buffer.from(sourceId, 'utf8').toString('latin1');
          if (fetchCanSend(latin1) && expectedFor(latin1) !== 'ABSENT') {
            const viaHeader = await request(gateway, 'GET', path, { headers: { 'X-SX-Source-ID': latin1 } });
            expectSelectionRefusal(viaHeader, expectedFor(latin1), `GET ${path} with X-SX-Source-ID ${JSON.stringify(sourceId)}`);
          }
        }
      }
    });

    it("keeps the client's X-Request-ID as the refusal's request_id", async () => {
      const answer = await request(gateway, 'GET', '/items?source_id=a%27b', { headers: { 'X-Request-ID': 'client-request-42' } });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ ok: false, code: 'SOURCE_ID_INVALID', request_id: 'client-request-42' });
      expect(answer.headers['x-sx-request-id']).toBe('client-request-42');
      // A request id that is not plain visible ASCII is replaced by a fresh one.
      const replaced = await request(gateway, 'GET', '/items?source_id=a%27b', { headers: { 'X-Request-ID': 'a b' } });
      expect(replaced.body.request_id).toMatch(/^[0-9a-f]{32}$/);
    });

    it('refuses a source id sent twice in X-SX-Source-ID (joined into a list)', async () => {
      const answer = await rawRequest(gateway, 'GET', '/items', Buffer.from(`X-SX-Source-ID: ${SOURCE_A}\r\nX-SX-Source-ID: ${SOURCE_B}\r\n`, 'latin1'));
      expectSelectionRefusal(answer, 'SOURCE_ID_INVALID', 'two X-SX-Source-ID headers');
    });

    it('never serves a source the request did not name when ?source_id= is given twice', async () => {
      // Two values: refused, or one of the two (the original reads the last), its own rows only.
      const two = await request(gateway, 'GET', `/items?source_id=${SOURCE_B}&source_id=${SOURCE_A}`);
      expectClean(two, 'source_id twice');
      if (two.status === 200) {
        const served = two.headers['x-sx-source-id'];
        expect([SOURCE_A, SOURCE_B]).toContain(served);
        expect(two.body.items.map((i: { id: string }) => i.id).sort()).toEqual(served === SOURCE_A ? A_IDS : B_IDS);
      } else {
        expect(two.status).toBe(422);
        expect(two.body.code).toBe('BAD_USER_INPUT');
      }
      // The same value twice names other_2 all the same: never dropped for the default source (hostile_1).
      const same = await request(gateway, 'GET', `/items?source_id=${SOURCE_B}&source_id=${SOURCE_B}`);
      expectClean(same, 'same source_id twice');
      if (same.status === 200) {
        expect(same.headers['x-sx-source-id']).toBe(SOURCE_B);
        expect(same.body.items.map((i: { id: string }) => i.id).sort()).toEqual(B_IDS);
      } else {
        expect(same.status).toBe(422);
      }
    });

    it('created no source, schema or table', async () => {
      const sources = await request(gateway, 'GET', '/sources');
      expect(sources.status).toBe(200);
      expect(sources.body.sources.map((s: { id: string }) => s.id).sort()).toEqual([SOURCE_A, SOURCE_B]);
      expect((await gateway.store.listSources()).map((s) => s.id).sort()).toEqual([SOURCE_A, SOURCE_B]);
      expect(await storedRows(gateway)).toEqual({ [SOURCE_A]: { meta: [], userNotes: [] }, [SOURCE_B]: { meta: [], userNotes: [] } });
      if (kind === 'postgres') {
        const after = await namespaces(gateway);
        expect(after.schemas).toEqual(namespacesBefore!.schemas);
        expect(after.strayTables).toEqual([]);
        const sourceSchemas = (await gateway.store.listSources()).map((s) => s.schemaName!).sort();
        expect(after.schemas.filter((name) => name.startsWith('sx_')).sort()).toEqual(sourceSchemas);
      }
    });
  });

  // ---- 2. hostile item ids ----

  describe('hostile item ids in the path', () => {
    /** [name, the id as the route should decode it, the path segment sent] */
    const ITEM_IDS: [string, string, string][] = [
      ['path traversal', '../../etc/passwd', encodeURIComponent('../../etc/passwd')],
      ['encoded traversal, literally', '%2e%2e%2f', encodeURIComponent('%2e%2e%2f')],
      ['encoded traversal, decoded by the router', '../', '%2e%2e%2f'],
      ['encoded traversal to a file', '../../etc/passwd', '..%2f..%2fetc%2fpasswd'],
      ['SQL tautology', "' OR '1'='1", encodeURIComponent("' OR '1'='1")],
      ['SQL tautology after a real id', "v1' OR '1'='1", encodeURIComponent("v1' OR '1'='1")],
      ['statement after a semicolon', 'id;DROP TABLE videos', encodeURIComponent('id;DROP TABLE videos')],
      ['comment after a real id', 'v1--', encodeURIComponent('v1--')],
      ['LIKE wildcard', 'v%', encodeURIComponent('v%')],
      ['LIKE single-character wildcard', 'v_', encodeURIComponent('v_')],
      ['NUL alone', '\u0000', '%00'],
      ['NUL after a real id', 'v1\u0000', 'v1%00'],
      ['Cyrillic look-alike of a real id', '\u0475' + '1', encodeURIComponent('\u04751')],
      ['fullwidth digit', 'v\uFF11', encodeURIComponent('v\uFF11')],
      ['emoji', 'v\u{1F600}', encodeURIComponent('v\u{1F600}')],
      ['real id with trailing space', 'v1 ', encodeURIComponent('v1 ')],
      ['real id of the other source', 'o1', 'o1'],
      ['400 characters', 'x'.repeat(400), 'x'.repeat(400)],
      ['600 characters (past the router limit)', 'y'.repeat(600), 'y'.repeat(600)],
      ['malformed percent-encoding', '%E0%A4%A', '%E0%A4%A'],
    ];

    const ITEM_ROUTES: { method: string; suffix: (segment: string) => string; json?: unknown }[] = [
      { method: 'GET', suffix: (s) => `/items/${s}` },
      { method: 'GET', suffix: (s) => `/items/${s}/note` },
      { method: 'GET', suffix: (s) => `/items/${s}/raw` },
      { method: 'GET', suffix: (s) => `/items/${s}/links` },
      { method: 'GET', suffix: (s) => `/media/cover/${s}` },
      { method: 'GET', suffix: (s) => `/media/video/${s}` },
      { method: 'PUT', suffix: (s) => `/items/${s}/meta`, json: { rating: 5, notes: 'pwned', statuses: ['pwned'], author_links: ['https://evil.example'] } },
      { method: 'PUT', suffix: (s) => `/items/${s}/note-md`, json: { markdown: 'pwned note' } },
    ];

    let itemsBefore: Record<string, unknown>;
    let notesBefore: unknown;
    beforeAll(async () => {
      itemsBefore = { [SOURCE_A]: await itemsOf(gateway, SOURCE_A), [SOURCE_B]: await itemsOf(gateway, SOURCE_B) };
      notesBefore = (await request(gateway, 'GET', '/notes?limit=500', { headers: { 'X-SX-Source-ID': SOURCE_A } })).body;
    });

    it.each(ITEM_IDS)('%s: 4xx with a JSON body on every item route, never 500, nothing written', async (_name, decoded, segment) => {
      for (const route of ITEM_ROUTES) {
        const path = route.suffix(segment);
        const what = `${route.method} ${path.slice(0, 120)}`;
        const answer = await request(gateway, route.method, path, { headers: { 'X-SX-Source-ID': SOURCE_A }, json: route.json });
        expectClean(answer, what);
        expect(answer.status, `${what}: ${answer.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        expect(answer.headers['content-type'], what).toMatch(/^application\/json/);
        expect(answer.body, what).toBeTypeOf('object');
        if (decoded.length > 500) {
          // Past the router's parameter limit (maxParamLength 500): "answered 404 by the router" (src/http/app.ts).
          expect(answer.status, `${what}: ${answer.text.slice(0, 200)}`).toBe(404);
          expect(answer.body, what).toMatchObject({ detail: 'Not Found', code: 'NOT_FOUND' });
        } else if (segment === '%E0%A4%A') {
          // A path that does not decode: refused in the REST face's error shape, as every other refusal.
          expect([400, 404], `${what}: ${answer.text.slice(0, 200)}`).toContain(answer.status);
          expect(answer.body, `${what}: ${answer.text.slice(0, 200)}`).toHaveProperty('detail');
          expect(answer.body, `${what}: ${answer.text.slice(0, 200)}`).toHaveProperty('code');
        } else if (decoded.length > 200) {
          // Past the schema's 200 characters: a validation error, or simply unknown.
          expect([404, 422], what).toContain(answer.status);
          if (answer.status === 422) expect(answer.body.detail[0].loc, what).toEqual(['path', 'item_id']);
          else expect(answer.body, what).toMatchObject({ detail: 'Not found', code: 'NOT_FOUND' });
        } else {
          expect(answer.status, `${what}: ${answer.text.slice(0, 300)}`).toBe(404);
          expect(answer.body, what).toMatchObject({ detail: 'Not found', code: 'NOT_FOUND' });
        }
      }
      // Nothing was stored under the id: no meta, no user note (a stored note would be served even without its item).
      if (decoded.length <= 200 && segment !== '%E0%A4%A') {
        const meta = await request(gateway, 'GET', `/items/${segment}/meta`, { headers: { 'X-SX-Source-ID': SOURCE_A } });
        expectClean(meta, 'GET meta');
        if (meta.status === 200) expect(meta.body.meta).toMatchObject({ rating: null, notes: null, statuses: [], author_links: [] });
        const note = await request(gateway, 'GET', `/items/${segment}/note`, { headers: { 'X-SX-Source-ID': SOURCE_A } });
        expect(note.status, note.text).toBe(404);
      }
    });

    it('changed no item, meta or note of either source', async () => {
      expect({ [SOURCE_A]: await itemsOf(gateway, SOURCE_A), [SOURCE_B]: await itemsOf(gateway, SOURCE_B) }).toEqual(itemsBefore);
      expect((await request(gateway, 'GET', '/notes?limit=500', { headers: { 'X-SX-Source-ID': SOURCE_A } })).body).toEqual(notesBefore);
      expect(await storedRows(gateway)).toEqual({ [SOURCE_A]: { meta: [], userNotes: [] }, [SOURCE_B]: { meta: [], userNotes: [] } });
      const stats = await request(gateway, 'GET', '/stats', { headers: { 'X-SX-Source-ID': SOURCE_A } });
      expect(stats.body.counts.items).toBe(A_IDS.length);
    });
  });

  // ---- 3. oversized and malformed input ----

  describe('oversized and malformed input', () => {
    const A = { 'X-SX-Source-ID': SOURCE_A };
    // author_links null clears the links of every item of v1's author (v1, v3, v5), so each test starts without any.
    const KEPT_META = { rating: 4, statuses: ['raw', 'reviewing'], notes: 'keep me', tags: 'one,two', author_links: null };
    const KEPT_NOTE = '# kept note\n\nwritten before the hostile requests';
    let keptMeta: unknown;

    // Each test starts from the same stored meta and note (a test that fails by storing must not fail the next).
    beforeEach(async () => {
      const meta = await request(gateway, 'PUT', '/items/v1/meta', { headers: A, json: KEPT_META });
      expect(meta.status, meta.text).toBe(200);
      const note = await request(gateway, 'PUT', '/items/v1/note-md', { headers: A, json: { markdown: KEPT_NOTE } });
      expect(note.status, note.text).toBe(200);
      keptMeta = await metaOf(gateway, SOURCE_A, 'v1');
      expect(keptMeta, JSON.stringify(keptMeta)).toMatchObject({ rating: 4, statuses: ['raw', 'reviewing'], notes: 'keep me' });
    });

    async function expectKept(): Promise<void> {
      expect(await metaOf(gateway, SOURCE_A, 'v1')).toEqual(keptMeta);
      expect(await noteOf(gateway, SOURCE_A, 'v1')).toBe(KEPT_NOTE);
    }

    it('answers 413 REQUEST_TOO_LARGE to a body past SX_MAX_QUERY_BYTES, and stores nothing of it', async () => {
      const big = [
        ['/items/v1/meta', { rating: 1, notes: 'n'.repeat(MAX_BODY + 100) }],
        ['/items/v1/note-md', { markdown: 'm'.repeat(MAX_BODY + 100) }],
        ['/items/v1/meta', { rating: 1, notes: 'é'.repeat(MAX_BODY / 2 + 100) }],
      ] as const;
      for (const [path, json] of big) {
        const answer = await request(gateway, 'PUT', path, { headers: A, json });
        expectClean(answer, path);
        expect(answer.status, `${path}: ${answer.text}`).toBe(413);
        expect(answer.body).toMatchObject({ code: 'REQUEST_TOO_LARGE' });
        expect(answer.body.detail).toMatch(String(MAX_BODY));
      }
      // Chunked, no Content-Length: counted while read.
      const chunks = JSON.stringify({ markdown: 'c'.repeat(MAX_BODY * 2) });
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          const bytes = Buffer.from(chunks);
          for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(bytes.subarray(i, i + 1000));
          controller.close();
        },
      });
      const chunked = await request(gateway, 'PUT', '/items/v1/note-md', { headers: A, rawBody: stream });
      expect(chunked.status, chunked.text).toBe(413);
      expect(chunked.body).toMatchObject({ code: 'REQUEST_TOO_LARGE' });
      await expectKept();
    });

    it('answers 422 json_invalid to broken JSON', async () => {
      for (const [path, body] of [
        ['/items/v1/meta', '{"rating": 4,'],
        ['/items/v1/meta', "{'rating': 4}"],
        ['/items/v1/note-md', '{"markdown": "unterminated}'],
        ['/items/v1/note-md', 'markdown=plain'],
      ] as const) {
        const answer = await request(gateway, 'PUT', path, { headers: A, rawBody: body });
        expectClean(answer, `${path} ${body}`);
        expect(answer.status, `${path} ${body}: ${answer.text}`).toBe(422);
        expect(answer.body.code).toBe('BAD_USER_INPUT');
        expect(answer.body.detail[0].type).toBe('json_invalid');
        expect(answer.body.detail[0].loc).toEqual(['body']);
      }
      await expectKept();
    });

    it('answers 422 to a JSON array, string, number or null as the body', async () => {
      for (const path of ['/items/v1/meta', '/items/v1/note-md']) {
        for (const body of ['[1,2]', '[]', '"abc"', '42', 'true', 'null']) {
          const answer = await request(gateway, 'PUT', path, { headers: A, rawBody: body });
          expectClean(answer, `${path} ${body}`);
          expect(answer.status, `${path} ${body}: ${answer.text}`).toBe(422);
          expect(answer.body.code, `${path} ${body}`).toBe('BAD_USER_INPUT');
          expect(Array.isArray(answer.body.detail), `${path} ${body}`).toBe(true);
          expect(answer.body.detail[0].loc[0], `${path} ${body}`).toBe('body');
        }
      }
      await expectKept();
    });

    const WRONG_META: [string, Record<string, unknown>, string][] = [
      ['rating 3.5', { rating: 3.5 }, 'rating'],
      ['rating "abc"', { rating: 'abc' }, 'rating'],
      ['rating []', { rating: [] }, 'rating'],
      ['rating {}', { rating: {} }, 'rating'],
      ['statuses [1, 2]', { statuses: [1, 2] }, 'statuses'],
      ['statuses [{a: 1}]', { statuses: [{ a: 1 }] }, 'statuses'],
      ['statuses 7', { statuses: 7 }, 'statuses'],
      ['author_links [true]', { author_links: [true] }, 'author_links'],
      ['notes {$ne: null}', { notes: { $ne: null } }, 'notes'],
      ['tags ["a", "b"]', { tags: ['a', 'b'] }, 'tags'],
      ['status 5', { status: 5 }, 'status'],
    ];

    it.each(WRONG_META)('PUT meta with %s: 422 with loc naming the field, nothing stored', async (_name, json, field) => {
      const answer = await request(gateway, 'PUT', '/items/v1/meta', { headers: A, json });
      const what = `PUT meta ${JSON.stringify(json)}`;
      expectClean(answer, what);
      expect(answer.status, `${what}: ${answer.text}`).toBe(422);
      expect(answer.body.code, what).toBe('BAD_USER_INPUT');
      expect(answer.body.detail[0].loc.slice(0, 2), what).toEqual(['body', field]);
      await expectKept();
      // author_links goes to every item of the author: none of them got it.
      for (const id of ['v3', 'v5']) expect((await metaOf(gateway, SOURCE_A, id)).author_links, id).toEqual([]);
    });

    const WRONG_NOTE: [string, Record<string, unknown>][] = [
      ['markdown 42', { markdown: 42 }],
      ['markdown ["a"]', { markdown: ['a'] }],
      ['markdown null', { markdown: null }],
      ['markdown {}', { markdown: {} }],
      ['no markdown', {}],
      ['only template_version', { template_version: 'user' }],
    ];

    it.each(WRONG_NOTE)('PUT note-md with %s: 422 with loc [body, markdown], nothing stored', async (_name, json) => {
      const answer = await request(gateway, 'PUT', '/items/v1/note-md', { headers: A, json });
      const what = `PUT note-md ${JSON.stringify(json)}`;
      expectClean(answer, what);
      expect(answer.status, `${what}: ${answer.text}`).toBe(422);
      expect(answer.body.code, what).toBe('BAD_USER_INPUT');
      expect(answer.body.detail[0].loc.slice(0, 2), what).toEqual(['body', 'markdown']);
      await expectKept();
    });

    it('refuses a rating outside 0..5 and an empty note with a 4xx, storing nothing', async () => {
      for (const rating of [6, -1, 1e9]) {
        const answer = await request(gateway, 'PUT', '/items/v1/meta', { headers: A, json: { rating } });
        expectClean(answer, `rating ${rating}`);
        expect([400, 422], `rating ${rating}: ${answer.text}`).toContain(answer.status);
      }
      for (const markdown of ['', '\uFEFF', '\uFEFF\uFEFF']) {
        const answer = await request(gateway, 'PUT', '/items/v1/note-md', { headers: A, json: { markdown } });
        expectClean(answer, `markdown ${JSON.stringify(markdown)}`);
        expect(answer.status, answer.text).toBe(400);
        expect(answer.body).toMatchObject({ detail: 'Empty markdown', code: 'BAD_USER_INPUT' });
      }
      await expectKept();
    });

    const NUL_BODIES: [string, string, Record<string, unknown>][] = [
      ['meta notes', '/items/v1/meta', { rating: 2, notes: 'a\u0000b' }],
      ['meta statuses', '/items/v1/meta', { statuses: ['ok', 'x\u0000'] }],
      ['meta author_links', '/items/v1/meta', { author_links: ['https://a.example/\u0000'] }],
      ['note-md markdown', '/items/v1/note-md', { markdown: 'note with \u0000 inside' }],
    ];

    // PostgreSQL text cannot hold U+0000: the GraphQL face refuses it up front in both stores (nulCharacterGuard.ts).
    it.each(NUL_BODIES)('refuses a NUL character in the %s with a 4xx in both stores, never 500, storing nothing', async (_name, path, json) => {
      const answer = await request(gateway, 'PUT', path, { headers: A, json });
      const what = `PUT ${path} ${JSON.stringify(json)}`;
      expectClean(answer, what);
      expect([400, 422], `${what}: ${answer.status} ${answer.text}`).toContain(answer.status);
      expect(answer.body?.code, what).toBe('BAD_USER_INPUT');
      await expectKept();
    });

    it('answers 422 with loc [query, name] to out-of-range or mistyped parameters', async () => {
      const cases: [string, string, string][] = [
        ['/items', 'limit', '0'],
        ['/items', 'limit', '2001'],
        ['/items', 'limit', 'abc'],
        ['/items', 'limit', '1.5'],
        ['/items', 'limit', '-1'],
        ['/items', 'limit', '99999999999999999999'],
        ['/items', 'offset', '-1'],
        ['/items', 'offset', 'abc'],
        ['/items', 'rating_min', '6'],
        ['/items', 'rating_min', '-0.5'],
        ['/items', 'rating_max', 'NaN'],
        ['/items', 'order', 'bogus'],
        ['/items', 'order', "recent; DROP TABLE videos"],
        ['/items', 'bookmarked_only', 'maybe'],
        ['/items', 'has_notes', '2'],
        ['/notes', 'limit', '0'],
        ['/notes', 'limit', '501'],
        ['/notes', 'offset', '-1'],
        ['/notes', 'order', 'bogus'],
        ['/notes', 'force', 'perhaps'],
        ['/authors', 'limit', '2001'],
        ['/authors', 'order', 'bogus'],
        ['/search', 'limit', 'abc'],
      ];
      for (const [path, name, value] of cases) {
        const answer = await request(gateway, 'GET', withQuery(path, name, value), { headers: A });
        const what = `GET ${path}?${name}=${value}`;
        expectClean(answer, what);
        expect(answer.status, `${what}: ${answer.text}`).toBe(422);
        expect(answer.body.code, what).toBe('BAD_USER_INPUT');
        expect(answer.body.detail[0].loc, what).toEqual(['query', name]);
        expect(answer.body.detail[0], what).toHaveProperty('msg');
      }
    });

    it('answers a query with 5,000 comma-separated author ids with 200 or a 4xx, never 500', async () => {
      const ids = Array.from({ length: 5000 }, (_, i) => `id${i}`).join(',');
      for (const name of ['author_id', 'author_unique_id', 'tag']) {
        const answer = await request(gateway, 'GET', withQuery('/items', name, ids), { headers: A });
        expectClean(answer, `${name} x5000`);
        if (answer.status === 200) expect(answer.body.items, `${name} x5000`).toEqual([]);
        // Past Node's 16 KiB header limit (the request line counts): refused by the HTTP layer, before any route.
        else expect([413, 414, 431], `${name} x5000: ${answer.status} ${answer.text.slice(0, 200)}`).toContain(answer.status);
      }
    });

    it('answers a long list that fits in the request line with the right rows', async () => {
      const ids = [...Array.from({ length: 1500 }, (_, i) => `z${i}`), 'a1'].join(',');
      const answer = await request(gateway, 'GET', withQuery('/items?limit=2000', 'author_id', ids), { headers: A });
      expectClean(answer, 'author_id x1501');
      expect(answer.status, answer.text.slice(0, 300)).toBe(200);
      expect(answer.body.items.map((i: { id: string }) => i.id).sort()).toEqual(['v1', 'v3', 'v5']);
      expect(answer.body.total).toBe(3);
    });

    const statuses1000 = [...Array.from({ length: 999 }, (_, i) => `s${i}`), 'reviewing'].join(',');
    const LONG_LISTS: [string, string, string, string[]][] = [
      ['status on /items', '/items?limit=2000', 'status', ['v1']],
      ['status on /notes', '/notes?limit=500', 'status', ['v1']],
      ['tag on /items', '/items?limit=2000', 'tag', ['v1']],
      ['tag on /notes', '/notes?limit=500', 'tag', ['v1']],
      ['author_unique_id on /items', '/items?limit=2000', 'author_unique_id', ['v1', 'v3', 'v5']],
    ];

    it.each(LONG_LISTS)('answers a list of 1,000 values (%s) without a 500: statuses and tags past 100 are refused by name', async (_name, path, name, ids) => {
      const last = name === 'status' ? 'reviewing' : name === 'tag' ? 'one' : 'author1';
      const values = [...Array.from({ length: 999 }, (_, i) => `${name[0]}${i}`), last].join(',');
      const answer = await request(gateway, 'GET', withQuery(path, name, name === 'status' ? statuses1000 : values), { headers: A });
      expectClean(answer, `${path} ${name} x1000`);
      if (name === 'status' || name === 'tag') {
        // Each is a LIKE term of an OR chain (SQLite refuses a tree deeper than 1000): the shared filter check caps them.
        expect(answer.status, answer.text.slice(0, 300)).toBe(400);
        expect(answer.body).toMatchObject({ code: 'BAD_USER_INPUT', detail: `${name === 'status' ? 'statuses' : 'tags'}: at most 100 values, got 1000` });
        return;
      }
      expect(answer.status, answer.text.slice(0, 300)).toBe(200);
      const rows = answer.body.items ?? answer.body.notes;
      expect(rows.map((i: { id: string }) => i.id).sort()).toEqual(ids);
    });

    const NUL_QUERIES = [
      ...['q', 'caption_q', 'author_id', 'author_unique_id', 'status', 'tag', 'bookmark_from'].flatMap((name) =>
        ['/items', '/notes'].map((path) => withQuery(path, name, 'a\u0000b')),
      ),
      '/search?q=a%00b',
      '/authors?q=a%00b',
      '/items/v1/note?pathlinker_group=a%00b',
    ];

    it.each(NUL_QUERIES)('answers GET %s (a NUL in a filter) with 200 matching nothing or a 4xx, never 500', async (path) => {
      const answer = await request(gateway, 'GET', path, { headers: A });
      expectClean(answer, path);
      if (answer.status === 200) {
        if ('total' in answer.body) expect(answer.body.total, path).toBe(0);
        if ('results' in answer.body) expect(answer.body.results, path).toEqual([]);
      } else {
        expect([400, 422], `${path}: ${answer.text}`).toContain(answer.status);
        expect(answer.body?.code, path).toBe('BAD_USER_INPUT');
      }
    });

    it('refuses an X-SX-Profile-Index that is not a base-10 integer, or disagrees, with PROFILE_SOURCE_MISMATCH', async () => {
      for (const header of ['1e3', '0x1', 'abc', '1.0', '1 1', '١', 'NaN', "1' OR '1'='1", '99999999999999999999', '2']) {
        for (const path of ['/items', '/stats', '/items/v1/note']) {
          const answer = await request(gateway, 'GET', path, { headers: { ...A, 'X-SX-Profile-Index': Buffer.from(header).toString('latin1') } });
          expectSelectionRefusal(answer, 'PROFILE_SOURCE_MISMATCH', `${path} with X-SX-Profile-Index ${JSON.stringify(header)}`);
        }
        const write = await request(gateway, 'PUT', '/items/v1/meta', { headers: { ...A, 'X-SX-Profile-Index': Buffer.from(header).toString('latin1') }, json: { rating: 0 } });
        expectSelectionRefusal(write, 'PROFILE_SOURCE_MISMATCH', `PUT meta with X-SX-Profile-Index ${JSON.stringify(header)}`);
      }
      // Values the original accepts: its own index, and anything below 1 (ignored).
      for (const header of ['1', ' 1 ', '+1', '0', '-1']) {
        const answer = await request(gateway, 'GET', '/items', { headers: { ...A, 'X-SX-Profile-Index': header } });
        expect(answer.status, `X-SX-Profile-Index ${JSON.stringify(header)}: ${answer.text.slice(0, 200)}`).toBe(200);
      }
      await expectKept();
    });
  });

  // ---- 4. wrong methods ----

  it('answers a wrong method with 405 and an Allow header listing GET', async () => {
    const metaBefore = await metaOf(gateway, SOURCE_A, 'v1');
    for (const [method, path] of [
      ['DELETE', '/items'],
      ['PATCH', '/notes'],
      ['POST', '/items'],
      ['PUT', '/stats'],
      ['DELETE', '/items/v1'],
      ['POST', '/items/v1/meta'],
      ['DELETE', '/items/v1/note'],
    ] as const) {
      const answer = await request(gateway, method, path, { headers: { 'X-SX-Source-ID': SOURCE_A } });
      expectClean(answer, `${method} ${path}`);
      expect(answer.status, `${method} ${path}: ${answer.text}`).toBe(405);
      expect(answer.headers.allow, `${method} ${path}`).toBeDefined();
      expect(answer.headers.allow!.split(/,\s*/), `${method} ${path}`).toContain('GET');
      expect(answer.headers.allow!.split(/,\s*/), `${method} ${path}`).not.toContain(method);
      expect(answer.body, `${method} ${path}`).toMatchObject({ detail: 'Method Not Allowed' });
    }
    const unknown = await request(gateway, 'GET', '/no/such/route');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ detail: 'Not Found' });
    expect(await metaOf(gateway, SOURCE_A, 'v1')).toEqual(metaBefore);
  });

  // ---- 5. one request, one source ----

  describe('a request naming two sources', () => {
    it('serves only the header source when ?source_id= names another', async () => {
      const items = await request(gateway, 'GET', `/items?limit=2000&source_id=${SOURCE_A}`, { headers: { 'X-SX-Source-ID': SOURCE_B } });
      expect(items.status, items.text).toBe(200);
      expect(items.headers['x-sx-source-id']).toBe(SOURCE_B);
      expect(items.body.items.map((i: { id: string }) => i.id).sort()).toEqual(B_IDS);
      expect(items.body.total).toBe(B_IDS.length);
      for (const item of items.body.items) expect(item.caption).toContain(SOURCE_B);

      const notes = await request(gateway, 'GET', `/notes?limit=500&source_id=${SOURCE_A}`, { headers: { 'X-SX-Source-ID': SOURCE_B } });
      expect(notes.status, notes.text).toBe(200);
      expect(notes.body.notes.map((n: { id: string }) => n.id).sort()).toEqual(B_IDS);
      for (const note of notes.body.notes) expect(note.markdown).not.toContain(SOURCE_A);

      const stats = await request(gateway, 'GET', `/stats?source_id=${SOURCE_A}`, { headers: { 'X-SX-Source-ID': SOURCE_B } });
      expect(stats.body).toMatchObject({ source_id: SOURCE_B, counts: { items: B_IDS.length } });

      const search = await request(gateway, 'GET', `/search?q=caption&source_id=${SOURCE_A}`, { headers: { 'X-SX-Source-ID': SOURCE_B } });
      expect(search.body.results.map((r: { id: string }) => r.id).sort()).toEqual(B_IDS);

      // An item of the query's source is not found through the header's.
      for (const path of ['/items/v1', '/items/v1/raw', '/items/v1/links', '/items/v1/note', '/media/cover/v1']) {
        const answer = await request(gateway, 'GET', `${path}?source_id=${SOURCE_A}`, { headers: { 'X-SX-Source-ID': SOURCE_B } });
        expect(answer.status, `${path}: ${answer.text}`).toBe(404);
        expect(answer.body, path).toMatchObject({ code: 'NOT_FOUND' });
      }
      const foreignMeta = await request(gateway, 'GET', `/items/v1/meta?source_id=${SOURCE_A}`, { headers: { 'X-SX-Source-ID': SOURCE_B } });
      expect(foreignMeta.status).toBe(200);
      expect(foreignMeta.body.meta).toMatchObject({ rating: null, notes: null, statuses: [] });
    });

    it('writes only to the header source: an item of the query source is not found, and left unchanged', async () => {
      const metaBefore = await metaOf(gateway, SOURCE_A, 'v1');
      const noteBefore = await noteOf(gateway, SOURCE_A, 'v1');
      const rowsBefore = await storedRows(gateway);
      const meta = await request(gateway, 'PUT', `/items/v1/meta?source_id=${SOURCE_A}`, {
        headers: { 'X-SX-Source-ID': SOURCE_B },
        json: { rating: 0, notes: 'cross-source write' },
      });
      expect(meta.status, meta.text).toBe(404);
      expect(meta.body).toMatchObject({ detail: 'Not found', code: 'NOT_FOUND' });
      const note = await request(gateway, 'PUT', `/items/v1/note-md?source_id=${SOURCE_A}`, {
        headers: { 'X-SX-Source-ID': SOURCE_B },
        json: { markdown: 'cross-source note' },
      });
      expect(note.status, note.text).toBe(404);
      expect(await metaOf(gateway, SOURCE_A, 'v1')).toEqual(metaBefore);
      expect(await noteOf(gateway, SOURCE_A, 'v1')).toBe(noteBefore);

      // And a write that names the header source's own item lands there only.
      const own = await request(gateway, 'PUT', `/items/o1/meta?source_id=${SOURCE_A}`, { headers: { 'X-SX-Source-ID': SOURCE_B }, json: { rating: 2 } });
      expect(own.status, own.text).toBe(200);
      expect(own.headers['x-sx-source-id']).toBe(SOURCE_B);
      expect((await metaOf(gateway, SOURCE_B, 'o1')).rating).toBe(2);
      const rowsAfter = await storedRows(gateway);
      expect(rowsAfter[SOURCE_A]).toEqual(rowsBefore[SOURCE_A]);
      expect(rowsAfter[SOURCE_B]).toEqual({ meta: [...new Set([...rowsBefore[SOURCE_B]!.meta, 'o1'])].sort(), userNotes: rowsBefore[SOURCE_B]!.userNotes });
    });

    it('applies the profile guard to the header source, not the query one', async () => {
      const answer = await request(gateway, 'GET', `/items?source_id=${SOURCE_A}`, { headers: { 'X-SX-Source-ID': SOURCE_B, 'X-SX-Profile-Index': '1' } });
      expectSelectionRefusal(answer, 'PROFILE_SOURCE_MISMATCH', 'other_2 with profile 1');
      expect(answer.body.detail).toContain(SOURCE_B);
      const ok = await request(gateway, 'GET', `/items?source_id=${SOURCE_A}`, { headers: { 'X-SX-Source-ID': SOURCE_B, 'X-SX-Profile-Index': '2' } });
      expect(ok.status).toBe(200);
      expect(ok.body.items.map((i: { id: string }) => i.id).sort()).toEqual(B_IDS);
    });
  });
});
