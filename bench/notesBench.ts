import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mediaPresence, relativeMediaPaths, renderNote, withGroupOverride, type MediaSettings } from '../src/notes/index.js';
import { emptyMeta, metaByVideoIds } from '../src/queries/itemMeta.js';
import { noteItemOf } from '../src/queries/itemNotes.js';
import { listItems } from '../src/queries/listItems.js';
import { openSqliteConnection } from '../src/stores/sqlite/sqliteStore.js';
import { loadLoop, type LoadResult } from './load.js';
import { runCli } from './processes.js';
import { startGateway } from './queryBench.js';
import { rawSqliteTenantDb } from './tenantDb.js';

export interface NotesFigures {
  items: number;
  /** Notes per second rendered by the gateway: `notes(limit: items, force: true, pathlinkerGroup)` over HTTP. */
  gateway: LoadResult & { notesPerSecond: number };
  /** The same notes rendered by the template in a plain loop in one process (file checks included). */
  loop: LoadResult & { notesPerSecond: number };
}

const ITEMS = 500;
// A group override renders every note and stores none: each request renders all of them again.
const GROUP = 'bench';

/** One export of `count` items with a caption, a handle and both media files present in the vault. */
async function notesLibrary(dir: string, count: number): Promise<{ csv: string; vault: string }> {
  const vault = path.join(dir, 'vault');
  const lines = ['c_videos_id,c_videos_authorid,c_authors_uniqueids,c_authors_nicknames,c_texts_text_content,csv_row_hash'];
  for (let i = 1; i <= count; i++) {
    const author = `a${i % 25}`;
    lines.push(`n${i},${author},user_${i % 25},Nick ${i % 25},"caption ${i} with a few words, a comma and ""quotes""",h${i}`);
    for (const [folder, file] of [['videos', `n${i}.mp4`], ['covers', `n${i}.jpg`]]) {
      await mkdir(path.join(vault, 'data', 'Following', author, folder), { recursive: true });
      await writeFile(path.join(vault, 'data', 'Following', author, folder, file), `n${i}`);
    }
  }
  const csv = path.join(dir, 'notes.csv');
  await writeFile(csv, `${lines.join('\n')}\n`);
  return { csv, vault };
}

/** Bulk notes: a page of 500 renders through the gateway vs the same renders in a plain loop, notes per second. */
export async function benchNotes(seconds: number, warmupSeconds: number): Promise<NotesFigures> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sx-bench-notes-'));
  try {
    const { csv, vault } = await notesLibrary(dir, ITEMS);
    const file = path.join(dir, 'notes.db');
    const env = { SX_DB_BACKEND_MODE: 'SQLITE', SX_DB_PATH: file, SX_DEMO_IMPORT: '0', SX_VAULT_ROOT: vault };
    await runCli(['import', '--create', '--source', 'notes', '--csv', csv, '--json'], env);

    const gateway = await startGateway(env);
    const query = `query($limit: Int) { source(sourceId: "notes") { notes(limit: $limit, force: true, pathlinkerGroup: "${GROUP}") { nodes { id note { markdown origin } } } } }`;
    const once = async () => {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables: { limit: ITEMS } }),
      });
      const body = (await response.json()) as { data?: { source: { notes: { nodes: { note: { origin: string } }[] } } } };
      const nodes = body.data?.source.notes.nodes ?? [];
      if (nodes.length !== ITEMS || nodes.some((node) => node.note.origin !== 'RENDERED')) throw new Error('not a page of renders');
    };
    let viaGateway: LoadResult;
    try {
      await loadLoop(once, { workers: 1, seconds: warmupSeconds });
      viaGateway = await loadLoop(once, { workers: 1, seconds });
    } finally {
      await gateway.stop();
    }

    const connection = openSqliteConnection(file);
    try {
      const db = rawSqliteTenantDb(connection, 'notes');
      const items = await listItems(db, {}, 'RECENT', { limit: ITEMS, offset: 0 });
      const meta = await metaByVideoIds(db, items.map((item) => item.id));
      const noteItems = items.map((item) => noteItemOf(item, meta.get(item.id) ?? emptyMeta(item.id)));
      const settings: MediaSettings = withGroupOverride({ vaultRoot: vault, vaultRootWindows: null, dataDir: 'data', pathStyle: 'linux', groupPrefix: null }, GROUP);
      // The file checks of a page run together, as the gateway runs them; the renders one after another.
      const loopOnce = async () => {
        const present = await Promise.all(
          noteItems.map((item) => {
            const relative = relativeMediaPaths(item);
            return mediaPresence(settings, [relative.video, relative.cover]);
          }),
        );
        noteItems.forEach((item, index) => renderNote(item, settings, present[index]!));
      };
      await loadLoop(loopOnce, { workers: 1, seconds: warmupSeconds });
      const loop = await loadLoop(loopOnce, { workers: 1, seconds });
      return {
        items: ITEMS,
        gateway: { ...viaGateway, notesPerSecond: viaGateway.requestsPerSecond * ITEMS },
        loop: { ...loop, notesPerSecond: loop.requestsPerSecond * ITEMS },
      };
    } finally {
      connection.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
