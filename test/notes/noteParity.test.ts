import { describe, it, expect, beforeAll } from 'vitest';
import { parse } from 'yaml';
import { mediaPresence, relativeMediaPaths, renderNote, type MediaSettings, type NoteItem } from '../../src/notes/index.js';
import { corpusLines, createParityVault, originNotes, PARITY_VAULT_ROOT, presentMediaFiles } from '../support/originCorpus.js';

/**
 * The original's own notes for every item of the fixture, under two media settings, compared with ours.
 * The corpus (test/fixtures/origin-notes) was rendered with its media under this vault root, and the
 * root is part of render_hash, so the files are recreated at exactly this path.
 */
const VAULT_ROOT = PARITY_VAULT_ROOT;

const SETTINGS: Record<string, MediaSettings> = {
  linux: { vaultRoot: VAULT_ROOT, vaultRootWindows: null, dataDir: 'data', pathStyle: 'linux', groupPrefix: null },
  'windows-group': {
    vaultRoot: VAULT_ROOT,
    vaultRootWindows: 'D:\\Vaults\\assets_1',
    dataDir: 'data',
    pathStyle: 'windows',
    groupPrefix: 'assets_1',
  },
};

const items = corpusLines.filter((line) => line.kind === 'video') as unknown as NoteItem[];
const expectedNotes = originNotes;

const FRONTMATTER = /^---\n([\s\S]*?\n)---\n/;

function splitNote(markdown: string): { yaml: string; body: string } {
  const match = FRONTMATTER.exec(markdown);
  if (!match) throw new Error('note without frontmatter');
  return { yaml: match[1], body: markdown.slice(match[0].length) };
}

/** Parsed the way the original wrote it (YAML 1.1); JSON text keeps key order in the comparison. */
function frontmatterValue(yamlText: string): string {
  return JSON.stringify(parse(yamlText, { version: '1.1' }));
}

const rendered = new Map<string, string>();

beforeAll(async () => {
  await createParityVault();
  for (const [config, settings] of Object.entries(SETTINGS)) {
    for (const item of items) {
      const relative = relativeMediaPaths(item);
      const present = await mediaPresence(settings, [relative.video, relative.cover]);
      rendered.set(`${config}/${item.id}`, renderNote(item, settings, present).markdown);
    }
  }
});

describe(`note parity with the original, template v1.3 (${items.length} items, ${expectedNotes.size} notes)`, () => {
  it(`the corpus holds a note for each of the ${items.length} items under both settings`, () => {
    expect(items.length).toBeGreaterThan(0);
    expect(expectedNotes.size).toBe(items.length * Object.keys(SETTINGS).length);
    expect(presentMediaFiles.length).toBeGreaterThan(0);
  });

  for (const config of Object.keys(SETTINGS)) {
    const keys = items.map((item) => `${config}/${item.id}`);

    it(`${config}: all ${keys.length} frontmatters parse to the same value, keys in the same order`, () => {
      const differing = keys.filter(
        (key) => frontmatterValue(splitNote(rendered.get(key)!).yaml) !== frontmatterValue(splitNote(expectedNotes.get(key)!).yaml),
      );
      if (differing.length > 0) {
        const first = differing[0];
        expect(parse(splitNote(rendered.get(first)!).yaml, { version: '1.1' })).toEqual(
          parse(splitNote(expectedNotes.get(first)!).yaml, { version: '1.1' }),
        );
      }
      expect(differing).toEqual([]);
    });

    it(`${config}: all ${keys.length} managed blocks after the frontmatter are equal byte for byte`, () => {
      const differing = keys.filter((key) => splitNote(rendered.get(key)!).body !== splitNote(expectedNotes.get(key)!).body);
      if (differing.length > 0) expect(splitNote(rendered.get(differing[0])!).body).toBe(splitNote(expectedNotes.get(differing[0])!).body);
      expect(differing).toEqual([]);
    });

    it(`${config}: all ${keys.length} notes are equal byte for byte`, () => {
      const differing = keys.filter((key) => rendered.get(key) !== expectedNotes.get(key));
      if (differing.length > 0) expect(rendered.get(differing[0])).toBe(expectedNotes.get(differing[0]));
      expect(differing).toEqual([]);
    });
  }

  it(`all ${expectedNotes.size} notes are equal byte for byte`, () => {
    const equal = [...expectedNotes].filter(([key, markdown]) => rendered.get(key) === markdown).length;
    expect(equal).toBe(expectedNotes.size);
  });
});
