import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTE_TEMPLATE_VERSION } from '../src/queries/itemNotes.js';
import { AUTHORS_HEADER, BOOKMARKS_HEADER, CONSOLIDATED_HEADER, csv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type GraphQLResponse, type TestGateway } from './support/gateway.js';

/*
 * The read path (items, search, item, stats, authors) and the user-meta / note writes, against both stores.
 *
 * The library source ("reads_lib") holds nine items, imported in three rounds so that updated_at differs:
 *
 *   id       author_id handle      name         caption                         bookmark               import
 *   v01      a1        chef.anna   Anna Smith   Sourdough recipe, step by step  2024-03-10T08:00:00Z   1
 *   v02      a1        chef.anna   Anna Smith   Cooking pasta for two           2024-03-12T21:30:00Z   1
 *   v03      a1        chef.anna   Anna Smith   Kitchen tour                    -                      2
 *   v04      a2        bob.builds  Bob Builder  Shed build, part 1              2024-03-11T23:59:59Z   1
 *   v05      a2        bob.builds  Bob Builder  Shed build, part 2: the roof    -                      3
 *   v06      a3        zed         Zed Zulu     Quick dinner RECIPE             2024-02-29T12:00:00Z   1
 *   v07      a3        zed         Zed Zulu     Cat video                       2024-01-05T10:00:00Z   2
 *   v08      A9        (none)      (none)       Street food tour                -                      1
 *   qz-7731  a3        zed         Zed Zulu     Unboxing a new camera           2024-03-12T07:00:00Z   1
 *
 * ("import" is the last import that changed the row, hence its updated_at: round 3 is the newest.)
 * Ids compare byte-wise, so 'qz-7731' < 'v01'.
 *
 * Meta set with setItemMeta:
 *   v01 rating 5, statuses [raw, reviewing] -> status reviewing, tags [Bread, cooking], notes "proof overnight"
 *   v02 rating 3, statuses [Client-Review, scheduled] -> status scheduled, tags [Cook], notes "   " (blank)
 *   v04 rating 0, statuses [raw, published] -> status published, tags [DIY]
 *   v05 rating 4, status archived
 *   v06 statuses [idea] -> status idea, tags [cooking], notes "try with rice"
 *   v07 rating 1, notes "meh" (no status)
 *   v03, v08, qz-7731: no meta
 */
const LIB = 'reads_lib';
const META = 'reads_meta';

const RECENT = ['v05', 'v03', 'v07', 'qz-7731', 'v01', 'v02', 'v04', 'v06', 'v08'];

type Row = [id: string, authorId: string, handle: string, name: string, caption: string];
const LIB_ROWS: Row[] = [
  ['v01', 'a1', 'chef.anna', 'Anna Smith', 'Sourdough recipe, step by step'],
  ['v02', 'a1', 'chef.anna', 'Anna Smith', 'Cooking pasta for two'],
  ['v03', 'a1', 'chef.anna', 'Anna Smith', 'Kitchen tour'],
  ['v04', 'a2', 'bob.builds', 'Bob Builder', 'Shed build, part 1'],
  ['v05', 'a2', 'bob.builds', 'Bob Builder', 'Shed build, part 2: the roof'],
  ['v06', 'a3', 'zed', 'Zed Zulu', 'Quick dinner RECIPE'],
  ['v07', 'a3', 'zed', 'Zed Zulu', 'Cat video'],
  ['v08', 'A9', '', '', 'Street food tour'],
  ['qz-7731', 'a3', 'zed', 'Zed Zulu', 'Unboxing a new camera'],
];
const LIB_AUTHORS = csv(AUTHORS_HEADER, [
  ['a1', 'chef.anna', 'Anna Smith', '1000', '52000', '3', 'I bake', 'no'],
  ['a2', 'bob.builds', 'Bob Builder', '250', '900', '2', 'I build', ''],
  ['a3', 'zed', 'Zed Zulu', '12.0', '', '3', '', 'yes'],
]);
const LIB_BOOKMARKS = csv(BOOKMARKS_HEADER, [
  ['v01', '2024-03-10T08:00:00Z'],
  ['v02', '2024-03-12T21:30:00Z'],
  ['v04', '2024-03-11T23:59:59Z'],
  ['v06', '2024-02-29T12:00:00Z'],
  ['v07', '2024-01-05T10:00:00Z'],
  ['qz-7731', '2024-03-12T07:00:00Z'],
]);
/** The consolidated file; `round` changes the hash of the rows that import round touches. */
function libConsolidated(round: 1 | 2 | 3): string {
  const changed: Record<number, string[]> = { 1: [], 2: ['v03', 'v07'], 3: ['v03', 'v07', 'v05'] };
  return csv(
    [...CONSOLIDATED_HEADER, 'extra_col'],
    LIB_ROWS.map(([id, authorId, handle, name, caption]) => {
      const version = round === 3 && id === 'v05' ? 3 : changed[round].includes(id) ? 2 : 1;
      return [id, authorId, handle, name, caption, `h-${id}-${version}`, `x-${id}`];
    }),
  );
}

const ITEM_IDS = `query Ids($sourceId: ID!, $filter: ItemFilter, $order: ItemOrder, $first: Int, $after: String) {
  source(sourceId: $sourceId) {
    items(filter: $filter, order: $order, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id } }
    }
  }
}`;

const SEARCH = `query Search($sourceId: ID!, $query: String!, $first: Int, $after: String) {
  source(sourceId: $sourceId) {
    search(query: $query, first: $first, after: $after) {
      mode totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id bookmarked }
    }
  }
}`;

const META_FIELDS = 'rating status statuses tags notes productLink authorLinks platformTargets workflowLog postUrl publishedTime updatedAt';

const ITEM = `query Item($sourceId: ID!, $id: ID!) {
  source(sourceId: $sourceId) {
    item(id: $id) {
      id authorId authorUniqueId authorName caption bookmarked bookmarkTimestamp followers updatedAt
      meta { ${META_FIELDS} }
      note { markdown origin templateVersion updatedAt mediaMissing }
      raw { consolidated { row importedAt } bookmark { row importedAt } author { row importedAt } }
    }
  }
}`;

