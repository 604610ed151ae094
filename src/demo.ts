import { createReadStream, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Store } from './interfaces.js';
import { importCsv, type ImportSummary } from './import/importCsv.js';

export const DEMO_SOURCE_ID = 'demo';
const folder = fileURLToPath(new URL('../samples/demo/', import.meta.url));

/** On a brand-new database the sample export becomes source `demo`, so the first query returns rows. */
export async function importDemo(store: Store): Promise<ImportSummary | null> {
  if (!existsSync(`${folder}consolidated.csv`)) return null;
  await store.bootstrapSource({ sourceId: DEMO_SOURCE_ID, label: 'Demo library', kind: 'sample' });
  return importCsv(store, DEMO_SOURCE_ID, {
    consolidated: () => createReadStream(`${folder}consolidated.csv`),
    authors: () => createReadStream(`${folder}authors.csv`),
    bookmarks: () => createReadStream(`${folder}bookmarks.csv`),
  }, { create: true });
}
