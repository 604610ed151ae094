import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  canonicalMediaPaths,
  isContainedRelativePath,
  itemMediaPaths,
  mediaPresence,
  pathlinkerGroupOverride,
  renderNote,
  styleVaultRoot,
  withGroupOverride,
  type MediaSettings,
  type NoteItem,
} from '../../src/notes/index.js';

const linux: MediaSettings = { vaultRoot: '/srv/vaults/a', vaultRootWindows: null, dataDir: 'data', pathStyle: 'linux', groupPrefix: null };
const windows: MediaSettings = {
  vaultRoot: '/mnt/d/Vaults/assets_1',
  vaultRootWindows: 'D:\\Vaults\\assets_1',
  dataDir: 'data',
  pathStyle: 'windows',
  groupPrefix: null,
};

function item(fields: Partial<NoteItem>): NoteItem {
  return {
    id: 'v1',
    platform: 'TikTok',
    author_id: null,
    author_unique_id: null,
    author_name: null,
    followers: null,
    hearts: null,
    videos_count: null,
    signature: null,
    is_private: null,
    caption: null,
    bookmarked: 0,
    bookmark_timestamp: null,
    video_path: null,
    cover_path: null,
    csv_row_hash: null,
    rating: null,
    status: null,
    statuses: null,
    tags: null,
    notes: null,
    product_link: null,
    author_links: null,
    platform_targets: null,
    workflow_log: null,
    post_url: null,
    published_time: null,
    ...fields,
  };
}

describe('canonical media paths', () => {
  it('puts bookmarked items under Favorites/, whatever their author', () => {
    expect(canonicalMediaPaths(item({ bookmarked: 1, author_id: 'a7' }))).toEqual({
      video: 'Favorites/videos/v1.mp4',
      cover: 'Favorites/covers/v1.jpg',
    });
  });

  it('puts other items under Following/<author_id>/, or Following/ without an author id', () => {
    expect(canonicalMediaPaths(item({ author_id: 'a7' })).video).toBe('Following/a7/videos/v1.mp4');
    expect(canonicalMediaPaths(item({ author_id: '  ' })).cover).toBe('Following/covers/v1.jpg');
    expect(canonicalMediaPaths(item({})).video).toBe('Following/videos/v1.mp4');
  });

  it('derives each path on its own: a stored video path is kept while the cover is derived', () => {
    const paths = itemMediaPaths(item({ author_id: 'a7', video_path: 'Other/x.mp4', cover_path: '' }), linux);
    expect(paths.video.relative).toBe('Other/x.mp4');
    expect(paths.cover.relative).toBe('Following/a7/covers/v1.jpg');
  });
});

describe('absolute paths and protocol links', () => {
  const stored = item({ id: '7000000000000000007', author_id: 'a7' });

  it('writes linux paths with forward slashes under the Linux root', () => {
    const paths = itemMediaPaths(stored, linux);
    expect(paths.video.absolute).toBe('/srv/vaults/a/data/Following/a7/videos/7000000000000000007.mp4');
    expect(paths.video.sxopen).toBe('sxopen:/srv/vaults/a/data/Following/a7/videos/7000000000000000007.mp4');
    expect(paths.cover.sxreveal).toBe('sxreveal:/srv/vaults/a/data/Following/a7/covers/7000000000000000007.jpg');
  });

  it('writes windows paths with backslashes under the Windows root, as the original links route does', () => {
    const paths = itemMediaPaths(stored, windows);
    expect(paths.video.absolute).toBe('D:\\Vaults\\assets_1\\data\\Following\\a7\\videos\\7000000000000000007.mp4');
    expect(paths.cover.sxopen).toBe('sxopen:D:\\Vaults\\assets_1\\data\\Following\\a7\\covers\\7000000000000000007.jpg');
    expect(paths.video.sxreveal).toBe('sxreveal:D:\\Vaults\\assets_1\\data\\Following\\a7\\videos\\7000000000000000007.mp4');
  });

  it('converts a /mnt/<drive> Linux root when no Windows root is set, and trims outer separators of each part', () => {
    const settings: MediaSettings = { ...windows, vaultRootWindows: null, dataDir: '/data/' };
    expect(styleVaultRoot(settings)).toBe('D:\\Vaults\\assets_1');
    expect(itemMediaPaths(stored, settings).video.absolute).toBe('D:\\Vaults\\assets_1\\data\\Following\\a7\\videos\\7000000000000000007.mp4');
    expect(itemMediaPaths(stored, { ...windows, vaultRootWindows: 'D:\\' }).video.absolute).toBe(
      'D:\\data\\Following\\a7\\videos\\7000000000000000007.mp4',
    );
  });

  it('writes relative paths when no root is configured', () => {
    const settings: MediaSettings = { ...linux, vaultRoot: null };
    expect(itemMediaPaths(item({}), settings).video.absolute).toBe('data/Following/videos/v1.mp4');
    expect(itemMediaPaths(item({}), { ...settings, pathStyle: 'windows' }).video.absolute).toBe('data\\Following\\videos\\v1.mp4');
  });
});

