import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface TenantMigration {
  version: number;
  name: string;
  text: string;
  /** sha256 of the file's text: a schema's record keeps it, so an applied file that was edited later shows. */
  checksum: string;
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
