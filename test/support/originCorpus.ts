import { mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The original system's own output on one export (test/fixtures/origin-notes): its stored rows, import counts and
 * every item's note under two media settings. The notes were rendered with the media under PARITY_VAULT_ROOT, and
 * the root is part of each note's render_hash, so the files are recreated at exactly that path.
 */
export const PARITY_VAULT_ROOT = '/tmp/sx-parity-vault/assets_1';
export const CORPUS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/origin-notes');

export interface CorpusLine {
  kind: 'stats' | 'video' | 'note';
  config?: string;
  id?: string;
  markdown?: string;
  [column: string]: unknown;
}

export const corpusLines: CorpusLine[] = readFileSync(path.join(CORPUS_DIR, 'origin.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as CorpusLine);

/** `<config>/<item id>` → the original's markdown. */
export const originNotes = new Map<string, string>(
  corpusLines.filter((line) => line.kind === 'note').map((line) => [`${line.config}/${line.id}`, line.markdown as string]),
);

export const presentMediaFiles: string[] = readFileSync(path.join(CORPUS_DIR, 'media-present.txt'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '');

/** A file of the corpus as text (a byte order mark is kept, and written back by an upload). */
export function corpusFile(name: string): string {
  return readFileSync(path.join(CORPUS_DIR, name), 'utf8');
}

/**
 * The media files that existed when the original rendered the notes, each holding `VIDEO <id>` or `COVER <id>`
 * 64 times. Written in place, never deleted first: test files running at the same time share the folder.
 */
export async function createParityVault(): Promise<void> {
  for (const relative of presentMediaFiles) {
    const file = path.join(PARITY_VAULT_ROOT, 'data', relative);
    const id = path.basename(relative).replace(/\.[^.]+$/, '');
    const kind = relative.includes('/videos/') ? 'VIDEO' : 'COVER';
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${kind} ${id}\n`.repeat(64));
  }
}
