import sql, { raw, type Sql } from 'sql-template-tag';
import type { Dialect } from '../interfaces.js';

/** The few places where SQLite and PostgreSQL spell the same thing differently. */

/** Null-safe equality: `IS` in SQLite, `IS NOT DISTINCT FROM` in PostgreSQL. */
export function sameValue(dialect: Dialect, left: Sql, right: Sql): Sql {
  return dialect === 'sqlite' ? sql`(${left} IS ${right})` : sql`(${left} IS NOT DISTINCT FROM ${right})`;
}

/** A staging table that disappears with the transaction (PostgreSQL) or the import connection (SQLite). */
export function tempTable(dialect: Dialect, name: string, body: Sql): Sql {
  if (!/^stage_[a-z_]+$/.test(name)) throw new Error(`Refusing staging table name ${name}`);
  return dialect === 'sqlite'
    ? sql`CREATE TEMP TABLE ${raw(name)} ${body}`
    : sql`CREATE TEMP TABLE ${raw(name)} ${body} ON COMMIT DROP`;
}

export function tempTableAs(dialect: Dialect, name: string, select: Sql): Sql {
  if (!/^stage_[a-z_]+$/.test(name)) throw new Error(`Refusing staging table name ${name}`);
  return dialect === 'sqlite'
    ? sql`CREATE TEMP TABLE ${raw(name)} AS ${select}`
    : sql`CREATE TEMP TABLE ${raw(name)} ON COMMIT DROP AS ${select}`;
}

/** A JSON text value as the raw tables store it: jsonb in PostgreSQL, text in SQLite. */
export function asJson(dialect: Dialect, text: Sql): Sql {
  return dialect === 'sqlite' ? text : sql`(${text})::jsonb`;
}

/** `%term%` for LIKE with the wildcard characters of the term escaped (used with ESCAPE '\'). */
export function containsPattern(term: string): string {
  return `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
