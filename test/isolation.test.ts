import { Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import sql, { raw } from 'sql-template-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { importCsv } from '../src/import/importCsv.js';
import { listen, type RunningGateway } from '../src/http/server.js';
import { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { libraryCsv } from './support/csv.js';
import { createTestDatabase } from './support/gateway.js';
import { findPgBouncer, pgBouncerMissingBanner, startPgBouncer, type RunningPgBouncer } from './support/pgbouncer.js';

/**
 * Isolation under load: many sources holding the same item ids, many concurrent GraphQL requests (some naming
 * two sources in one operation) over real HTTP, far fewer pooled connections than requests in flight, and every
 * returned row checked against the source its alias asked for. Run directly against PostgreSQL and through
 * PgBouncer in transaction pooling mode, where one server connection serves many clients in turn.
 * `npm test` runs it small; `npm run test:soak` (SX_SOAK=1) runs the full numbers.
 */
const SOAK = process.env.SX_SOAK === '1';
/**
 * `gatewayPool` is SX_POSTGRES_POOL_MAX, the gateway's read pool (its write pool is a quarter of it, at least 2),
 * far below the requests in flight. `bouncerPool` is PgBouncer's server connections, fewer than the gateway's
 * clients, so server connections are handed from client to client, transaction by transaction, and clients
 * wait at the bouncer. (Before an operation shared one transaction across its sources, 4 server connections
 * for 10 gateway clients failed 82 of 20,000 requests: operations naming two sources each held one connection
 * and waited for a second. The "holds one connection" tests below pin that down.)
 */
const SCALE = SOAK
  ? { sources: 50, items: 1000, requests: 20_000, concurrency: 64, gatewayPool: 8, bouncerPool: 4 }
  : { sources: 10, items: 200, requests: 1_000, concurrency: 64, gatewayPool: 4, bouncerPool: 3 };
const GATEWAY_POOL = SCALE.gatewayPool;
const BOUNCER_POOL = SCALE.bouncerPool;
/** The soak runs for minutes; the small run within the suite's defaults. */
const WORKLOAD_TIMEOUT = SOAK ? 60 * 60_000 : 180_000;
const SETUP_TIMEOUT = SOAK ? 15 * 60_000 : 120_000;
/** Canary rows per foreign source in every schema (see seedSource). */
const CANARIES = 2;
const DEFAULT_SEARCH_PATH = '"$user", public';

const PGBOUNCER = findPgBouncer();
const REQUIRE_PGBOUNCER = process.env.SX_TEST_REQUIRE_PGBOUNCER === '1';
if (!PGBOUNCER) process.stderr.write(pgBouncerMissingBanner());

const SOURCE_IDS = Array.from({ length: SCALE.sources }, (_, i) => `iso_${i + 1}`);
const SOURCE_NAME = /iso_\d+/g;

// ---------------------------------------------------------------------------------------------------------
// The data: the same item ids v1..vN in every source, every text naming its source.

interface ModelItem {
  id: string;
  caption: string;
  authorUniqueId: string;
  authorName: string;
  bookmarked: boolean;
  bookmarkTimestamp: string | null;
  updatedAt: string;
  meta: { status: string; rating: number; tags: string[]; notes: string } | null;
  userNote: string | null;
}

const DAY_MS = 86_400_000;
const baseTime = (sourceIndex: number) => Date.UTC(2024, 0, 1) + sourceIndex * DAY_MS;

/** What seedSource writes, computed here, so every answer can be compared with what it must be. */
function modelOf(sourceId: string): ModelItem[] {
  const base = baseTime(SOURCE_IDS.indexOf(sourceId));
  return Array.from({ length: SCALE.items }, (_, index) => {
    const n = index + 1;
    const author = n % 7;
    const bookmarked = n % 5 === 0;
    return {
      id: `v${n}`,
      caption: `caption of ${sourceId} number ${n}`,
      authorUniqueId: `${sourceId}.author${author}`,
      authorName: `Author ${author} of ${sourceId}`,
      bookmarked,
      bookmarkTimestamp: bookmarked ? new Date(Date.UTC(2024, 2, 1) + n * 60_000).toISOString().replace('.000Z', 'Z') : null,
      updatedAt: new Date(base + n * 1000).toISOString(),
      meta:
        n % 4 === 0
          ? { status: n % 8 === 0 ? 'reviewing' : 'raw', rating: n % 6, tags: [`t-${sourceId}`, 'common'], notes: `notes of ${sourceId} on v${n}` }
          : null,
      userNote: n % 10 === 0 ? `note of ${sourceId} on v${n}` : null,
    };
  });
}

const models = new Map<string, ModelItem[]>();
const model = (sourceId: string) => models.get(sourceId) ?? models.set(sourceId, modelOf(sourceId)).get(sourceId)!;

/**
 * Bulk rows through the gateway's own write path (a transaction with the transaction-local search_path), so
 * the statements name tables without a schema. Every schema also holds canary rows tagged with the other
 * sources' ids but captioned with its own: a query bound to the wrong schema then returns foreign rows
 * instead of merely fewer rows, and the check below counts them.
 */
async function seedSource(store: PostgresStore, sourceId: string): Promise<void> {
  const base = new Date(baseTime(SOURCE_IDS.indexOf(sourceId))).toISOString().slice(0, 19);
  const others = SOURCE_IDS.filter((id) => id !== sourceId);
  // updated_at of item i: the source's own day plus i seconds, as ISO text like the importer writes it.
  const updatedAt = raw(`to_char(p.base + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
  const params = sql`SELECT ${sourceId}::text AS s, ${base}::timestamp AS base`;
  await store.withTenant(sourceId, async (db) => {
    await db.run(sql`
      WITH p AS (${params})
      INSERT INTO videos (source_id, id, platform, author_id, author_unique_id, author_name, caption, bookmarked,
                          bookmark_timestamp, updated_at)
      SELECT p.s, 'v' || i, 'test', 'a' || (i % 7), p.s || '.author' || (i % 7), 'Author ' || (i % 7) || ' of ' || p.s,
             'caption of ' || p.s || ' number ' || i, (i % 5 = 0)::int,
             CASE WHEN i % 5 = 0 THEN to_char(timestamp '2024-03-01' + i * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
             ${updatedAt}
        FROM p, generate_series(1, ${SCALE.items}::int) AS i`);
    await db.run(sql`
      WITH p AS (${params})
      INSERT INTO user_meta (source_id, video_id, rating, status, statuses, tags, notes, updated_at)
      SELECT p.s, 'v' || i, i % 6, CASE WHEN i % 8 = 0 THEN 'reviewing' ELSE 'raw' END,
             CASE WHEN i % 8 = 0 THEN '|reviewing|' ELSE '|raw|' END, 't-' || p.s || ',common',
             'notes of ' || p.s || ' on v' || i, ${updatedAt}
        FROM p, generate_series(4, ${SCALE.items}::int, 4) AS i`);
    await db.run(sql`
      WITH p AS (${params})
      INSERT INTO video_notes (source_id, video_id, markdown, template_version, updated_at)
      SELECT p.s, 'v' || i, 'note of ' || p.s || ' on v' || i, 'user', ${updatedAt}
        FROM p, generate_series(10, ${SCALE.items}::int, 10) AS i`);
    await db.run(sql`
      WITH p AS (${params})
      INSERT INTO videos (source_id, id, author_unique_id, author_name, caption, updated_at)
      SELECT t, 'v' || i, p.s || '.author0', 'Author 0 of ' || p.s, 'caption of ' || p.s || ' number ' || i, ${updatedAt}
        FROM p, unnest(${others}::text[]) AS t, generate_series(1, ${CANARIES}::int) AS i`);
  });
}

async function seed(store: PostgresStore): Promise<void> {
  // Bootstraps eight at a time: they serialise on the registry's transaction-scoped advisory lock.
  await inParallel(SOURCE_IDS, 8, (sourceId) => store.bootstrapSource({ sourceId }).then(() => undefined));
  await inParallel(SOURCE_IDS, 4, (sourceId) => seedSource(store, sourceId));
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------------------
// What the gateway must answer, from the model.

type Order = 'RECENT' | 'BOOKMARKED' | 'AUTHOR' | 'STATUS' | 'RATING';
const ORDERS: Order[] = ['RECENT', 'BOOKMARKED', 'AUTHOR', 'STATUS', 'RATING'];

interface FilterCase {
  name: string;
  filter: (sourceId: string) => Record<string, unknown>;
  keep: (item: ModelItem, sourceId: string) => boolean;
}

const lowerHas = (text: string, term: string) => text.toLowerCase().includes(term.toLowerCase());

const FILTERS: FilterCase[] = [
  { name: 'none', filter: () => ({}), keep: () => true },
  { name: 'bookmarked', filter: () => ({ bookmarkedOnly: true }), keep: (item) => item.bookmarked },
  {
    name: 'q',
    filter: () => ({ q: 'number 1' }),
    keep: (item) => [item.caption, item.authorUniqueId, item.authorName, item.id].some((text) => lowerHas(text, 'number 1')),
  },
  // The source's own name takes part here: iso_7 and iso_17 hold no caption without a 7.
  { name: 'captionQ', filter: () => ({ captionQ: 'number -7' }), keep: (item) => lowerHas(item.caption, 'number') && !lowerHas(item.caption, '7') },
  { name: 'status', filter: () => ({ statuses: ['reviewing'] }), keep: (item) => item.meta?.status === 'reviewing' },
  { name: 'rating', filter: () => ({ ratingMin: 3 }), keep: (item) => (item.meta?.rating ?? -1) >= 3 },
  { name: 'tag', filter: (s) => ({ tag: `t-${s}` }), keep: (item, s) => item.meta?.tags.includes(`t-${s}`) ?? false },
  { name: 'author', filter: (s) => ({ authorUniqueIds: [`${s}.author3`] }), keep: (item, s) => item.authorUniqueId === `${s}.author3` },
  { name: 'notes', filter: () => ({ hasNotes: true }), keep: (item) => item.meta !== null },
];

/** Byte-wise, like the "C" collation of the ordered columns; nulls last. */
function compareText(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}
/** Descending, nulls still last (the orders spell out NULLS LAST). */
const compareTextDesc = (a: string | null, b: string | null) => (a === null || b === null ? compareText(a, b) : compareText(b, a));
const compareNumberDesc = (a: number | null, b: number | null) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : b - a);
const recentThenId = (a: ModelItem, b: ModelItem) => compareTextDesc(a.updatedAt, b.updatedAt) || compareText(a.id, b.id);

const ORDER_COMPARE: Record<Order, (a: ModelItem, b: ModelItem) => number> = {
  RECENT: recentThenId,
  BOOKMARKED: (a, b) =>
    Number(b.bookmarked) - Number(a.bookmarked) || compareTextDesc(a.bookmarkTimestamp, b.bookmarkTimestamp) || recentThenId(a, b),
  AUTHOR: (a, b) => compareText(a.authorUniqueId, b.authorUniqueId) || compareText(a.id, b.id),
  STATUS: (a, b) => compareText(a.meta?.status ?? null, b.meta?.status ?? null) || recentThenId(a, b),
  RATING: (a, b) => compareNumberDesc(a.meta?.rating ?? null, b.meta?.rating ?? null) || recentThenId(a, b),
};

const expectedLists = new Map<string, ModelItem[]>();
function expectedList(sourceId: string, filter: FilterCase, order: Order): ModelItem[] {
  const key = `${sourceId}|${filter.name}|${order}`;
  let list = expectedLists.get(key);
  if (!list) {
    list = model(sourceId).filter((item) => filter.keep(item, sourceId)).sort(ORDER_COMPARE[order]);
    expectedLists.set(key, list);
  }
  return list;
}

function authorsOf(sourceId: string): { authorUniqueId: string; itemsCount: number; bookmarkedCount: number }[] {
  const byAuthor = new Map<string, { authorUniqueId: string; itemsCount: number; bookmarkedCount: number }>();
  for (const item of model(sourceId)) {
    const entry = byAuthor.get(item.authorUniqueId) ?? { authorUniqueId: item.authorUniqueId, itemsCount: 0, bookmarkedCount: 0 };
    entry.itemsCount += 1;
    entry.bookmarkedCount += item.bookmarked ? 1 : 0;
    byAuthor.set(item.authorUniqueId, entry);
  }
  return [...byAuthor.values()].sort((a, b) => b.itemsCount - a.itemsCount || compareText(a.authorUniqueId, b.authorUniqueId));
}

// ---------------------------------------------------------------------------------------------------------
// The workload: operations of one or two aliased sources, each asking for a few of these parts.

type Part = 'page' | 'lookup' | 'stats' | 'search' | 'authors' | 'backend';
const COMBOS: Part[][] = [
  ['page'],
  ['page', 'stats'],
  ['lookup'],
  ['lookup', 'stats', 'backend'],
  ['search', 'authors'],
  ['page', 'search'],
  ['stats', 'authors', 'lookup'],
];

interface AliasPlan {
  alias: string;
  sourceId: string;
  parts: Part[];
  first: number;
  order: Order;
  filter: FilterCase;
  /** Item ids to look up: mostly present ones, sometimes a canary id or one no source holds. */
  lookups: [string, string];
  searchFirst: number;
}

interface RequestPlan {
  query: string;
  variables: Record<string, unknown>;
  aliases: AliasPlan[];
  /** Rows the checks must see in a correct answer. */
  expectedRows: number;
}

/** A small seeded generator, so a failing run can be repeated request for request. */
function randomSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ITEM_FIELDS = 'id caption authorUniqueId authorName bookmarked';

function selection(plan: AliasPlan): string {
  const v = (name: string) => `$${plan.alias}_${name}`;
  const fields: string[] = ['sourceId'];
  for (const part of plan.parts) {
    if (part === 'page') {
      fields.push(`items(first: ${v('first')}, order: ${v('order')}, filter: ${v('filter')}) {
        totalCount nodes { ${ITEM_FIELDS} meta { status rating tags notes } } }`);
    } else if (part === 'lookup') {
      fields.push(`x: item(id: ${v('id1')}) { ${ITEM_FIELDS} meta { notes tags } note { markdown origin } }
        y: item(id: ${v('id2')}) { ${ITEM_FIELDS} }`);
    } else if (part === 'stats') {
      fields.push('stats { items bookmarked authors lastUpdatedAt }');
    } else if (part === 'search') {
      fields.push(`search(query: "caption", first: ${v('sfirst')}) { totalCount nodes { ${ITEM_FIELDS} } }`);
    } else if (part === 'authors') {
      fields.push('authors(first: 20) { totalCount nodes { authorUniqueId authorName itemsCount bookmarkedCount } }');
    } else {
      fields.push('backend { schema searchPath }');
    }
  }
  return `${plan.alias}: source(sourceId: ${v('source')}) { ${fields.join('\n')} }`;
}

function variableDefinitions(plan: AliasPlan): string[] {
  const v = (name: string, type: string) => `$${plan.alias}_${name}: ${type}`;
  const defs = [v('source', 'ID!')];
  if (plan.parts.includes('page')) defs.push(v('first', 'Int'), v('order', 'ItemOrder'), v('filter', 'ItemFilter'));
  if (plan.parts.includes('lookup')) defs.push(v('id1', 'ID!'), v('id2', 'ID!'));
  if (plan.parts.includes('search')) defs.push(v('sfirst', 'Int'));
  return defs;
}

function variablesOf(plan: AliasPlan): Record<string, unknown> {
  const values: Record<string, unknown> = { source: plan.sourceId };
  if (plan.parts.includes('page')) Object.assign(values, { first: plan.first, order: plan.order, filter: plan.filter.filter(plan.sourceId) });
  if (plan.parts.includes('lookup')) Object.assign(values, { id1: plan.lookups[0], id2: plan.lookups[1] });
  if (plan.parts.includes('search')) values.sfirst = plan.searchFirst;
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [`${plan.alias}_${name}`, value]));
}

function rowsExpected(plan: AliasPlan): number {
  let rows = 0;
  for (const part of plan.parts) {
    if (part === 'page') rows += Math.min(plan.first, expectedList(plan.sourceId, plan.filter, plan.order).length);
    if (part === 'lookup') rows += plan.lookups.filter((id) => itemOf(plan.sourceId, id)).length;
    if (part === 'stats') rows += 1;
    if (part === 'search') rows += Math.min(plan.searchFirst, SCALE.items);
    if (part === 'authors') rows += authorsOf(plan.sourceId).length;
  }
  return rows;
}

function itemOf(sourceId: string, id: string): ModelItem | undefined {
  const n = Number(id.slice(1));
  return /^v\d+$/.test(id) ? model(sourceId)[n - 1] : undefined;
}

function planRequests(count: number, seed: number): RequestPlan[] {
  const random = randomSource(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const lookupId = () => {
    const roll = random();
    if (roll < 0.1) return `v${1 + Math.floor(random() * CANARIES)}`;
    if (roll < 0.15) return 'v0';
    return `v${1 + Math.floor(random() * SCALE.items)}`;
  };
  const alias = (name: string, sourceId: string, parts: Part[]): AliasPlan => ({
    alias: name,
    sourceId,
    parts,
    first: 1 + Math.floor(random() * 25),
    order: pick(ORDERS),
    filter: pick(FILTERS),
    lookups: [lookupId(), lookupId()],
    searchFirst: 1 + Math.floor(random() * 10),
  });
  return Array.from({ length: count }, () => {
    const first = pick(SOURCE_IDS);
    const aliases = [alias('a', first, pick(COMBOS))];
    // Over half the operations name two sources; a few name the same source twice (one shared binding).
    if (random() < 0.55) aliases.push(alias('b', random() < 0.05 ? first : pick(SOURCE_IDS.filter((id) => id !== first)), pick(COMBOS)));
    const query = `query Isolation(${aliases.flatMap(variableDefinitions).join(', ')}) {\n${aliases.map(selection).join('\n')}\n}`;
    return {
      query,
      variables: Object.assign({}, ...aliases.map(variablesOf)),
      aliases,
      expectedRows: aliases.reduce((sum, plan) => sum + rowsExpected(plan), 0),
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Checking an answer.

interface Tally {
  checkedRows: number;
  foreignRows: number;
  errors: number;
  problems: string[];
}

type Node = Record<string, any>;

/** Sources a value names anywhere in its text. */
function sourcesNamed(value: unknown): Set<string> {
  return new Set(JSON.stringify(value).match(SOURCE_NAME) ?? []);
}

function checkAlias(plan: AliasPlan, answer: Node | null | undefined, tally: Tally): void {
  const problem = (text: string) => {
    if (tally.problems.length < 20) tally.problems.push(`${plan.alias}=${plan.sourceId}: ${text}`);
  };
  if (!answer) return problem('no answer');
  // A row of the alias's answer that names another source is foreign, whatever field names it.
  const row = (node: Node | null, expected: Node | undefined, what: string) => {
    tally.checkedRows += 1;
    const named = sourcesNamed(node);
    if ([...named].some((name) => name !== plan.sourceId)) {
      tally.foreignRows += 1;
      return problem(`foreign ${what}: ${JSON.stringify(node)}`);
    }
    if (expected) for (const [key, value] of Object.entries(expected)) {
      if (!isDeepStrictEqual(node?.[key], value)) problem(`${what}.${key} is ${JSON.stringify(node?.[key])}, expected ${JSON.stringify(value)}`);
    }
  };
  const itemFields = (item: ModelItem) => ({
    id: item.id,
    caption: item.caption,
    authorUniqueId: item.authorUniqueId,
    authorName: item.authorName,
    bookmarked: item.bookmarked,
  });
  if (answer.sourceId !== plan.sourceId) problem(`sourceId is ${answer.sourceId}`);
  for (const part of plan.parts) {
    if (part === 'page') {
      const list = expectedList(plan.sourceId, plan.filter, plan.order);
      const page = answer.items;
      if (page?.totalCount !== list.length) problem(`items(${plan.filter.name}).totalCount is ${page?.totalCount}, expected ${list.length}`);
      const nodes: Node[] = page?.nodes ?? [];
      const wanted = list.slice(0, plan.first);
      if (nodes.length !== wanted.length) problem(`items(${plan.filter.name}, ${plan.order}) has ${nodes.length} nodes, expected ${wanted.length}`);
      nodes.forEach((node, i) => {
        const item = wanted[i];
        row(node, item && { ...itemFields(item), meta: item.meta ?? { status: null, rating: null, tags: [], notes: null } }, `items[${i}]`);
      });
    } else if (part === 'lookup') {
      plan.lookups.forEach((id, i) => {
        const node: Node | null = answer[i === 0 ? 'x' : 'y'];
        const item = itemOf(plan.sourceId, id);
        if (!item) {
          if (node !== null) {
            if ([...sourcesNamed(node)].some((name) => name !== plan.sourceId)) tally.foreignRows += 1;
            problem(`item(${id}) should not exist, got ${JSON.stringify(node)}`);
          }
          return;
        }
        if (!node) return problem(`item(${id}) is missing`);
        const expected: Node = itemFields(item);
        if (i === 0) {
          expected.meta = { notes: item.meta?.notes ?? null, tags: item.meta?.tags ?? [] };
          const note = node.note as { markdown: string; origin: string } | undefined;
          const noteOk = item.userNote
            ? note?.origin === 'USER' && note.markdown === item.userNote
            : note?.origin === 'RENDERED' && note.markdown.includes(item.caption);
          if (!noteOk) problem(`item(${id}).note is ${JSON.stringify(note)}`);
        }
        row(node, expected, `item(${id})`);
      });
    } else if (part === 'stats') {
      const items = model(plan.sourceId);
      const last = items.reduce((max, item) => (item.updatedAt > max ? item.updatedAt : max), '');
      const stats = answer.stats as Node | undefined;
      row(stats ?? null, { items: items.length, bookmarked: items.filter((item) => item.bookmarked).length, authors: 7 }, 'stats');
      // lastUpdatedAt differs per source (each source's clock starts on its own day).
      if (!stats || Date.parse(stats.lastUpdatedAt) !== Date.parse(last)) problem(`stats.lastUpdatedAt is ${stats?.lastUpdatedAt}, expected ${last}`);
    } else if (part === 'search') {
      const search = answer.search as Node | undefined;
      if (search?.totalCount !== SCALE.items) problem(`search.totalCount is ${search?.totalCount}`);
      const nodes: Node[] = search?.nodes ?? [];
      if (nodes.length !== Math.min(plan.searchFirst, SCALE.items)) problem(`search has ${nodes.length} nodes`);
      for (const node of nodes) {
        const item = itemOf(plan.sourceId, String(node.id));
        if (!item) problem(`search found an item no source holds: ${JSON.stringify(node)}`);
        row(node, item && itemFields(item), `search ${node.id}`);
      }
    } else if (part === 'authors') {
      const expected = authorsOf(plan.sourceId);
      const authors = answer.authors as Node | undefined;
      if (authors?.totalCount !== expected.length) problem(`authors.totalCount is ${authors?.totalCount}`);
      const nodes: Node[] = authors?.nodes ?? [];
      if (nodes.length !== expected.length) problem(`authors has ${nodes.length} nodes`);
      nodes.forEach((node, i) => row(node, expected[i], `authors[${i}]`));
    } else {
      const schema = `sx_${plan.sourceId}`;
      if (answer.backend?.schema !== schema || answer.backend?.searchPath !== `"${schema}", public`) {
        problem(`backend is ${JSON.stringify(answer.backend)}`);
      }
    }
  }
}

interface RunSummary extends Tally {
  label: string;
  requests: number;
  expectedRows: number;
  durationMs: number;
}

async function runWorkload(label: string, endpoint: string, plans: RequestPlan[], concurrency: number): Promise<RunSummary> {
  const tally: Tally = { checkedRows: 0, foreignRows: 0, errors: 0, problems: [] };
  const started = performance.now();
  await inParallel(plans, concurrency, async (plan) => {
    try {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
        body: JSON.stringify({ query: plan.query, variables: plan.variables }),
      });
      const body = (await response.json()) as { data?: Node; errors?: { message: string; extensions?: { code?: string } }[] };
      if (response.status !== 200 || body.errors) {
        tally.errors += 1;
        if (tally.problems.length < 20) tally.problems.push(`HTTP ${response.status}: ${JSON.stringify(body.errors ?? body).slice(0, 400)}`);
      }
      for (const alias of plan.aliases) checkAlias(alias, body.data?.[alias.alias], tally);
    } catch (error) {
      tally.errors += 1;
      if (tally.problems.length < 20) tally.problems.push(`request failed: ${(error as Error).message}`);
    }
  });
  return {
    ...tally,
    label,
    requests: plans.length,
    expectedRows: plans.reduce((sum, plan) => sum + plan.expectedRows, 0),
    durationMs: performance.now() - started,
  };
}

function report(summary: RunSummary, pools: string): void {
  const seconds = summary.durationMs / 1000;
  process.stdout.write(
    `[isolation] ${summary.label}: ${summary.requests} requests (${SCALE.sources} sources x ${SCALE.items} items), ` +
      `${summary.checkedRows} rows checked (expected ${summary.expectedRows}), ${summary.foreignRows} foreign rows, ` +
      `${summary.errors} errors, ${seconds.toFixed(1)} s, ${Math.round(summary.requests / seconds)} req/s, ` +
      `${pools}, concurrency ${SCALE.concurrency}\n`,
  );
}

function expectClean(summary: RunSummary): void {
  expect(summary.problems).toEqual([]);
  expect(summary.errors).toBe(0);
  expect(summary.foreignRows).toBe(0);
  // The checks saw every row a correct answer holds, so the run cannot pass by checking nothing.
  expect(summary.checkedRows).toBe(summary.expectedRows);
  expect(summary.checkedRows).toBeGreaterThan(summary.requests);
}

// ---------------------------------------------------------------------------------------------------------
// The gateway under test and the state of its pools afterwards.

interface Gateway {
  store: PostgresStore;
  endpoint: string;
  close(): Promise<void>;
}

/** A real gateway over HTTP whose store connects to `dsn`: the database itself, or a PgBouncer in front of it. */
async function startGateway(dsn: string, poolMax = GATEWAY_POOL): Promise<Gateway> {
  const config = loadConfig({
    SX_DB_BACKEND_MODE: 'POSTGRES_PRIMARY',
    SX_POSTGRES_DSN: dsn,
    SX_POSTGRES_POOL_MAX: String(poolMax),
  });
  const store = new PostgresStore({ dsn, config });
  let server: RunningGateway;
  try {
    await store.prepare();
    server = await listen(store, config, { host: '127.0.0.1', port: 0 });
  } catch (error) {
    await store.close();
    throw error;
  }
  return {
    store,
    endpoint: `${server.url}/graphql`,
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}

/** Both pools are idle (nothing checked out, nobody waiting) and every pooled connection has the default path. */
async function expectPoolsIdleAndClean(store: PostgresStore): Promise<void> {
  // A binding ends (commit, client released) before its response is written, so the pools are idle already.
  for (const pool of [store.pool, store.writePool]) {
    expect(pool.waitingCount).toBe(0);
    expect(pool.idleCount).toBe(pool.totalCount);
    const clients = await Promise.all(Array.from({ length: pool.totalCount }, () => pool.connect()));
    try {
      for (const client of clients) expect((await client.query('SHOW search_path')).rows[0].search_path).toBe(DEFAULT_SEARCH_PATH);
    } finally {
      for (const client of clients) client.release();
    }
  }
}

/** No server session of the database is left inside a transaction. */
async function expectNoOpenTransactions(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'`,
    );
    expect(rows[0].n).toBe(0);
  } finally {
    await client.end();
  }
}

async function graphql(endpoint: string, query: string): Promise<{ data?: Node; errors?: { extensions?: { code?: string } }[] }> {
  const response = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return (await response.json()) as { data?: Node; errors?: { extensions?: { code?: string } }[] };
}

const ONE_SOURCE = '{ a: source(sourceId: "iso_1") { item(id: "v3") { caption } } }';
const TWO_SOURCES = `{ a: source(sourceId: "iso_1") { item(id: "v3") { caption } }
                       b: source(sourceId: "iso_2") { item(id: "v3") { caption } } }`;

const captionOwner = (caption: string) => /^caption of (\S+) number \d+$/.exec(caption)?.[1] ?? null;

// ---------------------------------------------------------------------------------------------------------

describe('isolation under load: directly against PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let gateway: Gateway;
  beforeAll(async () => {
    database = await createTestDatabase();
    gateway = await startGateway(database.url);
    await seed(gateway.store);
  }, SETUP_TIMEOUT);
  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  it(`answers ${SCALE.requests} mixed requests at concurrency ${SCALE.concurrency} with only the asked-for source's rows`, async () => {
    const summary = await runWorkload('direct PostgreSQL', gateway.endpoint, planRequests(SCALE.requests, 1), SCALE.concurrency);
    report(summary, `gateway pools ${gateway.store.pool.options.max} read + ${gateway.store.writePool.options.max} write`);
    expectClean(summary);
    await expectPoolsIdleAndClean(gateway.store);
    await expectNoOpenTransactions(database.url);
  }, WORKLOAD_TIMEOUT);

  // An operation naming several sources holds one pooled client, one transaction, whatever the number of
  // sources: holding one while waiting for another is how small pools used to stall (a read pool of 2 at
  // concurrency 64 failed 15 of 2,000 requests that way).
  it('an operation naming two sources holds one connection: it is served by a read pool of one client', async () => {
    const small = await startGateway(database.url, 1);
    small.store.pool.options.connectionTimeoutMillis = 2000;
    try {
      const one = await graphql(small.endpoint, ONE_SOURCE);
      expect(one.errors).toBeUndefined();
      expect(one.data?.a.item.caption).toBe('caption of iso_1 number 3');
      const answers = await Promise.all(Array.from({ length: 8 }, () => graphql(small.endpoint, TWO_SOURCES)));
      for (const two of answers) {
        expect(two.errors).toBeUndefined();
        expect(two.data?.a.item.caption).toBe('caption of iso_1 number 3');
        expect(two.data?.b.item.caption).toBe('caption of iso_2 number 3');
      }
      expect(small.store.pool.totalCount).toBe(1);
      await expectPoolsIdleAndClean(small.store);
    } finally {
      await small.close();
    }
  });

  it('control: a session-level SET on a plain pool reaches the next user of the connection', async () => {
    const naive = new pg.Pool({ connectionString: database.url, max: 1 });
    try {
      // Request A binds its source, request B binds another, then A reads: both ran on the one pooled connection.
      await naive.query('SET search_path TO sx_iso_1');
      await naive.query('SET search_path TO sx_iso_2');
      const { rows } = await naive.query<{ caption: string }>("SELECT caption FROM videos WHERE source_id = 'iso_1' ORDER BY id");
      expect(rows.length).toBe(CANARIES);
      expect(rows.every((row) => captionOwner(row.caption) === 'iso_2')).toBe(true);
      // And the setting outlived both requests.
      expect((await naive.query('SHOW search_path')).rows[0].search_path).toBe('sx_iso_2');
    } finally {
      await naive.end();
    }
  });
});

describe.skipIf(!PGBOUNCER && !REQUIRE_PGBOUNCER)('isolation under load: through PgBouncer in transaction pooling mode', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let bouncer: RunningPgBouncer;
  let gateway: Gateway;
  beforeAll(async () => {
    if (!PGBOUNCER) throw new Error(`SX_TEST_REQUIRE_PGBOUNCER=1 but PgBouncer is missing.\n${pgBouncerMissingBanner()}`);
    database = await createTestDatabase();
    bouncer = await startPgBouncer(database.url, { poolSize: BOUNCER_POOL });
    // Everything, bootstrap (DDL under the registry's advisory lock) and seeding included, goes through the bouncer.
    gateway = await startGateway(bouncer.url);
    await seed(gateway.store);
  }, SETUP_TIMEOUT);
  afterAll(async () => {
    await gateway?.close();
    await bouncer?.stop();
    await database?.drop();
  });

  it(`answers ${SCALE.requests} mixed requests at concurrency ${SCALE.concurrency} with only the asked-for source's rows`, async () => {
    const summary = await runWorkload('through PgBouncer', gateway.endpoint, planRequests(SCALE.requests, 2), SCALE.concurrency);
    report(
      summary,
      `gateway pools ${gateway.store.pool.options.max} read + ${gateway.store.writePool.options.max} write ` +
        `over ${BOUNCER_POOL} PgBouncer server connections`,
    );
    expectClean(summary);
    await expectPoolsIdleAndClean(gateway.store);
    await expectNoOpenTransactions(database.url);

    // The bouncer: no client waiting, no server connection held by a client.
    const admin = new pg.Client({ connectionString: bouncer.adminUrl });
    await admin.connect();
    try {
      const pools = (await admin.query('SHOW POOLS')).rows.filter((row) => row.database === bouncer.database);
      expect(pools).toHaveLength(1);
      expect(Number(pools[0].cl_waiting)).toBe(0);
      expect(Number(pools[0].sv_active)).toBe(0);
    } finally {
      await admin.end();
    }
    // Every server connection the bouncer holds has the default search_path: holding one transaction open per
    // pool slot reaches each of them.
    const clients = Array.from({ length: BOUNCER_POOL }, () => new pg.Client({ connectionString: bouncer.url }));
    try {
      await Promise.all(clients.map((client) => client.connect()));
      const seen = await Promise.all(
        clients.map(async (client) => {
          await client.query('BEGIN');
          const { rows } = await client.query('SELECT pg_backend_pid() AS pid, current_setting($1) AS path', ['search_path']);
          return rows[0] as { pid: number; path: string };
        }),
      );
      expect(new Set(seen.map((s) => s.pid)).size).toBe(BOUNCER_POOL);
      for (const server of seen) expect(server.path).toBe(DEFAULT_SEARCH_PATH);
      await Promise.all(clients.map((client) => client.query('ROLLBACK')));
    } finally {
      await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    }
  }, WORKLOAD_TIMEOUT);

  // The same one level down: behind PgBouncer what runs short is server connections, which the gateway's pool
  // cannot see. One server connection serves operations naming two sources, several at once.
  it('an operation naming two sources holds one server connection: one PgBouncer connection serves them', async () => {
    const single = await startPgBouncer(database.url, { poolSize: 1, queryWaitTimeoutSeconds: 5 });
    const small = await startGateway(single.url, 2).catch(async (error: unknown) => {
      await single.stop();
      throw error;
    });
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, () => graphql(small.endpoint, TWO_SOURCES)));
      for (const two of answers) {
        expect(two.errors, JSON.stringify(two.errors)).toBeUndefined();
        expect(two.data?.a.item.caption).toBe('caption of iso_1 number 3');
        expect(two.data?.b.item.caption).toBe('caption of iso_2 number 3');
      }
    } finally {
      await small.close();
      await single.stop();
    }
  });

  it('imports a CSV (COPY into transaction-scoped staging tables) through the bouncer', async () => {
    const summary = await importCsv(gateway.store, 'iso_imported', { consolidated: () => Readable.from([libraryCsv('iso_imported', 50)]) }, { create: true });
    expect(summary.inserted).toBe(50);
    const body = await graphql(gateway.endpoint, '{ source(sourceId: "iso_imported") { items(first: 100) { nodes { caption } } } }');
    expect(body.errors).toBeUndefined();
    const nodes = body.data?.source.items.nodes as { caption: string }[];
    expect(nodes).toHaveLength(50);
    for (const node of nodes) expect(captionOwner(node.caption)).toBe('iso_imported');
  });

  it('control: a session-level SET through the same PgBouncer shows another source its rows', async () => {
    // One server connection makes the interleaving deterministic; a larger pool leaks the same way, by chance.
    const single = await startPgBouncer(database.url, { poolSize: 1 });
    const a = new pg.Client({ connectionString: single.url });
    const b = new pg.Client({ connectionString: single.url });
    try {
      await a.connect();
      await b.connect();
      // Two tenants' requests, each binding its schema with a session-level SET, interleaved.
      await a.query('SET search_path TO sx_iso_1');
      await b.query('SET search_path TO sx_iso_2');
      const unfiltered = (await a.query<{ caption: string }>('SELECT caption FROM videos ORDER BY id LIMIT 20')).rows;
      const filtered = (await a.query<{ caption: string }>("SELECT caption FROM videos WHERE source_id = 'iso_1'")).rows;
      const foreign = [...unfiltered, ...filtered].filter((row) => captionOwner(row.caption) !== 'iso_1');
      process.stdout.write(
        `[isolation] control, session-level SET through PgBouncer (pool_size=1): A asked for iso_1 and read ` +
          `${foreign.length} of ${unfiltered.length + filtered.length} rows from ${[...new Set(foreign.map((r) => captionOwner(r.caption)))].join(', ')}\n`,
      );
      expect(unfiltered).toHaveLength(20);
      expect(filtered).toHaveLength(CANARIES);
      expect(foreign).toHaveLength(unfiltered.length + filtered.length);
      expect(foreign.every((row) => captionOwner(row.caption) === 'iso_2')).toBe(true);

      // The gateway's binding under the same interleaving: B's transaction waits for the one server connection
      // until A's ends, and each reads its own rows; afterwards the connection has the default path again.
      await a.query('RESET search_path');
      const bind = (client: pg.Client, sourceId: string) =>
        client.query(`BEGIN; SELECT set_config('search_path', '"sx_${sourceId}", public', true)`);
      const read = async (client: pg.Client) => (await client.query<{ caption: string }>('SELECT caption FROM videos ORDER BY id LIMIT 20')).rows;
      await bind(a, 'iso_1');
      const other = (async () => {
        await bind(b, 'iso_2');
        const rows = await read(b);
        await b.query('COMMIT');
        return rows;
      })();
      const own = await read(a);
      await a.query('COMMIT');
      expect(own.map((row) => captionOwner(row.caption))).toEqual(Array(20).fill('iso_1'));
      expect((await other).map((row) => captionOwner(row.caption))).toEqual(Array(20).fill('iso_2'));
      expect((await a.query('SHOW search_path')).rows[0].search_path).toBe(DEFAULT_SEARCH_PATH);
    } finally {
      await a.end().catch(() => undefined);
      await b.end().catch(() => undefined);
      await single.stop();
    }
  });

  it('control: naive clients with a session-level SET read foreign rows through the pool that served the gateway', async () => {
    // The bouncer and pool the workload above ran through without one foreign row. Each naive client binds its
    // source with SET, then reads one item whose caption names the schema it came from. The SETs stay on the
    // server connections, so this runs last in the block.
    const rounds = 50;
    const tallies = await Promise.all(
      Array.from({ length: 16 }, async (_, worker) => {
        const client = new pg.Client({ connectionString: bouncer.url });
        await client.connect();
        const tally = { foreign: 0, unbound: 0 };
        try {
          for (let round = 0; round < rounds; round += 1) {
            const sourceId = SOURCE_IDS[(worker + round) % SOURCE_IDS.length];
            await client.query(`SET search_path TO sx_${sourceId}`);
            try {
              const { rows } = await client.query<{ caption: string }>(`SELECT caption FROM videos WHERE id = 'v${CANARIES + 1}'`);
              if (captionOwner(rows[0].caption) !== sourceId) tally.foreign += 1;
            } catch (error) {
              // The read reached a server connection no SET had touched: no tenant schema on its path at all.
              if ((error as { code?: string }).code !== '42P01') throw error;
              tally.unbound += 1;
            }
          }
        } finally {
          await client.end();
        }
        return tally;
      }),
    );
    const foreign = tallies.reduce((sum, tally) => sum + tally.foreign, 0);
    const unbound = tallies.reduce((sum, tally) => sum + tally.unbound, 0);
    process.stdout.write(
      `[isolation] control, session-level SET through the workload's PgBouncer (pool_size=${BOUNCER_POOL}), 16 clients: ` +
        `${foreign} of ${16 * rounds} reads returned another source's row, ${unbound} found no tenant schema\n`,
    );
    expect(foreign).toBeGreaterThan(0);
  });
});
