import sql from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnNames, USER_META, VIDEOS } from '../src/tables/sourceTables.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';
import { corpusFile, corpusLines, createParityVault, originNotes, PARITY_VAULT_ROOT } from './support/originCorpus.js';

/**
 * A user of the original switches: the corpus's export is imported through the gateway, the plugin's meta payloads
 * are applied through the API, and every stored row, the import counts and every note under both media settings
 * must equal the original's own output (test/fixtures/origin-notes).
 */
const SOURCE = 'evalA';
const stats = corpusLines.find((line) => line.kind === 'stats')!;
const videos = corpusLines.filter((line) => line.kind === 'video');
const metaPayloads = JSON.parse(corpusFile('meta.json')) as Record<string, Record<string, unknown>>;

const SETTINGS = {
  linux: { vaultRoot: PARITY_VAULT_ROOT, vaultRootWindows: '', dataDir: 'data', pathStyle: 'LINUX', groupPrefix: '' },
  'windows-group': { vaultRoot: PARITY_VAULT_ROOT, vaultRootWindows: 'D:\\Vaults\\assets_1', dataDir: 'data', pathStyle: 'WINDOWS', groupPrefix: 'assets_1' },
} as const;

/** A payload as the plugin sends it to PUT /items/{id}/meta, as the GraphQL input that carries the same values. */
function metaInput(payload: Record<string, unknown>): Record<string, unknown> {
  const list = (value: unknown) => (value === undefined || value === null ? value : Array.isArray(value) ? value : [value]);
  return {
    rating: payload.rating,
    status: payload.status,
    statuses: list(payload.statuses),
    // The original accepts a comma list or a JSON array in a string, and stores the text as sent.
    tags: list(payload.tags),
    notes: payload.notes,
    productLink: payload.product_link,
    authorLinks: list(payload.author_links),
    platformTargets: payload.platform_targets,
    workflowLog: payload.workflow_log,
    postUrl: payload.post_url,
    publishedTime: payload.published_time,
  };
}

const NOTE = `query($sourceId: ID!, $id: ID!, $force: Boolean) {
  source(sourceId: $sourceId) { item(id: $id) { note(force: $force) { markdown origin mediaMissing } } }
}`;

describe.each(STORE_KINDS)('parity with the original on its own export (%s)', (kind) => {
  let gateway: TestGateway;

  beforeAll(async () => {
    await createParityVault();
    gateway = await startTestGateway(kind);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const ok = async (query: string, variables: Record<string, unknown>) => {
    const response = await gateway.gql(query, variables);
    expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
    return response.body.data;
  };

  it(`imports the export with the original's counts (${stats.inserted} inserted, ${stats.updated} updated, ${stats.skipped} skipped)`, async () => {
    const imported = await uploadCsv(gateway, SOURCE, {
      consolidated: corpusFile('consolidated.csv'),
      authors: corpusFile('authors.csv'),
      bookmarks: corpusFile('bookmarks.csv'),
    });
    expect(imported.body.errors).toBeUndefined();
    const summary = imported.body.data.importCsv;
    expect({ inserted: summary.inserted, updated: summary.updated, skipped: summary.skipped }).toEqual({
      inserted: stats.inserted,
      updated: stats.updated,
      skipped: stats.skipped,
    });
  });

  it(`applies the plugin's ${Object.keys(metaPayloads).length} meta payloads and stores every row as the original did (${videos.length} items)`, async () => {
    const SET = `mutation($sourceId: ID!, $itemId: ID!, $input: ItemMetaInput!) { setItemMeta(sourceId: $sourceId, itemId: $itemId, input: $input) { rating } }`;
    for (const [itemId, payload] of Object.entries(metaPayloads)) await ok(SET, { sourceId: SOURCE, itemId, input: metaInput(payload) });

    const videoColumns = columnNames(VIDEOS).filter((column) => column !== 'updated_at');
    const metaColumns = columnNames(USER_META).filter((column) => column !== 'video_id' && column !== 'updated_at');
    const stored = await gateway.store.withTenant(SOURCE, (db) =>
      db.all<Record<string, unknown>>(sql`
        SELECT v.*, m.rating, m.status, m.statuses, m.tags, m.notes, m.product_link, m.author_links, m.platform_targets,
               m.workflow_log, m.post_url, m.published_time
          FROM videos v LEFT JOIN user_meta m ON m.source_id = v.source_id AND m.video_id = v.id
         WHERE v.source_id = ${SOURCE}`),
    );
    const byId = new Map(stored.map((row) => [row.id as string, row]));
    expect(stored.length).toBe(videos.length);
    const differences: string[] = [];
    for (const expected of videos) {
      const row = byId.get(expected.id as string);
      if (!row) {
        differences.push(`${expected.id}: missing`);
        continue;
      }
      for (const column of [...videoColumns, ...metaColumns]) {
        const want = expected[column] ?? null;
        const got = row[column] ?? null;
        if (want !== got) differences.push(`${expected.id}.${column}: ${JSON.stringify(got)}, the original stored ${JSON.stringify(want)}`);
      }
    }
    expect(differences).toEqual([]);
  });

  for (const [config, settings] of Object.entries(SETTINGS)) {
    it(`renders every note as the original did under the ${config} settings, byte for byte`, async () => {
      await ok(`mutation($input: SourceInput!) { upsertSource(input: $input) { id } }`, { input: { sourceId: SOURCE, media: settings } });
      const differences: string[] = [];
      for (const video of videos) {
        const id = video.id as string;
        // A settings change leaves notes stored under the old ones: the first read forces a render.
        const { source } = await ok(NOTE, { sourceId: SOURCE, id, force: true });
        const expected = originNotes.get(`${config}/${id}`);
        if (source.item.note.markdown !== expected) differences.push(id);
      }
      expect(differences.length, `first differing note: ${differences[0]}`).toBe(0);
    });
  }

  it('serves the stored renders of the last settings as CACHED, and those with missing media are rendered again', async () => {
    let cached = 0;
    let missing = 0;
    for (const video of videos) {
      const { source } = await ok(NOTE, { sourceId: SOURCE, id: video.id });
      expect(source.item.note.markdown).toBe(originNotes.get(`windows-group/${video.id}`));
      if (source.item.note.origin === 'CACHED') cached += 1;
      else if (source.item.note.origin === 'RENDERED' && source.item.note.mediaMissing) missing += 1;
    }
    expect(missing).toBeGreaterThan(0);
    expect(cached + missing).toBe(videos.length);
  });
});
