import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';
import { corpusFile, corpusLines, createParityVault, originNotes, PARITY_VAULT_ROOT } from './support/originCorpus.js';

/**
 * The original's REST routes, each called as the Obsidian plugin calls it (its headers, query and body), with the
 * answer compared field by field with the original's shapes (origin-rest.md) and, where the fixture has them,
 * with the original's own values: the corpus's export, its meta payloads sent with PUT /items/{id}/meta, every
 * stored row and every note. Both stores; `postgres` is POSTGRES_PRIMARY, with the media settings stored on the
 * source (as `source-settings` stores them), not taken from the environment.
 */
const SOURCE = 'evalA';
const videos = corpusLines.filter((line) => line.kind === 'video');
const metaPayloads = JSON.parse(corpusFile('meta.json')) as Record<string, Record<string, unknown>>;
const LINUX = { vaultRoot: PARITY_VAULT_ROOT, vaultRootWindows: null, dataDir: 'data', pathStyle: 'linux', groupPrefix: null } as const;
const WINDOWS_GROUP = { vaultRoot: PARITY_VAULT_ROOT, vaultRootWindows: 'D:\\Vaults\\assets_1', dataDir: 'data', pathStyle: 'windows', groupPrefix: 'assets_1' } as const;

/** What the plugin sends with every apiRequest (main.ts:375): the source twice, and its profile index (≥ 1). */
const pluginHeaders = (sourceId = SOURCE, profileIndex = '1') => ({ 'X-SX-Source-ID': sourceId, 'X-SX-Profile-Index': profileIndex });

const canonicalPaths = (video: Record<string, unknown>) => {
  const base = video.bookmarked ? 'Favorites' : video.author_id ? `Following/${video.author_id}` : 'Following';
  return {
    video: (video.video_path as string | null) || `${base}/videos/${video.id}.mp4`,
    cover: (video.cover_path as string | null) || `${base}/covers/${video.id}.jpg`,
  };
};
const unpackStatuses = (packed: unknown) => (typeof packed === 'string' ? packed.split('|').filter(Boolean) : []);

