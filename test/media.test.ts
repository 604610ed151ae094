import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sql from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveMedia } from '../src/http/mediaFiles.js';
import { findMediaFile } from '../src/notes/mediaFile.js';
import { NO_MEDIA_SETTINGS } from '../src/sources/mediaSettings.js';
import { CONSOLIDATED_HEADER, csv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

const VIDEO = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
const COVER = Buffer.from('not really a jpeg, but bytes all the same');
const SECRET = Buffer.from('SECRET bytes outside the media folder');

/** A vault with its data folder, a file beside the data folder, and a folder outside the vault. */
async function makeVault(): Promise<{ root: string; vault: string; outside: string }> {
  // realpath: the temp folder may itself sit behind a symlink, and the tests compare absolute paths.
  const root = await realpath(await mkdtemp(path.join(tmpdir(), 'sx-media-')));
  const vault = path.join(root, 'vault');
  const outside = path.join(root, 'outside');
  const data = path.join(vault, 'data');
  await mkdir(path.join(data, 'Following', 'a1', 'videos'), { recursive: true });
  await mkdir(path.join(data, 'Following', 'a1', 'covers'), { recursive: true });
  await mkdir(path.join(data, 'links'), { recursive: true });
  await mkdir(path.join(data, 'odd'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(data, 'Following', 'a1', 'videos', 'v1.mp4'), VIDEO);
  await writeFile(path.join(data, 'Following', 'a1', 'covers', 'v1.jpg'), COVER);
  await writeFile(path.join(data, 'odd', 'cover'), COVER);
  await writeFile(path.join(vault, 'secret.mp4'), SECRET);
  await writeFile(path.join(outside, 'secret.mp4'), SECRET);
  await symlink(path.join(outside, 'secret.mp4'), path.join(data, 'links', 'escape.mp4'));
  await symlink(path.join(outside), path.join(data, 'links', 'outdir'));
  await symlink(path.join(data, 'Following', 'a1', 'videos', 'v1.mp4'), path.join(data, 'links', 'inside.mp4'));
  return { root, vault, outside };
}

const HEADER = [...CONSOLIDATED_HEADER, 'video_path', 'cover_path'];
const row = (id: string, videoPath: string | null, coverPath: string | null = null, author = 'a1') => [
  id, author, 'ann', 'Ann', `caption ${id}`, `h-${id}`, videoPath, coverPath,
];

const MEDIA = `query Media($sourceId: ID!) {
  source(sourceId: $sourceId) {
    items(first: 50) {
      nodes { id media {
        video { path relativePath absolutePath sxopen sxreveal exists url }
        cover { path relativePath absolutePath sxopen sxreveal exists url }
      } }
    }
  }
}`;

describe.each(STORE_KINDS)('media routes and links (%s)', (kind) => {
  let gateway: TestGateway;
  let root: string;
  let vault: string;
  let outside: string;

  beforeAll(async () => {
    ({ root, vault, outside } = await makeVault());
    // The gateway-wide default vault; media_win adds settings of its own on top of it.
    gateway = await startTestGateway(kind, { SX_VAULT_ROOT: vault });
    const main = csv(HEADER, [
      row('v1', null, null),
      row('dotdot', '../secret.mp4', 'Following/../../secret.mp4'),
      row('backslash', '..\\secret.mp4', 'Following\\a1\\covers\\v1.jpg'),
      row('absolute', path.join(outside, 'secret.mp4'), path.join(vault, 'data', 'Following', 'a1', 'covers', 'v1.jpg')),
      row('symlink', 'links/escape.mp4', 'links/outdir/secret.mp4'),
      row('inside', 'links/inside.mp4', 'odd/cover'),
      row('missing', 'Following/a1/videos/none.mp4', 'odd'),
    ]);
    // media_1 is imported first, so it is the default source.
    for (const [sourceId, body] of [
      ['media_1', main],
      ['media_2', csv(HEADER, [row('w1', 'Following/a1/videos/v1.mp4')])],
    ] as const) {
      const imported = await uploadCsv(gateway, sourceId, { consolidated: body });
      expect(imported.body.errors).toBeUndefined();
    }
    await gateway.store.bootstrapSource({
      sourceId: 'media_win',
      media: { pathStyle: 'windows', vaultRootWindows: 'D:\\Vaults\\main', groupPrefix: 'vault1' },
    });
    expect((await uploadCsv(gateway, 'media_win', { consolidated: csv(HEADER, [row('v1', null)]) })).body.errors).toBeUndefined();
  });

  afterAll(async () => {
    await gateway?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const get = (route: string, headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${gateway.url}${route}`, { method, headers });

  async function expectRefused(response: Response, code: string, status = 404) {
    const text = await response.text();
    expect(response.status, text).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(text).not.toContain('SECRET');
    const body = JSON.parse(text) as { detail: string; code: string; reason?: string };
    expect(body.code).toBe(code);
    expect(typeof body.detail).toBe('string');
    return body;
  }

  describe('serving', () => {
    it('streams the whole video with type, length, validators and Accept-Ranges', async () => {
      const response = await get('/media/video/v1?source_id=media_1');
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer())).toEqual(VIDEO);
      expect(response.headers.get('content-type')).toBe('video/mp4');
      expect(response.headers.get('content-length')).toBe('100');
      expect(response.headers.get('accept-ranges')).toBe('bytes');
      expect(response.headers.get('etag')).toMatch(/^(W\/)?"[^"]+"$/);
      expect(Date.parse(response.headers.get('last-modified') ?? '')).not.toBeNaN();
      expect(response.headers.get('x-sx-source-id')).toBe('media_1');
      expect(response.headers.get('x-sx-request-id')).toBeTruthy();
    });

    it('serves the cover as image/jpeg, and a name without extension by the kind', async () => {
      const cover = await get('/media/cover/v1?source_id=media_1');
      expect(cover.status).toBe(200);
      expect(cover.headers.get('content-type')).toBe('image/jpeg');
      expect(Buffer.from(await cover.arrayBuffer())).toEqual(COVER);
      const odd = await get('/media/cover/inside?source_id=media_1');
      expect(odd.status).toBe(200);
      expect(odd.headers.get('content-type')).toBe('image/jpeg');
    });

    it('answers HEAD with the headers of GET and no body', async () => {
      const response = await get('/media/video/v1?source_id=media_1', {}, 'HEAD');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-length')).toBe('100');
      expect(response.headers.get('content-type')).toBe('video/mp4');
      expect(response.headers.get('accept-ranges')).toBe('bytes');
      expect((await response.arrayBuffer()).byteLength).toBe(0);
    });

    it('answers a range with 206 and Content-Range: bounded, suffix, open, clamped', async () => {
      const cases: [string, number, number][] = [
        ['bytes=0-4', 0, 4],
        ['bytes=-10', 90, 99],
        ['bytes=5-', 5, 99],
        ['bytes=95-500', 95, 99],
      ];
      for (const [range, start, end] of cases) {
        const response = await get('/media/video/v1?source_id=media_1', { range });
        expect(response.status, range).toBe(206);
        expect(response.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/100`);
        expect(response.headers.get('content-length'), range).toBe(String(end - start + 1));
        expect(Buffer.from(await response.arrayBuffer()), range).toEqual(VIDEO.subarray(start, end + 1));
      }
    });

    it('answers a range past the end with 416 and Content-Range: bytes */size', async () => {
      for (const range of ['bytes=100-', 'bytes=500-600']) {
        const response = await get('/media/video/v1?source_id=media_1', { range });
        expect(response.status, range).toBe(416);
        expect(response.headers.get('content-range'), range).toBe('bytes */100');
        await response.arrayBuffer();
      }
    });

    it('merges overlapping ranges into one 206 and answers disjoint ranges with the whole file', async () => {
      const merged = await get('/media/video/v1?source_id=media_1', { range: 'bytes=0-4,3-9' });
      expect(merged.status).toBe(206);
      expect(merged.headers.get('content-range')).toBe('bytes 0-9/100');
      expect(Buffer.from(await merged.arrayBuffer())).toEqual(VIDEO.subarray(0, 10));
      const disjoint = await get('/media/video/v1?source_id=media_1', { range: 'bytes=0-1,50-51' });
      expect(disjoint.status).toBe(200);
      expect(disjoint.headers.get('content-range')).toBeNull();
      expect(disjoint.headers.get('content-type')).toBe('video/mp4');
      expect(Buffer.from(await disjoint.arrayBuffer())).toEqual(VIDEO);
    });

    it('honours conditional requests: 304 for a matching validator, 412 for a failed precondition', async () => {
      const first = await get('/media/video/v1?source_id=media_1');
      await first.arrayBuffer();
      const etag = first.headers.get('etag')!;
      const lastModified = first.headers.get('last-modified')!;

      // fetch() adds `Cache-Control: no-cache` to a request with a conditional header unless one is given, and
      // no-cache asks for the full answer; a browser revalidating its cache sends max-age=0.
      const revalidate = { 'cache-control': 'max-age=0' };
      const byEtag = await get('/media/video/v1?source_id=media_1', { ...revalidate, 'if-none-match': etag });
      expect(byEtag.status).toBe(304);
      expect(byEtag.headers.get('etag')).toBe(etag);
      expect((await byEtag.arrayBuffer()).byteLength).toBe(0);

      const byDate = await get('/media/video/v1?source_id=media_1', { ...revalidate, 'if-modified-since': lastModified });
      expect(byDate.status).toBe(304);
      await byDate.arrayBuffer();

      const otherEtag = await get('/media/video/v1?source_id=media_1', { ...revalidate, 'if-none-match': '"something-else"' });
      expect(otherEtag.status).toBe(200);
      await otherEtag.arrayBuffer();

      const failed = await get('/media/video/v1?source_id=media_1', { 'if-match': '"something-else"' });
      expect(failed.status).toBe(412);
      await failed.arrayBuffer();
    });

    it('serves the whole file when If-Range does not match, the range when it does', async () => {
      const first = await get('/media/video/v1?source_id=media_1', {}, 'HEAD');
      const etag = first.headers.get('etag')!;
      const stale = await get('/media/video/v1?source_id=media_1', { range: 'bytes=0-4', 'if-range': '"stale-validator"' });
      expect(stale.status).toBe(200);
      expect(Buffer.from(await stale.arrayBuffer())).toEqual(VIDEO);
      const fresh = await get('/media/video/v1?source_id=media_1', { range: 'bytes=0-4', 'if-range': etag });
      expect(fresh.status).toBe(206);
      expect(Buffer.from(await fresh.arrayBuffer())).toEqual(VIDEO.subarray(0, 5));
    });

    it('serves a symlink whose target stays inside the media folder', async () => {
      const response = await get('/media/video/inside?source_id=media_1');
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer())).toEqual(VIDEO);
    });
  });

  describe('source selection', () => {
    it('takes X-SX-Source-ID over ?source_id', async () => {
      const response = await get('/media/video/w1?source_id=media_1', { 'x-sx-source-id': 'media_2' });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-sx-source-id')).toBe('media_2');
      expect(Buffer.from(await response.arrayBuffer())).toEqual(VIDEO);
    });

    it('answers for the default source when none is named', async () => {
      const response = await get('/media/video/v1');
      expect(response.status).toBe(200);
      expect(response.headers.get('x-sx-source-id')).toBe('media_1');
      await response.arrayBuffer();
    });

    it('refuses an unknown source with 400 and never creates it', async () => {
      await expectRefused(await get('/media/video/v1?source_id=media_nope'), 'SOURCE_NOT_MAPPED', 400);
      expect((await gateway.store.listSources()).map((source) => source.id)).not.toContain('media_nope');
      await expectRefused(await get('/media/video/v1?source_id=bad%24id'), 'SOURCE_ID_INVALID', 400);
    });

    it('applies the profile guard of X-SX-Profile-Index', async () => {
      await expectRefused(await get('/media/video/v1?source_id=media_1', { 'x-sx-profile-index': '2' }), 'PROFILE_SOURCE_MISMATCH', 400);
    });

    it('refuses other methods with 405 and Allow', async () => {
      const response = await get('/media/video/v1?source_id=media_1', {}, 'DELETE');
      const body = await expectRefused(response, 'METHOD_NOT_ALLOWED', 405);
      expect(body.detail).toBe('Method Not Allowed');
      expect(response.headers.get('allow')).toBe('GET, HEAD');
    });
  });

  describe('confinement: nothing outside <vault>/<dataDir> is ever served', () => {
    it('refuses a stored path with ..', async () => {
      for (const route of ['/media/video/dotdot', '/media/cover/dotdot', '/media/video/backslash']) {
        const body = await expectRefused(await get(`${route}?source_id=media_1`), 'MEDIA_NOT_FOUND');
        expect(body.reason, route).toBe('PATH_REFUSED');
      }
    });

    it('refuses an absolute stored path, even one that names a file inside the media folder', async () => {
      for (const route of ['/media/video/absolute', '/media/cover/absolute']) {
        const body = await expectRefused(await get(`${route}?source_id=media_1`), 'MEDIA_NOT_FOUND');
        expect(body.reason, route).toBe('PATH_REFUSED');
      }
    });

    it('treats Windows separators as the original does', async () => {
      const response = await get('/media/cover/backslash?source_id=media_1');
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer())).toEqual(COVER);
    });

    it('refuses a symlink (to a file or a folder) that leads out of the media folder', async () => {
      const settings = { vaultRoot: vault, dataDir: 'data' };
      expect(await findMediaFile(settings, 'links/escape.mp4')).toEqual({ found: false, refusal: 'FILE_MISSING' });
      expect(await findMediaFile(settings, 'links/outdir/secret.mp4')).toEqual({ found: false, refusal: 'FILE_MISSING' });
      expect(await findMediaFile(settings, 'links/inside.mp4')).toMatchObject({ found: true });
      for (const route of ['/media/video/symlink', '/media/cover/symlink']) {
        const body = await expectRefused(await get(`${route}?source_id=media_1`), 'MEDIA_NOT_FOUND');
        expect(body.reason, route).toBe('FILE_MISSING');
      }
    });

    it('answers a missing file and a folder with 404 MEDIA_NOT_FOUND', async () => {
      for (const route of ['/media/video/missing', '/media/cover/missing']) {
        const body = await expectRefused(await get(`${route}?source_id=media_1`), 'MEDIA_NOT_FOUND');
        expect(body.reason, route).toBe('FILE_MISSING');
      }
    });

    it('refuses a NUL byte in the item id', async () => {
      await expectRefused(await get('/media/video/v1%00?source_id=media_1'), 'NOT_FOUND');
      await expectRefused(await get('/media/video/v1%00..%2F..%2Fsecret.mp4?source_id=media_1'), 'NOT_FOUND');
    });

    it('refuses a NUL byte in a stored path', async () => {
      const settings = { vaultRoot: vault, dataDir: 'data' };
      expect(await findMediaFile(settings, 'Following/a1/videos/v1.mp4')).toMatchObject({ found: true });
      expect(await findMediaFile(settings, 'Following/a1/videos/v1.mp4\0')).toEqual({ found: false, refusal: 'PATH_REFUSED' });
      expect(await findMediaFile(settings, '../data/Following/a1/videos/v1.mp4')).toEqual({ found: false, refusal: 'PATH_REFUSED' });
      if (kind === 'sqlite') {
        // PostgreSQL text cannot hold U+0000 (and the importer refuses it); SQLite can, so the route is tried too.
        await gateway.store.withTenant('media_1', (db) =>
          db.run(sql`UPDATE videos SET video_path = ${'Following/a1/videos/v1.mp4\0'} WHERE source_id = ${db.sourceId} AND id = 'missing'`),
        );
        const body = await expectRefused(await get('/media/video/missing?source_id=media_1'), 'MEDIA_NOT_FOUND');
        expect(body.reason).toBe('PATH_REFUSED');
      }
    });

    it("never serves an item of another source", async () => {
      await expectRefused(await get('/media/video/w1?source_id=media_1'), 'NOT_FOUND');
      await expectRefused(await get('/media/video/w1', { 'x-sx-source-id': 'media_1' }), 'NOT_FOUND');
      await expectRefused(await get('/media/video/nope?source_id=media_1'), 'NOT_FOUND');
    });

    it('answers 404 naming the missing vault when neither the source nor the gateway sets one', async () => {
      const config = { ...gateway.config, media: NO_MEDIA_SETTINGS };
      const answer = await serveMedia(gateway.store, config, 'media_1', 'v1', 'video', { method: 'GET', headers: {} });
      expect(answer.status).toBe(404);
      expect(answer.stream).toBeNull();
      expect(answer.error).toMatchObject({ code: 'MEDIA_NOT_FOUND', reason: 'VAULT_NOT_CONFIGURED' });
      expect(answer.error!.detail).toMatch(/not configured/);
    });
  });

  describe('GraphQL Item.media', () => {
    async function media(sourceId: string) {
      const response = await gateway.gql(MEDIA, { sourceId });
      expect(response.body.errors).toBeUndefined();
      return Object.fromEntries((response.body.data.source.items.nodes as any[]).map((node) => [node.id, node.media]));
    }

    it('says which files exist, gives their URLs and linux links', async () => {
      const found = await media('media_1');
      const videoAbsolute = path.join(vault, 'data', 'Following', 'a1', 'videos', 'v1.mp4');
      expect(found.v1.video).toEqual({
        path: 'Following/a1/videos/v1.mp4',
        relativePath: 'Following/a1/videos/v1.mp4',
        absolutePath: videoAbsolute,
        sxopen: `sxopen:${videoAbsolute}`,
        sxreveal: `sxreveal:${videoAbsolute}`,
        exists: true,
        url: '/media/video/v1?source_id=media_1',
      });
      expect(found.v1.cover).toMatchObject({ exists: true, url: '/media/cover/v1?source_id=media_1' });
      expect(found.inside.video).toMatchObject({ exists: true, url: '/media/video/inside?source_id=media_1' });
      for (const id of ['dotdot', 'absolute', 'symlink', 'missing']) {
        expect(found[id].video, id).toMatchObject({ exists: false, url: null });
      }
      // The URL it gives is the route that serves the file.
      const served = await get(found.v1.video.url);
      expect(Buffer.from(await served.arrayBuffer())).toEqual(VIDEO);
    });

    it('writes windows paths and the PathLinker group as the source sets them', async () => {
      const found = await media('media_win');
      const absolute = 'D:\\Vaults\\main\\data\\Following\\a1\\videos\\v1.mp4';
      expect(found.v1.video).toEqual({
        path: 'group:vault1/Following/a1/videos/v1.mp4',
        relativePath: 'Following/a1/videos/v1.mp4',
        absolutePath: absolute,
        sxopen: `sxopen:${absolute}`,
        sxreveal: `sxreveal:${absolute}`,
        exists: true,
        url: '/media/video/v1?source_id=media_win',
      });
      expect(found.v1.cover.absolutePath).toBe('D:\\Vaults\\main\\data\\Following\\a1\\covers\\v1.jpg');
    });
  });
});
