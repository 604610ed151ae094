import type { CitusPart } from './citusBench.js';
import type { ImportFigures } from './importBench.js';
import type { ImportFloor } from './importFloor.js';
import type { OperationsFigures, Timed } from './operationsBench.js';
import type { LoadResult } from './load.js';
import type { LoadShape, QueryFigures, RestFigures } from './queryBench.js';
import type { SourcesFigures } from './sourcesBench.js';
import type { SqliteFigures, SqliteImportRun } from './sqliteBench.js';
import type { NotesFigures } from './notesBench.js';
import type { PlanCheck } from './explainBench.js';

export interface Results {
  machine: Record<string, unknown>;
  imports: ImportFigures[];
  rowByRow?: { rowsPerSecond: number; rows: number; ms: number };
  plans?: PlanCheck[];
  queries?: QueryFigures[];
  rest?: RestFigures;
  sources?: SourcesFigures[];
  sqlite?: SqliteFigures;
  notes?: NotesFigures;
  operations?: OperationsFigures;
  citus?: CitusPart;
  shape: LoadShape;
  author?: string;
  search: string;
}

const mb = (bytes: number | null | undefined) => (bytes == null ? 'n/a' : `${(bytes / 2 ** 20).toFixed(0)} MB`);
const x = (ratio: number) => `${ratio.toFixed(2)}×`;
const n = (value: number) => Math.round(value).toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
// The median, then the spread of the runs: on a shared machine one slow run is common and worth seeing.
const spread = (t: Timed) => (t.runs.length > 1 ? `${seconds(t.ms)} (${(Math.min(...t.runs) / 1000).toFixed(2)}–${(Math.max(...t.runs) / 1000).toFixed(2)})` : seconds(t.ms));
const load = (r: LoadResult) => `${n(r.requestsPerSecond)} req/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms${r.failures ? `, ${r.failures} failures` : ''}`;

interface Goal {
  name: string;
  value: string;
  met: boolean;
  /** What the database alone reaches for the same ratio, where it was measured (the goals table's last column). */
  alone?: string;
}

/** The floor's steps and total, and its rate in the file's rows (the rate the import ratios compare). */
function floorLine(engine: string, floor: ImportFloor, fileRows: number): { text: string; rowsPerSecond: number } {
  const rowsPerSecond = fileRows / (floor.ms / 1000);
  const steps = floor.steps.map((step) => `${step.name} ${seconds(step.ms)}`).join(', ');
  return {
    rowsPerSecond,
    text:
      `${engine} alone on what the first import stored (${n(floor.videos)} items; the rows copied from the import's own tables into ` +
      `empty ones of the same shape, then their keys and indexes built, in one transaction, nothing read from a file): ` +
      `${seconds(floor.ms)} (${steps}), ${n(rowsPerSecond)} of the file's rows/s.`,
  };
}

