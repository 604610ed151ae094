import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libraryCsv } from './support/csv.js';
import { STORE_KINDS, startTestGateway, uploadCsv, type TestGateway } from './support/gateway.js';

const source = 'columns';

/** The page's statement: the one that reads `videos` in the default order. */
function pageStatement(gateway: TestGateway): string {
  const found = gateway.statements.filter((s) => s.sourceId === source && /FROM videos v/.test(s.text) && /ORDER BY/.test(s.text));
  expect(found).toHaveLength(1);
  return found[0]!.text;
}

describe.each(STORE_KINDS)('a page reads the columns its fields need (%s)', (kind) => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(kind);
    const result = await uploadCsv(gateway, source, { consolidated: libraryCsv(source, 12) });
    expect(result.body.errors).toBeUndefined();
    const meta = await gateway.gql(
      `mutation($s: ID!) { setItemMeta(sourceId: $s, itemId: "v3", input: { rating: 4, status: "todo", tags: ["a", "b"], notes: "n" }) { rating } }`,
      { s: source },
    );
    expect(meta.body.errors).toBeUndefined();
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const page = async (nodeFields: string) => {
    gateway.statements.length = 0;
    const response = await gateway.gql(
      `query($s: ID!) { source(sourceId: $s) { items(first: 12) { nodes { ${nodeFields} } } } }`,
      { s: source },
    );
    expect(response.body.errors).toBeUndefined();
    return { nodes: response.body.data.source.items.nodes as Record<string, unknown>[], text: pageStatement(gateway) };
  };

  it('reads only the columns of plain fields, and answers them as a whole read does', async () => {
    const fields = 'id caption authorUniqueId updatedAt meta { rating status tags }';
    const narrow = await page(fields);
    expect(narrow.text).not.toMatch(/cover_path|signature|csv_row_hash|meta_notes|meta_author_links/);
    expect(narrow.text).toMatch(/caption/);
    expect(narrow.text).toMatch(/meta_rating/);
    // The same fields beside one that needs whole items (the media paths): the same answers for the shared fields.
    const whole = await page(`${fields} videoPath note { origin }`);
    expect(whole.text).toMatch(/cover_path/);
    const shared = whole.nodes.map(({ id, caption, authorUniqueId, updatedAt, meta }) => ({ id, caption, authorUniqueId, updatedAt, meta }));
    expect(narrow.nodes).toEqual(shared);
    expect(narrow.nodes.find((node) => node.id === 'v3')!.meta).toEqual({ rating: 4, status: 'todo', tags: ['a', 'b'] });
  });

  it('reads the meta columns asked for, __typename aside, and only ids without node fields', async () => {
    const withTypename = await page('__typename id meta { __typename notes }');
    expect(withTypename.text).toMatch(/meta_notes/);
    expect(withTypename.text).not.toMatch(/meta_tags/);
    const idsOnly = await page('id');
    expect(idsOnly.text).not.toMatch(/caption/);
    expect(idsOnly.nodes).toHaveLength(12);
  });

  it('reads whole items through fragments that ask for more than columns', async () => {
    gateway.statements.length = 0;
    const response = await gateway.gql(
      `query($s: ID!) { source(sourceId: $s) { items(first: 3) { edges { node { ...F } } } } }
       fragment F on Item { id ... on Item { note { origin } } }`,
      { s: source },
    );
    expect(response.body.errors).toBeUndefined();
    expect(pageStatement(gateway)).toMatch(/cover_path/);
  });

  it('reads a search page with its meta in one statement, with the columns asked for', async () => {
    const search = async (nodeFields: string) => {
      gateway.statements.length = 0;
      const response = await gateway.gql(
        `query($s: ID!) { source(sourceId: $s) { search(query: "caption", first: 12) { mode nodes { ${nodeFields} } } } }`,
        { s: source },
      );
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data.source.search.mode).toBe('FULL_TEXT');
      const sent = gateway.statements.filter((s) => s.sourceId === source && !/^SELECT set_config/.test(s.text));
      return { nodes: response.body.data.source.search.nodes as Record<string, unknown>[], sent: sent.map((s) => s.text) };
    };
    const narrow = await search('id caption meta { rating tags }');
    expect(narrow.sent).toHaveLength(1);
    expect(narrow.sent[0]).toMatch(/meta_rating/);
    expect(narrow.sent[0]).not.toMatch(/cover_path|meta_notes/);
    const whole = await search('id caption meta { rating tags } note { origin }');
    expect(whole.sent[0]).toMatch(/cover_path/);
    expect(narrow.nodes).toEqual(whole.nodes.map(({ id, caption, meta }) => ({ id, caption, meta })));
    expect(narrow.nodes.find((node) => node.id === 'v3')!.meta).toEqual({ rating: 4, tags: ['a', 'b'] });
  });
});
