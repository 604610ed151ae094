import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sql from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libraryCsv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

/**
 * The original's note caching (GET /items/{id}/note, GET /notes), rule by rule, in both stores: what is served
 * from the store, what is rendered, and which renders are stored.
 */
const SOURCE = 'notes_1';
const ITEMS = 30;

const NOTE = `query($sourceId: ID!, $id: ID!, $force: Boolean, $group: String) {
  source(sourceId: $sourceId) { item(id: $id) { note(force: $force, pathlinkerGroup: $group) { markdown origin templateVersion mediaMissing } } }
}`;
const SET_NOTE = `mutation($sourceId: ID!, $itemId: ID!, $markdown: String!) { setItemNote(sourceId: $sourceId, itemId: $itemId, markdown: $markdown) { origin } }`;

describe.each(STORE_KINDS)('note caching as the original does it (%s)', (kind) => {
  let gateway: TestGateway;
  let vault: string;

  /** The item's two media files, where libraryCsv's items are looked for (canonical paths, author a1..a3). */
  const createMedia = async (n: number) => {
    const base = path.join(vault, 'data', 'Following', `a${((n - 1) % 3) + 1}`);
    for (const [folder, file] of [['videos', `v${n}.mp4`], ['covers', `v${n}.jpg`]]) {
      await mkdir(path.join(base, folder), { recursive: true });
      await writeFile(path.join(base, folder, file), `v${n}`);
    }
  };
  const note = async (id: string, variables: { force?: boolean; group?: string } = {}) => {
    const response = await gateway.gql(NOTE, { sourceId: SOURCE, id, ...variables });
    expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
    return response.body.data.source.item.note as { markdown: string; origin: string; templateVersion: string; mediaMissing: boolean | null };
  };
  const storedNote = (id: string) =>
    gateway.store.withTenant(SOURCE, (db) =>
      db.one<{ markdown: string; template_version: string }>(sql`
        SELECT markdown, template_version FROM video_notes WHERE source_id = ${SOURCE} AND video_id = ${id}`),
    );

  beforeAll(async () => {
    vault = await mkdtemp(path.join(tmpdir(), 'sx-vault-'));
    gateway = await startTestGateway(kind);
    const imported = await uploadCsv(gateway, SOURCE, { consolidated: libraryCsv(SOURCE, ITEMS) });
    expect(imported.body.errors).toBeUndefined();
    const settings = await gateway.gql(`mutation($input: SourceInput!) { upsertSource(input: $input) { effectiveMediaSettings { vaultRoot dataDir } } }`, {
      input: { sourceId: SOURCE, media: { vaultRoot: vault } },
    });
    expect(settings.body.data.upsertSource.effectiveMediaSettings).toEqual({ vaultRoot: vault, dataDir: 'data' });
    // Media for v1..v20; v21..v30 have none.
    for (let n = 1; n <= 20; n++) await createMedia(n);
  });
  afterAll(async () => {
    await gateway?.close();
    await rm(vault, { recursive: true, force: true });
  });

  it('stores a render whose media exist and serves it as CACHED afterwards', async () => {
    const first = await note('v1');
    expect(first).toMatchObject({ origin: 'RENDERED', templateVersion: 'v1.3', mediaMissing: false });
    expect(await storedNote('v1')).toEqual({ markdown: first.markdown, template_version: 'v1.3' });
    const second = await note('v1');
    expect(second).toMatchObject({ origin: 'CACHED', templateVersion: 'v1.3', markdown: first.markdown });
  });

  it('answers a render whose media are missing, and stores nothing', async () => {
    const missing = await note('v25');
    expect(missing).toMatchObject({ origin: 'RENDERED', mediaMissing: true });
    expect(missing.markdown).toContain('\nmedia_missing: true\n');
    expect(await storedNote('v25')).toBeUndefined();
    expect((await note('v25')).origin).toBe('RENDERED');
  });

  it('renders a stored note of an older template version again, and stores the new one', async () => {
    await note('v2');
    await gateway.store.withTenant(SOURCE, (db) =>
      db.run(sql`UPDATE video_notes SET template_version = 'v1.2', markdown = 'old' WHERE source_id = ${SOURCE} AND video_id = 'v2'`),
    );
    const renewed = await note('v2');
    expect(renewed).toMatchObject({ origin: 'RENDERED', templateVersion: 'v1.3' });
    expect(renewed.markdown).not.toBe('old');
    expect((await storedNote('v2'))?.template_version).toBe('v1.3');
    expect((await note('v2')).origin).toBe('CACHED');
  });

  it('never replaces a user note, unless a forced render with its media present', async () => {
    expect((await gateway.gql(SET_NOTE, { sourceId: SOURCE, itemId: 'v3', markdown: '# mine' })).body.data.setItemNote.origin).toBe('USER');
    expect(await note('v3')).toMatchObject({ origin: 'USER', markdown: '# mine', templateVersion: 'user' });
    // An override render is not stored, so the user note stays.
    expect((await note('v3', { force: true, group: 'g1' })).origin).toBe('RENDERED');
    expect((await storedNote('v3'))?.template_version).toBe('user');
    // Forced, media present, no override: the render replaces it, as in the original.
    const forced = await note('v3', { force: true });
    expect(forced).toMatchObject({ origin: 'RENDERED', mediaMissing: false });
    expect(await storedNote('v3')).toEqual({ markdown: forced.markdown, template_version: 'v1.3' });

    // A user note of an item without media survives a forced render.
    await gateway.gql(SET_NOTE, { sourceId: SOURCE, itemId: 'v26', markdown: '# kept' });
    expect((await note('v26', { force: true })).mediaMissing).toBe(true);
    expect(await note('v26')).toMatchObject({ origin: 'USER', markdown: '# kept' });
  });

  it('renders with a PathLinker group override without storing it, and the stored note is unchanged', async () => {
    const plain = await note('v4');
    expect(plain.origin).toBe('RENDERED');
    const grouped = await note('v4', { group: '/my group!/' });
    // Sanitised as the original does: slashes trimmed, characters outside [A-Za-z0-9._/-] dropped.
    expect(grouped.origin).toBe('RENDERED');
    expect(grouped.markdown).toContain('video_path: group:mygroup/Following/a1/videos/v4.mp4');
    expect((await storedNote('v4'))?.markdown).toBe(plain.markdown);
    expect(await note('v4')).toMatchObject({ origin: 'CACHED', markdown: plain.markdown });
  });

  it('answers a page of notes in a bounded number of statements, and stores its renders in one', async () => {
    const PAGE = `query($sourceId: ID!, $limit: Int, $offset: Int) {
      source(sourceId: $sourceId) { notes(limit: $limit, offset: $offset, order: AUTHOR) { limit offset nodes { id note { origin } } } }
    }`;
    const count = async (limit: number, offset: number) => {
      await gateway.store.withTenant(SOURCE, (db) => db.run(sql`DELETE FROM video_notes WHERE source_id = ${SOURCE} AND template_version <> 'user'`));
      gateway.statements.length = 0;
      const response = await gateway.gql(PAGE, { sourceId: SOURCE, limit, offset });
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data.source.notes.nodes).toHaveLength(limit);
      const sent = gateway.statements.filter((s) => s.sourceId === SOURCE);
      expect(sent.filter((s) => /INSERT INTO video_notes/.test(s.text))).toHaveLength(1);
      return sent.length;
    };
    const many = await count(20, 0);
    const few = await count(3, 0);
    // The page with its meta, the stored notes of the page, and one write of the renders (each in PostgreSQL with
    // its binding's BEGIN and search_path message, and the write's COMMIT).
    expect(many).toBe(few);
    expect(many).toBeLessThanOrEqual(kind === 'postgres' ? 6 : 3);
  });

  it('bounds a page of notes at 500 and pages by offset', async () => {
    const PAGE = `query($sourceId: ID!, $limit: Int, $offset: Int) { source(sourceId: $sourceId) { notes(limit: $limit, offset: $offset) { totalCount nodes { id } } } }`;
    const tooMany = await gateway.gql(PAGE, { sourceId: SOURCE, limit: 501, offset: 0 });
    expect(tooMany.body.errors?.[0]?.extensions?.code).toBe('PAGE_SIZE_TOO_LARGE');
    const seen: string[] = [];
    for (let offset = 0; offset < ITEMS; offset += 7) {
      const page = await gateway.gql(PAGE, { sourceId: SOURCE, limit: 7, offset });
      expect(page.body.data.source.notes.totalCount).toBe(ITEMS);
      seen.push(...page.body.data.source.notes.nodes.map((node: { id: string }) => node.id));
    }
    expect(new Set(seen).size).toBe(ITEMS);
  });

  it('refuses media settings that would leave the vault, and keeps the old ones', async () => {
    const UPSERT = `mutation($input: SourceInput!) { upsertSource(input: $input) { mediaSettings { vaultRoot dataDir } } }`;
    for (const media of [{ vaultRoot: 'relative/vault' }, { dataDir: '../outside' }, { dataDir: '/abs' }, { vaultRootWindows: 'not-windows' }, { groupPrefix: 'bad group!' }]) {
      const refused = await gateway.gql(UPSERT, { input: { sourceId: SOURCE, media } });
      expect(refused.body.errors?.[0]?.extensions?.code, JSON.stringify(media)).toBe('MEDIA_SETTINGS_INVALID');
    }
    const kept = await gateway.gql(`{ sources { id mediaSettings { vaultRoot dataDir groupPrefix } } }`);
    expect(kept.body.data.sources.find((s: { id: string }) => s.id === SOURCE).mediaSettings).toEqual({ vaultRoot: vault, dataDir: null, groupPrefix: null });
  });
});
