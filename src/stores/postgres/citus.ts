import type pg from 'pg';
import sql, { join } from 'sql-template-tag';
import { GatewayError } from '../../errors.js';
import { qualified } from '../../sources/identifiers.js';
import { runSql, type Queryable } from './transaction.js';

/**
 * Citus with schema-based sharding: every tenant schema created through the coordinator is a distributed schema
 * whose tables live together on one worker. The gateway talks to the coordinator only; these helpers say whether
 * the database is such a coordinator, where a source's schema lives, and move it. On plain PostgreSQL
 * `citusInfo` answers null and nothing here runs.
 */
export interface CitusInfo {
  /** The extension's version, e.g. `13.2-1`. */
  version: string;
  /** Active worker nodes. */
  workers: number;
  /** citus.enable_schema_based_sharding: CREATE SCHEMA makes a distributed schema. */
  schemaSharding: boolean;
}

export interface SchemaPlacement {
  schemaName: string;
  /** Null when the schema is not distributed (a plain schema of the coordinator). */
  colocationId: number | null;
  /** Where its tables live: one node for a distributed schema. */
  nodes: { name: string; port: number }[];
}

/** The Citus coordinator this connection talks to, or null for plain PostgreSQL (or Citus not created here). */
export async function citusInfo(client: Queryable | pg.ClientBase): Promise<CitusInfo | null> {
  const extension = (await runSql(client, sql`SELECT extversion FROM pg_extension WHERE extname = 'citus'`)).rows[0] as
    | { extversion: string }
    | undefined;
  if (!extension) return null;
  const { rows } = await runSql(client, sql`
    SELECT (SELECT count(*) FROM citus_get_active_worker_nodes()) AS workers,
           current_setting('citus.enable_schema_based_sharding', true) AS sharding`);
  return { version: extension.extversion, workers: Number(rows[0].workers), schemaSharding: rows[0].sharding === 'on' };
}

/** Where each schema's tables are, by the coordinator's metadata. */
export async function schemaPlacements(client: Queryable | pg.ClientBase, schemaNames: readonly string[]): Promise<SchemaPlacement[]> {
  if (schemaNames.length === 0) return [];
  const { rows } = await runSql(client, sql`
    SELECT n.nspname AS schema_name, s.colocationid AS colocation_id, p.nodename, p.nodeport
      FROM pg_namespace n
      LEFT JOIN pg_dist_schema s ON s.schemaid = n.oid
      LEFT JOIN pg_dist_partition d ON d.colocationid = s.colocationid
      LEFT JOIN pg_dist_shard sh ON sh.logicalrelid = d.logicalrelid
      LEFT JOIN pg_dist_shard_placement p ON p.shardid = sh.shardid
     WHERE n.nspname IN (${join(schemaNames)})
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 3, 4`);
  const placements = new Map<string, SchemaPlacement>();
  for (const row of rows as { schema_name: string; colocation_id: number | null; nodename: string | null; nodeport: number | null }[]) {
    const placement = placements.get(row.schema_name) ?? { schemaName: row.schema_name, colocationId: row.colocation_id, nodes: [] };
    if (row.nodename !== null && row.nodeport !== null) placement.nodes.push({ name: row.nodename, port: row.nodeport });
    placements.set(row.schema_name, placement);
  }
  return [...placements.values()];
}

export type ShardTransferMode = 'auto' | 'force_logical' | 'block_writes';

/**
 * Nodes whose default synchronous_commit is off. An online (logical) move waits until the target has replayed the
 * source worker's WAL up to its write position, then switches the placement; a commit acknowledged with
 * synchronous_commit = off may not have reached that position yet, and its rows then stay behind in the old
 * placement: a lost write. Seen in moves under load on such nodes, never with it on.
 */
