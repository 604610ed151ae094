import sql, { join, type Sql } from 'sql-template-tag';
import { ident } from '../sources/identifiers.js';
import { columnNames, type ColumnKind, type DefinedTable, type RowOf } from '../tables/sourceTables.js';

type Columns = Readonly<Record<string, ColumnKind>>;

/** `a, b, …` of a table definition, each name through the quoting helper; `alias` qualifies them (`v.a, v.b`). */
export function columnList<C extends Columns>(table: DefinedTable<C>, alias?: string): Sql {
  return join(columnNames(table).map((name) => (alias ? sql`${ident(alias)}.${ident(name)}` : ident(name))), ', ');
}

/** `alias.a AS prefix_a, …`: a table's columns joined into another table's row under names of their own. */
export function prefixedColumnList<C extends Columns>(table: DefinedTable<C>, alias: string, prefix: string, names: readonly (keyof C & string)[] = columnNames(table)): Sql {
  return join(names.map((name) => sql`${ident(alias)}.${ident(name)} AS ${ident(`${prefix}${name}`)}`), ', ');
}

/** `alias.a, alias.b`: some of a table's columns, in the order given. */
export function someColumnList<C extends Columns>(_table: DefinedTable<C>, alias: string, names: readonly (keyof C & string)[]): Sql {
  return join(names.map((name) => sql`${ident(alias)}.${ident(name)}`), ', ');
}

/** `INSERT INTO <table> (source_id, <every column>) VALUES (…)` for one row of a source, in definition order. */
export function insertRow<Table extends DefinedTable<Columns>>(table: Table, sourceId: string, row: RowOf<Table>): Sql {
  const values = Object.keys(table.columns).map((name) => (row as Record<string, unknown>)[name]);
  return sql`INSERT INTO ${ident(table.table)} (source_id, ${columnList(table)}) VALUES (${sourceId}, ${join(values)})`;
}

/**
 * `ON CONFLICT (source_id, <key>) DO UPDATE SET c = excluded.c, …` for every column but the key; `instead` gives
 * a column another expression (a value the update must keep, say).
 */
export function updateOnConflict<C extends Columns>(table: DefinedTable<C>, instead: Partial<Record<keyof C & string, Sql>> = {}): Sql {
  const assignments = columnNames(table)
    .filter((name) => name !== table.key)
    .map((name) => sql`${ident(name)} = ${instead[name] ?? sql`excluded.${ident(name)}`}`);
  return sql`ON CONFLICT (source_id, ${ident(table.key)}) DO UPDATE SET ${join(assignments, ', ')}`;
}