/** The run as Markdown: the figures, then every goal with its measured ratio and met / not met. */
export function report(results: Results): string {
  const out: string[] = [];
  const goals: Goal[] = [];
  const goal = (name: string, ratio: number, target: string, met: boolean, alone?: string) =>
    goals.push({ name, value: `${x(ratio)} (goal ${target})`, met, ...(alone === undefined ? {} : { alone }) });
  const atMost = (ratio: number | undefined) => (ratio === undefined ? undefined : `at most ${x(ratio)}`);
  const m = results.machine;
  out.push(`## Run of ${m.date}`, '', `Machine: ${m.cpus}, ${m.memoryGiB} GiB, Node ${m.node}, PostgreSQL ${m.postgres} (${m.postgresOrigin}).`);
  if (results.queries || results.sources || results.sqlite || (results.citus && !('missing' in results.citus))) {
    out.push(`Load runs: ${results.shape.connections} connections, ${results.shape.seconds} s measured after ${results.shape.warmupSeconds} s of warm-up.`);
  }
  out.push('');

  if (results.imports.length) {
    out.push('### Import (PostgreSQL)', '', '| videos | psql \\copy rows/s | first import | rows/s | peak RSS | re-import | rows/s | peak RSS |', '|---|---|---|---|---|---|---|---|');
    for (const i of results.imports) {
      const raw = 'missing' in i.rawCopy ? i.rawCopy.missing : n(i.rawCopy.rowsPerSecond);
      out.push(`| ${n(i.videos)} | ${raw} | ${(i.first.ms / 1000).toFixed(1)} s | ${n(i.first.rowsPerSecond)} | ${mb(i.first.peakRssBytes)} | ${(i.reimport.ms / 1000).toFixed(1)} s | ${n(i.reimport.rowsPerSecond)} | ${mb(i.reimport.peakRssBytes)} |`);
    }
    const largest = results.imports[results.imports.length - 1]!;
    if (results.rowByRow) out.push('', `Row-by-row baseline (the original's way): ${n(results.rowByRow.rowsPerSecond)} rows/s over ${n(results.rowByRow.rows)} rows.`);
    const floor = largest.floor ? floorLine('PostgreSQL', largest.floor, largest.first.rows) : undefined;
    if (floor) out.push('', floor.text);
    out.push('');
    if (!('missing' in largest.rawCopy)) {
      const copyRate = largest.rawCopy.rowsPerSecond;
      goal(`first import of ${n(largest.videos)} rows vs raw COPY`, largest.first.rowsPerSecond / copyRate, '≥ 0.15×', largest.first.rowsPerSecond >= 0.15 * copyRate, atMost(floor && floor.rowsPerSecond / copyRate));
      goal('re-import vs raw COPY', largest.reimport.rowsPerSecond / copyRate, '≥ 0.3×', largest.reimport.rowsPerSecond >= 0.3 * copyRate);
    }
    if (results.rowByRow) {
      const baseline = results.rowByRow.rowsPerSecond;
      const r = largest.first.rowsPerSecond / baseline;
      goal('first import vs row-by-row', r, '≥ 20×', r >= 20, atMost(floor && floor.rowsPerSecond / baseline));
    }
    if (results.imports.length > 1) {
      const small = results.imports[0]!;
      const peak = Math.max(largest.first.peakRssBytes, largest.reimport.peakRssBytes);
      const smallPeak = Math.max(small.first.peakRssBytes, small.reimport.peakRssBytes);
      goal(`peak RSS at ${n(largest.videos)} vs ${n(small.videos)} rows`, peak / smallPeak, '≤ 1.2×', peak <= 1.2 * smallPeak);
      goals.push({ name: `peak RSS at ${n(largest.videos)} rows`, value: `${mb(peak)} (goal ≤ 300 MB)`, met: peak <= 300 * 2 ** 20 });
    }
  }

  if (results.plans) {
    out.push('### Plans on the largest source (EXPLAIN ANALYZE)', '', '| query | scans | ms |', '|---|---|---|');
    for (const p of results.plans) out.push(`| ${p.name} | ${p.scans.join('; ')} | ${p.ms.toFixed(2)} |`);
    out.push('');
    const seq = results.plans.filter((p) => p.seqScanOnVideos).map((p) => p.name);
    goals.push({ name: 'no sequential scan of videos', value: seq.length ? `seq scan in: ${seq.join(', ')}` : 'none', met: seq.length === 0 });
  }

  if (results.queries) {
    out.push(`### Items queries (author ${results.author}, search "${results.search}")`, '', '| workload | gateway | PostGraphile v5 | raw pg | gateway ÷ PostGraphile req/s | gateway ÷ raw p50 |', '|---|---|---|---|---|---|');
    for (const q of results.queries) {
      const vsPgl = q.gateway.requestsPerSecond / q.postgraphile.requestsPerSecond;
      const vsRaw = q.gateway.p50Ms / q.rawPg.p50Ms;
      out.push(`| ${q.workload} | ${load(q.gateway)} | ${load(q.postgraphile)} | ${load(q.rawPg)} | ${x(vsPgl)} | ${x(vsRaw)} |`);
      goal(`${q.workload}: gateway req/s vs PostGraphile`, vsPgl, '≥ 1.0×', vsPgl >= 1);
      goal(`${q.workload}: gateway p50 vs raw pg`, vsRaw, '≤ 2×', vsRaw <= 2);
    }
    out.push('');
  }

  if (results.rest) {
    const { rest, graphql } = results.rest;
    out.push(
      '### The plugin\'s table page: REST against GraphQL (same gateway, same data)',
      '',
      '`GET /items?limit=50` against the GraphQL query that answers the same (50 items, every field, meta and `totalCount`), in alternating slices.',
      '',
      '| route | load | REST ÷ GraphQL req/s |',
      '|---|---|---|',
      `| \`GET /items?limit=50\` | ${load(rest)} | ${x(rest.requestsPerSecond / graphql.requestsPerSecond)} |`,
      `| GraphQL \`items(first: 50) { totalCount nodes {…} }\` | ${load(graphql)} | |`,
      '',
    );
  }

  if (results.sources) {
    out.push(
      '### Many sources (page workload spread over every source)',
      '',
      'The raw pg loop runs the same page\'s statements over the same schemas without the gateway, in the same alternating slices.',
      '',
      '| sources | gateway | raw pg loop | gateway RSS | import per source |',
      '|---|---|---|---|---|',
    );
    for (const s of results.sources) {
      out.push(`| ${n(s.sources)} | ${load(s.load)} | ${s.rawPg ? load(s.rawPg) : ''} | ${mb(s.gatewayRssBytes)} | ${s.bootstrapMsPerSource.toFixed(0)} ms |`);
    }
    const [one, many] = results.sources;
    if (one?.rawPg && many?.rawPg) {
      out.push('', `p50 with ${n(many.sources)} sources ÷ 1: gateway ${x(many.load.p50Ms / one.load.p50Ms)}, raw pg loop ${x(many.rawPg.p50Ms / one.rawPg.p50Ms)}.`);
    }
    out.push('');
    if (one && many) {
      const alone = one.rawPg && many.rawPg ? `${x(many.rawPg.p50Ms / one.rawPg.p50Ms)} (the raw pg loop)` : undefined;
      goal(`p50 with ${n(many.sources)} sources vs 1`, many.load.p50Ms / one.load.p50Ms, '≤ 1.1×', many.load.p50Ms <= 1.1 * one.load.p50Ms, alone);
    }
  }

  if (results.sqlite) {
    const s = results.sqlite;
    const floor = floorLine('SQLite', s.floor, s.first.rows);
    const run = (name: string, r: SqliteImportRun) =>
      `| ${name} | ${seconds(r.ms)} | ${n(r.rowsPerSecond)} | ${mb(r.peakRssBytes)} | ${n(r.inserted)} / ${n(r.updated)} / ${n(r.skipped)} |`;
    out.push(
      `### SQLITE mode (${n(s.videos)} videos)`,
      '',
      'Each import is one process, spawn to exit; rows/s counts the consolidated file\'s rows. sqlite3 runs right after the first import.',
      '',
      '| import | time | rows/s | peak RSS | inserted / updated / skipped |',
      '|---|---|---|---|---|',
      run('`sx-gateway import`, new file', s.first),
      'missing' in s.cliImport
        ? `| sqlite3 \`.import --csv\` into an unindexed table | not run: ${s.cliImport.missing} | | | |`
        : `| sqlite3 \`.import --csv\` into an unindexed table | ${seconds(s.cliImport.ms)} | ${n(s.cliImport.rowsPerSecond)} | | |`,
      run('`sx-gateway import` again, same files', s.reimport),
      '',
      floor.text,
      '',
      `- gateway: ${load(s.gateway)}`,
      `- direct better-sqlite3 (same statements, one loop): ${load(s.direct)}`,
      `- gateway ÷ direct req/s: ${x(s.gateway.requestsPerSecond / s.direct.requestsPerSecond)}; p50 ratio ${x(s.gateway.p50Ms / s.direct.p50Ms)}`,
      '',
    );
    if ('missing' in s.cliImport) {
      goals.push({ name: `SQLite import of ${n(s.videos)} rows vs sqlite3 .import`, value: `not measured (${s.cliImport.missing})`, met: false });
    } else {
      const ratio = s.first.rowsPerSecond / s.cliImport.rowsPerSecond;
      goal(`SQLite import of ${n(s.videos)} rows vs sqlite3 .import`, ratio, '≥ 0.25×', ratio >= 0.25, atMost(floor.rowsPerSecond / s.cliImport.rowsPerSecond));
    }
    const peak = Math.max(s.first.peakRssBytes, s.reimport.peakRssBytes);
    goals.push({ name: `SQLite import peak RSS at ${n(s.videos)} rows`, value: `${mb(peak)} (goal ≤ 300 MB)`, met: peak <= 300 * 2 ** 20 });
  }

  if (results.notes) {
    const notes = results.notes;
    out.push(
      `### Bulk notes (a page of ${n(notes.items)} renders, template v1.3, media checked, none stored)`,
      '',
      `- gateway, \`notes(limit: ${notes.items}, force: true, pathlinkerGroup)\` over HTTP: ${n(notes.gateway.notesPerSecond)} notes/s (${load(notes.gateway)} per page)`,
      `- the same renders in a plain loop in one process: ${n(notes.loop.notesPerSecond)} notes/s (${load(notes.loop)} per page)`,
      `- gateway ÷ loop: ${x(notes.gateway.notesPerSecond / notes.loop.notesPerSecond)}`,
      '',
    );
  }

  if (results.operations) out.push(...operationsSection(results.operations));
  if (results.citus) out.push(...citusSection(results.citus));

  if (goals.length) {
    out.push(
      '### Goals',
      '',
      'The last column is what the database alone reaches on this machine, where it was measured: for an import, the ratio of its floor above ' +
        '(no import that stores the same rows and indexes gets past it); for many sources, the same ratio for the page\'s statements on a bare pool.',
      '',
      '| goal | measured | | the database alone |',
      '|---|---|---|---|',
    );
    for (const g of goals) out.push(`| ${g.name} | ${g.value} | ${g.met ? 'met' : '**not met**'} | ${g.alone ?? ''} |`);
  }
  return `${out.join('\n')}\n`;
}

