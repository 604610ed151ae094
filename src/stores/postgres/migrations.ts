import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface TenantMigration {
  version: number;
  name: string;
  text: string;
}

const folder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Numbered files `NNN_name.sql`, in order. Each runs with the tenant schema first on the search_path. */
export const tenantMigrations: readonly TenantMigration[] = readdirSync(folder)
  .filter((file) => /^\d{3}_[a-z0-9_]+\.sql$/.test(file))
  .sort()
  .map((file) => ({
    version: Number(file.slice(0, 3)),
    name: file.slice(4, -4),
    text: readFileSync(path.join(folder, file), 'utf8'),
  }));

export const latestTenantVersion = tenantMigrations.at(-1)?.version ?? 0;