describe('PathLinker group prefix', () => {
  const grouped: MediaSettings = { ...windows, groupPrefix: 'assets_1' };

  it('prefixes the written relative paths but never the plain relative path, absolute paths or links', () => {
    const paths = itemMediaPaths(item({ author_id: 'a7' }), grouped);
    expect(paths.video.written).toBe('group:assets_1/Following/a7/videos/v1.mp4');
    expect(paths.video.relative).toBe('Following/a7/videos/v1.mp4');
    for (const form of [paths.video, paths.cover]) {
      for (const text of [form.relative, form.absolute, form.sxopen, form.sxreveal]) expect(text).not.toContain('group:');
    }
  });

  it('shows in note paths, embeds and files_seen, not in absolute paths or links', () => {
    const note = renderNote(item({ author_id: 'a7' }), grouped, new Set(['Following/a7/videos/v1.mp4']));
    expect(note.filesSeen).toEqual(['group:assets_1/Following/a7/videos/v1.mp4']);
    expect(note.markdown).toContain('video_path: group:assets_1/Following/a7/videos/v1.mp4\n');
    expect(note.markdown).toContain('![[group:assets_1/Following/a7/covers/v1.jpg]]');
    expect(note.markdown).toContain('video_abs: D:\\Vaults\\assets_1\\data\\Following\\a7\\videos\\v1.mp4\n');
    expect(note.markdown.match(/(sxopen|sxreveal):group:/)).toBeNull();
    expect(note.mediaMissing).toBe(true);
  });

  it('sanitises the pathlinker_group override as the original does', () => {
    expect(pathlinkerGroupOverride(' /team a$b/ ')).toBe('teamab');
    expect(pathlinkerGroupOverride('///')).toBeNull();
    expect(pathlinkerGroupOverride(undefined)).toBeNull();
    expect(withGroupOverride(linux, 'x/y').groupPrefix).toBe('x/y');
    expect(withGroupOverride(grouped, '  ')).toBe(grouped);
  });
});

describe('the note of an item without paths, handle or caption', () => {
  it('uses canonical paths, omits the caption and vc:: lines and falls back to the author name', () => {
    const note = renderNote(item({ author_name: 'Nick', statuses: '|b|a|b|', tags: 'x,  y ,z', workflow_log: 'typed' }), linux, () => true);
    expect(note.markdown).toContain('video: \'[[Following/videos/v1.mp4]]\'\n');
    expect(note.markdown).toContain('caption: \'\'\n');
    expect(note.markdown).toContain('status:\n- b\n- a\n');
    expect(note.markdown).toContain('tags:\n- x\n- y\n- z\n');
    expect(note.markdown).toContain('workflow_log:\n- typed\n');
    expect(note.markdown).toContain('metadata_missing: true\n');
    expect(note.markdown).toContain('>>>>> ```md\n>>>>> ```\n');
    expect(note.markdown).toContain('>>>>>> ```md\n>>>>>> \n>>>>>> ```\n');
    expect(note.markdown).toContain('>>>>>[!Desc]+ author_name\n>>>>>> ```md\n>>>>>> Nick\n');
    expect(note.markdown.endsWith('<!-- sx-managed:end -->\n')).toBe(true);
    expect(note.mediaMissing).toBe(false);
  });
});

describe('mediaPresence', () => {
  let root: string;
  let settings: MediaSettings;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'sx-presence-'));
    await mkdir(path.join(root, 'vault/data/Following/a1/videos'), { recursive: true });
    await mkdir(path.join(root, 'vault/data/Favorites'), { recursive: true });
    await writeFile(path.join(root, 'vault/data/Following/a1/videos/v1.mp4'), 'VIDEO v1\n');
    await writeFile(path.join(root, 'vault/secret.txt'), 'outside the data folder\n');
    await writeFile(path.join(root, 'vault/data-sibling.txt'), 'next to the data folder\n');
    settings = { ...linux, vaultRoot: path.join(root, 'vault') };
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reports the files that exist under <vaultRoot>/<dataDir>, and only files', async () => {
    const present = await mediaPresence(settings, ['Following/a1/videos/v1.mp4', 'Following/a1/covers/v1.jpg', 'Favorites']);
    expect([...present]).toEqual(['Following/a1/videos/v1.mp4']);
  });

  it('refuses paths that would leave the data folder, even when the file exists', async () => {
    const escaping = [
      '../secret.txt',
      'Following/../../secret.txt',
      'Following\\..\\..\\secret.txt',
      path.join(root, 'vault/secret.txt'),
      '/etc/hostname',
      '\\\\server\\share\\x.mp4',
      'C:\\x.mp4',
      'Following/a1/videos/v1.mp4\0.jpg',
      '../data-sibling.txt',
    ];
    for (const relative of escaping) expect(isContainedRelativePath(relative)).toBe(false);
    expect([...(await mediaPresence(settings, escaping))]).toEqual([]);
  });

  it('finds nothing without a vault root', async () => {
    expect((await mediaPresence({ ...settings, vaultRoot: null }, ['Following/a1/videos/v1.mp4'])).size).toBe(0);
  });

  it('checks under the Linux root even when paths are written in windows style', async () => {
    const present = await mediaPresence({ ...settings, pathStyle: 'windows', vaultRootWindows: 'D:\\V' }, ['Following/a1/videos/v1.mp4']);
    expect(present.has('Following/a1/videos/v1.mp4')).toBe(true);
  });

  it('follows a symlink that stays inside the data folder, not one that leads out of it', async () => {
    await symlink(path.join(root, 'vault/secret.txt'), path.join(root, 'vault/data/Favorites/out.mp4'));
    await symlink(path.join(root, 'vault/data/Following/a1/videos/v1.mp4'), path.join(root, 'vault/data/Favorites/in.mp4'));
    const present = await mediaPresence(settings, ['Favorites/out.mp4', 'Favorites/in.mp4']);
    expect([...present]).toEqual(['Favorites/in.mp4']);
  });
});