/** Each operations command beside its baseline, with what the command itself says it spent its time on. */
function operationsSection(o: OperationsFigures): string[] {
  const perSecond = (rows: number, t: Timed) => n(rows / (t.ms / 1000));
  const row = (name: string, gateway: Timed, baseline: string, base: Timed, rows: number) =>
    `| ${name} | ${spread(gateway)} | ${perSecond(rows, gateway)} | ${baseline} | ${spread(base)} | ${perSecond(rows, base)} | ${x(gateway.ms / base.ms)} |`;
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
  const out = [
    `### Operations (${n(o.videos)} videos: ${n(o.sourceRows)} rows in ${o.tables} tables; median of ${o.runs} runs, min–max in brackets; ${(o.totalMs / 1000).toFixed(0)} s in all)`,
    '',
    `Each figure is one process, spawn to exit; rows/s is the source's rows over that time. The backups read analyzed tables; restore and cutover verify tables they have just filled (server autovacuum: ${o.autovacuum}).`,
    '',
    '| sx-gateway command | time | rows/s | baseline | time | rows/s | sx-gateway ÷ baseline |',
    '|---|---|---|---|---|---|---|',
    row('`backup --all`', o.backup.gateway, '`pg_dump -Fc`', o.backup.pgDump, o.sourceRows),
    row('`restore FILE --dsn` (verified)', o.restore.gateway, '`pg_restore -d` of the same dump', o.restore.pgRestore, o.sourceRows),
    row('`cutover` SQLite → PostgreSQL', o.cutover.cutover, '`import` of the CSV files', o.cutover.import, o.sourceRows),
    row('`cutover` again (no-op)', o.cutover.noop, 'first `cutover`', o.cutover.cutover, o.sourceRows),
    '',
    `- Dumps: \`backup --all\` ${mib(o.backup.gatewayBytes)}, \`pg_dump -Fc\` ${mib(o.backup.pgDumpBytes)}.`,
    `- Inside the commands (their own reported duration, median): backup ${seconds(o.backup.gatewayInside.ms)}; restore ${seconds(o.restore.gatewayRestoreStep.ms)} ` +
      `of pg_restore | psql, then ${seconds(o.restore.gatewayVerify.ms)} of verification; cutover ${seconds(o.cutover.cutoverInside.ms)} ` +
      `(${n(o.cutover.copiedRows)} rows copied). Start-up alone (\`sx-gateway --version\`), part of every sx-gateway time: ${seconds(o.cliStart.ms)}.`,
    `- The SQLite file the cutover reads was built by \`import\` in SQLITE mode in ${seconds(o.cutover.sqliteImportMs)} (one run, not compared).`,
    '',
  ];
  if (o.migrate) {
    const m = o.migrate;
    out.push(
      `| \`migrate --all\` | \`--concurrency 1\` | schemas/s | \`--concurrency ${m.concurrency}\` | schemas/s | concurrency 1 ÷ ${m.concurrency} |`,
      '|---|---|---|---|---|---|',
      `| ${n(m.schemas)} schemas, version ${m.fromVersion} → ${m.toVersion} | ${spread(m.serial)} | ${perSecond(m.schemas, m.serial)} | ${spread(m.concurrent)} | ${perSecond(m.schemas, m.concurrent)} | ${x(m.serial.ms / m.concurrent.ms)} |`,
      '',
    );
  }
  return out;
}

