import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createRequire } from 'node:module';

export interface TenantMigration {
  version: number;
  name: string;
  text: string;
  /**
   * The file's statements, each sent as a query of its own. A file sent as one multi-statement query works on
   * PostgreSQL, but Citus hands some DDL (CREATE INDEX on a distributed table) to the workers with the original
   * query text as a prepared statement, which may hold one command only.
   */
  statements: string[];
  /** sha256 of the file's text: a schema's record keeps it, so an applied file that was edited later shows. */
  checksum: string;
}

// CommonJS packages exporting their function as `default`: loaded through require, which every runner (node,
// tsx, vitest) resolves the same way, unlike the ESM default-import interop.
const require = createRequire(import.meta.url);
const splitSqlQuery = (require('@databases/split-sql-query') as typeof import('@databases/split-sql-query')).default;
const sql = (require('@databases/sql') as typeof import('@databases/sql')).default;

// Only the text of our own files is split; no value is ever formatted into it.
const RAW_TEXT = {
  escapeIdentifier: (name: string) => `"${name}"`,
  formatValue: () => {
    throw new Error('a migration file has no parameters');
  },
};

/** Splits a file at the semicolons that end statements (not those in quotes, dollar quotes or comments). */
function splitStatements(text: string): string[] {
  return splitSqlQuery(sql.__dangerous__rawValue(text))
    .map((statement) => statement.format(RAW_TEXT).text.trim())
    .filter((statement) => statement !== '');
}

const folder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Numbered files `NNN_name.sql`, in order. Each runs with the tenant schema first on the search_path. */
export const tenantMigrations: readonly TenantMigration[] = readdirSync(folder)
  .filter((file) => /^\d{3}_[a-z0-9_]+\.sql$/.test(file))
  .sort()
  .map((file) => {
    const text = readFileSync(path.join(folder, file), 'utf8');
    return {
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      text,
      statements: splitStatements(text),
      checksum: createHash('sha256').update(text).digest('hex'),
    };
  });

// A schema's version is the highest number it has run, so a gap or a repeated number would let a file be
// skipped for good: refuse to start instead.
tenantMigrations.forEach((migration, index) => {
  if (migration.version !== index + 1) {
    throw new Error(`Tenant migrations must be numbered 001, 002, … without gaps; found ${migration.version} at position ${index + 1}`);
  }
});

export const latestTenantVersion = tenantMigrations.at(-1)?.version ?? 0;
