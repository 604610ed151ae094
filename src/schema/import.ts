import { Readable } from 'node:stream';
import { importCsv, type ImportProgress, type ImportSummary } from '../import/importCsv.js';
import { observeImport } from '../observability/importObserver.js';
import type { GatewayContext } from '../graphql/context.js';
import { builder } from './builder.js';

const ImportRowsRef = builder.objectRef<ImportSummary['rows']>('ImportRows').implement({
  fields: (t) => ({
    consolidated: t.expose('consolidated', { type: 'NonNegativeInt' }),
    authors: t.expose('authors', { type: 'NonNegativeInt' }),
    bookmarks: t.expose('bookmarks', { type: 'NonNegativeInt' }),
  }),
});

const ImportResultRef = builder.objectRef<ImportSummary>('ImportResult').implement({
  description: 'Counts follow the original importer: new rows inserted, unchanged rows skipped, others updated.',
  fields: (t) => ({
    sourceId: t.exposeID('sourceId'),
    inserted: t.expose('inserted', { type: 'NonNegativeInt' }),
    updated: t.expose('updated', { type: 'NonNegativeInt' }),
    skipped: t.expose('skipped', { type: 'NonNegativeInt', description: 'Unchanged rows plus rows without c_videos_id' }),
    withoutId: t.expose('withoutId', { type: 'NonNegativeInt' }),
    rows: t.field({ type: ImportRowsRef, resolve: (s) => s.rows }),
    durationMs: t.exposeFloat('durationMs'),
  }),
});

/** An upload's progress in the server log, at most once a second per file, with the request that sent it. */
function progressLog(context: GatewayContext, sourceId: string): ((progress: ImportProgress) => void) | undefined {
  const logger = context.logger;
  if (!logger) return undefined;
  let last = 0;
  let lastFile = '';
  return (progress) => {
    const now = performance.now();
    if (progress.file === lastFile && now - last < 1000) return;
    last = now;
    lastFile = progress.file;
    logger.info({ requestId: context.requestId, sourceId, ...progress }, 'import progress');
  };
}

// The upload's stream comes from the fetch implementation Yoga runs on, not always Node's own web streams;
// both are async iterables of bytes.
const fileStream = (file: File) => () => Readable.from(file.stream() as unknown as AsyncIterable<Uint8Array>);

builder.mutationField('importCsv', (t) =>
  t.field({
    type: ImportResultRef,
    authScopes: { admin: true },
    description:
      'Imports a CSV export (multipart upload) into a source. All or nothing. An unknown source is refused ' +
      '(SOURCE_NOT_MAPPED) before the files are read, unless `create: true` asks for it to be created.',
    args: {
      sourceId: t.arg.id({ required: true }),
      consolidated: t.arg({ type: 'File', required: true }),
      authors: t.arg({ type: 'File' }),
      bookmarks: t.arg({ type: 'File' }),
      create: t.arg.boolean({
        defaultValue: false,
        description: 'Create the source when it does not exist (default false: an unknown source is refused, so a typo never makes a new tenant)',
      }),
    },
    resolve: (_root, args, context) => {
      const sourceId = context.sources.checkSourceId(String(args.sourceId));
      return importCsv(
        context.store,
        sourceId,
        {
          consolidated: fileStream(args.consolidated),
          authors: args.authors ? fileStream(args.authors) : null,
          bookmarks: args.bookmarks ? fileStream(args.bookmarks) : null,
        },
        { create: args.create === true, onProgress: progressLog(context, sourceId) },
      ).then((summary) => {
        observeImport(context, summary);
        return summary;
      });
    },
  }),
);
