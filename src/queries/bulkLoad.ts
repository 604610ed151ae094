import sql, { join, raw } from 'sql-template-tag';
import type { TenantDb } from '../interfaces.js';
import { ident } from '../sources/identifiers.js';

interface CatalogConstraint {
  table: string;
  name: string;
  definition: string;
}

/**
 * Loads empty tables with their keys, foreign keys and secondary indexes set aside, and builds them once the
 * rows are in, as pg_restore does: a primary key built by one sort costs a fraction of a million inserts into a
 * B-tree in random key order. Foreign keys from and to the tables (user_meta's, for one) go first and come back
 * last, checked once against the whole table. Everything happens in the caller's transaction, so a failure brings
 * the definitions back with the rows gone; the dropped definitions lock the tables until then, which is why only
 * a load into tables with nothing to serve may do this. PostgreSQL only.
 */
export async function withKeysBuiltAfter(
  db: TenantDb,
  tables: string[],
  load: () => Promise<void>,
  options: { analyze: string[] },
): Promise<void> {
  const names = join(tables);
  const keys = await db.all<CatalogConstraint>(sql`
    SELECT c.conrelid::regclass::text AS table, c.conname AS name, pg_get_constraintdef(c.oid) AS definition
      FROM pg_constraint c
     WHERE c.connamespace = current_schema()::regnamespace AND c.contype IN ('p', 'u')
       AND c.conrelid::regclass::text IN (${names})
     ORDER BY c.conname`);
  const foreign = await db.all<CatalogConstraint>(sql`
    SELECT c.conrelid::regclass::text AS table, c.conname AS name, pg_get_constraintdef(c.oid) AS definition
      FROM pg_constraint c
     WHERE c.connamespace = current_schema()::regnamespace AND c.contype = 'f'
       AND (c.conrelid::regclass::text IN (${names}) OR c.confrelid::regclass::text IN (${names}))
     ORDER BY c.conname`);
  const indexes = await db.all<{ name: string; definition: string }>(sql`
    SELECT i.indexname AS name, i.indexdef AS definition
      FROM pg_indexes i
     WHERE i.schemaname = current_schema() AND i.tablename IN (${names})
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = current_schema()::regnamespace)
     ORDER BY i.indexname`);

  for (const constraint of [...foreign, ...keys]) {
    await db.run(sql`ALTER TABLE ${ident(constraint.table)} DROP CONSTRAINT ${ident(constraint.name)}`);
  }
  for (const index of indexes) await db.run(sql`DROP INDEX ${ident(index.name)}`);

  await load();

  // Index builds sort in memory up to this bound; the default 64 MB spills a million-row GIN build to disk.
  await db.run(sql`SELECT set_config('maintenance_work_mem', '256MB', true)`);
  // The definitions come from the catalog of this very schema, not from input. Keys first: the foreign keys
  // need the unique indexes they reference.
  for (const constraint of keys) {
    await db.run(sql`ALTER TABLE ${ident(constraint.table)} ADD CONSTRAINT ${ident(constraint.name)} ${raw(constraint.definition)}`);
  }
  for (const index of indexes) await db.run(raw(index.definition));
  for (const constraint of foreign) {
    await db.run(sql`ALTER TABLE ${ident(constraint.table)} ADD CONSTRAINT ${ident(constraint.name)} ${raw(constraint.definition)}`);
  }
  // Statistics for the tables just filled, committed with them: until autovacuum gets there, the source's first
  // queries would be planned for the empty tables the planner last saw.
  for (const table of options.analyze) await db.run(sql`ANALYZE ${ident(table)}`);
}