describe.each(STORE_KINDS)('REST contract: the plugin on the gateway (%s)', (kind) => {
  let gateway: TestGateway;

  const call = async (route: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) => {
    const headers: Record<string, string> = { ...pluginHeaders(), ...init.headers };
    let body: string | undefined;
    if (init.body !== undefined) {
      body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
      headers['Content-Type'] = 'application/json';
    }
    const separator = route.includes('?') ? '&' : '?';
    // apiUrl (main.ts:357) appends ?source_id= unless the caller passed one.
    const url = route.includes('source_id=') ? route : `${route}${separator}source_id=${headers['X-SX-Source-ID'] ?? SOURCE}`;
    const response = await fetch(`${gateway.url}${url}`, { method: init.method ?? 'GET', headers, body });
    const text = await response.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, headers: response.headers, json };
  };
  const ok = async (route: string, init?: Parameters<typeof call>[1]) => {
    const answer = await call(route, init);
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    return answer.json;
  };

  beforeAll(async () => {
    await createParityVault();
    gateway = await startTestGateway(kind);
    const imported = await uploadCsv(gateway, SOURCE, {
      consolidated: corpusFile('consolidated.csv'),
      authors: corpusFile('authors.csv'),
      bookmarks: corpusFile('bookmarks.csv'),
    });
    expect(imported.body.errors).toBeUndefined();
    // The media settings live on the source, as `sx-gateway source-settings` writes them.
    await gateway.store.bootstrapSource({ sourceId: SOURCE, media: LINUX });
    // A second, empty source for the selection and sources routes.
    await gateway.store.bootstrapSource({ sourceId: 'assets_2' });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  describe('source selection and common answers', () => {
    it('stamps the original headers: X-SX-Source-ID, X-SX-Backend and a 32-hex X-SX-Request-ID', async () => {
      const answer = await call('/stats');
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-sx-source-id')).toBe(SOURCE);
      expect(answer.headers.get('x-sx-backend')).toBe(kind === 'sqlite' ? 'sqlite' : 'postgres_primary');
      expect(answer.headers.get('x-sx-request-id')).toMatch(/^[0-9a-f]{32}$/);
    });

    it('takes the header over ?source_id, and ?source_id alone when there is no header', async () => {
      const byHeader = await call(`/items?limit=1&source_id=assets_2`, { headers: pluginHeaders(SOURCE) });
      expect(byHeader.json.total).toBe(videos.length);
      const byQuery = await fetch(`${gateway.url}/items?limit=1&source_id=assets_2`);
      expect(((await byQuery.json()) as { total: number }).total).toBe(0);
      expect(byQuery.headers.get('x-sx-source-id')).toBe('assets_2');
    });

    it('serves the default source to a request that names none (the video preview by id does that)', async () => {
      const response = await fetch(`${gateway.url}/items?limit=1`);
      expect(response.status).toBe(200);
      // evalA was created first, so it is the default.
      expect(response.headers.get('x-sx-source-id')).toBe(SOURCE);
    });

    it('refuses an invalid source id instead of stripping it, with the selection layer shape', async () => {
      const answer = await call('/items?source_id=as%24%24sets_1', { headers: { 'X-SX-Source-ID': 'as$$sets_1' } });
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ ok: false, code: 'SOURCE_ID_INVALID' });
      expect(answer.json.detail).toContain('as$$sets_1');
      expect(answer.json.request_id).toMatch(/^[0-9a-f]{32}$/);
    });

    it('refuses an unknown source with 400 and does not register it', async () => {
      const answer = await call('/items', { headers: pluginHeaders('nobody_3', '3') });
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ ok: false, code: 'SOURCE_NOT_MAPPED' });
      const sources = await ok('/sources');
      expect(sources.sources.map((s: { id: string }) => s.id)).not.toContain('nobody_3');
    });

    it("answers a profile mismatch in the original's words, and lets a source without an index pass", async () => {
      const answer = await call('/items?limit=1', { headers: pluginHeaders('assets_2', '1') });
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({
        ok: false,
        code: 'PROFILE_SOURCE_MISMATCH',
        detail: 'Profile/source mismatch: X-SX-Profile-Index=1 but source_id=assets_2 implies profile #2',
      });
      expect((await call('/items?limit=1', { headers: pluginHeaders('assets_2', '2') })).status).toBe(200);
      // evalA carries no index: the plugin's default index 1 is accepted.
      expect((await call('/items?limit=1', { headers: pluginHeaders(SOURCE, '1') })).status).toBe(200);
      const invalid = await call('/items?limit=1', { headers: { 'X-SX-Profile-Index': 'one' } });
      expect(invalid.status).toBe(400);
      expect(invalid.json.detail).toContain('Invalid X-SX-Profile-Index header');
    });

    it('answers an unknown path 404 "Not Found" and a known path with another method 405 with Allow', async () => {
      const missing = await call('/nothing/here');
      expect(missing.status).toBe(404);
      expect(missing.json).toEqual({ detail: 'Not Found', code: 'NOT_FOUND' });
      const wrong = await call('/items', { method: 'DELETE' });
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get('allow')).toBe('GET, HEAD');
      expect(wrong.json).toEqual({ detail: 'Method Not Allowed', code: 'METHOD_NOT_ALLOWED' });
    });

    it("allows the Obsidian app's origin (CORS), and no other by default", async () => {
      const preflight = await fetch(`${gateway.url}/items/1/meta?source_id=${SOURCE}`, {
        method: 'OPTIONS',
        headers: { Origin: 'app://obsidian.md', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type,x-sx-source-id' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('app://obsidian.md');
      expect(preflight.headers.get('access-control-allow-methods')).toContain('PUT');
      const simple = await fetch(`${gateway.url}/health?source_id=${SOURCE}`, { headers: { Origin: 'app://obsidian.md' } });
      expect(simple.headers.get('access-control-allow-origin')).toBe('app://obsidian.md');
      expect(simple.headers.get('access-control-expose-headers')).toContain('X-SX-Source-ID');
      const stranger = await fetch(`${gateway.url}/health?source_id=${SOURCE}`, { headers: { Origin: 'https://evil.example' } });
      expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
      const graphql = await fetch(`${gateway.url}/graphql`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
      });
      expect(graphql.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  describe('4.1 GET /health, 4.2 GET /stats', () => {
    it("answers the gateway's probe and the original's fields together", async () => {
      const health = await ok('/health');
      expect(health).toMatchObject({
        ok: true,
        source_id: SOURCE,
        profile_index: null,
        api_version: '1.0.0',
        env_hint: kind === 'sqlite' ? 'SQLITE' : 'POSTGRES_PRIMARY',
        status: 'ok',
        database: { reachable: true },
      });
      expect(typeof health.db_path).toBe('string');
      expect(health.backend).toMatchObject({ backend: kind === 'sqlite' ? 'sqlite' : 'postgres_primary', active: kind !== 'sqlite', source_id: SOURCE });
      // libraryView.ts:691 and :1476 read backend.schema.
      if (kind === 'sqlite') expect(health.backend.schema).toBeNull();
      else expect(health.backend.schema).toBe((await gateway.store.resolveSource(SOURCE)).schemaName);
      expect((await ok('/health', { headers: pluginHeaders('assets_2', '2') })).profile_index).toBe(2);
    });

    it('counts the source as the original does', async () => {
      const stats = await ok('/stats');
      expect(stats).toMatchObject({
        source_id: SOURCE,
        source_mode: 'single-db',
        counts: { items: videos.length, bookmarked: videos.filter((v) => v.bookmarked === 1).length, authors: 10 },
      });
      expect(Object.keys(stats).sort()).toEqual(['backend', 'counts', 'db_path', 'fts_enabled', 'has_fts_table', 'last_updated_at', 'source_id', 'source_mode']);
      expect(typeof stats.last_updated_at).toBe('string');
    });
  });

  describe('4.9 PUT /items/{id}/meta, 4.4 GET /items', () => {
    it("takes the plugin's meta payloads and answers the original's example exactly", async () => {
      for (const [itemId, payload] of Object.entries(metaPayloads)) await ok(`/items/${itemId}/meta`, { method: 'PUT', body: payload });
      const example = await ok('/items/7000000000000000003/meta', {
        method: 'PUT',
        body: { rating: 4, statuses: ['scheduled', 'raw', 'raw', ' '], tags: 'nike, drop', author_links: 'https://a.example/x, https://b.example/y\nhttps://a.example/x' },
      });
      expect(example.meta).toMatchObject({
        video_id: '7000000000000000003',
        rating: 4,
        status: 'scheduled',
        statuses: ['scheduled', 'raw'],
        tags: 'nike, drop',
        notes: null,
        product_link: null,
        author_links: ['https://a.example/x', 'https://b.example/y'],
        platform_targets: null,
        workflow_log: null,
        post_url: null,
        published_time: null,
      });
      expect(Object.keys(example.meta)).toEqual(['video_id', 'rating', 'status', 'statuses', 'tags', 'notes', 'product_link', 'author_links', 'platform_targets', 'workflow_log', 'post_url', 'published_time', 'updated_at']);
      // The links went to every item of the author (user_2: 26 items); then null clears them all, as in the original.
      const ofAuthor = await ok('/items?limit=2000&author_unique_id=user_2');
      expect(ofAuthor.total).toBe(26);
      for (const item of ofAuthor.items) expect(item.meta.author_links).toEqual(['https://a.example/x', 'https://b.example/y']);
      await ok('/items/7000000000000000003/meta', { method: 'PUT', body: { ...metaPayloads['7000000000000000003'], author_links: null } });
      for (const item of (await ok('/items?limit=2000&author_unique_id=user_2')).items) expect(item.meta.author_links).toEqual([]);
    });

    it("lists every item with the original's stored values, page by page (limit/offset), each once", async () => {
      // The plugin's meta payloads again, in their order, as the last word after the example above (its links
      // went to every item of the author, and were cleared there).
      for (const [itemId, payload] of Object.entries(metaPayloads)) await ok(`/items/${itemId}/meta`, { method: 'PUT', body: payload });
      const seen = new Map<string, any>();
      for (let offset = 0; ; offset += 50) {
        const page = await ok(`/items?limit=50&offset=${offset}&order=bookmarked&bookmarked_only=false&q=`);
        expect(page).toMatchObject({ limit: 50, offset, total: videos.length });
        for (const item of page.items) {
          expect(seen.has(item.id), `${item.id} listed twice`).toBe(false);
          seen.set(item.id, item);
        }
        if (offset + page.items.length >= page.total) break;
      }
      expect(seen.size).toBe(videos.length);
      const differences: string[] = [];
      for (const video of videos) {
        const item = seen.get(video.id as string);
        expect(Object.keys(item)).toEqual(['id', 'platform', 'author_id', 'author_unique_id', 'author_name', 'caption', 'bookmarked', 'video_path', 'cover_path', 'updated_at', 'meta']);
        const paths = canonicalPaths(video);
        const expected: Record<string, unknown> = {
          platform: video.platform,
          author_id: video.author_id,
          author_unique_id: video.author_unique_id,
          author_name: video.author_name,
          caption: video.caption,
          bookmarked: video.bookmarked,
          video_path: paths.video,
          cover_path: paths.cover,
          'meta.rating': video.rating,
          'meta.tags': video.tags,
          'meta.notes': video.notes,
          'meta.product_link': video.product_link,
          'meta.platform_targets': video.platform_targets,
          'meta.workflow_log': video.workflow_log,
          'meta.post_url': video.post_url,
          'meta.published_time': video.published_time,
          'meta.author_links': video.author_links ? JSON.parse(video.author_links as string) : [],
          'meta.statuses': unpackStatuses(video.statuses).length ? unpackStatuses(video.statuses) : video.status ? [video.status] : [],
          'meta.status': video.status,
        };
        for (const [field, want] of Object.entries(expected)) {
          const got = field.startsWith('meta.') ? item.meta[field.slice(5)] : item[field];
          if (JSON.stringify(got ?? null) !== JSON.stringify(want ?? null)) differences.push(`${video.id}.${field}: ${JSON.stringify(got)} ≠ ${JSON.stringify(want)}`);
        }
      }
      expect(differences).toEqual([]);
    });

    it("filters as the original's observed answers on this export", async () => {
      expect((await ok('/items?limit=1&caption_q=garden%20-tokyo')).total).toBe(51);
      expect((await ok('/items?limit=1&caption_q=%22tokyo%20garden%22')).total).toBe(2);
      expect((await ok('/items?limit=1&bookmarked_only=true')).total).toBe(videos.filter((v) => v.bookmarked === 1).length);
      const unassigned = videos.filter((v) => !v.status && !v.statuses).length;
      expect((await ok('/items?limit=1&status=')).total).toBe(unassigned);
      const archived = videos.filter((v) => v.status === 'archived' || unpackStatuses(v.statuses).includes('archived')).length;
      expect((await ok('/items?limit=1&status=archived')).total).toBe(archived);
      expect((await ok('/items?limit=1&status=archived,')).total).toBe(archived + unassigned);
      const rated = videos.filter((v) => typeof v.rating === 'number' && (v.rating as number) >= 3).length;
      expect((await ok('/items?limit=1&rating_min=3')).total).toBe(rated);
      expect((await ok('/items?limit=1&has_notes=true')).total).toBe(videos.filter((v) => typeof v.notes === 'string' && v.notes.trim() !== '').length);
      // Stored "nike, drop": each tag is matched whole.
      const tagged = videos.filter((v) => typeof v.tags === 'string' && v.tags.split(',').map((t) => t.trim().toLowerCase()).includes('drop')).length;
      expect(tagged).toBeGreaterThan(0);
      expect((await ok('/items?limit=1&tag=drop')).total).toBe(tagged);
      const handles = await ok('/items?limit=2000&author_unique_id=user_1,user_2');
      expect(handles.total).toBe(videos.filter((v) => v.author_unique_id === 'user_1' || v.author_unique_id === 'user_2').length);
      // An offset past the end: no items, the real total.
      expect(await ok('/items?limit=10&offset=5000')).toEqual({ items: [], limit: 10, offset: 5000, total: videos.length });
      // A date the original cannot read matches nothing.
      expect((await ok('/items?limit=1&bookmark_from=yesterday')).total).toBe(0);
    });

    it('refuses parameters out of bounds with 422 and the location of each', async () => {
      for (const [query, name] of [
        ['limit=2001', 'limit'],
        ['limit=0', 'limit'],
        ['offset=-1', 'offset'],
        ['order=newest', 'order'],
        ['rating_min=6', 'rating_min'],
        ['bookmarked_only=maybe', 'bookmarked_only'],
      ]) {
        const answer = await call(`/items?${query}`);
        expect(answer.status, query).toBe(422);
        expect(answer.json.code).toBe('BAD_USER_INPUT');
        expect(answer.json.detail[0].loc).toEqual(['query', name]);
      }
      const badRating = await call('/items/7000000000000000001/meta', { method: 'PUT', body: { rating: 3.5 } });
      expect(badRating.status).toBe(422);
      expect(badRating.json.detail[0].loc).toEqual(['body', 'rating']);
      expect((await call('/items/7000000000000000001/meta', { method: 'PUT', body: '[1]' })).status).toBe(422);
      expect((await call('/items/7000000000000000001/meta', { method: 'PUT', body: '{broken' })).json.detail[0].type).toBe('json_invalid');
      const unknown = await call('/items/7999999999999999999/meta', { method: 'PUT', body: { rating: 1 } });
      expect(unknown.status).toBe(404);
      expect(unknown.json.detail).toBe('Not found');
    });
  });

  describe('4.3 GET /search, 4.5 GET /authors', () => {
    it("finds by substring, bookmarked first, in the original's result shape", async () => {
      const found = await ok('/search?q=garden&limit=50&offset=0');
      expect(found.limit).toBe(50);
      expect(found.offset).toBe(0);
      const matching = videos.filter((v) => [v.caption, v.author_unique_id, v.author_name, v.id].some((f) => typeof f === 'string' && f.toLowerCase().includes('garden')));
      expect(found.results.length).toBe(Math.min(50, matching.length));
      for (const result of found.results) expect(Object.keys(result)).toEqual(['id', 'author_unique_id', 'author_name', 'snippet', 'bookmarked']);
      const flags = found.results.map((r: { bookmarked: number }) => r.bookmarked);
      expect(flags).toEqual([...flags].sort((a, b) => b - a));
      const captions = new Map(videos.map((v) => [v.id, v.caption as string | null]));
      for (const result of found.results) {
        const caption = captions.get(result.id) ?? null;
        expect(result.snippet).toBe(caption === null ? null : [...caption].slice(0, 160).join(''));
      }
      // A stray quote is not an error.
      expect((await ok('/search?q=%22unterminated')).results).toEqual([]);
      expect((await ok('/search?q=&limit=-1')).results.length).toBe(videos.length);
    });

    it('groups authors with their counts, most items first', async () => {
      const authors = await ok('/authors?limit=2000&offset=0&order=count');
      expect(authors).toMatchObject({ limit: 2000, offset: 0, total: 10 });
      expect(authors.authors[0]).toEqual({ author_id: 'a2', author_unique_id: 'user_2', author_name: 'Nick 2 travel', items_count: 26, bookmarked_count: 10 });
      expect((await call('/authors?order=alphabet')).status).toBe(422);
    });
  });

  describe('4.6 GET /notes, 4.7 GET /items/{id}/note, 4.8 PUT /items/{id}/note-md', () => {
    it("pages every note as the plugin's sync does, each equal to the original's, byte for byte", async () => {
      const notes = new Map<string, any>();
      for (let offset = 0; ; ) {
        const page = await ok(`/notes?limit=80&offset=${offset}&force=true&order=bookmarked`);
        expect(page).toMatchObject({ limit: 80, offset, total: videos.length });
        for (const note of page.notes) notes.set(note.id, note);
        offset += page.notes.length;
        // The plugin stops on an empty or short page.
        if (page.notes.length < 80) break;
      }
      expect(notes.size).toBe(videos.length);
      const differing = videos.filter((v) => notes.get(v.id as string)?.markdown !== originNotes.get(`linux/${v.id}`));
      expect(differing.map((v) => v.id)).toEqual([]);
      const sample = notes.get('7000000000000000027');
      expect(Object.keys(sample)).toEqual(['id', 'bookmarked', 'author_unique_id', 'author_name', 'markdown']);
      expect(sample.bookmarked).toBe(true);
      expect((await call('/notes?limit=501')).status).toBe(422);
    });

    it('serves one note, with the Windows settings and the PathLinker group of the source', async () => {
      await gateway.store.bootstrapSource({ sourceId: SOURCE, media: WINDOWS_GROUP });
      try {
        const note = await ok('/items/7000000000000000007/note?force=true');
        expect(note).toEqual({ id: '7000000000000000007', markdown: originNotes.get('windows-group/7000000000000000007'), cached: false, template_version: 'v1.3', stale: false });
        const links = await ok('/items/7000000000000000007/links');
        expect(links).toEqual({
          id: '7000000000000000007',
          video_path: 'Following/a7/videos/7000000000000000007.mp4',
          cover_path: 'Following/a7/covers/7000000000000000007.jpg',
          video_abs: 'D:\\Vaults\\assets_1\\data\\Following\\a7\\videos\\7000000000000000007.mp4',
          cover_abs: 'D:\\Vaults\\assets_1\\data\\Following\\a7\\covers\\7000000000000000007.jpg',
          sxopen_video: 'sxopen:D:\\Vaults\\assets_1\\data\\Following\\a7\\videos\\7000000000000000007.mp4',
          sxreveal_video: 'sxreveal:D:\\Vaults\\assets_1\\data\\Following\\a7\\videos\\7000000000000000007.mp4',
          sxopen_cover: 'sxopen:D:\\Vaults\\assets_1\\data\\Following\\a7\\covers\\7000000000000000007.jpg',
          sxreveal_cover: 'sxreveal:D:\\Vaults\\assets_1\\data\\Following\\a7\\covers\\7000000000000000007.jpg',
        });
      } finally {
        await gateway.store.bootstrapSource({ sourceId: SOURCE, media: LINUX });
      }
    });

    it('stores a pushed note as the user\'s, serves it unforced, and refuses empty or unknown ones', async () => {
      const id = '7000000000000000011';
      const pushed = await ok(`/items/${id}/note-md`, { method: 'PUT', body: { markdown: '\uFEFF# my note\n', template_version: 'user' } });
      expect(pushed).toMatchObject({ ok: true, id, template_version: 'user' });
      expect(typeof pushed.updated_at).toBe('string');
      const served = await ok(`/items/${id}/note`);
      expect(served).toEqual({ id, markdown: '# my note\n', cached: true, template_version: 'user', stale: false });
      // force=true, the plugin's default, renders over it (the media exist), as the original does.
      const forced = await ok(`/items/${id}/note?force=true`);
      expect(forced.markdown).toBe(originNotes.get(`linux/${id}`));
      const empty = await call(`/items/${id}/note-md`, { method: 'PUT', body: { markdown: '\uFEFF' } });
      expect(empty.status).toBe(400);
      expect(empty.json).toEqual({ detail: 'Empty markdown', code: 'BAD_USER_INPUT' });
      expect((await call(`/items/${id}/note-md`, { method: 'PUT', body: { template_version: 'user' } })).status).toBe(422);
      const unknown = await call('/items/7999999999999999999/note-md', { method: 'PUT', body: { markdown: 'x' } });
      expect(unknown.status).toBe(404);
      const missing = await call('/items/7999999999999999999/note');
      expect(missing.status).toBe(404);
      // libraryView.ts:1577 deletes the vault note on "404" or "Not found".
      expect(missing.json.detail).toBe('Not found');
    });
  });

  describe('other item routes: GET /items/{id}, /meta, /raw', () => {
    it('answers the stored row, the meta with video_id, and the CSV rows as JSON text', async () => {
      const video = videos.find((v) => v.id === '7000000000000000001')!;
      const { item } = await ok('/items/7000000000000000001');
      for (const column of ['source_id', 'id', 'platform', 'author_id', 'author_unique_id', 'author_name', 'followers', 'hearts', 'videos_count', 'signature', 'is_private', 'caption', 'bookmarked', 'bookmark_timestamp', 'video_path', 'cover_path', 'csv_row_hash']) {
        expect(item[column], column).toEqual(video[column] ?? null);
      }
      const meta = await ok('/items/7000000000000000002/meta');
      expect(meta.meta.video_id).toBe('7000000000000000002');
      expect((await ok('/items/7999999999999999999/meta')).meta).toMatchObject({ video_id: '7999999999999999999', rating: null, statuses: [], author_links: [] });
      const raw = await ok('/items/7000000000000000001/raw');
      expect(raw.id).toBe('7000000000000000001');
      expect(typeof raw.raw.consolidated.row_json).toBe('string');
      expect(JSON.parse(raw.raw.consolidated.row_json).c_videos_id).toBe('7000000000000000001');
      expect(raw.raw.consolidated.csv_row_hash).toBe(video.csv_row_hash);
      expect((await call('/items/7999999999999999999/raw')).status).toBe(404);
    });
  });

  describe('4.11 and 4.12 media', () => {
    it('serves a cover with a Range request, as <img> and the video player ask (source in the query only)', async () => {
      const relative = 'Following/a1/covers/7000000000000000001.jpg';
      const file = await readFile(path.join(PARITY_VAULT_ROOT, 'data', relative));
      const range = await fetch(`${gateway.url}/media/cover/7000000000000000001?source_id=${SOURCE}`, { headers: { Range: 'bytes=0-9' } });
      expect(range.status).toBe(206);
      expect(range.headers.get('content-range')).toBe(`bytes 0-9/${file.length}`);
      expect(range.headers.get('content-type')).toBe('image/jpeg');
      expect(Buffer.from(await range.arrayBuffer())).toEqual(file.subarray(0, 10));
      const whole = await fetch(`${gateway.url}/media/cover/7000000000000000001?source_id=${SOURCE}`);
      expect(whole.status).toBe(200);
      expect(whole.headers.get('accept-ranges')).toBe('bytes');
      expect(whole.headers.get('x-sx-source-id')).toBe(SOURCE);
      expect(Buffer.from(await whole.arrayBuffer())).toEqual(file);
      const missing = await fetch(`${gateway.url}/media/video/7999999999999999999?source_id=${SOURCE}`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ detail: 'Not found' });
    });
  });

  describe('4.13–4.16 sources, and POST /admin/bootstrap/schema', () => {
    it("lists sources in the original's shape and order", async () => {
      const listed = await ok('/sources');
      expect(listed.default_source_id).toBe(SOURCE);
      expect(listed.sources[0].id).toBe(SOURCE);
      for (const source of listed.sources) {
        expect(Object.keys(source)).toEqual(['id', 'label', 'kind', 'description', 'enabled', 'is_default', 'created_at', 'updated_at']);
        expect([0, 1]).toContain(source.enabled);
        expect([0, 1]).toContain(source.is_default);
      }
    });

    it('creates, activates and deletes a source as settings.ts does, with the original refusals', async () => {
      const created = await ok('/sources', { method: 'POST', body: { id: 'assets_5', label: 'Fifth', enabled: true } });
      expect(created).toMatchObject({ ok: true, source_id: 'assets_5' });
      if (kind === 'postgres') expect(created.schema).toBe((await gateway.store.resolveSource('assets_5')).schemaName);
      const listed = (await ok('/sources')).sources.find((s: { id: string }) => s.id === 'assets_5');
      expect(listed).toMatchObject({ label: 'Fifth', enabled: 1, is_default: 0 });
      expect(await ok('/sources/assets_5', { method: 'PATCH', body: { description: 'the fifth' } })).toEqual({ ok: true, source_id: 'assets_5' });
      expect(await ok('/sources/assets_5/activate', { method: 'POST' })).toEqual({ ok: true, default_source_id: 'assets_5' });
      const busy = await call('/sources/assets_5', { method: 'DELETE' });
      expect(busy.status).toBe(400);
      expect(busy.json).toMatchObject({ detail: 'Cannot delete active default source' });
      await ok(`/sources/${SOURCE}/activate`, { method: 'POST' });
      const full = await call(`/sources/${SOURCE}`, { method: 'DELETE' });
      expect(full.status).toBe(400);
      expect(full.json.detail).toMatch(/Cannot delete active default source|Source has data/);
      expect(await ok('/sources/assets_5', { method: 'DELETE' })).toEqual({ ok: true, deleted: 'assets_5' });
      const gone = await call('/sources/assets_5', { method: 'DELETE' });
      expect(gone.status).toBe(404);
      expect(gone.json).toMatchObject({ detail: 'Source not found' });
      expect((await call('/sources', { method: 'POST', body: {} })).status).toBe(422);
    });

    it('bootstraps a schema over the same code as bootstrapSource', async () => {
      const answer = await ok('/admin/bootstrap/schema', { method: 'POST', body: { source_id: 'boot_7' } });
      expect(answer).toMatchObject({ ok: true, backend: kind === 'sqlite' ? 'sqlite' : 'postgres_primary', source_id: 'boot_7' });
      if (kind === 'postgres') expect(answer.schema).toBe((await gateway.store.resolveSource('boot_7')).schemaName);
      expect((await ok('/sources')).sources.map((s: { id: string }) => s.id)).toContain('boot_7');
      const invalid = await call('/admin/bootstrap/schema', { method: 'POST', body: { source_id: 'bad id' } });
      expect(invalid.status).toBe(400);
      expect(invalid.json.code).toBe('SOURCE_ID_INVALID');
    });
  });

  describe('4.17 and 4.18 profiles, from the sources\' own settings', () => {
    it('lists sources with a profile index and writes a profile into its source settings', async () => {
      const before = await ok('/pipeline/profiles');
      expect(before.ok).toBe(true);
      expect(before.profiles.map((p: { index: number; source_id: string }) => [p.index, p.source_id])).toContainEqual([2, 'assets_2']);
      const written = await ok('/config/profiles/2', { method: 'PUT', body: { label: 'Second', src_path: '/srv/vault2', pathlinker_group: 'grp2', vault_name: 'V' } });
      expect(written).toMatchObject({
        ok: true,
        index: 2,
        updated_keys: ['SRC_PATH_2', 'SRC_PATH_2_LABEL', 'PATHLINKER_GROUP_2'],
        ignored_keys: ['VAULT_NAME_2'],
        profile: { index: 2, label: 'Second', src_path: '/srv/vault2', source_id: 'assets_2', pathlinker_group: 'grp2' },
      });
      const source = (await gateway.store.listSources()).find((s) => s.id === 'assets_2')!;
      expect(source.media).toMatchObject({ vaultRoot: '/srv/vault2', groupPrefix: 'grp2' });
      const bad = await call('/config/profiles/100', { method: 'PUT', body: { label: 'x' } });
      expect(bad.status).toBe(400);
      expect(bad.json.detail).toBe('Profile index must be 1–99');
      expect((await call('/config/profiles/2', { method: 'PUT', body: {} })).json.detail).toBe('No fields to update');
      expect((await call('/config/profiles/9', { method: 'PUT', body: { label: 'x' } })).status).toBe(404);
    });
  });

  describe('4.19 POST /danger/reset', () => {
    it('counts in a dry run, refuses without RESET, and deletes exactly what it counted', async () => {
      const body = { filters: { q: '', status: 'archived', bookmarked_only: false }, reset_user_meta: true, reset_user_notes: false, reset_cached_notes: false };
      const archived = videos.filter((v) => v.status === 'archived' || unpackStatuses(v.statuses).includes('archived')).length;
      const dry = await ok('/danger/reset', { method: 'POST', body: { ...body, apply: false } });
      expect(dry).toEqual({ ok: true, apply: false, matched: archived, would_delete: { user_meta: archived, user_notes: 0, cached_notes: 0 } });
      const unconfirmed = await call('/danger/reset', { method: 'POST', body: { ...body, apply: true, confirm: 'yes' } });
      expect(unconfirmed.status).toBe(400);
      expect(unconfirmed.json.detail).toBe("Missing confirmation. Set confirm='RESET' to apply.");
      const nothing = await call('/danger/reset', { method: 'POST', body: { ...body, apply: true, confirm: 'RESET', reset_user_meta: false } });
      expect(nothing.json.detail).toBe('No reset operations selected');
      const applied = await ok('/danger/reset', { method: 'POST', body: { ...body, apply: true, confirm: ' RESET ' } });
      expect(applied).toEqual({ ok: true, apply: true, matched: archived, deleted: { user_meta: archived, user_notes: 0, cached_notes: 0 } });
      expect((await ok('/items?limit=1&status=archived')).total).toBe(0);
    });
  });

  describe('4.20 GET /docs and /openapi.json', () => {
    it('describes every route the plugin calls, generated from the route definitions', async () => {
      const document = await ok('/openapi.json');
      expect(document.openapi).toMatch(/^3\./);
      const paths = Object.keys(document.paths);
      for (const route of [
        '/health', '/stats', '/search', '/items', '/authors', '/notes', '/items/{item_id}/note', '/items/{item_id}/note-md',
        '/items/{item_id}/meta', '/items/{item_id}/links', '/media/cover/{item_id}', '/media/video/{item_id}', '/sources',
        '/sources/{source_id}/activate', '/sources/{source_id}', '/pipeline/profiles', '/config/profiles/{idx}', '/danger/reset',
        '/admin/bootstrap/schema',
      ]) {
        expect(paths, route).toContain(route);
      }
      const limit = document.paths['/items'].get.parameters.find((p: { name: string }) => p.name === 'limit');
      expect(limit.schema).toMatchObject({ minimum: 1, maximum: 2000, default: 50 });
      const docs = await fetch(`${gateway.url}/docs?source_id=${SOURCE}`, { redirect: 'follow' });
      expect(docs.status).toBe(200);
      expect(docs.headers.get('content-type')).toContain('text/html');
    });
  });
});

describe('REST admin routes need admin rights, as the admin mutations do', () => {
  let gateway: TestGateway;
  const TOKEN = 'rest-admin-token-0123456789';
  beforeAll(async () => {
    gateway = await startTestGateway('sqlite', { SX_ADMIN_TOKEN: TOKEN });
    await gateway.store.bootstrapSource({ sourceId: 'guarded_1' });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('refuses POST/PATCH/DELETE /sources, activate, bootstrap, reset and profile writes without the token', async () => {
    const attempts: [string, string, unknown][] = [
      ['POST', '/sources', { id: 'sneaky_1' }],
      ['PATCH', '/sources/guarded_1', { label: 'x' }],
      ['POST', '/sources/guarded_1/activate', undefined],
      ['DELETE', '/sources/guarded_1', undefined],
      ['POST', '/admin/bootstrap/schema', { source_id: 'sneaky_2' }],
      ['POST', '/danger/reset?source_id=guarded_1', { apply: true, confirm: 'RESET' }],
      ['PUT', '/config/profiles/1', { label: 'x' }],
    ];
    for (const [method, route, body] of attempts) {
      const init = { method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) };
      const refused = await fetch(`${gateway.url}${route}`, init);
      expect(refused.status, `${method} ${route}`).toBe(403);
      expect(await refused.json()).toMatchObject({ code: 'FORBIDDEN' });
    }
    expect((await gateway.store.listSources()).map((s) => s.id)).toEqual(['guarded_1']);
    const allowed = await fetch(`${gateway.url}/sources`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ id: 'allowed_1' }),
    });
    expect(allowed.status).toBe(200);
    // Reads and the user's own writes (meta, notes) need no token, as in GraphQL.
    expect((await fetch(`${gateway.url}/items?source_id=guarded_1`)).status).toBe(200);
  });
});
