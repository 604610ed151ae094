import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import sql from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv } from '../src/import/importCsv.js';
import { insertRow } from '../src/queries/columnLists.js';
import { VIDEO_NOTES } from '../src/tables/sourceTables.js';
import { exportUserDataText, USER_DATA_FORMAT } from '../src/tasks/userData.js';
import { killStartedProcesses, startCli } from './support/cliProcess.js';
import { libraryCsv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, type GraphQLResponse, type TestGateway } from './support/gateway.js';

const TOKEN = 'admin-token-for-the-user-data-tests-42';
const ADMIN = { authorization: `Bearer ${TOKEN}` };

const EXPORT = 'query Export($sourceId: ID!) { userDataExport(sourceId: $sourceId) }';
const RESET = `mutation Reset($sourceId: ID!, $filter: UserDataFilter, $only: [UserDataKind!], $dryRun: Boolean) {
  resetUserData(sourceId: $sourceId, filter: $filter, only: $only, dryRun: $dryRun) { sourceId dryRun kinds matched meta notes cached }
}`;

/** The upload as a client sends it: a GraphQL multipart request with the file as a variable. */
async function uploadUserData(
  gateway: TestGateway,
  sourceId: string,
  text: string,
  skipMissing: boolean,
  headers: Record<string, string> = ADMIN,
): Promise<GraphQLResponse> {
  const query = `mutation Import($sourceId: ID!, $file: File!, $skipMissing: Boolean) {
    importUserData(sourceId: $sourceId, file: $file, skipMissing: $skipMissing) {
      sourceId fromSourceId meta notes skipped { items lines itemIds }
    }
  }`;
  const form = new FormData();
  form.set('operations', JSON.stringify({ query, variables: { sourceId, file: null, skipMissing } }));
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', new File([text], 'user-data.jsonl', { type: 'application/jsonl' }));
  const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'graphql-require-preflight': '1', ...headers }, body: form });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] };
}

/** The file's lines without the header, and the header. */
function split(text: string): { header: Record<string, any>; lines: string[] } {
  const [first, ...rest] = text.split('\n');
  expect(rest.pop()).toBe('');
  return { header: JSON.parse(first!), lines: rest };
}

