import { GatewayError } from '../errors.js';
import { USER_DATA_KINDS, type UserDataKind } from '../queries/userData.js';
import {
  exportUserDataText,
  importUserData,
  resetUserData,
  textLines,
  type UserDataImportReport,
  type UserDataResetReport,
} from '../tasks/userData.js';
import { builder } from './builder.js';

/**
 * A source's user data (meta and user-written notes) as the JSON Lines file of `sx-gateway user-data`, for an
 * admin: export, import, reset. Large sources export with the command line, which streams into a file.
 */

/** The largest export one GraphQL answer carries; past it the answer points to the command line. */
export const USER_DATA_EXPORT_MAX_BYTES = 32 * 1024 * 1024;

const UserDataKindRef = builder.enumType('UserDataKind', {
  description: 'META: user meta; NOTES: notes the user wrote; CACHED: stored note renders',
  values: Object.fromEntries(USER_DATA_KINDS.map((kind) => [kind.toUpperCase(), { value: kind }])) as Record<
    'META' | 'NOTES' | 'CACHED',
    { value: UserDataKind }
  >,
});

const UserDataSkippedRef = builder.objectRef<UserDataImportReport['skipped']>('UserDataSkipped').implement({
  fields: (t) => ({
    items: t.expose('items', { type: 'NonNegativeInt', description: 'Items of the file the source does not have' }),
    lines: t.expose('lines', { type: 'NonNegativeInt' }),
    itemIds: t.exposeStringList('itemIds', { description: 'The first 20 of them, in file order' }),
  }),
});

const UserDataImportRef = builder.objectRef<UserDataImportReport>('UserDataImport').implement({
  fields: (t) => ({
    sourceId: t.exposeID('sourceId'),
    fromSourceId: t.exposeID('fromSourceId', { description: "The source the file was exported from (its header)" }),
    meta: t.expose('meta', { type: 'NonNegativeInt', description: 'Meta rows written' }),
    notes: t.expose('notes', { type: 'NonNegativeInt', description: 'User notes written' }),
    skipped: t.field({ type: UserDataSkippedRef, resolve: (report) => report.skipped }),
    durationMs: t.exposeFloat('durationMs'),
  }),
});

const UserDataResetRef = builder.objectRef<UserDataResetReport>('UserDataReset').implement({
  description: 'Rows deleted, or with dryRun the rows a run would delete; a kind not chosen counts 0.',
  fields: (t) => ({
    sourceId: t.exposeID('sourceId'),
    dryRun: t.exposeBoolean('dryRun'),
    kinds: t.field({ type: [UserDataKindRef], resolve: (report) => report.kinds }),
    matched: t.expose('matched', { type: 'NonNegativeInt', description: 'Items the filter matched' }),
    meta: t.expose('meta', { type: 'NonNegativeInt' }),
    notes: t.expose('notes', { type: 'NonNegativeInt' }),
    cached: t.expose('cached', { type: 'NonNegativeInt' }),
  }),
});

const UserDataFilterRef = builder.inputType('UserDataFilter', {
  description: 'Which items a reset touches; the fields are ANDed, an omitted field does not filter.',
  fields: (t) => ({
    itemIds: t.idList({ description: 'Only these items (at most 10000)' }),
    statuses: t.stringList({
      description: 'Items whose primary status is one of these or whose statuses hold one (case-insensitive); "" matches items with no status',
    }),
  }),
});

builder.queryField('userDataExport', (t) =>
  t.field({
    type: 'String',
    authScopes: { admin: true },
    description:
      `The user meta and user-written notes of a source as JSON Lines (the file of \`sx-gateway user-data export\`). ` +
      `Refused past ${USER_DATA_EXPORT_MAX_BYTES} bytes: export a larger source with the command line.`,
    args: { sourceId: t.arg.id({ required: true }) },
    resolve: (_root, args, context) =>
      exportUserDataText(context.store, context.sources.checkSourceId(String(args.sourceId)), USER_DATA_EXPORT_MAX_BYTES),
  }),
);

builder.mutationFields((t) => ({
  importUserData: t.field({
    type: UserDataImportRef,
    authScopes: { admin: true },
    description:
      'Imports a user-data file (multipart upload) into a source in one transaction. Every line is checked first ' +
      '(USER_DATA_INVALID names the line); a file naming items the source does not have is refused, naming them, ' +
      'unless skipMissing, which leaves those lines out and reports them.',
    args: {
      sourceId: t.arg.id({ required: true }),
      file: t.arg({ type: 'File', required: true }),
      skipMissing: t.arg.boolean({ defaultValue: false }),
    },
    resolve: async (_root, args, context) => {
      const sourceId = context.sources.checkSourceId(String(args.sourceId));
      // Read whole before the transaction (the upload is bounded by SX_MAX_UPLOAD_MB): in SQLite the transaction
      // holds the shared connection, and must not wait on the network inside it.
      const text = await args.file.text();
      return importUserData(context.store, sourceId, textLines(text), { skipMissing: args.skipMissing ?? false });
    },
  }),
  resetUserData: t.field({
    type: UserDataResetRef,
    authScopes: { admin: true },
    description:
      'Deletes user data of the items the filter matches, in one transaction. dryRun (the default) counts the same ' +
      'rows and deletes nothing.',
    args: {
      sourceId: t.arg.id({ required: true }),
      filter: t.arg({ type: UserDataFilterRef }),
      only: t.arg({ type: [UserDataKindRef], description: 'What to delete; omitted or empty: all three' }),
      dryRun: t.arg.boolean({ defaultValue: true }),
    },
    resolve: (_root, args, context) => {
      const sourceId = context.sources.checkSourceId(String(args.sourceId));
      const itemIds = args.filter?.itemIds?.map(String) ?? null;
      if (itemIds?.some((id) => id === '')) throw new GatewayError('BAD_USER_INPUT', 'filter.itemIds must not hold an empty id');
      return resetUserData(context.store, sourceId, {
        filter: { itemIds, statuses: args.filter?.statuses ?? null },
        kinds: args.only ?? null,
        dryRun: args.dryRun ?? true,
      });
    },
  }),
}));