export async function asyncCommitNodes(client: Queryable | pg.ClientBase): Promise<string[]> {
  const { rows } = await runSql(client, sql`
    SELECT n.nodename, n.nodeport
      FROM run_command_on_all_nodes('SHOW synchronous_commit') r
      JOIN pg_dist_node n ON n.nodeid = r.nodeid
     WHERE r.success AND r.result = 'off'
     ORDER BY 1, 2`);
  return (rows as { nodename: string; nodeport: number }[]).map((row) => `${row.nodename}:${row.nodeport}`);
}

/**
 * Moves a distributed schema to another worker with Citus's own shard move. `force_logical` (the default here)
 * copies the tables while they serve and blocks writes only for the final catch-up; it needs wal_level=logical
 * on the nodes and a primary key (replica identity) on every table, which every tenant table has.
 * `block_writes` copies without logical replication, and writers wait for the whole copy.
 */
export async function moveSchema(
  client: pg.ClientBase,
  schemaName: string,
  to: { name: string; port: number },
  mode: ShardTransferMode = 'force_logical',
): Promise<void> {
  const [placement] = await schemaPlacements(client, [schemaName]);
  if (!placement || placement.colocationId === null) {
    throw new GatewayError('BAD_USER_INPUT', `Schema ${schemaName} is not a distributed schema of this Citus coordinator`, {
      schemaName,
    });
  }
  if (placement.nodes.length === 1 && placement.nodes[0]!.name === to.name && placement.nodes[0]!.port === to.port) return;
  const unsafe = mode === 'block_writes' ? [] : await asyncCommitNodes(client);
  if (unsafe.length > 0) {
    throw new GatewayError(
      'BAD_USER_INPUT',
      `Refusing an online move of ${schemaName}: synchronous_commit is off on ${unsafe.join(', ')}, and writes acknowledged ` +
        'just before the switch could stay behind in the old placement; turn it on, or move with block_writes',
      { schemaName, nodes: unsafe },
    );
  }
  // The mode is one of three constants; Citus takes it as its own enum type.
  await runSql(client, sql`SELECT citus_schema_move(${schemaName}::regnamespace, ${to.name}, ${to.port}, shard_transfer_mode := ${mode}::citus.shard_transfer_mode)`);
}

/**
 * Holds off every writer of the schemas' tables until the returned function ends the transaction; readers go on.
 * On Citus there is no snapshot across nodes: a backup's exported snapshot covers the coordinator, while the
 * rows come from each worker as of its own moment. With the writers held off, every moment holds the same rows.
 * The registry lock keeps bootstraps and deletes out meanwhile.
 */
export async function fenceWriters(
  client: pg.ClientBase,
  schemaNames: readonly string[],
  lockTimeoutMs: number,
  /** Tables the backup writes itself while the fence holds (its globals table): left unlocked. */
  unfenced: readonly string[] = [],
): Promise<() => Promise<void>> {
  await client.query('BEGIN');
  try {
    await runSql(client, sql`SELECT set_config('lock_timeout', ${String(lockTimeoutMs)}, true)`);
    await runSql(client, sql`SELECT pg_advisory_xact_lock(hashtext('sx-gateway:registry'))`);
    const tables = schemaNames.length
      ? ((await runSql(client, sql`
          SELECT n.nspname AS schema_name, c.relname AS table_name
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname IN (${join(schemaNames)}) AND c.relkind IN ('r', 'p') AND NOT (c.relname = ANY(${[...unfenced]}))
           ORDER BY 1, 2`)).rows as { schema_name: string; table_name: string }[])
      : [];
    // SHARE: conflicts with every writer (ROW EXCLUSIVE), not with readers or pg_dump (ACCESS SHARE).
    if (tables.length) await runSql(client, sql`LOCK TABLE ${join(tables.map((t) => qualified(t.schema_name, t.table_name)))} IN SHARE MODE`);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((error as { code?: string }).code === '55P03') {
      throw new GatewayError(
        'DATABASE_UNAVAILABLE',
        `the tables of ${schemaNames.join(', ')} were not free of writers within ${lockTimeoutMs / 1000} s (an import running?); try again`,
        { reason: 'lock_timeout' },
      );
    }
    throw error;
  }
  return async () => {
    await client.query('COMMIT');
  };
}