const SET_META = `mutation SetMeta($sourceId: ID!, $itemId: ID!, $input: ItemMetaInput!) {
  setItemMeta(sourceId: $sourceId, itemId: $itemId, input: $input) { ${META_FIELDS} }
}`;

const SET_NOTE = `mutation SetNote($sourceId: ID!, $itemId: ID!, $markdown: String!) {
  setItemNote(sourceId: $sourceId, itemId: $itemId, markdown: $markdown) { markdown origin templateVersion updatedAt }
}`;

const AUTHORS = `query Authors($sourceId: ID!, $order: AuthorOrder, $q: String, $bookmarkedOnly: Boolean, $first: Int, $offset: Int) {
  source(sourceId: $sourceId) {
    authors(order: $order, q: $q, bookmarkedOnly: $bookmarkedOnly, first: $first, offset: $offset) {
      totalCount hasNextPage
      nodes { authorId authorUniqueId authorName itemsCount bookmarkedCount }
    }
  }
}`;

function errorCode(response: GraphQLResponse): string | undefined {
  return response.body.errors?.[0]?.extensions?.code;
}

describe.each(STORE_KINDS)('reads and user writes (%s)', (kind) => {
  let gateway: TestGateway;

  async function ok<T = any>(query: string, variables: Record<string, unknown>): Promise<T> {
    const response = await gateway.gql<T>(query, variables);
    expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
    return response.body.data as T;
  }

  async function setMeta(sourceId: string, itemId: string, input: Record<string, unknown>) {
    return (await ok(SET_META, { sourceId, itemId, input })).setItemMeta;
  }

  async function items(variables: { filter?: Record<string, unknown>; order?: string; first?: number; after?: string }, sourceId = LIB) {
    const data = await ok(ITEM_IDS, { sourceId, first: 100, ...variables });
    const connection = data.source.items;
    return {
      ids: connection.edges.map((e: any) => e.node.id as string),
      totalCount: connection.totalCount as number,
      pageInfo: connection.pageInfo as { hasNextPage: boolean; endCursor: string | null },
    };
  }

  /** Ids in the RECENT order and the total count must agree: both say the same thing about the filter. */
  async function filtered(filter: Record<string, unknown>): Promise<string[]> {
    const page = await items({ filter });
    expect(page.totalCount).toBe(page.ids.length);
    return page.ids;
  }

  async function item(id: string, sourceId = LIB) {
    return (await ok(ITEM, { sourceId, id })).source.item;
  }

  async function search(query: string, first = 50, after?: string) {
    return (await ok(SEARCH, { sourceId: LIB, query, first, after })).source.search as {
      mode: string;
      totalCount: number;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      nodes: { id: string; bookmarked: boolean }[];
    };
  }

  async function authors(variables: Record<string, unknown> = {}) {
    return (await ok(AUTHORS, { sourceId: LIB, ...variables })).source.authors as {
      totalCount: number;
      hasNextPage: boolean;
      nodes: { authorId: string | null; authorUniqueId: string | null; authorName: string | null; itemsCount: number; bookmarkedCount: number }[];
    };
  }

  beforeAll(async () => {
    gateway = await startTestGateway(kind);

    const rounds = [
      { round: 1 as const, expected: { inserted: 9, updated: 0, skipped: 0 } },
      { round: 2 as const, expected: { inserted: 0, updated: 2, skipped: 7 } },
      { round: 3 as const, expected: { inserted: 0, updated: 1, skipped: 8 } },
    ];
    for (const { round, expected } of rounds) {
      const result = await uploadCsv(gateway, LIB, { consolidated: libConsolidated(round), authors: LIB_AUTHORS, bookmarks: LIB_BOOKMARKS });
      expect(result.body.errors, JSON.stringify(result.body.errors)).toBeUndefined();
      expect(result.body.data.importCsv).toMatchObject(expected);
      // Import timestamps are ISO strings with milliseconds; keep the rounds apart.
      await new Promise((resolve) => setTimeout(resolve, 15));
    }

    await setMeta(LIB, 'v01', { rating: 5, statuses: ['raw', 'reviewing'], tags: ['Bread', 'cooking'], notes: 'proof overnight' });
    await setMeta(LIB, 'v02', { rating: 3, statuses: ['Client-Review', 'scheduled'], tags: ['Cook'], notes: '   ' });
    await setMeta(LIB, 'v04', { rating: 0, status: 'raw, published', tags: ['DIY'] });
    await setMeta(LIB, 'v05', { rating: 4, status: 'archived' });
    await setMeta(LIB, 'v06', { statuses: ['idea'], tags: ['cooking'], notes: 'try with rice' });
    await setMeta(LIB, 'v07', { rating: 1, notes: 'meh' });

    // A second source for the write tests, so they cannot disturb the reads above.
    const metaRows = csv(CONSOLIDATED_HEADER, [
      ['m1', 'b1', 'same.author', 'Same Author', 'first of same', 'mh1'],
      ['m2', 'b1', 'same.author', 'Same Author', 'second of same', 'mh2'],
      ['m3', 'b1', 'same.author', 'Same Author', 'third of same', 'mh3'],
      ['m4', 'b2', 'other.author', 'Other Author', 'someone else', 'mh4'],
      ['m5', 'b5', '', 'Ned', 'no handle, named Ned', 'mh5'],
      ['m6', 'b6', '', 'Ned', 'no handle either, also Ned', 'mh6'],
      ['m7', 'b7', 'ned.real', 'Ned', 'a Ned with a handle', 'mh7'],
      ['m8', 'b1', 'same.author', 'Same Author', 'for notes', 'mh8'],
    ]);
    const meta = await uploadCsv(gateway, META, { consolidated: metaRows });
    expect(meta.body.errors, JSON.stringify(meta.body.errors)).toBeUndefined();
    expect(meta.body.data.importCsv).toMatchObject({ inserted: 8 });
  });

  afterAll(async () => {
    await gateway?.close();
  });

  describe('seed', () => {
    it('imported three rounds with increasing updated_at', async () => {
      const [v01, v03, v05] = await Promise.all([item('v01'), item('v03'), item('v05')]);
      expect(v01.updatedAt < v03.updatedAt).toBe(true);
      expect(v03.updatedAt < v05.updatedAt).toBe(true);
      expect((await item('v07')).updatedAt).toBe(v03.updatedAt);
      expect((await item('v08')).updatedAt).toBe(v01.updatedAt);
    });
  });

  describe('items filters', () => {
    it('q: substring of caption, case-insensitive', async () => {
      expect(await filtered({ q: 'RECIPE' })).toEqual(['v01', 'v06']);
      expect(await filtered({ q: 'recipe' })).toEqual(['v01', 'v06']);
      expect(await filtered({ q: 'ShEd BuIlD' })).toEqual(['v05', 'v04']);
    });

    it('q: author handle, author name and id', async () => {
      expect(await filtered({ q: 'BUILDS' })).toEqual(['v05', 'v04']); // handle bob.builds only
      expect(await filtered({ q: 'zulu' })).toEqual(['v07', 'qz-7731', 'v06']); // name Zed Zulu only
      expect(await filtered({ q: 'chef.' })).toEqual(['v03', 'v01', 'v02']);
      expect(await filtered({ q: '7731' })).toEqual(['qz-7731']); // id only
      expect(await filtered({ q: 'QZ-77' })).toEqual(['qz-7731']);
      expect(await filtered({ q: 'V0' })).toEqual(['v05', 'v03', 'v07', 'v01', 'v02', 'v04', 'v06', 'v08']);
    });

    it('q: LIKE wildcards are literal and blank q is no filter', async () => {
      expect(await filtered({ q: '%' })).toEqual([]);
      expect(await filtered({ q: '_' })).toEqual([]);
      expect(await filtered({ q: 'v_1' })).toEqual([]);
      expect(await filtered({ q: '   ' })).toEqual(RECENT);
    });

    it('captionQ: every term required, -term excludes', async () => {
      expect(await filtered({ captionQ: 'shed' })).toEqual(['v05', 'v04']);
      expect(await filtered({ captionQ: 'shed -roof' })).toEqual(['v04']);
      expect(await filtered({ captionQ: 'build PART -ROOF' })).toEqual(['v04']);
      expect(await filtered({ captionQ: 'recipe -sourdough' })).toEqual(['v06']);
      expect(await filtered({ captionQ: 'tour kitchen' })).toEqual(['v03']);
      expect(await filtered({ captionQ: 'TOUR' })).toEqual(['v03', 'v08']);
      expect(await filtered({ captionQ: 'tour -food -kitchen' })).toEqual([]);
      // captionQ looks at the caption only: a handle is not a caption.
      expect(await filtered({ captionQ: 'zed' })).toEqual([]);
    });

    it('bookmarkedOnly', async () => {
      expect(await filtered({ bookmarkedOnly: true })).toEqual(['v07', 'qz-7731', 'v01', 'v02', 'v04', 'v06']);
      expect(await filtered({ bookmarkedOnly: false })).toEqual(RECENT);
    });

    it('bookmarkFrom / bookmarkTo are inclusive dates', async () => {
      // v04 at 23:59:59 on the 11th and v02 at 21:30 on the 12th sit on the two edges.
      expect(await filtered({ bookmarkFrom: '2024-03-11', bookmarkTo: '2024-03-12' })).toEqual(['qz-7731', 'v02', 'v04']);
      expect(await filtered({ bookmarkFrom: '2024-03-12' })).toEqual(['qz-7731', 'v02']);
      expect(await filtered({ bookmarkTo: '2024-03-01' })).toEqual(['v07', 'v06']);
      expect(await filtered({ bookmarkFrom: '2024-02-29', bookmarkTo: '2024-02-29' })).toEqual(['v06']);
      expect(await filtered({ bookmarkFrom: '2024-03-13' })).toEqual([]);
      const bad = await gateway.gql(ITEM_IDS, { sourceId: LIB, filter: { bookmarkFrom: '12/03/2024' } });
      expect(errorCode(bad)).toBe('BAD_USER_INPUT');
    });

    it('authorUniqueIds and authorIds lists', async () => {
      expect(await filtered({ authorUniqueIds: ['zed', 'bob.builds'] })).toEqual(['v05', 'v07', 'qz-7731', 'v04', 'v06']);
      expect(await filtered({ authorUniqueIds: ['chef.anna'] })).toEqual(['v03', 'v01', 'v02']);
      expect(await filtered({ authorUniqueIds: ['ZED'] })).toEqual([]);
      expect(await filtered({ authorIds: ['a1', 'A9'] })).toEqual(['v03', 'v01', 'v02', 'v08']);
      expect(await filtered({ authorIds: ['a2'] })).toEqual(['v05', 'v04']);
      expect(await filtered({ authorUniqueIds: ['zed'], bookmarkedOnly: true })).toEqual(['v07', 'qz-7731', 'v06']);
      expect(await filtered({ authorUniqueIds: [] })).toEqual(RECENT);
    });

    it('statuses: primary, packed, "" for none, several at once', async () => {
      expect(await filtered({ statuses: [''] })).toEqual(['v03', 'v07', 'qz-7731', 'v08']);
      expect(await filtered({ statuses: ['published'] })).toEqual(['v04']);
      // raw is never the primary status here: it is found in the packed list of v01 and v04.
      expect(await filtered({ statuses: ['raw'] })).toEqual(['v01', 'v04']);
      expect(await filtered({ statuses: ['Client-Review'] })).toEqual(['v02']);
      expect(await filtered({ statuses: ['idea'] })).toEqual(['v06']);
      expect(await filtered({ statuses: ['scheduled', ''] })).toEqual(['v03', 'v07', 'qz-7731', 'v02', 'v08']);
      expect(await filtered({ statuses: ['archived', 'reviewing'] })).toEqual(['v05', 'v01']);
      // A status never matches as part of another one.
      expect(await filtered({ statuses: ['review'] })).toEqual([]);
      expect(await filtered({ statuses: ['schedul'] })).toEqual([]);
    });

    it('ratingMin / ratingMax (0 is a rating, null is not)', async () => {
      expect(await filtered({ ratingMin: 3 })).toEqual(['v05', 'v01', 'v02']);
      expect(await filtered({ ratingMax: 1 })).toEqual(['v07', 'v04']);
      expect(await filtered({ ratingMin: 1, ratingMax: 4 })).toEqual(['v05', 'v07', 'v02']);
      expect(await filtered({ ratingMin: 0 })).toEqual(['v05', 'v07', 'v01', 'v02', 'v04']);
      expect(await filtered({ ratingMax: 0 })).toEqual(['v04']);
      expect(await filtered({ ratingMin: 5, ratingMax: 5 })).toEqual(['v01']);
      // Bounds are numbers from 0 to 5, as the original's rating_min / rating_max.
      expect(await filtered({ ratingMin: 2.5, ratingMax: 4.5 })).toEqual(['v05', 'v02']);
      expect(await filtered({ ratingMin: 5e-324 })).toEqual(['v05', 'v07', 'v01', 'v02']);
      for (const filter of [{ ratingMin: -0.5 }, { ratingMax: 5.5 }]) {
        const refused = await gateway.gql(ITEM_IDS, { sourceId: LIB, filter });
        expect(errorCode(refused)).toBe('BAD_USER_INPUT');
      }
    });

    it('tag: whole tag, case-insensitive', async () => {
      // "cook" must not match the tag "cooking" (v01, v06), only the tag "Cook" (v02).
      expect(await filtered({ tag: 'cook' })).toEqual(['v02']);
      expect(await filtered({ tag: 'COOKING' })).toEqual(['v01', 'v06']);
      expect(await filtered({ tag: 'bread' })).toEqual(['v01']);
      expect(await filtered({ tag: ' diy ' })).toEqual(['v04']);
      expect(await filtered({ tag: 'ing' })).toEqual([]);
      // A comma list asks for any of its tags, as the original's tag filter does; so does a list.
      expect(await filtered({ tag: 'bread, diy' })).toEqual(['v01', 'v04']);
      expect(await filtered({ tags: ['cook', 'DIY'] })).toEqual(['v02', 'v04']);
      expect(await filtered({ tag: 'bread', tags: ['cook'] })).toEqual(['v01', 'v02']);
    });

    it('q and captionQ fold the case of accented letters in both stores', async () => {
      const rows = csv(CONSOLIDATED_HEADER, [
        ['e1', 'c1', 'chef.émile', 'Émile', 'Un éclair au CAFÉ', 'eh1'],
        ['e2', 'c1', 'chef.émile', 'Émile', 'une tarte', 'eh2'],
      ]);
      expect((await uploadCsv(gateway, 'accents', { consolidated: rows })).body.errors).toBeUndefined();
      expect((await items({ filter: { q: 'ÉCLAIR' } }, 'accents')).ids).toEqual(['e1']);
      expect((await items({ filter: { captionQ: 'café -TARTE' } }, 'accents')).ids).toEqual(['e1']);
      expect((await items({ filter: { q: 'ÉMILE' } }, 'accents')).ids.sort()).toEqual(['e1', 'e2']);
    });

    it('hasNotes true and false (blank notes count as none)', async () => {
      expect(await filtered({ hasNotes: true })).toEqual(['v07', 'v01', 'v06']);
      expect(await filtered({ hasNotes: false })).toEqual(['v05', 'v03', 'qz-7731', 'v02', 'v04', 'v08']);
    });

    it('combines filters with AND', async () => {
      expect(await filtered({ bookmarkedOnly: true, hasNotes: true, ratingMin: 1 })).toEqual(['v07', 'v01']);
      expect(await filtered({ q: 'anna', tag: 'cooking', statuses: ['raw'] })).toEqual(['v01']);
      expect(await filtered({ authorIds: ['a3'], statuses: [''] })).toEqual(['v07', 'qz-7731']);
    });

    it('each item carries its meta', async () => {
      const data = await ok(
        `query($sourceId: ID!) { source(sourceId: $sourceId) { items(first: 20, order: AUTHOR) { nodes { id meta { rating status statuses tags } } } } }`,
        { sourceId: LIB },
      );
      const byId = Object.fromEntries(data.source.items.nodes.map((n: any) => [n.id, n.meta]));
      expect(byId.v01).toEqual({ rating: 5, status: 'reviewing', statuses: ['raw', 'reviewing'], tags: ['Bread', 'cooking'] });
      expect(byId.v04).toEqual({ rating: 0, status: 'published', statuses: ['raw', 'published'], tags: ['DIY'] });
      expect(byId.v08).toEqual({ rating: null, status: null, statuses: [], tags: [] });
    });
  });

  describe('orders (the same sequence in both stores)', () => {
    it('RECENT: updated_at desc, then id', async () => {
      expect((await items({})).ids).toEqual(RECENT);
      expect((await items({ order: 'RECENT' })).ids).toEqual(RECENT);
    });

    it('BOOKMARKED: bookmarked first, newest bookmark first', async () => {
      expect((await items({ order: 'BOOKMARKED' })).ids).toEqual(['v02', 'qz-7731', 'v04', 'v01', 'v06', 'v07', 'v05', 'v03', 'v08']);
    });

    it('AUTHOR: handle, items without one last', async () => {
      expect((await items({ order: 'AUTHOR' })).ids).toEqual(['v04', 'v05', 'v01', 'v02', 'v03', 'qz-7731', 'v06', 'v07', 'v08']);
    });

    it('STATUS: status ascending, items without one last', async () => {
      expect((await items({ order: 'STATUS' })).ids).toEqual(['v05', 'v06', 'v04', 'v01', 'v02', 'v03', 'v07', 'qz-7731', 'v08']);
    });

    it('RATING: highest first, null last', async () => {
      expect((await items({ order: 'RATING' })).ids).toEqual(['v01', 'v05', 'v02', 'v07', 'v04', 'v03', 'qz-7731', 'v06', 'v08']);
    });

    it('orders combine with filters', async () => {
      expect((await items({ order: 'RATING', filter: { bookmarkedOnly: true } })).ids).toEqual(['v01', 'v02', 'v07', 'v04', 'qz-7731', 'v06']);
      expect((await items({ order: 'STATUS', filter: { authorUniqueIds: ['chef.anna'] } })).ids).toEqual(['v01', 'v02', 'v03']);
    });
  });

  describe('cursor pagination', () => {
    it('first/after walks every item once, in order', async () => {
      for (const order of ['RECENT', 'BOOKMARKED', 'RATING']) {
        const all = (await items({ order })).ids;
        const seen: string[] = [];
        let after: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await items({ order, first: 2, after });
          expect(page.totalCount).toBe(9);
          seen.push(...page.ids);
          pages += 1;
          if (!page.pageInfo.hasNextPage) break;
          expect(page.ids).toHaveLength(2);
          after = page.pageInfo.endCursor!;
          expect(pages).toBeLessThan(10);
        }
        expect(pages).toBe(5);
        expect(seen).toEqual(all);
        expect(new Set(seen).size).toBe(9);
      }
    });

    it('pages a filtered list with its filtered totalCount', async () => {
      const one = await items({ filter: { bookmarkedOnly: true }, first: 4 });
      expect(one).toMatchObject({ ids: ['v07', 'qz-7731', 'v01', 'v02'], totalCount: 6, pageInfo: { hasNextPage: true } });
      const two = await items({ filter: { bookmarkedOnly: true }, first: 4, after: one.pageInfo.endCursor! });
      expect(two).toMatchObject({ ids: ['v04', 'v06'], totalCount: 6, pageInfo: { hasNextPage: false } });
    });

    it('refuses first: 2001 with PAGE_SIZE_TOO_LARGE and accepts first: 2000', async () => {
      const refused = await gateway.gql(ITEM_IDS, { sourceId: LIB, first: 2001 });
      expect(errorCode(refused)).toBe('PAGE_SIZE_TOO_LARGE');
      expect(refused.body.data?.source ?? null).toBeNull();
      const refusedSearch = await gateway.gql(SEARCH, { sourceId: LIB, query: 'x', first: 2001 });
      expect(errorCode(refusedSearch)).toBe('PAGE_SIZE_TOO_LARGE');

      const accepted = await items({ first: 2000 });
      expect(accepted.ids).toEqual(RECENT);
      expect(accepted.totalCount).toBe(9);
      expect(accepted.pageInfo.hasNextPage).toBe(false);
    });
  });

  describe('search', () => {
    const sortedIds = (nodes: { id: string }[]) => nodes.map((n) => n.id).sort();

    it('full text finds a caption word case-insensitively', async () => {
      const upper = await search('RECIPE');
      expect(upper.mode).toBe('FULL_TEXT');
      expect(upper.totalCount).toBe(2);
      expect(sortedIds(upper.nodes)).toEqual(['v01', 'v06']);
      const lower = await search('recipe');
      expect(lower.mode).toBe('FULL_TEXT');
      expect(sortedIds(lower.nodes)).toEqual(['v01', 'v06']);
    });

    it('full text matches prefixes and requires every word', async () => {
      const prefix = await search('cook');
      expect(prefix).toMatchObject({ mode: 'FULL_TEXT', totalCount: 1, nodes: [{ id: 'v02' }] });
      const both = await search('shed roof');
      expect(both).toMatchObject({ mode: 'FULL_TEXT', totalCount: 1, nodes: [{ id: 'v05' }] });
    });

    it('full text finds an author handle and an author name', async () => {
      const handle = await search('chef');
      expect(handle.mode).toBe('FULL_TEXT');
      expect(handle.totalCount).toBe(3);
      expect(sortedIds(handle.nodes)).toEqual(['v01', 'v02', 'v03']);
      const dotted = await search('chef.anna');
      expect(dotted.mode).toBe('FULL_TEXT');
      expect(sortedIds(dotted.nodes)).toEqual(['v01', 'v02', 'v03']);
      const name = await search('Builder');
      expect(name.mode).toBe('FULL_TEXT');
      expect(sortedIds(name.nodes)).toEqual(['v04', 'v05']);
    });

    it('pages a full-text result without gaps', async () => {
      const first = await search('zed', 2);
      expect(first.mode).toBe('FULL_TEXT');
      expect(first.totalCount).toBe(3);
      expect(first.pageInfo.hasNextPage).toBe(true);
      const second = await search('zed', 2, first.pageInfo.endCursor!);
      expect(second.mode).toBe('FULL_TEXT');
      expect(second.totalCount).toBe(3);
      expect(second.pageInfo.hasNextPage).toBe(false);
      expect(sortedIds([...first.nodes, ...second.nodes])).toEqual(['qz-7731', 'v06', 'v07']);
    });

    it('falls back to a substring match when only an id matches', async () => {
      const result = await search('7731');
      expect(result).toMatchObject({ mode: 'SUBSTRING', totalCount: 1, nodes: [{ id: 'qz-7731' }] });
      const nothing = await search('nosuchword');
      expect(nothing).toMatchObject({ mode: 'SUBSTRING', totalCount: 0, nodes: [] });
    });

    it('pages a substring fallback like its first page (RECENT order)', async () => {
      const expected = ['v05', 'v03', 'v07', 'v01', 'v02', 'v04', 'v06', 'v08'];
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 3; page++) {
        const result = await search('v0', 3, after);
        expect(result.mode).toBe('SUBSTRING');
        expect(result.totalCount).toBe(8);
        seen.push(...result.nodes.map((n) => n.id));
        expect(result.pageInfo.hasNextPage).toBe(page < 2);
        after = result.pageInfo.endCursor ?? undefined;
      }
      expect(seen).toEqual(expected);
    });

    it('an empty query lists bookmarked items first', async () => {
      for (const query of ['', '   ']) {
        const result = await search(query);
        expect(result.mode).toBe('BOOKMARKED_FIRST');
        expect(result.totalCount).toBe(9);
        expect(result.nodes.map((n) => n.id)).toEqual(['v02', 'qz-7731', 'v04', 'v01', 'v06', 'v07', 'v05', 'v03', 'v08']);
        expect(result.nodes.map((n) => n.bookmarked)).toEqual([true, true, true, true, true, true, false, false, false]);
      }
    });
  });

  describe('item by id', () => {
    it('returns the item with its meta, rendered note and raw CSV rows', async () => {
      const found = await item('v01');
      expect(found).toMatchObject({
        id: 'v01',
        authorId: 'a1',
        authorUniqueId: 'chef.anna',
        authorName: 'Anna Smith',
        caption: 'Sourdough recipe, step by step',
        bookmarked: true,
        bookmarkTimestamp: '2024-03-10T08:00:00Z',
        followers: 1000,
      });
      expect(found.meta).toMatchObject({ rating: 5, status: 'reviewing', statuses: ['raw', 'reviewing'], tags: ['Bread', 'cooking'], notes: 'proof overnight' });
      expect(found.note.origin).toBe('RENDERED');
      expect(found.note.templateVersion).toBe(NOTE_TEMPLATE_VERSION);
      expect(found.note.updatedAt).toBeNull();
      // The original's template (its exact bytes are held to the original's own output in noteParity tests).
      expect(found.note.markdown).toMatch(/^---\nfields: sx_media\nid: v01\n/);
      expect(found.note.markdown).toContain('\ncaption: Sourdough recipe, step by step\n');
      expect(found.note.markdown).toContain('\nrating: 5\n');
      expect(found.note.markdown).toContain('\nnotes: proof overnight\n');
      expect(found.note.markdown).toContain('\ntags:\n- Bread\n- cooking\n');
      expect(found.note.markdown).toContain('>>>>> vc:: chef.anna\n');
      // No vault is configured here: the media are missing, so the render is answered but not stored.
      expect(found.note.mediaMissing).toBe(true);
      expect((await item('v01')).note.origin).toBe('RENDERED');

      expect(found.raw.consolidated.row).toEqual({
        c_videos_id: 'v01',
        c_videos_authorid: 'a1',
        c_authors_uniqueids: 'chef.anna',
        c_authors_nicknames: 'Anna Smith',
        c_texts_text_content: 'Sourdough recipe, step by step',
        csv_row_hash: 'h-v01-1',
        extra_col: 'x-v01',
      });
      expect(found.raw.bookmark.row).toEqual({ bookmarks_bookmark_id: 'v01', bookmarks_timestamp: '2024-03-10T08:00:00Z' });
      expect(found.raw.author.row).toEqual({
        authors_id: 'a1',
        authors_uniqueids: 'chef.anna',
        authors_nicknames: 'Anna Smith',
        authors_followercount: '1000',
        authors_heartcount: '52000',
        authors_videocount: '3',
        authors_signature: 'I bake',
        authors_privateaccount: 'no',
      });
      // v01's rows never changed after the first import.
      expect(found.raw.consolidated.importedAt).toBe(found.updatedAt);
      for (const raw of [found.raw.consolidated, found.raw.bookmark, found.raw.author]) {
        expect(Number.isNaN(Date.parse(raw.importedAt))).toBe(false);
      }
    });

    it('keeps the latest consolidated row of a re-imported item', async () => {
      const v05 = await item('v05');
      expect(v05.raw.consolidated.row).toMatchObject({ c_videos_id: 'v05', csv_row_hash: 'h-v05-3' });
      expect(v05.raw.consolidated.importedAt).toBe(v05.updatedAt);
      expect(v05.raw.bookmark).toBeNull();
    });

    it('answers null raw rows where there are none, and null for an unknown id', async () => {
      const v08 = await item('v08');
      expect(v08).toMatchObject({ id: 'v08', authorUniqueId: null, authorName: null, bookmarked: false });
      expect(v08.raw.consolidated.row.c_videos_id).toBe('v08');
      expect(v08.raw.bookmark).toBeNull();
      expect(v08.raw.author).toBeNull();
      expect(await item('nope')).toBeNull();
      expect(await item('v01', META)).toBeNull();
    });
  });

  describe('user meta', () => {
    it('an item without meta answers nulls and empty lists', async () => {
      const { meta } = await item('m4', META);
      expect(meta).toEqual({
        rating: null,
        status: null,
        statuses: [],
        tags: [],
        notes: null,
        productLink: null,
        authorLinks: [],
        platformTargets: null,
        workflowLog: null,
        postUrl: null,
        publishedTime: null,
        updatedAt: null,
      });
    });

    it('statuses are trimmed, de-duplicated, kept in order; primary = the known one furthest along the workflow, else the first', async () => {
      const listed = await setMeta(META, 'm1', { statuses: [' reviewing ', 'idea', 'reviewing', 'raw', '', ' idea'] });
      expect(listed.statuses).toEqual(['reviewing', 'idea', 'raw']);
      // The original's rule: the known status latest in the workflow order, wherever it stands in the list.
      expect(listed.status).toBe('reviewing');

      const comma = await setMeta(META, 'm1', { status: 'idea, scheduled ,idea' });
      expect(comma).toMatchObject({ status: 'scheduled', statuses: ['idea', 'scheduled'] });

      const unknown = await setMeta(META, 'm1', { statuses: ['idea', 'todo'] });
      expect(unknown).toMatchObject({ status: 'idea', statuses: ['idea', 'todo'] });

      const single = await setMeta(META, 'm1', { status: ' published ' });
      expect(single).toMatchObject({ status: 'published', statuses: ['published'] });

      // What the mutation answered is what is stored.
      expect((await item('m1', META)).meta).toMatchObject({ status: 'published', statuses: ['published'] });
    });

    it('tags are trimmed and de-duplicated; an element may be a comma list', async () => {
      const meta = await setMeta(META, 'm1', { tags: ['a, b', ' c ', 'b', ''] });
      expect(meta.tags).toEqual(['a', 'b', 'c']);
      expect((await item('m1', META)).meta.tags).toEqual(['a', 'b', 'c']);
    });

    it('replaces the meta: omitted fields become null, authorLinks keeps its value', async () => {
      const full = await setMeta(META, 'm4', {
        rating: 4,
        status: 'reviewed',
        tags: ['x'],
        notes: 'n',
        productLink: 'https://shop.example/p',
        authorLinks: ['https://other.example'],
        platformTargets: 'tiktok,youtube',
        workflowLog: 'log',
        postUrl: 'https://post.example/1',
        publishedTime: '2024-04-01T10:00:00Z',
      });
      expect(full).toMatchObject({
        rating: 4,
        status: 'reviewed',
        statuses: ['reviewed'],
        tags: ['x'],
        notes: 'n',
        productLink: 'https://shop.example/p',
        authorLinks: ['https://other.example'],
        platformTargets: 'tiktok,youtube',
        workflowLog: 'log',
        postUrl: 'https://post.example/1',
        publishedTime: '2024-04-01T10:00:00Z',
      });
      expect(full.updatedAt).not.toBeNull();

      const replaced = await setMeta(META, 'm4', { rating: 2 });
      expect(replaced).toMatchObject({
        rating: 2,
        status: null,
        statuses: [],
        tags: [],
        notes: null,
        productLink: null,
        authorLinks: ['https://other.example'],
        platformTargets: null,
        workflowLog: null,
        postUrl: null,
        publishedTime: null,
      });
      expect((await item('m4', META)).meta).toMatchObject({ rating: 2, notes: null, authorLinks: ['https://other.example'] });
    });

    it('authorLinks: a JSON array string, stored as a list and copied to the same author', async () => {
      await setMeta(META, 'm2', { rating: 3, notes: 'own' });
      const meta = await setMeta(META, 'm1', { authorLinks: ['["https://a.example/1", "https://a.example/2"]'] });
      expect(meta.authorLinks).toEqual(['https://a.example/1', 'https://a.example/2']);
      const [m2, m3, m4, m8] = await Promise.all(['m2', 'm3', 'm4', 'm8'].map((id) => item(id, META)));
      // Copied to every other item with the handle same.author, without touching their other fields.
      expect(m2.meta).toMatchObject({ rating: 3, notes: 'own', authorLinks: ['https://a.example/1', 'https://a.example/2'] });
      expect(m3.meta).toMatchObject({ rating: null, status: null, authorLinks: ['https://a.example/1', 'https://a.example/2'] });
      expect(m8.meta.authorLinks).toEqual(['https://a.example/1', 'https://a.example/2']);
      // another author keeps its own
      expect(m4.meta.authorLinks).toEqual(['https://other.example']);
    });

    it('authorLinks: comma/newline text; without a handle the same author name shares them', async () => {
      const meta = await setMeta(META, 'm5', { authorLinks: ['https://n.example/a, https://n.example/b\nhttps://n.example/c', 'https://n.example/a'] });
      expect(meta.authorLinks).toEqual(['https://n.example/a', 'https://n.example/b', 'https://n.example/c']);
      const [m6, m7] = await Promise.all([item('m6', META), item('m7', META)]);
      expect(m6.meta.authorLinks).toEqual(['https://n.example/a', 'https://n.example/b', 'https://n.example/c']);
      // m7 is also named Ned but has a handle of its own: another author.
      expect(m7.meta.authorLinks).toEqual([]);
    });

    it('refuses an unknown item with NOT_FOUND and a rating outside 0..5 with BAD_USER_INPUT', async () => {
      const missing = await gateway.gql(SET_META, { sourceId: META, itemId: 'nope', input: { rating: 1 } });
      expect(errorCode(missing)).toBe('NOT_FOUND');
      // An item of another source is unknown here.
      const foreign = await gateway.gql(SET_META, { sourceId: META, itemId: 'v01', input: { rating: 1 } });
      expect(errorCode(foreign)).toBe('NOT_FOUND');

      await setMeta(META, 'm3', { rating: 2, notes: 'before' });
      for (const rating of [7, -1, 6]) {
        const refused = await gateway.gql(SET_META, { sourceId: META, itemId: 'm3', input: { rating, notes: 'after' } });
        expect(errorCode(refused)).toBe('BAD_USER_INPUT');
      }
      expect((await item('m3', META)).meta).toMatchObject({ rating: 2, notes: 'before' });
      const edge = await setMeta(META, 'm3', { rating: 5 });
      expect(edge.rating).toBe(5);
      // "|" separates the packed statuses, so a status holding one is refused.
      const piped = await gateway.gql(SET_META, { sourceId: META, itemId: 'm3', input: { statuses: ['a|b'] } });
      expect(errorCode(piped)).toBe('BAD_USER_INPUT');
    });
  });

  describe('notes', () => {
    it('renders a note when nothing is cached', async () => {
      const found = await item('m8', META);
      expect(found.note).toMatchObject({ origin: 'RENDERED', templateVersion: NOTE_TEMPLATE_VERSION, updatedAt: null });
      expect(found.note.markdown).toMatch(/^---\nfields: sx_media\nid: m8\n/);
      expect(found.note.markdown).toContain('\nauthor_name: Same Author\n');
      expect(found.note.markdown).toContain('for notes');
    });

    it('stores a user note and answers it as USER, forced or not', async () => {
      const markdown = '# My own note\n\nKeep this one.';
      const stored = (await ok(SET_NOTE, { sourceId: META, itemId: 'm8', markdown })).setItemNote;
      expect(stored).toMatchObject({ markdown, origin: 'USER', templateVersion: 'user' });
      expect(stored.updatedAt).not.toBeNull();

      const read = await item('m8', META);
      expect(read.note).toMatchObject({ markdown, origin: 'USER', templateVersion: 'user', updatedAt: stored.updatedAt });
      const forced = await ok(
        `query($sourceId: ID!) { source(sourceId: $sourceId) { item(id: "m8") { note(force: true) { markdown origin } } } }`,
        { sourceId: META },
      );
      // A forced render replaces a user note only when it is stored, which needs its media: here they are
      // missing, so the render is answered and the user note stays.
      expect(forced.source.item.note.origin).toBe('RENDERED');
      expect((await item('m8', META)).note).toMatchObject({ markdown, origin: 'USER' });

      // A later meta change does not replace a user note with a render.
      await setMeta(META, 'm8', { rating: 1 });
      expect((await item('m8', META)).note).toMatchObject({ markdown, origin: 'USER' });

      // Writing again replaces the user note.
      const second = (await ok(SET_NOTE, { sourceId: META, itemId: 'm8', markdown: 'second' })).setItemNote;
      expect(second.markdown).toBe('second');
      expect((await item('m8', META)).note.markdown).toBe('second');
    });

    it('refuses empty markdown and an unknown item', async () => {
      for (const markdown of ['', '   \n ']) {
        const refused = await gateway.gql(SET_NOTE, { sourceId: META, itemId: 'm7', markdown });
        expect(errorCode(refused)).toBe('BAD_USER_INPUT');
      }
      expect((await item('m7', META)).note.origin).toBe('RENDERED');
      const missing = await gateway.gql(SET_NOTE, { sourceId: META, itemId: 'nope', markdown: 'text' });
      expect(errorCode(missing)).toBe('NOT_FOUND');
    });
  });

  describe('stats and authors', () => {
    it('stats count items, bookmarks and authors, with the last update and a ready index', async () => {
      const stats = (await ok(
        `query($sourceId: ID!) { source(sourceId: $sourceId) { stats { items bookmarked authors lastUpdatedAt searchIndex { engine indexedItems ready } } } }`,
        { sourceId: LIB },
      )).source.stats;
      const newest = await item('v05');
      expect(stats).toMatchObject({ items: 9, bookmarked: 6, authors: 4, lastUpdatedAt: newest.updatedAt });
      expect(stats.searchIndex).toMatchObject({ ready: true, indexedItems: 9 });

      const other = (await ok(`query($sourceId: ID!) { source(sourceId: $sourceId) { stats { items bookmarked authors } } }`, { sourceId: META })).source.stats;
      // same.author, other.author, ned.real, and the handle-less b5 and b6 counted by author id.
      expect(other).toEqual({ items: 8, bookmarked: 0, authors: 5 });
    });

    it('authors are grouped with item and bookmark counts, ordered by COUNT by default', async () => {
      const page = await authors();
      expect(page.totalCount).toBe(4);
      expect(page.hasNextPage).toBe(false);
      expect(page.nodes).toEqual([
        { authorId: 'a1', authorUniqueId: 'chef.anna', authorName: 'Anna Smith', itemsCount: 3, bookmarkedCount: 2 },
        { authorId: 'a3', authorUniqueId: 'zed', authorName: 'Zed Zulu', itemsCount: 3, bookmarkedCount: 3 },
        { authorId: 'a2', authorUniqueId: 'bob.builds', authorName: 'Bob Builder', itemsCount: 2, bookmarkedCount: 1 },
        { authorId: 'A9', authorUniqueId: null, authorName: null, itemsCount: 1, bookmarkedCount: 0 },
      ]);
    });

    it('authors order by BOOKMARKED and NAME', async () => {
      const handles = (p: Awaited<ReturnType<typeof authors>>) => p.nodes.map((n) => n.authorUniqueId ?? n.authorId);
      expect(handles(await authors({ order: 'COUNT' }))).toEqual(['chef.anna', 'zed', 'bob.builds', 'A9']);
      expect(handles(await authors({ order: 'BOOKMARKED' }))).toEqual(['zed', 'chef.anna', 'bob.builds', 'A9']);
      expect(handles(await authors({ order: 'NAME' }))).toEqual(['chef.anna', 'bob.builds', 'zed', 'A9']);
    });

    it('authors filter by q and bookmarkedOnly, and page', async () => {
      expect((await authors({ q: 'ANNA' })).nodes.map((n) => n.authorUniqueId)).toEqual(['chef.anna']);
      expect((await authors({ q: 'builder' })).nodes.map((n) => n.authorUniqueId)).toEqual(['bob.builds']);
      // q also matches the author id, case-insensitively like the handle and the name.
      const byId = await authors({ q: 'a9' });
      expect(byId.totalCount).toBe(1);
      expect(byId.nodes[0]).toMatchObject({ authorId: 'A9', itemsCount: 1 });
      expect((await authors({ q: 'nobody' })).totalCount).toBe(0);

      const bookmarked = await authors({ bookmarkedOnly: true });
      expect(bookmarked.totalCount).toBe(3);
      expect(bookmarked.nodes.map((n) => [n.authorUniqueId, n.itemsCount, n.bookmarkedCount])).toEqual([
        ['zed', 3, 3],
        ['chef.anna', 2, 2],
        ['bob.builds', 1, 1],
      ]);

      const first = await authors({ first: 2 });
      expect(first).toMatchObject({ totalCount: 4, hasNextPage: true });
      const rest = await authors({ first: 2, offset: 2 });
      expect(rest).toMatchObject({ totalCount: 4, hasNextPage: false });
      expect([...first.nodes, ...rest.nodes].map((n) => n.authorId)).toEqual(['a1', 'a3', 'a2', 'A9']);
    });
  });
});
