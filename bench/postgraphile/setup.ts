import pg from 'pg';
import { RANKED_MATCHES } from '../../src/queries/searchItems.js';

/**
 * Schema holding the objects PostGraphile needs besides the tenant tables. Kept apart so the tenant schema stays
 * exactly as the gateway's migrations left it, and named without the gateway's `sx_` prefix so nothing mistakes
 * it for a tenant.
 */
export function helperSchemaName(schema: string): string {
  return `pgl_${schema}`;
}

/**
 * The gateway's tsquery text, built from `q` in SQL: lower-cased words (letters, digits, `_`), at most 16, each
 * a prefix term, all required. Only immutable functions, so with a constant argument the planner folds it into
 * a constant tsquery, as it does with the ready-made tsquery text the gateway binds.
 */
function tsqueryTextSql(arg: string): string {
  const words = `btrim(regexp_replace(lower(${arg}), '[^[:alnum:]_]+', ' ', 'g'))`;
  const firstWords = `(regexp_match(${words}, '^\\S+(?: \\S+){0,15}'))[1]`;
  return `'''' || replace(${firstWords}, ' ', ''':* & ''') || ''':*'`;
}

function searchFunctionDdl(schema: string, helper: string): string {
  const videos = `${pg.escapeIdentifier(schema)}.videos`;
  const tsquery = `to_tsquery('simple', ${tsqueryTextSql('search_videos.q')})`;
  // Plain LANGUAGE sql, STABLE, not STRICT, no SET clause, not SECURITY DEFINER: what PostgreSQL requires to
  // inline a set-returning function. Inlined, PostGraphile's LIMIT meets this ORDER BY in one plan, as in the
  // gateway's single statement, instead of every match being materialised first.
  // The gateway's ranking rule and statement shape: the newest RANKED_MATCHES matches read from the index alone
  // (key and search_tsv), ranked, ties newest first, then whole rows for the page. The workload reads the first
  // page, which lies in that window; the matches after it (newest first) are left out here.
  return `
    CREATE OR REPLACE FUNCTION ${pg.escapeIdentifier(helper)}.search_videos(source_id text, q text)
    RETURNS SETOF ${videos}
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $body$
      SELECT v.*
        FROM (SELECT w.id, w.updated_at, ts_rank(w.search_tsv, ${tsquery}) AS rank
                FROM (SELECT m.id, m.updated_at, m.search_tsv
                        FROM ${videos} AS m
                       WHERE m.source_id = search_videos.source_id
                         AND m.search_tsv @@ ${tsquery}
                       ORDER BY m.updated_at DESC, m.id
                       LIMIT ${RANKED_MATCHES}) AS w) AS p
        JOIN ${videos} AS v ON v.source_id = search_videos.source_id AND v.id = p.id
       ORDER BY p.rank DESC, p.updated_at DESC, p.id
    $body$`;
}

/**
 * Creates (or refreshes) what PostGraphile serves next to a tenant schema: a helper schema with
 * `search_videos(source_id, q)`, the ranked prefix full-text search the gateway runs. Safe to run repeatedly.
 */
export async function preparePostGraphileSchema(dsn: string, schema: string): Promise<void> {
  const helper = helperSchemaName(schema);
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    await client.query('BEGIN');
    // Two concurrent CREATE OR REPLACE of one function can fail with "tuple concurrently updated".
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [helper]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(helper)}`);
    await client.query(searchFunctionDdl(schema, helper));
    // @name drops the schema prefix PostGraphile puts on functions outside the first schema it serves.
    const comment = '@name search_videos\nRanked prefix full-text search over videos, ordered like the gateway search.';
    await client.query(
      `COMMENT ON FUNCTION ${pg.escapeIdentifier(helper)}.search_videos(text, text) IS ${pg.escapeLiteral(comment)}`,
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}
