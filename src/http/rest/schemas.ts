import { Type, type Static, type TSchema } from 'typebox';

/**
 * The JSON Schemas of the REST face, written once: Fastify validates requests with them, serialises responses
 * with them, and @fastify/swagger builds /openapi.json from them. Shapes and bounds are the original's
 * (origin-rest.md); names stay snake_case because the plugin reads them so.
 */

const nullable = <T extends TSchema & { type: string }>(schema: T) =>
  Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });

export const NullableString = nullable(Type.String());
export const NullableInteger = nullable(Type.Integer());
export const NullableBoolean = nullable(Type.Boolean());
/** The original's SQLite flags (`bookmarked`, `enabled`, `is_default`): integers 0 or 1. */
export const Flag = Type.Integer({ minimum: 0, maximum: 1 });

const BOOLEAN_WORDS = ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', 't', 'f', 'y', 'n'];
const caseless = (word: string) => [...word].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c)).join('');
const TRUE_WORDS = new Set(['true', '1', 'yes', 'on', 't', 'y']);

/** A boolean in the query string, as the original reads one: the words above, in any case. */
export const QueryBoolean = Type.String({
  pattern: `^(?:${BOOLEAN_WORDS.map(caseless).join('|')})$`,
  description: 'true/false, 1/0, yes/no, on/off, t/f or y/n, in any case',
});

export function queryBoolean(value: string | undefined): boolean | undefined {
  return value === undefined ? undefined : TRUE_WORDS.has(value.toLowerCase());
}

/** Comma lists are strings in the query, split by the route. */
const CommaList = (description: string) => Type.String({ description: `${description}; a comma list` });

export const ITEM_ORDER_VALUES = ['recent', 'bookmarked', 'author', 'status', 'rating'] as const;
export const AUTHOR_ORDER_VALUES = ['count', 'bookmarked', 'name'] as const;