describe.each(STORE_KINDS)('user data: export, import, reset (%s)', (kind) => {
  let gateway: TestGateway;
  let dir: string;

  const gql = (query: string, variables?: Record<string, unknown>) => gateway.gql(query, variables, ADMIN);
  const exported = async (sourceId: string): Promise<string> => {
    const response = await gql(EXPORT, { sourceId });
    expect(response.body.errors).toBeUndefined();
    return response.body.data.userDataExport as string;
  };
  const reset = async (variables: Record<string, unknown>) => {
    const response = await gql(RESET, variables);
    expect(response.body.errors).toBeUndefined();
    return response.body.data.resetUserData;
  };
  /** Rows of each kind, read straight from the tables. */
  const rows = (sourceId: string) =>
    gateway.store.withTenant(sourceId, async (db) => {
      const row = await db.one<Record<string, number | string>>(sql`
        SELECT (SELECT count(*) FROM user_meta WHERE source_id = ${db.sourceId}) AS meta,
               (SELECT count(*) FROM video_notes WHERE source_id = ${db.sourceId} AND template_version = 'user') AS notes,
               (SELECT count(*) FROM video_notes WHERE source_id = ${db.sourceId} AND template_version <> 'user') AS cached`);
      return { meta: Number(row!.meta), notes: Number(row!.notes), cached: Number(row!.cached) };
    });
  const cacheRender = (sourceId: string, videoId: string) =>
    gateway.store.withTenant(sourceId, (db) =>
      db.run(sql`${insertRow(VIDEO_NOTES, db.sourceId, { video_id: videoId, markdown: `render of ${videoId}`, template_version: 'v1', updated_at: '2024-01-01T00:00:00.000Z' })}`),
    );
  const setMeta = async (sourceId: string, itemId: string, input: Record<string, unknown>) => {
    const response = await gateway.gql(
      'mutation M($sourceId: ID!, $itemId: ID!, $input: ItemMetaInput!) { setItemMeta(sourceId: $sourceId, itemId: $itemId, input: $input) { status } }',
      { sourceId, itemId, input },
    );
    expect(response.body.errors).toBeUndefined();
  };
  const setNote = async (sourceId: string, itemId: string, markdown: string) => {
    const response = await gateway.gql(
      'mutation N($sourceId: ID!, $itemId: ID!, $markdown: String!) { setItemNote(sourceId: $sourceId, itemId: $itemId, markdown: $markdown) { origin } }',
      { sourceId, itemId, markdown },
    );
    expect(response.body.errors).toBeUndefined();
  };
  const cliEnv = (): Record<string, string> =>
    kind === 'sqlite'
      ? { SX_DB_PATH: gateway.databaseUrl }
      : { SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY', SX_POSTGRES_DSN: gateway.databaseUrl };
  const cli = async (args: string[]) => {
    const run = startCli(args, cliEnv());
    const { code } = await run.exited;
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  };

  beforeAll(async () => {
    gateway = await startTestGateway(kind, { SX_ADMIN_TOKEN: TOKEN });
    dir = await mkdtemp(path.join(tmpdir(), 'sx-user-data-'));
    for (const [sourceId, items] of [['ud_a', 6], ['ud_b', 6], ['ud_small', 3], ['ud_c', 6], ['ud_other', 6]] as const) {
      await importCsv(gateway.store, sourceId, { consolidated: () => Readable.from([libraryCsv(sourceId, items)]) }, { create: true });
    }
    // ud_a: meta of several shapes (the author links reach every item of author a1: v1 and v4), notes, a render.
    await setMeta('ud_a', 'v1', { status: 'reviewing', rating: 4, tags: ['nike', 'drop'], notes: 'line one\nline two', authorLinks: ['https://a.example/ü', 'https://b.example/x'] });
    await setMeta('ud_a', 'v2', { statuses: ['raw', 'Client-Review'], productLink: 'https://shop.example/p?q="1"' });
    await setMeta('ud_a', 'v3', { status: 'published', rating: 0, publishedTime: '2024-05-01T10:00:00Z', workflowLog: 'a\tb' });
    await setNote('ud_a', 'v1', '# Mine\n\nWith "quotes", ünïcode and a trailing newline\n');
    await setNote('ud_a', 'v5', 'short');
    await cacheRender('ud_a', 'v2');
    // ud_other holds user data of its own, which nothing here may touch.
    await setMeta('ud_other', 'v1', { status: 'reviewing' });
    await setNote('ud_other', 'v2', 'other note');
    await cacheRender('ud_other', 'v3');
  });
  afterAll(async () => {
    killStartedProcesses();
    await gateway?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exports a header and one line per meta row and user note, in item order, without cached renders', async () => {
    const { header, lines } = split(await exported('ud_a'));
    expect(header).toMatchObject({ format: USER_DATA_FORMAT, version: 1, source_id: 'ud_a', counts: { meta: 4, notes: 2 } });
    expect(Object.keys(header)).toEqual(['format', 'version', 'source_id', 'exported_at', 'counts']);
    expect(Number.isNaN(Date.parse(header.exported_at))).toBe(false);
    const records = lines.map((line) => JSON.parse(line));
    expect(records.map((r) => `${r.kind}:${r.video_id}`)).toEqual(['meta:v1', 'meta:v2', 'meta:v3', 'meta:v4', 'note:v1', 'note:v5']);
    expect(Object.keys(records[0])).toEqual([
      'kind', 'video_id', 'rating', 'status', 'statuses', 'tags', 'notes', 'product_link', 'author_links',
      'platform_targets', 'workflow_log', 'post_url', 'published_time', 'updated_at',
    ]);
    // Values as stored, under the original's column names.
    expect(records[0]).toMatchObject({ rating: 4, status: 'reviewing', statuses: '|reviewing|', notes: 'line one\nline two' });
    expect(records[0].tags).toBe('nike, drop');
    expect(JSON.parse(records[0].author_links)).toEqual(['https://a.example/ü', 'https://b.example/x']);
    expect(records[3]).toMatchObject({ video_id: 'v4', status: null, rating: null });
    expect(records[4]).toEqual({ kind: 'note', video_id: 'v1', markdown: '# Mine\n\nWith "quotes", ünïcode and a trailing newline\n', updated_at: expect.any(String) });
    expect(lines.join('\n')).not.toContain('render of');
  });

  it('round trip: export, import into another source, export again gives the same lines', async () => {
    const first = await exported('ud_a');
    const imported = await uploadUserData(gateway, 'ud_b', first, false);
    expect(imported.body.errors).toBeUndefined();
    expect(imported.body.data.importUserData).toEqual({
      sourceId: 'ud_b', fromSourceId: 'ud_a', meta: 4, notes: 2, skipped: { items: 0, lines: 0, itemIds: [] },
    });
    const second = await exported('ud_b');
    expect(split(second).lines).toEqual(split(first).lines);
    expect(split(second).header).toMatchObject({ source_id: 'ud_b', counts: split(first).header.counts });
    // Importing the same file again changes nothing.
    expect((await uploadUserData(gateway, 'ud_b', first, false)).body.errors).toBeUndefined();
    expect(split(await exported('ud_b')).lines).toEqual(split(first).lines);
    // The item's meta reads back through the API as it was written.
    const read = await gateway.gql('{ source(sourceId: "ud_b") { item(id: "v1") { meta { status statuses tags rating authorLinks notes } } } }');
    expect(read.body.data.source.item.meta).toEqual({
      status: 'reviewing', statuses: ['reviewing'], tags: ['nike', 'drop'], rating: 4, authorLinks: ['https://a.example/ü', 'https://b.example/x'], notes: 'line one\nline two',
    });
  });

  it('refuses a file naming items the source does not have, naming them, and writes nothing', async () => {
    const text = await exported('ud_a');
    const refused = await uploadUserData(gateway, 'ud_small', text, false);
    const error = refused.body.errors?.[0];
    expect(error?.extensions?.code).toBe('USER_DATA_INVALID');
    expect(error?.message).toContain('2 item(s) of the file are not in source ud_small: v4, v5');
    expect(error?.extensions).toMatchObject({ missingCount: 2, missingItemIds: ['v4', 'v5'] });
    expect(await rows('ud_small')).toEqual({ meta: 0, notes: 0, cached: 0 });

    const skipped = await uploadUserData(gateway, 'ud_small', text, true);
    expect(skipped.body.errors).toBeUndefined();
    expect(skipped.body.data.importUserData).toMatchObject({ meta: 3, notes: 1, skipped: { items: 2, lines: 2, itemIds: ['v4', 'v5'] } });
    const records = split(await exported('ud_small')).lines.map((line) => JSON.parse(line));
    expect(records.map((r) => `${r.kind}:${r.video_id}`)).toEqual(['meta:v1', 'meta:v2', 'meta:v3', 'note:v1']);
  });

  it.each([
    ['a line that is not JSON', (lines: string[]) => lines.splice(3, 1, '{"kind":"meta",'), 4, /line 4: not JSON/],
    ['a rating out of range', (lines: string[]) => lines.splice(2, 1, lines[2]!.replace('"rating":null', '"rating":9')), 3, /line 3: rating must be a whole number from 0 to 5/],
    ['an unknown kind', (lines: string[]) => lines.splice(5, 1, '{"kind":"memo","video_id":"v1","updated_at":"x"}'), 6, /line 6: kind must be "meta" or "note"/],
    ['an unknown field', (lines: string[]) => lines.splice(6, 1, lines[6]!.replace('{"kind":"note",', '{"kind":"note","colour":"red",')), 7, /line 7: unknown field "colour"/],
    ['an item twice', (lines: string[]) => lines.splice(4, 1, lines[1]!), 5, /line 5: a second meta line for item v1 \(the first is line 2\)/],
    ['a missing header', (lines: string[]) => lines.splice(0, 1), 1, /line 1: not a user-data file/],
    ['a file cut short', (lines: string[]) => lines.splice(6, 1), 1, /line 1: the header counts 4 meta and 2 note lines, the file holds 4 and 1/],
  ])('refuses %s with its line number and writes nothing', async (_name, damage, line, message) => {
    const lines = (await exported('ud_a')).split('\n');
    damage(lines);
    const response = await uploadUserData(gateway, 'ud_c', lines.join('\n'), true);
    const error = response.body.errors?.[0];
    expect(response.status).toBe(400);
    expect(error?.extensions?.code).toBe('USER_DATA_INVALID');
    expect(error?.extensions?.line).toBe(line);
    expect(error?.message).toMatch(message);
    expect(await rows('ud_c')).toEqual({ meta: 0, notes: 0, cached: 0 });
  });

  it('reset: a dry run counts what a run deletes; only the matched rows go, and only on apply', async () => {
    await cacheRender('ud_b', 'v2');
    await cacheRender('ud_b', 'v6');
    const before = { b: await rows('ud_b'), other: await rows('ud_other'), otherExport: split(await exported('ud_other')).lines };
    expect(before.b).toEqual({ meta: 4, notes: 2, cached: 2 });

    // Statuses as the original: the primary status, or any packed one, case-insensitive: v1 (reviewing) and v2 (client-review).
    const filter = { statuses: ['REVIEWING', 'client-review'] };
    const dry = await reset({ sourceId: 'ud_b', filter });
    expect(dry).toEqual({ sourceId: 'ud_b', dryRun: true, kinds: ['META', 'NOTES', 'CACHED'], matched: 2, meta: 2, notes: 1, cached: 1 });
    expect(await rows('ud_b')).toEqual(before.b);

    const applied = await reset({ sourceId: 'ud_b', filter, dryRun: false });
    expect(applied).toEqual({ ...dry, dryRun: false });
    expect(await rows('ud_b')).toEqual({ meta: 2, notes: 1, cached: 1 });
    const left = split(await exported('ud_b')).lines.map((line) => JSON.parse(line));
    expect(left.map((r) => `${r.kind}:${r.video_id}`)).toEqual(['meta:v3', 'meta:v4', 'note:v5']);

    // Only cached renders, by item: the user's note on v5 stays.
    await cacheRender('ud_b', 'v1');
    const cachedOnly = { sourceId: 'ud_b', filter: { itemIds: ['v1', 'v5', 'v6'] }, only: ['CACHED'] };
    expect(await reset(cachedOnly)).toMatchObject({ matched: 3, meta: 0, notes: 0, cached: 2 });
    expect(await reset({ ...cachedOnly, dryRun: false })).toMatchObject({ dryRun: false, matched: 3, meta: 0, notes: 0, cached: 2 });
    expect(await rows('ud_b')).toEqual({ meta: 2, notes: 1, cached: 0 });

    // "" is the original's unassigned: no status and no list (v4 holds only author links; items without meta count too).
    expect(await reset({ sourceId: 'ud_b', filter: { statuses: [''] }, only: ['META'] })).toMatchObject({ matched: 5, meta: 1 });

    expect(await rows('ud_other')).toEqual(before.other);
    expect(split(await exported('ud_other')).lines).toEqual(before.otherExport);
  });

  it('needs admin rights: export, import and reset refuse another client and change nothing', async () => {
    const before = await rows('ud_a');
    const text = await exported('ud_a');
    const others: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-token-at-all-0000000' }];
    for (const headers of others) {
      const refused = [
        await gateway.gql(RESET, { sourceId: 'ud_a', dryRun: false }, headers),
        await gateway.gql(RESET, { sourceId: 'ud_a' }, headers),
        await gateway.gql(EXPORT, { sourceId: 'ud_a' }, headers),
        await uploadUserData(gateway, 'ud_c', text, false, headers),
      ];
      for (const response of refused) {
        expect(response.status).toBe(403);
        expect(response.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
      }
    }
    expect(await rows('ud_a')).toEqual(before);
    expect(await rows('ud_c')).toEqual({ meta: 0, notes: 0, cached: 0 });
  });

  it('refuses an export larger than the bound, pointing to the command line', async () => {
    await expect(exportUserDataText(gateway.store, 'ud_a', 200)).rejects.toMatchObject({
      code: 'QUERY_LIMIT_EXCEEDED',
      message: expect.stringContaining('sx-gateway user-data export --source ud_a --out FILE'),
    });
  });

  it('CLI: export, import into another source (refused when items are missing), a bad line refused', async () => {
    const file = path.join(dir, `${kind}-a.jsonl`);
    const exportRun = await cli(['user-data', 'export', '--source', 'ud_a', '--out', file, '--json']);
    expect(exportRun.code, exportRun.stderr).toBe(0);
    expect(JSON.parse(exportRun.stdout)).toMatchObject({ sourceId: 'ud_a', counts: { meta: 4, notes: 2 }, file });
    const text = await readFile(file, 'utf8');
    expect(split(text).lines).toEqual(split(await exported('ud_a')).lines);

    const refused = await cli(['user-data', 'import', file, '--source', 'ud_small', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error USER_DATA_INVALID: 2 item(s) of the file are not in source ud_small: v4, v5');
    expect(JSON.parse(refused.stdout).error.code).toBe('USER_DATA_INVALID');

    const importRun = await cli(['user-data', 'import', file, '--source', 'ud_other']);
    expect(importRun.code, importRun.stderr).toBe(0);
    expect(importRun.stdout).toContain('imported into ud_other (exported from ud_a): meta=4 notes=2');

    const broken = path.join(dir, `${kind}-broken.jsonl`);
    await writeFile(broken, text.replace('"kind":"note"', '"kind":"nope"'));
    const brokenRun = await cli(['user-data', 'import', broken, '--source', 'ud_c']);
    expect(brokenRun.code).toBe(1);
    expect(brokenRun.stderr).toMatch(/error USER_DATA_INVALID: line 6: kind must be/);
  });

  it('CLI: reset needs --yes or --dry-run; the dry run reports what --yes deletes', async () => {

    const unconfirmed = await cli(['user-data', 'reset', '--source', 'ud_other']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('--yes');
    const before = await rows('ud_other');
    const dry = await cli(['user-data', 'reset', '--source', 'ud_other', '--status', 'reviewing', '--only', 'meta', '--only', 'notes', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const dryReport = JSON.parse(dry.stdout);
    expect(dryReport).toMatchObject({ sourceId: 'ud_other', dryRun: true, kinds: ['meta', 'notes'], matched: 1, meta: 1, notes: 1, cached: 0 });
    expect(await rows('ud_other')).toEqual(before);
    const applied = await cli(['user-data', 'reset', '--source', 'ud_other', '--status', 'reviewing', '--only', 'meta', '--only', 'notes', '--yes', '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toEqual({ ...dryReport, dryRun: false });
    expect(await rows('ud_other')).toEqual({ ...before, meta: before.meta - 1, notes: before.notes - 1 });
  });
});
