// A typed sx-gateway client in one file, meant to be copied. The documents come from `npm run codegen`
// (operations in examples/*.graphql → client/generated/), so every result and variable below is checked by tsc:
// rename a field in a .graphql file, regenerate, and this program stops compiling where it used the old name.
//
//   node --import tsx examples/typed-client.ts [--url URL] [--source ID] [--csv FILE [--authors FILE] [--bookmarks FILE]]
//
// Admin mutations need SX_ADMIN_TOKEN in the environment when the server has one (not an option: a command
// line is visible to every user of the machine); a server without a token trusts loopback clients.
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import {
  BootstrapSourceDocument,
  ImportCsvDocument,
  ItemsPageDocument,
  SourcesDocument,
  StatsDocument,
  type ItemsPageQuery,
} from '../client/generated/graphql.js';

const sample = (name: string) => path.join(import.meta.dirname, '..', 'samples', 'demo', name);
const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8123/graphql' },
    source: { type: 'string', default: 'example' },
    csv: { type: 'string' },
    authors: { type: 'string' },
    bookmarks: { type: 'string' },
  },
});
// The sample's authors and bookmarks belong to the sample's items: they are only defaults when --csv is too.
const files = {
  consolidated: args.csv ?? sample('consolidated.csv'),
  authors: args.authors ?? (args.csv ? undefined : sample('authors.csv')),
  bookmarks: args.bookmarks ?? (args.csv ? undefined : sample('bookmarks.csv')),
};
const token = process.env.SX_ADMIN_TOKEN;

interface GraphQLResponse<TResult> {
  data?: TResult | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/**
 * Runs one operation. The document carries its result and variables types, so `request(StatsDocument, …)`
 * returns a StatsQuery and refuses variables StatsQuery does not declare.
 */
async function request<TResult, TVariables extends Record<string, unknown>>(
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult> {
  const operation = { query: print(document), variables };
  const uploads = Object.entries(variables).filter((entry): entry is [string, File] => entry[1] instanceof File);
  const headers: Record<string, string> = { accept: 'application/graphql-response+json, application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | FormData;
  if (uploads.length === 0) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(operation);
  } else {
    // Files cannot travel in JSON. The GraphQL multipart request spec sends the operation with null in place of
    // each file, a `map` from form part to variable, then the files as parts. Only top-level variables here.
    const nulls = Object.fromEntries(uploads.map(([name]) => [name, null]));
    const form = new FormData();
    form.set('operations', JSON.stringify({ ...operation, variables: { ...variables, ...nulls } }));
    form.set('map', JSON.stringify(Object.fromEntries(uploads.map(([name], i) => [i, [`variables.${name}`]]))));
    uploads.forEach(([, file], i) => form.set(String(i), file));
    body = form;
    // The server refuses uploads without it: a browser cannot add it cross-site without a CORS preflight,
    // so another page cannot forge an upload with the user's credentials.
    headers['graphql-require-preflight'] = '1';
  }
  const response = await fetch(args.url, { method: 'POST', headers, body });
  const text = await response.text();
  let result: GraphQLResponse<TResult>;
  try {
    result = JSON.parse(text) as GraphQLResponse<TResult>;
  } catch {
    throw new Error(`HTTP ${response.status} from ${args.url}: ${text.slice(0, 200)}`);
  }
  // The gateway's errors carry a stable extensions.code (SOURCE_NOT_MAPPED, FORBIDDEN, CSV_…): branch on that,
  // never on the message.
  if (result.errors?.length) {
    throw new Error(result.errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('\n'));
  }
  if (!result.data) throw new Error(`HTTP ${response.status}: no data`);
  return result.data;
}

const csvFile = async (file: string) => new File([await openAsBlob(file)], path.basename(file), { type: 'text/csv' });

try {
  const sourceId = args.source;
  const { sources } = await request(SourcesDocument, {});
  console.log(`sources: ${sources.map((s) => (s.isDefault ? `${s.id} (default)` : s.id)).join(', ') || 'none'}`);

  // Idempotent: a source that exists is returned as it is.
  const { bootstrapSource: source } = await request(BootstrapSourceDocument, { sourceId });
  console.log(`bootstrapped: ${source.id} (${source.schemaName ? `schema ${source.schemaName}` : 'SQLite'})`);

  const { importCsv: imported } = await request(ImportCsvDocument, {
    sourceId,
    consolidated: await csvFile(files.consolidated),
    authors: files.authors ? await csvFile(files.authors) : null,
    bookmarks: files.bookmarks ? await csvFile(files.bookmarks) : null,
  });
  console.log(
    `imported: ${imported.rows.consolidated} rows, inserted=${imported.inserted} updated=${imported.updated} ` +
      `skipped=${imported.skipped} in ${Math.round(imported.durationMs)} ms`,
  );

  // Cursor paging: ask for the page after the last one's endCursor until hasNextPage is false.
  let counted = 0;
  let pages = 0;
  let after: string | null = null;
  let backend = '';
  for (;;) {
    // The annotation only breaks a cycle tsc cannot infer through (`after` is assigned from `page` below).
    const page: ItemsPageQuery = await request(ItemsPageDocument, { sourceId, first: 50, after });
    const { items } = page.source;
    counted += items.nodes.length;
    pages += 1;
    backend = page.source.backend.backend;
    if (!items.pageInfo.hasNextPage || !items.pageInfo.endCursor) break;
    after = items.pageInfo.endCursor;
  }
  console.log(`paged: ${counted} items in ${pages} pages (${backend})`);

  const { stats } = (await request(StatsDocument, { sourceId })).source;
  console.log(`stats: ${stats.items} items, ${stats.bookmarked} bookmarked, ${stats.authors} authors`);
} catch (error) {
  // fetch reports a refused connection as "fetch failed"; the reason (ECONNREFUSED …) is in its cause.
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  console.error(`typed-client: ${error instanceof Error ? error.message : String(error)}${cause}`);
  process.exitCode = 1;
}
