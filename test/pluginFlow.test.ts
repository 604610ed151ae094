import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLIDATED_HEADER, csv } from './support/csv.js';
import { startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';
import { corpusFile, corpusLines, createParityVault, originNotes, PARITY_VAULT_ROOT } from './support/originCorpus.js';

/**
 * The Obsidian plugin's main flows, call by call as it makes them, against a live gateway in POSTGRES_PRIMARY:
 * choose and activate a source in the settings, refresh the library table with filters, sync notes in batches,
 * push an edited note and its meta back, read them again, and show a cover (a Range request, as a browser's).
 */
const videos = corpusLines.filter((line) => line.kind === 'video');

describe('the plugin over REST, against POSTGRES_PRIMARY', () => {
  let gateway: TestGateway;
  /** The plugin's settings: the source it works on and the profile index it derives from it. */
  let source = 'assets_1';
  let profileIndex = '1';

  /** apiRequest (main.ts:375): both headers always, ?source_id= appended by apiUrl (main.ts:357). */
  const api = async (route: string, init: { method?: string; body?: unknown } = {}) => {
    const url = `${gateway.url}${route}${route.includes('?') ? '&' : '?'}source_id=${encodeURIComponent(source)}`;
    const response = await fetch(url, {
      method: init.method ?? 'GET',
      headers: {
        'X-SX-Source-ID': source,
        'X-SX-Profile-Index': profileIndex,
        ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    // Obsidian's requestUrl throws on any status ≥ 400; the plugin shows the message.
    const body = (await response.json()) as any;
    if (response.status >= 400) throw new Error(`${response.status} ${JSON.stringify(body)}`);
    return body;
  };

  beforeAll(async () => {
    await createParityVault();
    gateway = await startTestGateway('postgres');
    expect(gateway.store.mode).toBe('POSTGRES_PRIMARY');
    const imported = await uploadCsv(gateway, 'assets_1', {
      consolidated: corpusFile('consolidated.csv'),
      authors: corpusFile('authors.csv'),
      bookmarks: corpusFile('bookmarks.csv'),
    });
    expect(imported.body.errors).toBeUndefined();
    // The operator's `source-settings`: where this source's media live.
    await gateway.store.bootstrapSource({ sourceId: 'assets_1', media: { vaultRoot: PARITY_VAULT_ROOT, dataDir: 'data', pathStyle: 'linux' } });
    // The user's meta, as the plugin pushed it over the years (the corpus's payloads, in order).
    const payloads = JSON.parse(corpusFile('meta.json')) as Record<string, unknown>;
    for (const [id, payload] of Object.entries(payloads)) {
      const response = await fetch(`${gateway.url}/items/${id}/meta?source_id=assets_1`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-SX-Source-ID': 'assets_1', 'X-SX-Profile-Index': '1' },
        body: JSON.stringify(payload),
      });
      expect(response.status).toBe(200);
    }
    const other = csv(CONSOLIDATED_HEADER, [['9100000000000000001', 'z1', 'zed', 'Zed', 'another library', 'hz1']]);
    expect((await uploadCsv(gateway, 'assets_2', { consolidated: other })).body.errors).toBeUndefined();
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('settings: tests the connection, lists the sources, activates one', async () => {
    expect((await api('/health')).ok).toBe(true);
    expect((await api('/stats')).counts.items).toBe(videos.length);
    const { sources, default_source_id } = await api('/sources');
    expect(sources.map((s: { id: string }) => s.id).sort()).toEqual(['assets_1', 'assets_2']);
    expect(default_source_id).toBe('assets_1');
    source = 'assets_2';
    profileIndex = '2';
    expect(await api('/sources/assets_2/activate', { method: 'POST' })).toEqual({ ok: true, default_source_id: 'assets_2' });
    expect((await api('/sources')).default_source_id).toBe('assets_2');
    // Back to the library the rest of the flow works on.
    source = 'assets_1';
    profileIndex = '1';
    await api('/sources/assets_1/activate', { method: 'POST' });
  });

  it('library view: checks the source before a refresh, pages the table with filters, lists authors', async () => {
    const health = await api('/health');
    // libraryView.ts:1476 aborts when the answer names another source.
    expect(health.source_id).toBe(source);
    expect(health.backend.schema).toBe((await gateway.store.resolveSource(source)).schemaName);

    const bookmarked = videos.filter((v) => v.bookmarked === 1);
    const seen: string[] = [];
    for (let offset = 0; ; offset += 25) {
      const page = await api(`/items?q=&limit=25&offset=${offset}&bookmarked_only=true&order=bookmarked`);
      expect(page.total).toBe(bookmarked.length);
      seen.push(...page.items.map((item: { id: string }) => item.id));
      for (const item of page.items) expect(item.bookmarked).toBe(1);
      if (offset + page.items.length >= page.total) break;
    }
    expect(seen.sort()).toEqual(bookmarked.map((v) => v.id as string).sort());

    const byAuthor = await api('/items?q=&limit=100&offset=0&bookmarked_only=false&order=bookmarked&author_unique_id=user_3&caption_q=garden');
    const expected = videos.filter((v) => v.author_unique_id === 'user_3' && typeof v.caption === 'string' && v.caption.toLowerCase().includes('garden'));
    expect(byAuthor.total).toBe(expected.length);

    const { authors } = await api('/authors?limit=2000&offset=0&order=count');
    expect(authors.filter((a: { author_unique_id: string | null }) => a.author_unique_id).length).toBe(10);
  });

  it('sync: fetches every note in batches of the sync size, as the original rendered them', async () => {
    const batch = 60;
    const notes: { id: string; markdown: string }[] = [];
    for (let offset = 0; ; ) {
      const page = await api(`/notes?q=&limit=${batch}&offset=${offset}&bookmarked_only=false&force=true&order=bookmarked`);
      notes.push(...page.notes);
      offset += page.notes.length;
      if (page.notes.length < batch) break;
    }
    expect(notes.length).toBe(videos.length);
    const differing = notes.filter((note) => note.markdown !== originNotes.get(`linux/${note.id}`)).map((note) => note.id);
    expect(differing).toEqual([]);
  });

  it('edit: pushes an edited note and its meta, then reads both back', async () => {
    const id = '7000000000000000027';
    const pulled = await api(`/items/${id}/note`);
    // The user edits a key the plugin owns on the user's side, and the auto-push sends the file and the meta.
    const edited = pulled.markdown.replace(/^---\n/, '---\nrating: 5\nstatus: reviewed\n');
    expect(await api(`/items/${id}/note-md`, { method: 'PUT', body: { markdown: edited, template_version: 'user' } })).toMatchObject({ ok: true, id });
    const meta = {
      rating: 5,
      status: 'reviewed',
      statuses: ['raw', 'reviewed'],
      tags: 'ootd, sneaker',
      notes: 'pinned from the table',
      product_link: null,
      author_links: ['https://www.instagram.com/user_8'],
      platform_targets: null,
      workflow_log: null,
      post_url: null,
      published_time: null,
    };
    const written = await api(`/items/${id}/meta`, { method: 'PUT', body: meta });
    expect(written.meta).toMatchObject({ ...meta, video_id: id, status: 'reviewed' });

    // The pin button reads the note without force: the user's note comes back as pushed.
    expect(await api(`/items/${id}/note`)).toEqual({ id, markdown: edited, cached: true, template_version: 'user', stale: false });
    const row = (await api(`/items?q=${id}&limit=1`)).items[0];
    expect(row.meta).toMatchObject({ rating: 5, status: 'reviewed', statuses: ['raw', 'reviewed'], tags: 'ootd, sneaker', notes: 'pinned from the table' });
    // The links went to every item of the author (the plugin mirrors them into their notes).
    const ofAuthor = await api('/items?limit=100&author_unique_id=user_8');
    for (const item of ofAuthor.items) expect(item.meta.author_links).toEqual(['https://www.instagram.com/user_8']);
    expect((await api('/items?limit=1&status=reviewed&rating_min=5')).total).toBe(1);
  });

  it('thumbnails and preview: a cover by <img src> with only ?source_id, read with a Range request', async () => {
    const id = '7000000000000000001';
    const file = await readFile(path.join(PARITY_VAULT_ROOT, 'data', 'Following/a1/covers', `${id}.jpg`));
    const response = await fetch(`${gateway.url}/media/cover/${id}?source_id=${source}`, { headers: { Range: 'bytes=100-199' } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 100-199/${file.length}`);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(file.subarray(100, 200));
    const links = await api(`/items/${id}/links`);
    expect(links.sxopen_video).toBe(`sxopen:${PARITY_VAULT_ROOT}/data/Following/a1/videos/${id}.mp4`);
  });
});
