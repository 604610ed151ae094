import type { SourceRecord } from '../interfaces.js';
import { mediaFromRow } from './mediaSettings.js';

/** A `sources` row as either store returns it (PostgreSQL adds the registry columns and real timestamps). */
export interface SourceRow {
  id: string;
  label: string | null;
  kind: string | null;
  description: string | null;
  enabled: number | null;
  is_default: number | null;
  schema_name?: string | null;
  migration_version?: number | null;
  vault_root?: string | null;
  vault_root_windows?: string | null;
  data_dir?: string | null;
  path_style?: string | null;
  group_prefix?: string | null;
  created_at: Date | string | null;
  updated_at: Date | string | null;
}

const iso = (value: Date | string | null): string | null => (value instanceof Date ? value.toISOString() : value);

export function sourceFromRow(row: SourceRow): SourceRecord {
  return {
    id: row.id,
    label: row.label,
    kind: row.kind,
    description: row.description,
    enabled: row.enabled !== 0,
    isDefault: row.is_default === 1,
    schemaName: row.schema_name ?? null,
    migrationVersion: row.migration_version ?? null,
    media: mediaFromRow(row),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