const pageParams = (defaultLimit: number, maxLimit: number) => ({
  limit: Type.Integer({ minimum: 1, maximum: maxLimit, default: defaultLimit }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});

/** The filters `GET /items` and `GET /notes` share (origin-rest.md 3.4), with the source selection. */
const itemFilterParams = {
  q: Type.Optional(Type.String({ description: 'Substring of caption, handle, author name or id' })),
  caption_q: Type.Optional(Type.String({ description: 'Caption words or "quoted phrases", all required; -word excludes' })),
  bookmarked_only: Type.Optional(QueryBoolean),
  bookmark_from: Type.Optional(Type.String({ description: 'YYYY-MM-DD, inclusive' })),
  bookmark_to: Type.Optional(Type.String({ description: 'YYYY-MM-DD, inclusive' })),
  author_unique_id: Type.Optional(CommaList('Author handles, any of which matches')),
  author_id: Type.Optional(CommaList('Author ids, any of which matches')),
  status: Type.Optional(CommaList('Statuses, any of which matches; an empty value matches items without one')),
  rating_min: Type.Optional(Type.Number({ minimum: 0, maximum: 5 })),
  rating_max: Type.Optional(Type.Number({ minimum: 0, maximum: 5 })),
  tag: Type.Optional(CommaList('Tags, any of which matches')),
  has_notes: Type.Optional(QueryBoolean),
  order: Type.Optional(Type.Union(ITEM_ORDER_VALUES.map((value) => Type.Literal(value)), { default: 'recent' })),
};

const sourceParam = {
  source_id: Type.Optional(Type.String({ description: 'The source; the X-SX-Source-ID header wins over it' })),
};

export const ItemsQuery = Type.Object({ ...sourceParam, ...itemFilterParams, ...pageParams(50, 2000) });
export type ItemsQuery = Static<typeof ItemsQuery>;

export const NotesQuery = Type.Object({
  ...sourceParam,
  ...itemFilterParams,
  ...pageParams(200, 500),
  force: Type.Optional(QueryBoolean),
  pathlinker_group: Type.Optional(Type.String({ description: 'PathLinker group for these renders only; they are not stored' })),
});
export type NotesQuery = Static<typeof NotesQuery>;

export const NoteQuery = Type.Object({
  ...sourceParam,
  force: Type.Optional(QueryBoolean),
  pathlinker_group: Type.Optional(Type.String()),
});
export type NoteQuery = Static<typeof NoteQuery>;

export const SearchQuery = Type.Object({
  ...sourceParam,
  q: Type.String({ default: '' }),
  limit: Type.Integer({ default: 50, description: 'A negative value asks for the largest page' }),
  offset: Type.Integer({ default: 0, description: 'A negative value counts as 0' }),
});
export type SearchQuery = Static<typeof SearchQuery>;

export const AuthorsQuery = Type.Object({
  ...sourceParam,
  q: Type.String({ default: '' }),
  ...pageParams(200, 2000),
  bookmarked_only: Type.Optional(QueryBoolean),
  order: Type.Union(AUTHOR_ORDER_VALUES.map((value) => Type.Literal(value)), { default: 'count' }),
});
export type AuthorsQuery = Static<typeof AuthorsQuery>;

export const SourceQuery = Type.Object(sourceParam);
export type SourceQuery = Static<typeof SourceQuery>;

export const ItemParams = Type.Object({ item_id: Type.String({ minLength: 1, maxLength: 200 }) });
export type ItemParams = Static<typeof ItemParams>;

export const SourceParams = Type.Object({ source_id: Type.String() });
export type SourceParams = Static<typeof SourceParams>;

// ---- response shapes ----

/** The user meta object (3.3); `video_id` only in the meta routes. */
const metaFields = {
  rating: NullableInteger,
  status: NullableString,
  statuses: Type.Array(Type.String()),
  tags: NullableString,
  notes: NullableString,
  product_link: NullableString,
  author_links: Type.Array(Type.String()),
  platform_targets: NullableString,
  workflow_log: NullableString,
  post_url: NullableString,
  published_time: NullableString,
  updated_at: NullableString,
};
export const Meta = Type.Object(metaFields);
export const MetaWithId = Type.Object({ video_id: Type.String(), ...metaFields });

export const ListedItem = Type.Object({
  id: Type.String(),
  platform: NullableString,
  author_id: NullableString,
  author_unique_id: NullableString,
  author_name: NullableString,
  caption: NullableString,
  bookmarked: Flag,
  video_path: Type.String(),
  cover_path: Type.String(),
  updated_at: NullableString,
  meta: Meta,
});

export const ItemsPage = Type.Object({
  items: Type.Array(ListedItem),
  limit: Type.Integer(),
  offset: Type.Integer(),
  total: Type.Integer(),
});

export const StoredItem = Type.Object({
  item: Type.Object({
    source_id: Type.String(),
    id: Type.String(),
    platform: NullableString,
    author_id: NullableString,
    author_unique_id: NullableString,
    author_name: NullableString,
    followers: NullableInteger,
    hearts: NullableInteger,
    videos_count: NullableInteger,
    signature: NullableString,
    is_private: nullable(Flag),
    caption: NullableString,
    bookmarked: Flag,
    bookmark_timestamp: NullableString,
    video_path: NullableString,
    cover_path: NullableString,
    csv_row_hash: NullableString,
    updated_at: NullableString,
  }),
});

export const SearchPage = Type.Object({
  results: Type.Array(
    Type.Object({
      id: Type.String(),
      author_unique_id: NullableString,
      author_name: NullableString,
      snippet: NullableString,
      bookmarked: Flag,
    }),
  ),
  limit: Type.Integer(),
  offset: Type.Integer(),
});

export const AuthorsPage = Type.Object({
  authors: Type.Array(
    Type.Object({
      author_id: NullableString,
      author_unique_id: NullableString,
      author_name: NullableString,
      items_count: Type.Integer(),
      bookmarked_count: Type.Integer(),
    }),
  ),
  limit: Type.Integer(),
  offset: Type.Integer(),
  total: Type.Integer(),
});

export const NotesPage = Type.Object({
  notes: Type.Array(
    Type.Object({
      id: Type.String(),
      bookmarked: Type.Boolean(),
      author_unique_id: NullableString,
      author_name: NullableString,
      markdown: Type.String(),
    }),
  ),
  limit: Type.Integer(),
  offset: Type.Integer(),
  total: Type.Integer(),
});

export const NoteAnswer = Type.Object({
  id: Type.String(),
  markdown: Type.String(),
  cached: Type.Boolean(),
  template_version: NullableString,
  stale: Type.Boolean(),
});

export const NotePut = Type.Object({
  markdown: Type.String(),
  template_version: Type.Optional(NullableString),
});
export type NotePut = Static<typeof NotePut>;

export const NotePutAnswer = Type.Object({
  ok: Type.Boolean(),
  id: Type.String(),
  template_version: Type.String(),
  updated_at: NullableString,
});

const stringOrList = Type.Unsafe<string | string[] | null>({
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }, { type: 'null' }],
});

