import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { compareWorkloads, type CompareParams } from './compare.js';
import { DEFAULT_SOURCE_ID } from './queries.js';

export { compareWorkloads } from './compare.js';

/** Parameters that make every workload do real work: the busiest author and the word in most items. */
async function paramsFromDatabase(dsn: string, sourceId: string): Promise<{ author: string; q: string }> {
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    const registered = await client.query<{ schema_name: string }>(
      'SELECT schema_name FROM public.sx_source_registry WHERE source_id = $1',
      [sourceId],
    );
    if (registered.rows.length !== 1) throw new Error(`source ${sourceId} has no registered schema`);
    const videos = `${pg.escapeIdentifier(registered.rows[0].schema_name)}.videos`;
    const author = await client.query<{ author: string }>(
      `SELECT author_unique_id AS author FROM ${videos}
        WHERE source_id = $1 AND author_unique_id IS NOT NULL
        GROUP BY author_unique_id ORDER BY count(*) DESC, author_unique_id LIMIT 1`,
      [sourceId],
    );
    // Letters only and 4 or more of them: a real word, not a handle fragment or a stop word.
    const word = await client.query<{ word: string }>(
      `SELECT word FROM ts_stat(${pg.escapeLiteral(`SELECT search_tsv FROM ${videos} WHERE source_id = ${pg.escapeLiteral(sourceId)}`)})
        WHERE word ~ '^[[:alpha:]]{4,}$' ORDER BY ndoc DESC, word LIMIT 1`,
    );
    if (author.rows.length === 0 || word.rows.length === 0) throw new Error(`source ${sourceId} has no items to search`);
    return { author: author.rows[0].author, q: word.rows[0].word };
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      dsn: { type: 'string' },
      gateway: { type: 'string' },
      postgraphile: { type: 'string' },
      source: { type: 'string', default: DEFAULT_SOURCE_ID },
      author: { type: 'string' },
      q: { type: 'string' },
    },
    strict: true,
  });
  if (!values.gateway || !values.postgraphile || (!values.dsn && (!values.author || !values.q))) {
    console.error(
      'usage: check.ts --gateway <url> --postgraphile <url> [--dsn <postgres url>] [--source id] [--author handle] [--q words]\n' +
        '       (--dsn picks --author and --q from the data when they are not given)',
    );
    return 2;
  }
  const sourceId = values.source ?? DEFAULT_SOURCE_ID;
  const picked = values.author && values.q ? null : await paramsFromDatabase(values.dsn ?? '', sourceId);
  const params: CompareParams = {
    sourceId,
    author: values.author ?? picked?.author ?? '',
    q: values.q ?? picked?.q ?? '',
  };
  console.log(`source ${params.sourceId}, author ${JSON.stringify(params.author)}, search ${JSON.stringify(params.q)}`);

  const comparison = await compareWorkloads(values.gateway, values.postgraphile, params);
  for (const workload of comparison.workloads) {
    const verdict = workload.problems.length === 0 ? 'same' : 'DIFFERENT';
    console.log(`\n${workload.name}: ${verdict} (${workload.gatewayIds.length} / ${workload.postgraphileIds.length} rows)`);
    console.log(`  gateway      ${workload.gatewayIds.join(' ')}`);
    console.log(`  postgraphile ${workload.postgraphileIds.join(' ')}`);
    for (const problem of workload.problems) console.log(`  ! ${problem}`);
  }
  console.log(comparison.ok ? '\nok: both return the same rows in the same order' : '\nFAILED');
  return comparison.ok ? 0 : 1;
}

// Only as a script: the benchmark imports compareWorkloads from here without running a check.
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href;
}

if (isEntryPoint()) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