/** Citus beside plain PostgreSQL: one machine runs every node, so the ratios are the coordinator's cost. */
function citusSection(part: CitusPart): string[] {
  if ('missing' in part) return ['### Citus', '', `Not run: ${part.missing}.`, ''];
  const { citus, plain } = part.page;
  const perHundredK = (ms: number, count: number) => seconds((ms / count) * 100_000);
  const moves = part.moved.moves;
  return [
    `### Citus (${part.cluster}; a coordinator and 2 workers on this machine's ${part.cpus} cores: this measures the coordinator's overhead, not scaling)`,
    '',
    `Two sources of ${n(part.videos)} videos each, ${part.placements.map((p) => `${p.sourceId} on ${p.node}`).join(', ')}; the page workload ` +
      `asks each in turn. Plain: the same two sources on the one PostgreSQL above. Every node has shared_buffers ${part.sharedBuffers}, as the plain server.`,
    '',
    '| page workload | req/s | p50 | p99 |',
    '|---|---|---|---|',
    `| through the Citus coordinator | ${n(citus.requestsPerSecond)} | ${citus.p50Ms.toFixed(1)} ms | ${citus.p99Ms.toFixed(1)} ms |`,
    `| plain PostgreSQL | ${n(plain.requestsPerSecond)} | ${plain.p50Ms.toFixed(1)} ms | ${plain.p99Ms.toFixed(1)} ms |`,
    `| Citus ÷ plain | ${x(citus.requestsPerSecond / plain.requestsPerSecond)} | ${x(citus.p50Ms / plain.p50Ms)} | ${x(citus.p99Ms / plain.p99Ms)} |`,
    ...(citus.failures || plain.failures ? ['', `Failures: Citus ${citus.failures}, plain ${plain.failures}.`] : []),
    '',
    `- First import of ${n(part.videos)} videos (CLI, spawn to exit): through the coordinator ${part.imports.citusMs.map(seconds).join(', ')}; ` +
      `plain ${part.imports.plainMs.map(seconds).join(', ')}.`,
    `- Source move (\`move-source --mode ${part.moved.mode}\`) of ${part.moved.sourceId}: ${n(part.moved.rows)} rows in all its tables, ${part.moved.size}. ` +
      moves.map((m) => `${m.from} → ${m.to} ${seconds(m.ms)} (CLI ${seconds(m.processMs)})`).join('; ') +
      `; per 100k rows ${moves.map((m) => perHundredK(m.ms, part.moved.rows)).join(', ')}, per 100k videos ${moves.map((m) => perHundredK(m.ms, part.videos)).join(', ')}` +
      ' (a fixed part, replication set-up and the final catch-up, included).',
    '',
  ];
}