/** Every field optional; omitted ones become null, except author_links, which is kept when omitted (4.9). */
export const MetaPut = Type.Object({
  rating: Type.Optional(NullableInteger),
  status: Type.Optional(NullableString),
  statuses: Type.Optional(stringOrList),
  tags: Type.Optional(NullableString),
  notes: Type.Optional(NullableString),
  product_link: Type.Optional(NullableString),
  author_links: Type.Optional(stringOrList),
  platform_targets: Type.Optional(NullableString),
  workflow_log: Type.Optional(NullableString),
  post_url: Type.Optional(NullableString),
  published_time: Type.Optional(NullableString),
});
export type MetaPut = Static<typeof MetaPut>;

export const MetaAnswer = Type.Object({ meta: MetaWithId });

export const Links = Type.Object({
  id: Type.String(),
  video_path: Type.String(),
  cover_path: Type.String(),
  video_abs: Type.String(),
  cover_abs: Type.String(),
  sxopen_video: Type.String(),
  sxreveal_video: Type.String(),
  sxopen_cover: Type.String(),
  sxreveal_cover: Type.String(),
});

const rawRow = nullable(
  Type.Object({ row_json: Type.String(), csv_row_hash: Type.Optional(NullableString), imported_at: Type.String() }) as TSchema & {
    type: 'object';
  },
);
export const RawAnswer = Type.Object({
  id: Type.String(),
  raw: Type.Object({ consolidated: rawRow, bookmark: rawRow, author: rawRow }),
});

/** The backend context the original reports (section 2 step 7), with the gateway's own fields beside it. */
export const Backend = Type.Object(
  {
    backend: Type.String(),
    active: Type.Boolean(),
    source_id: NullableString,
    schema: NullableString,
    search_path: NullableString,
  },
  { additionalProperties: true },
);

export const Stats = Type.Object({
  db_path: Type.String(),
  source_id: Type.String(),
  source_mode: Type.String(),
  backend: Backend,
  fts_enabled: Type.Boolean(),
  has_fts_table: Type.Boolean(),
  counts: Type.Object({
    items: Type.Integer(),
    bookmarked: Type.Integer(),
    authors: Type.Integer(),
    fts_rows: NullableInteger,
  }),
  last_updated_at: NullableString,
});

export const SourceRow = Type.Object({
  id: Type.String(),
  label: NullableString,
  kind: NullableString,
  description: NullableString,
  enabled: Flag,
  is_default: Flag,
  created_at: NullableString,
  updated_at: NullableString,
});

export const SourcesAnswer = Type.Object({ sources: Type.Array(SourceRow), default_source_id: NullableString });

export const SourcePost = Type.Object({
  id: Type.String(),
  label: Type.Optional(NullableString),
  kind: Type.Optional(NullableString),
  description: Type.Optional(NullableString),
  enabled: Type.Optional(Type.Boolean()),
  make_default: Type.Optional(Type.Boolean()),
});
export type SourcePost = Static<typeof SourcePost>;

export const SourcePatch = Type.Object({
  label: Type.Optional(NullableString),
  kind: Type.Optional(NullableString),
  description: Type.Optional(NullableString),
  enabled: Type.Optional(NullableBoolean),
});
export type SourcePatch = Static<typeof SourcePatch>;

export const BootstrapBody = Type.Object({ source_id: Type.String() });
export type BootstrapBody = Static<typeof BootstrapBody>;

const resetFilters = Type.Object({
  q: Type.Optional(NullableString),
  bookmarked_only: Type.Optional(Type.Boolean()),
  author_unique_id: Type.Optional(NullableString),
  author_id: Type.Optional(NullableString),
  status: Type.Optional(NullableString),
  tag: Type.Optional(NullableString),
  rating_min: Type.Optional(nullable(Type.Number())),
  rating_max: Type.Optional(nullable(Type.Number())),
  has_notes: Type.Optional(NullableBoolean),
});

export const ResetBody = Type.Object({
  apply: Type.Boolean({ default: false }),
  confirm: Type.String({ default: '' }),
  filters: Type.Optional(resetFilters),
  reset_user_meta: Type.Boolean({ default: true }),
  reset_user_notes: Type.Boolean({ default: false }),
  reset_cached_notes: Type.Boolean({ default: false }),
});
export type ResetBody = Static<typeof ResetBody>;

const resetCounts = Type.Object({ user_meta: Type.Integer(), user_notes: Type.Integer(), cached_notes: Type.Integer() });
export const ResetAnswer = Type.Object({
  ok: Type.Boolean(),
  apply: Type.Boolean(),
  matched: Type.Integer(),
  would_delete: Type.Optional(resetCounts),
  deleted: Type.Optional(resetCounts),
});

/** A handler's refusal: the original's `detail`, with the gateway's error code beside it. */
export const ErrorAnswer = Type.Object(
  { detail: Type.Unsafe<unknown>({ description: 'A message, or for 422 the list of invalid parameters' }), code: Type.String() },
  { additionalProperties: true },
);
