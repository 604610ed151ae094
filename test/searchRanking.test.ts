import { offsetToCursor } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RANKED_MATCHES } from '../src/queries/searchItems.js';
import type { PostgresStore } from '../src/stores/postgres/postgresStore.js';
import { CONSOLIDATED_HEADER, csv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

/*
 * The ranking rule of `search` with more matches than it ranks: the newest RANKED_MATCHES matches (the RECENT
 * order: updated_at descending, then id) ranked by relevance, ties newest first, then every other match newest
 * first. Both stores must answer the same ids in the same order.
 *
 * 1,200 items m0000 … m1199 match "porto"; every tenth (m0000, m0010, …) says it twice, which both engines rank
 * higher. Every caption has four words and every item the same author, so the others tie. 50 items say "lisbon".
 * A second import changes m0600 … m0899, so they are the newest. The fourth word of each caption is its own, so
 * that PostgreSQL's statistics of the vectors hold enough lexemes for an estimate of the matches (ANALYZE below).
 *
 *   ranked window: the 300 changed items and the 200 first unchanged ones by id (m0000 … m0199);
 *                  "porto porto" first (m0600 … m0890 newest, then m0000 … m0190), then the rest the same way
 *   after it:      m0200 … m0599 and m0900 … m1199 by id; their "porto porto" items are not moved up
 */
const SOURCE = 'ranking';
const MATCHES = 1200;
const CHANGED = { from: 600, to: 899 };

const id = (n: number) => `m${String(n).padStart(4, '0')}`;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const twice = (n: number) => n % 10 === 0;

function consolidated(round: 1 | 2): string {
  const rows = range(0, MATCHES - 1).map((n) => {
    const changed = round === 2 && n >= CHANGED.from && n <= CHANGED.to;
    const caption = `${twice(n) ? 'porto porto walk' : 'porto city walk'} k${n}`;
    return [id(n), 'a1', 'ana.cruz', 'Ana Cruz', caption, `h-${n}-${changed ? 2 : 1}`];
  });
  for (const n of range(0, 49)) rows.push([`l${String(n).padStart(2, '0')}`, 'a1', 'ana.cruz', 'Ana Cruz', `lisbon city walk q${n}`, `hl-${n}`]);
  return csv(CONSOLIDATED_HEADER, rows);
}

const newest = range(CHANGED.from, CHANGED.to);
const olderInWindow = range(0, RANKED_MATCHES - newest.length - 1);
const WINDOW = [
  ...newest.filter(twice),
  ...olderInWindow.filter(twice),
  ...newest.filter((n) => !twice(n)),
  ...olderInWindow.filter((n) => !twice(n)),
].map(id);
const AFTER_WINDOW = range(0, MATCHES - 1)
  .filter((n) => !newest.includes(n) && !olderInWindow.includes(n))
  .map(id);
const FULL_ORDER = [...WINDOW, ...AFTER_WINDOW];

const SEARCH = `query Search($sourceId: ID!, $query: String!, $first: Int, $after: String) {
  source(sourceId: $sourceId) {
    search(query: $query, first: $first, after: $after) {
      mode totalCount totalCountIsEstimate
      pageInfo { hasNextPage endCursor }
      nodes { id }
    }
  }
}`;

interface SearchResult {
  mode: string;
  totalCount: number;
  totalCountIsEstimate: boolean;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  nodes: { id: string }[];
}

describe.each(STORE_KINDS)('search ranking with more matches than it ranks (%s)', (kind) => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway(kind);
    for (const round of [1, 2] as const) {
      const result = await uploadCsv(gateway, SOURCE, { consolidated: consolidated(round) });
      expect(result.body.errors).toBeUndefined();
    }
    // An import this small leaves statistics to autovacuum; the estimate needs them now.
    if (kind === 'postgres') await (gateway.store as PostgresStore).pool.query(`ANALYZE sx_${SOURCE}.videos`);
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
  });

  async function search(query: string, first: number, after?: string): Promise<SearchResult> {
    const response = await gateway.gql(SEARCH, { sourceId: SOURCE, query, first, after });
    expect(response.body.errors).toBeUndefined();
    return response.body.data.source.search as SearchResult;
  }

  it('the data is what the rule is stated for', () => {
    expect(RANKED_MATCHES).toBe(500);
    expect(WINDOW).toHaveLength(RANKED_MATCHES);
    expect(new Set(FULL_ORDER).size).toBe(MATCHES);
  });

  it('ranks the newest matches by relevance, ties newest first, on the first page', async () => {
    const first = await search('porto', 50);
    expect(first.mode).toBe('FULL_TEXT');
    expect(first.nodes.map((n) => n.id)).toEqual(WINDOW.slice(0, 50));
    expect(first.pageInfo.hasNextPage).toBe(true);
    // Several words take another path to the window in PostgreSQL (the newest items first); same rule.
    const twoWords = await search('walk porto', 100, offsetToCursor(RANKED_MATCHES - 51));
    expect(twoWords.nodes.map((n) => n.id)).toEqual(FULL_ORDER.slice(RANKED_MATCHES - 50, RANKED_MATCHES + 50));
  });

  it('pages through the window and then every other match newest first, each match once', async () => {
    // 150 per page, so one page (450 to 599) crosses the end of the ranked window.
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const page = await search('porto', 150, after);
      expect(page.mode).toBe('FULL_TEXT');
      seen.push(...page.nodes.map((n) => n.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor!;
    }
    expect(seen).toEqual(FULL_ORDER);
  });

  it('counts exactly when the count is cheap, and says when it estimates', async () => {
    const first = await search('porto', 50);
    if (kind === 'sqlite') {
      expect(first).toMatchObject({ totalCount: MATCHES, totalCountIsEstimate: false });
    } else {
      // PostgreSQL estimates past a full window, from the statistics of the vectors.
      expect(first.totalCountIsEstimate).toBe(true);
      expect(first.totalCount).toBeGreaterThan(MATCHES * 0.8);
      expect(first.totalCount).toBeLessThan(MATCHES * 1.2);
    }
    // A page that ends early ends at the last match: exact in both stores.
    const last = await search('porto', 100, offsetToCursor(MATCHES - 51));
    expect(last.nodes.map((n) => n.id)).toEqual(FULL_ORDER.slice(-50));
    expect(last).toMatchObject({ totalCount: MATCHES, totalCountIsEstimate: false, pageInfo: { hasNextPage: false } });
    // Fewer matches than the window ranks: all of them ranked, counted exactly.
    const few = await search('lisbon', 100);
    expect(few).toMatchObject({ mode: 'FULL_TEXT', totalCount: 50, totalCountIsEstimate: false });
    expect(few.nodes.map((n) => n.id)).toEqual(range(0, 49).map((n) => `l${String(n).padStart(2, '0')}`));
  });

  it('answers an empty page past the last match as full text, with a count no page contradicts', async () => {
    const offset = MATCHES + 500;
    const past = await search('porto', 10, offsetToCursor(offset - 1));
    expect(past.mode).toBe('FULL_TEXT');
    expect(past.nodes).toEqual([]);
    if (kind === 'sqlite') {
      expect(past).toMatchObject({ totalCount: MATCHES, totalCountIsEstimate: false });
    } else {
      expect(past.totalCountIsEstimate).toBe(true);
      expect(past.totalCount).toBeGreaterThanOrEqual(RANKED_MATCHES);
      expect(past.totalCount).toBeLessThanOrEqual(offset);
    }
  });

  it('keeps the substring fallback and the empty query, with exact counts', async () => {
    const fallback = await search('m119', 5);
    expect(fallback).toMatchObject({ mode: 'SUBSTRING', totalCount: 10, totalCountIsEstimate: false });
    expect(fallback.nodes.map((n) => n.id)).toEqual(['m1190', 'm1191', 'm1192', 'm1193', 'm1194']);
    const empty = await search('', 5);
    expect(empty).toMatchObject({ mode: 'BOOKMARKED_FIRST', totalCount: MATCHES + 50, totalCountIsEstimate: false });
  });
});
