import type { Command } from 'commander';
import pg from 'pg';
import { loadConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import { openPostgresTarget } from '../tasks/postgresTarget.js';
import { citusInfo, moveSchema, schemaPlacements, type SchemaPlacement, type ShardTransferMode } from '../stores/postgres/citus.js';
import { printResult, usageError } from './shared.js';

const MODES: ShardTransferMode[] = ['force_logical', 'block_writes', 'auto'];

export interface MoveSourceResult {
  sourceId: string;
  schemaName: string;
  before: SchemaPlacement;
  after: SchemaPlacement;
  mode: ShardTransferMode | null;
  durationMs: number;
}

function parseNode(value: string): { name: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(value);
  if (!match) throw usageError(`--to must be host:port of a worker, got ${JSON.stringify(value)}`);
  return { name: match[1]!, port: Number(match[2]) };
}

const where = (placement: SchemaPlacement) =>
  placement.nodes.length ? placement.nodes.map((node) => `${node.name}:${node.port}`).join(', ') : 'the coordinator (not distributed)';

export function registerMoveSourceCommand(program: Command): void {
  program
    .command('move-source')
    .description("Citus: show where a source's schema lives, or move it to another worker while it serves")
    .requiredOption('--source <id>', 'source id')
    .option('--to <host:port>', 'the worker to move it to, as citus_get_active_worker_nodes() names it; without it: only show')
    .option('--mode <mode>', `shard transfer mode: ${MODES.join(' | ')}`, 'force_logical')
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      '\nforce_logical copies the tables with logical replication while reads and writes go on, and holds writes only\n' +
        'for the final catch-up; it needs wal_level = logical on every node. block_writes copies without logical\n' +
        'replication while writers wait for the whole copy. The move runs on the coordinator (SX_POSTGRES_ADMIN_DSN,\n' +
        'else SX_POSTGRES_DSN); on plain PostgreSQL the command refuses.',
    )
    .action(async (options: { source: string; to?: string; mode: string; json?: boolean }) => {
      if (!MODES.includes(options.mode as ShardTransferMode)) throw usageError(`--mode must be one of ${MODES.join(', ')}`);
      const to = options.to === undefined ? null : parseNode(options.to);
      const target = await openPostgresTarget(loadConfig());
      const client = new pg.Client({ connectionString: target.dsn });
      try {
        await client.connect();
        if (!(await citusInfo(client))) {
          throw new GatewayError('BAD_USER_INPUT', 'move-source needs a Citus coordinator; this database has no citus extension');
        }
        const source = await target.store.resolveSource(options.source);
        const schemaName = source.schemaName!;
        const [before] = await schemaPlacements(client, [schemaName]);
        const started = performance.now();
        if (to) await moveSchema(client, schemaName, to, options.mode as ShardTransferMode);
        const [after] = await schemaPlacements(client, [schemaName]);
        const result: MoveSourceResult = {
          sourceId: source.id,
          schemaName,
          before: before!,
          after: after!,
          mode: to ? (options.mode as ShardTransferMode) : null,
          durationMs: Math.round(performance.now() - started),
        };
        printResult(options.json, result, () =>
          to
            ? [`moved ${source.id} (schema ${schemaName}) from ${where(result.before)} to ${where(result.after)} (${result.mode}, ${(result.durationMs / 1000).toFixed(2)} s)`]
            : [`${source.id} (schema ${schemaName}) lives on ${where(result.after)}`],
        );
      } finally {
        await client.end().catch(() => undefined);
        await target.close();
      }
    });
}
